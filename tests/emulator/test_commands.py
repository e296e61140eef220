"""``mmhost emulator``: options, help texts and the fault spec."""

from __future__ import annotations

import argparse

import pytest

from host.emulator import commands
from host.emulator.faults import FaultConfig, Faults, FaultSpecError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mmhost")
    commands.mmhost_register_commands(root.add_subparsers(dest="command"))
    return root


def test_every_option_has_help() -> None:
    root = parser()
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    emulator = sub.choices["emulator"]
    assert emulator.description
    for action in emulator._actions:
        assert action.help, f"{action.option_strings} lacks help"


def test_options_parse() -> None:
    args = parser().parse_args(
        [
            "emulator",
            "--port",
            "0",
            "--synthetic",
            "--speed",
            "max",
            "--balance",
            "USDT=5000",
            "--balance",
            "btc=1",
            "--faults",
            "skip_delta_every_s=2",
        ]
    )
    assert args.speed == "max" and args.synthetic
    assert dict(args.balance) == {"USDT": 5000, "BTC": 1}
    assert args.handler is commands.run_emulator
    with pytest.raises(SystemExit):
        parser().parse_args(["emulator", "--speed", "0"])


def test_bad_fault_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["emulator", "--synthetic", "--faults", "explode=1"])
    assert commands.run_emulator(args) == 2
    assert "explode" in capsys.readouterr().err


def test_fault_spec_parses_and_counts() -> None:
    config = FaultConfig.parse("lose_ack_every=2, rate_limit_every=3, clock_skew_ms=-50")
    assert (config.lose_ack_every, config.rate_limit_every, config.clock_skew_ms) == (2, 3, -50)
    with pytest.raises(FaultSpecError):
        FaultConfig.parse("lose_ack_every=x")
    faults = Faults(config)
    assert [faults.take_lost_ack() for _ in range(4)] == [-1, 60_000, -1, 60_000]
    assert [faults.take_rest_fault() for _ in range(3)][2] == ("rate_limit", 0)
    assert faults.clock_skew_ms == -50
