"""``mmhost estimate`` (host/estimator_commands.py) on the bundled recording.

The command is registered here by hand so the test does not depend on it
being listed in ``BUILTIN_PLUGINS`` yet.
"""

from __future__ import annotations

import argparse
import json

import pytest

import host.estimator_commands
from host.cli import build_parser
from host.plugins import PluginHost
from host.testing import BUNDLED_RECORDING


def parser() -> argparse.ArgumentParser:
    plugins = PluginHost()
    plugins.load_builtins()
    if plugins.pm.get_plugin("host.estimator_commands") is None:
        plugins.register(
            host.estimator_commands,
            name="host.estimator_commands",
            source="builtin",
            location="host.estimator_commands",
        )
    return build_parser(plugins)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    parsed = parser().parse_args(list(args))
    status = parsed.handler(parsed)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_estimates_on_the_bundled_recording(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "estimate", "--data", *BUNDLED_RECORDING, "--json")
    assert status == 0
    document = json.loads(out)
    assert document["symbol"] == "BTCUSDT"
    assert document["market_orders"] > 3000
    # BTCUSDT in this recording: ~0.46 bps/sqrt(s); ~1.5 market orders/s reach
    # the first bucket; k ~ 3 per bps, a clean exponential tail.
    assert 0.1 < document["sigma_bps_per_sqrt_s"] < 2
    intensity = document["intensity"]
    assert 0.5 < intensity["a_per_s"] < 5
    assert 1 < intensity["k_per_bps"] < 10
    assert intensity["r_squared"] > 0.95 and not intensity["clamped"]
    assert 0 < document["glft"]["half_spread_bps"] < document["avellaneda_stoikov"]["spread_bps"]
    status, text, _ = run(capsys, "estimate", "--data", *BUNDLED_RECORDING, "--gamma", "0.1")
    assert status == 0
    assert "sigma" in text and "avellaneda_stoikov (gamma 0.1" in text and "glft" in text


def test_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "estimate", "--data", "no/such/file.gz")
    assert status == 2
    assert "no such file" in err


def test_every_option_has_help_text() -> None:
    subparsers = next(
        action for action in parser()._actions if isinstance(action, argparse._SubParsersAction)
    )
    estimate = subparsers.choices["estimate"]
    assert estimate.description
    for action in estimate._actions:
        assert action.help, f"estimate {action.option_strings} has no help"
