"""The `mmhost` command end to end on the bundled recording."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction

import pytest

from host.cli import build_parser, main
from host.testing import PROJECT_ROOT, build_host, config_dict, replay


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    status = main(list(args))
    out = capsys.readouterr().out
    assert status == 0
    return json.loads(out)


def test_run_ten_seconds_produces_fills_and_a_consistent_summary(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    summary = run_json(
        capsys, "run", "--duration", "10", "--speed", "max", "--json", "--no-log-file"
    )
    assert summary["fills"] > 0
    assert summary["orders"] >= summary["fills"] > 0
    (position,) = summary["positions"]
    net = (
        Decimal(summary["realized_pnl"])
        + Decimal(summary["unrealized_pnl"])
        - Decimal(summary["fees"])
    )
    assert Decimal(summary["net_pnl"]) == net
    assert position["symbol"] == "BTCUSDT"


def test_summary_position_and_pnl_match_the_fills() -> None:
    """Recompute position, PnL and fees from the fills themselves."""
    runtime = replay(build_host(config_dict()), duration_s=120)
    engine = runtime.engine
    fills = engine.fills
    assert len(fills) >= 2
    summary = engine.summary()
    (position,) = summary.positions
    instrument = engine.instruments[("sim", "BTCUSDT")].instrument
    signed_lots = sum(int(f.side) * f.size_lots for f in fills)
    assert position.qty == instrument.lots_to_qty(signed_lots)
    mark = engine.mark_price_ticks(("sim", "BTCUSDT"))
    assert mark is not None
    cash_ticks_lots = -sum(int(f.side) * f.size_lots * f.price_ticks for f in fills)
    unit = instrument.tick_size * instrument.lot_size
    total = (Fraction(cash_ticks_lots) + signed_lots * Fraction(mark)) * Fraction(unit)
    assert abs(
        summary.realized_pnl + summary.unrealized_pnl - Decimal(total.numerator) / total.denominator
    ) < Decimal("1e-12")
    fees = sum((f.fee for f in fills), Decimal(0))
    assert summary.fees == fees
    # Fees are the venue's maker/taker rates on each fill's notional.
    for f in fills:
        rate = Decimal("0.0001") if f.is_maker else Decimal("0.0005")
        assert f.fee == instrument.notional(f.price_ticks, f.size_lots) * rate


def test_every_command_has_help_text() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, subparser in subparsers.choices.items():
        assert subparser.description, f"mmhost {name} has no description"
        helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
        assert helps.get(name), f"mmhost {name} has no help line"
        for action in subparser._actions:
            assert action.help, f"mmhost {name} {action.option_strings or action.dest} has no help"


def test_console_script_runs_as_a_process() -> None:
    """The installed entry point works outside pytest's process."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "host.cli",
            "plugins",
            "--json",
            "--config",
            str(PROJECT_ROOT / "config.toml"),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    names = {p["name"] for p in json.loads(completed.stdout)["plugins"]}
    assert "static_spread" in names


def test_unknown_speed_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "--speed", "fast"])
    assert caught.value.code == 2
    assert "expected a number > 0 or 'max'" in capsys.readouterr().err
