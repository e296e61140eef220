"""`mmhost bench reload --json`: the shape of the result (speed is never asserted in tests)."""

from __future__ import annotations

import json

import pytest

from host.cli import main


def test_bench_reload_measures_every_reload(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "reload", "--json", "--quick"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["benchmark"] == "reload"
    # Every save was followed by the new version's own decision.
    assert result["reloads_measured"] == result["rounds"] == 3
    assert result["save_to_decision_p50_ms"] > 0 and result["reference_p50_ms"] > 0
    assert result["ratio"] > 0
