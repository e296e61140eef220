"""`mmhost eval spoofing`: precision and recall on labelled synthetic markets,
events on the real recording."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from typing import Any

import pytest

from host.backtest.detection import DetectionReport
from host.backtest.evaluation import SeedResult, goal_met, pool
from host.cli import build_parser, main

# One short seed: 2 spoofing, 1 layering, 1 genuine episode fit in 90 s of market.
SHORT = ["--seeds", "1", "--duration", "90", "--spoofing", "2", "--layering", "1"]
SHORT += ["--genuine", "1"]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(["eval", "spoofing", *SHORT, "--json"])
    assert status == 0
    return json.loads(out.getvalue())


def _ratios(figures: dict[str, Any]) -> list[float | None]:
    return [
        figures["precision"],
        figures["recall"],
        *figures["recall_by_kind"].values(),
        figures["cycle_recall"],
    ]


def test_precision_and_recall_are_ratios(document: dict[str, Any]) -> None:
    assert document["scenario"]["seeds"] == [0]
    assert document["scenario"]["episodes"] == {"spoofing": 2, "layering": 1, "genuine": 1}
    pooled = document["pooled"]
    assert pooled["episodes"] == 3 and pooled["genuine_episodes"] == 1
    assert pooled["events"] > 0
    for figures in (pooled, *document["per_seed"]):
        for ratio in _ratios(figures):
            assert ratio is not None and 0.0 <= ratio <= 1.0, figures
    # One seed: pooled is that seed.
    (seed,) = document["per_seed"]
    assert seed["precision"] == pooled["precision"] and seed["recall"] == pooled["recall"]
    assert document["goal"] == {"precision": 0.9, "recall": 0.8}
    assert document["goal_met"] is goal_met(pooled)


def test_the_real_recording_is_reported_as_false_positive_candidates(
    document: dict[str, Any],
) -> None:
    real = document["real_data"]
    assert real["symbol"] == "BTCUSDT" and real["market"] == "binance-usdm"
    assert "false positive" in real["note"]
    assert real["duration_s"] > 400  # the bundled recording: about 8 minutes
    assert real["events"] == sum(real["events_by_kind"].values())
    assert real["events_per_hour"] == pytest.approx(
        real["events"] / (real["duration_s"] / 3600), rel=1e-3
    )


def test_the_human_report_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "spoofing", *SHORT, "--no-real-data"]) == 0
    out = capsys.readouterr().out
    assert "pooled" in out and "precision" in out and "recall" in out


def test_episodes_that_do_not_fit_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "spoofing", "--seeds", "1", "--duration", "30", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "duration" in captured.err


def test_eval_needs_an_evaluation(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["eval"])
    assert caught.value.code == 2


def test_every_eval_option_has_help() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    evaluations = next(
        a
        for a in commands.choices["eval"]._actions
        if a.__class__.__name__ == "_SubParsersAction"
    )
    for name, subparser in evaluations.choices.items():
        assert subparser.description, name
        for action in subparser._actions:
            assert action.help, f"mmhost eval {name} {action.option_strings} has no help"


# -- pooling -----------------------------------------------------------------------------------


def report(events: int, true_positive: int, episodes: int, detected: int) -> DetectionReport:
    return DetectionReport(
        events=events,
        true_positive_events=true_positive,
        events_on_genuine=0,
        events_unmatched=events - true_positive,
        precision=true_positive / events if events else None,
        episodes=episodes,
        episodes_detected=detected,
        recall=detected / episodes if episodes else None,
        recall_by_kind={"spoofing": detected / episodes if episodes else None, "layering": None},
        cycles=episodes,
        cycle_recall=detected / episodes if episodes else None,
        approached_cycles=0,
        approached_cycle_recall=None,
        kind_agreement=1.0 if true_positive else None,
        genuine_episodes=1,
        genuine_flagged=0,
    )


def test_pooled_ratios_are_ratios_of_sums_not_means_of_ratios() -> None:
    results = [
        SeedResult(0, report(10, 10, 4, 4), {"spoofing": 4, "genuine": 1}, 0.0),
        SeedResult(1, report(2, 0, 4, 1), {"spoofing": 4, "genuine": 1}, 0.0),
    ]
    pooled = pool(results)
    assert pooled["precision"] == pytest.approx(10 / 12)  # the mean of ratios would be 0.5
    assert pooled["recall"] == pytest.approx(5 / 8)
    assert pooled["recall_by_kind"] == {"spoofing": pytest.approx(5 / 8), "layering": None}
    assert pooled["genuine_episodes"] == 2
    assert not goal_met(pooled)  # recall 0.625 < 0.8
    assert goal_met(pool(results[:1]))
