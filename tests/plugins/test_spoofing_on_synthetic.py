"""The spoofing analyzer measured on labelled synthetic episodes
(``host.backtest.detection``): precision, recall, and the genuine control.

Numbers found when this was written (quiet regime, 360 s, 10 spoofing x 3
placements + 5 layering + 5 genuine, default analyzer and generator settings,
seeds 0-9): precision 1.0 on every seed (no event outside an episode);
episode recall 0.93-1.0 (spoofing 1.0, layering 0.8-1.0); per-placement
recall 0.74-0.89; no genuine order flagged. Most missed placements are sized
60x the book's median at placement but under the analyzer's 50x its reference,
which is up to ``reference_refresh_ms`` (1 s) old while this book's median
swings by half within a second. The thresholds below sit under the worst seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from host import Side
from host.backtest.detection import (
    DetectionReport,
    DetectionRun,
    MatchRule,
    match_detections,
    measure_detection,
    run_spoofing_analyzer,
)
from host.backtest.synthetic import EpisodeSettings, SynthSpec, write_synthetic

COUNTS = {"spoofing": 10, "layering": 5, "genuine": 5}


@dataclass(frozen=True)
class Measured:
    run: DetectionRun
    report: DetectionReport


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Measured]:
    path = tmp_path_factory.mktemp("spoofing") / "episodes.gz"
    write_synthetic(path, SynthSpec(seed=7, duration_s=360, episode_counts=COUNTS))
    run = run_spoofing_analyzer(path)
    yield Measured(run, match_detections(run.events, run.labels))


def test_spoofing_and_layering_episodes_are_found(measured: Measured) -> None:
    report = measured.report
    assert report.episodes == 15
    assert report.recall is not None and report.recall >= 0.9
    assert report.recall_by_kind["spoofing"] >= 0.9
    assert report.recall_by_kind["layering"] >= 0.8
    # Each spoof placement and each ladder on its own: weaker (see the module docstring).
    assert report.cycle_recall is not None and report.cycle_recall >= 0.7
    assert report.kind_agreement == 1.0


def test_detections_are_precise_and_spare_the_genuine_orders(measured: Measured) -> None:
    report = measured.report
    assert report.precision is not None and report.precision >= 0.9
    assert report.genuine_episodes == 5
    assert report.genuine_flagged == 0
    assert report.events_on_genuine == 0


def test_the_signals_agree_with_the_events(measured: Measured) -> None:
    signals = measured.run.signals
    assert signals["spoof_events"] == len(measured.run.events) > 0
    assert signals["spoof_score_bid"] >= 0.0 and signals["spoof_score_ask"] >= 0.0
    assert signals["spoof_score_bid"] + signals["spoof_score_ask"] > 0.0


def test_spoofs_under_the_analyzers_size_threshold_are_missed(tmp_path: Path) -> None:
    """The measurement can fail: spoofs of 30x the median (the analyzer wants
    50x its reference) are mostly not reported, and the recall says so."""
    path = tmp_path / "small.gz"
    write_synthetic(
        path,
        SynthSpec(
            seed=7,
            duration_s=120,
            episode_counts={"spoofing": 4},
            episode_settings=EpisodeSettings(size_multiple=30),
        ),
    )
    report = measure_detection(path)
    assert report.episodes == 4
    assert report.recall is not None and report.recall <= 0.5
    assert len(report.missed) >= 2


# -- the matching rule, on hand-made events ------------------------------------------------

MS = 1_000_000


@dataclass(frozen=True)
class Level:
    price_ticks: int
    placed_ns: int
    removed_ns: int


@dataclass(frozen=True)
class Event:
    kind: str
    side: Side
    detected_ns: int
    levels: tuple[Level, ...]


def label(kind: str, side: str, *orders: tuple[int, int, int], cycle_per_order: bool = True):
    return {
        "kind": kind,
        "side": side,
        "start_ns": min(order[1] for order in orders),
        "end_ns": max(order[2] for order in orders),
        "orders": [
            {
                "cycle": index if cycle_per_order else 0,
                "price_ticks": price,
                "size_lots": 1000,
                "placed_ns": placed,
                "removed_ns": removed,
                "distance_at_placement_ticks": 10,
                "distance_at_removal_ticks": 3,
                "traded_lots": 0,
            }
            for index, (price, placed, removed) in enumerate(orders)
        ],
    }


def spoof(side: Side, price: int, placed_ms: int, removed_ms: int, kind: str = "spoof") -> Event:
    level = Level(price, placed_ms * MS, removed_ms * MS)
    return Event(kind, side, removed_ms * MS + 250 * MS, (level,))


LABELS: list[dict[str, Any]] = [
    label("spoofing", "Buy", (1000, 0, 500 * MS), (990, 2000 * MS, 2600 * MS)),
    label(
        "layering",
        "Sell",
        *((1100 + 2 * i, 9000 * MS, 10_000 * MS) for i in range(4)),
        cycle_per_order=False,
    ),
    label("genuine", "Buy", (900, 20_000 * MS, 21_000 * MS)),
]


def test_an_event_matches_by_side_price_and_time() -> None:
    events = [
        spoof(Side.BUY, 1000, 3, 503),  # receive time a few ms after the label: a match
        spoof(Side.SELL, 1000, 3, 503),  # wrong side
        spoof(Side.BUY, 1003, 2003, 2603),  # 13 ticks off the second placement
        spoof(Side.BUY, 990, 4000, 4500),  # 1.4 s after the second placement ended
    ]
    report = match_detections(events, LABELS, MatchRule(time_slack_ms=500, price_slack_ticks=2))
    assert report.true_positive_events == 1
    assert report.events_unmatched == 3
    assert report.precision == pytest.approx(0.25)
    assert report.recall_by_kind == {"spoofing": 1.0, "layering": 0.0}
    assert report.recall == pytest.approx(0.5)
    assert report.cycles == 3 and report.cycle_recall == pytest.approx(1 / 3)
    assert [missed["kind"] for missed in report.missed] == ["layering"]


def test_a_ladder_reported_as_spoofs_is_found_with_the_wrong_kind() -> None:
    events = [spoof(Side.SELL, 1102, 9001, 10_001)]
    report = match_detections(events, LABELS)
    assert report.recall_by_kind["layering"] == 1.0
    assert report.kind_agreement == 0.0
    events = [spoof(Side.SELL, 1102, 9001, 10_001, kind="layering")]
    assert match_detections(events, LABELS).kind_agreement == 1.0


def test_an_event_on_a_genuine_order_is_a_false_positive() -> None:
    report = match_detections([spoof(Side.BUY, 900, 20_001, 21_001)], LABELS)
    assert report.genuine_flagged == 1 and report.events_on_genuine == 1
    assert report.precision == 0.0
    assert report.false_positives[0]["on_genuine"] is True


def test_no_events_and_no_labels_give_no_ratios() -> None:
    report = match_detections([], [])
    assert report.precision is None and report.recall is None
    assert match_detections([], LABELS).recall == 0.0
