"""`mmhost bench oms --json` prints one JSON object with same-run ratios (shape only:
speed is measured by running the benchmark, never asserted in a test)."""

from __future__ import annotations

import json

import pytest

from host.cli import main


def test_bench_oms_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "oms", "--json", "--quick"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["benchmark"] == "oms" and result["levels_per_side"] == 20
    for case in ("unchanged", "all_moved", "half_moved"):
        assert result[f"{case}_p50_us"] > 0 and result[f"{case}_ratio_p50"] > 0
    # The diff did what each case asks: nothing, every level, half of them.
    assert (result["unchanged_actions"], result["all_moved_actions"]) == (0, 40)
    assert result["half_moved_actions"] == 20


def test_bench_with_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nonexistent"]) == 2
    assert "available:" in capsys.readouterr().err
