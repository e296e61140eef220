"""How well an analyzer does on labelled synthetic markets (``mmhost eval``).

``evaluate_spoofing`` generates the scenario set of
``tests/plugins/test_spoofing_on_synthetic.py`` (quiet regime, 360 s, 10
spoofing + 5 layering + 5 genuine episodes; one recording per seed, seeds 0,
1, 2 ...) into a temporary folder, runs the spoofing analyzer over each and
scores it with ``host.backtest.detection`` (its module docstring has the
matching rule and the definitions of precision and recall). Per seed and
pooled over the seeds: pooled figures add the counts of every seed before
dividing (a seed with more events weighs more), they are not a mean of ratios.

The goal of issue #9 is ``precision >= GOAL_PRECISION`` and
``recall >= GOAL_RECALL`` (episode recall, spoofing and layering together) on
the pooled default set; ``goal_met`` says whether it is.

The real recording (by default the bundled Binance BTCUSDT one) has no
labels, so every event the analyzer reports there is counted as a false
positive candidate: the figure is an upper bound of its false positives, per
hour of the recording's receive time.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.backtest.detection import (
    POSITIVE_KINDS,
    SPOOFING_PLUGIN,
    DetectionReport,
    MatchRule,
    match_detections,
    run_spoofing_analyzer,
)

GOAL_PRECISION = 0.9
GOAL_RECALL = 0.8
DEFAULT_SEEDS = 10
DEFAULT_DURATION_S = 360.0
DEFAULT_EPISODES: Mapping[str, int] = {"spoofing": 10, "layering": 5, "genuine": 5}
DEFAULT_RULE = MatchRule()
REAL_DATA_NOTE = "no labels: every event is counted as a false positive candidate"


def bundled_recording() -> list[Path]:
    """The real recording shipped in host/data (the one ``host.testing`` replays)."""
    from host.runtime import BUNDLED_DATA_DIR

    folder = BUNDLED_DATA_DIR / "binance_usdm"
    return [folder / "btcusdt_20240718.gz", folder / "btcusdt_20240719.gz"]


@dataclass(frozen=True, slots=True)
class SpoofingScenario:
    """The labelled synthetic markets to measure on: one recording per seed."""

    seeds: tuple[int, ...] = tuple(range(DEFAULT_SEEDS))
    duration_s: float = DEFAULT_DURATION_S
    regime: str = "quiet"
    episode_counts: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_EPISODES))

    def as_dict(self) -> dict[str, Any]:
        return {
            "seeds": list(self.seeds),
            "duration_s": self.duration_s,
            "regime": self.regime,
            "episodes": dict(self.episode_counts),
        }


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    report: DetectionReport
    episodes_by_kind: dict[str, int]  # labelled episodes per kind
    wall_s: float


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _count(ratio: float | None, denominator: int) -> int:
    """The numerator a ratio of ``match_detections`` was made of."""
    return round((ratio or 0.0) * denominator)


def pool(results: Sequence[SeedResult]) -> dict[str, Any]:
    """Counts added over the seeds, ratios of the sums."""
    reports = [result.report for result in results]
    events = sum(r.events for r in reports)
    true_positive = sum(r.true_positive_events for r in reports)
    episodes = sum(r.episodes for r in reports)
    detected = sum(r.episodes_detected for r in reports)
    cycles = sum(r.cycles for r in reports)
    approached = sum(r.approached_cycles for r in reports)
    by_kind: dict[str, float | None] = {}
    for kind in POSITIVE_KINDS:
        of_kind = sum(result.episodes_by_kind.get(kind, 0) for result in results)
        found = sum(
            _count(result.report.recall_by_kind.get(kind), result.episodes_by_kind.get(kind, 0))
            for result in results
        )
        by_kind[kind] = _ratio(found, of_kind)
    return {
        "events": events,
        "true_positive_events": true_positive,
        "events_on_genuine": sum(r.events_on_genuine for r in reports),
        "events_unmatched": sum(r.events_unmatched for r in reports),
        "precision": _ratio(true_positive, events),
        "episodes": episodes,
        "episodes_detected": detected,
        "recall": _ratio(detected, episodes),
        "recall_by_kind": by_kind,
        "cycles": cycles,
        "cycle_recall": _ratio(sum(_count(r.cycle_recall, r.cycles) for r in reports), cycles),
        "approached_cycles": approached,
        "approached_cycle_recall": _ratio(
            sum(_count(r.approached_cycle_recall, r.approached_cycles) for r in reports),
            approached,
        ),
        "kind_agreement": _ratio(
            sum(_count(r.kind_agreement, r.true_positive_events) for r in reports), true_positive
        ),
        "genuine_episodes": sum(r.genuine_episodes for r in reports),
        "genuine_flagged": sum(r.genuine_flagged for r in reports),
    }


def goal_met(pooled: Mapping[str, Any]) -> bool:
    precision, recall = pooled["precision"], pooled["recall"]
    return (
        precision is not None
        and recall is not None
        and precision >= GOAL_PRECISION
        and recall >= GOAL_RECALL
    )


def measure_seed(
    seed: int,
    scenario: SpoofingScenario,
    folder: Path,
    *,
    plugin_path: Path = SPOOFING_PLUGIN,
    settings: Mapping[str, Any] | None = None,
    rule: MatchRule = DEFAULT_RULE,
) -> SeedResult:
    """Write the scenario's market for ``seed`` into ``folder`` and score the analyzer on it.

    :raises ValueError: the scenario's episodes do not fit its duration.
    """
    from host.backtest.synthetic import SynthSpec, write_synthetic

    start = time.perf_counter()
    path = folder / f"spoofing_seed{seed}.gz"
    write_synthetic(
        path,
        SynthSpec(
            seed=seed,
            duration_s=scenario.duration_s,
            regime=scenario.regime,
            episode_counts=dict(scenario.episode_counts),
        ),
    )
    run = run_spoofing_analyzer(path, settings=settings, plugin_path=plugin_path)
    report = match_detections(run.events, run.labels, rule)
    kinds = Counter(str(label.get("kind")) for label in run.labels)
    path.unlink(missing_ok=True)
    return SeedResult(seed, report, dict(kinds), time.perf_counter() - start)


def real_data_false_positives(
    paths: Sequence[Path],
    *,
    plugin_path: Path = SPOOFING_PLUGIN,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The analyzer's events on an unlabelled recording: all false positive candidates.

    :raises AnalysisInputError: a missing or unreadable recording.
    """
    from host.backtest.analysis import run_analyzers

    name = plugin_path.stem
    run = run_analyzers(
        paths, plugins=[plugin_path], settings={name: dict(settings or {})} if settings else None
    )
    if run.plugin_failures:
        failure = run.plugin_failures[0]
        raise RuntimeError(f"{failure['location']}: {failure['error']}")
    events = run.analyzers.get(name, {}).get("events") or {"total": 0, "by_kind": {}}
    hours = run.duration_s / 3600
    return {
        "note": REAL_DATA_NOTE,
        "files": [str(path) for path in run.files],
        "market": run.market,
        "symbol": run.symbol,
        "duration_s": round(run.duration_s, 3),
        "book_messages": run.book_messages,
        "trades": run.trades,
        "events": events["total"],
        "events_by_kind": events["by_kind"],
        "events_per_hour": round(events["total"] / hours, 3) if hours else None,
    }


def evaluate_spoofing(
    scenario: SpoofingScenario = SpoofingScenario(),
    *,
    real_data: Sequence[Path] | None = None,
    plugin_path: Path = SPOOFING_PLUGIN,
    settings: Mapping[str, Any] | None = None,
    rule: MatchRule = DEFAULT_RULE,
    on_seed: Callable[[SeedResult], None] | None = None,
) -> dict[str, Any]:
    """Precision and recall per seed and pooled, the goal, and the real-data events.

    :param real_data: an unlabelled recording (default: the bundled one; an
        empty list skips it).
    :returns: one JSON-ready document (``mmhost eval spoofing --json``).
    """
    start = time.perf_counter()
    results: list[SeedResult] = []
    with tempfile.TemporaryDirectory(prefix="mmhost-eval-spoofing-") as folder:
        for seed in scenario.seeds:
            result = measure_seed(
                seed, scenario, Path(folder), plugin_path=plugin_path, settings=settings, rule=rule
            )
            results.append(result)
            if on_seed is not None:
                on_seed(result)
    synthetic_s = time.perf_counter() - start
    paths = bundled_recording() if real_data is None else list(real_data)
    real = (
        real_data_false_positives(paths, plugin_path=plugin_path, settings=settings)
        if paths
        else None
    )
    pooled = pool(results)
    per_seed = []
    for result in results:
        document = {"seed": result.seed, **result.report.as_dict()}
        document["wall_s"] = round(result.wall_s, 3)
        per_seed.append(document)
    return {
        "analyzer": str(plugin_path),
        "scenario": scenario.as_dict(),
        "match_rule": {
            "time_slack_ms": rule.time_slack_ms,
            "price_slack_ticks": rule.price_slack_ticks,
        },
        "goal": {"precision": GOAL_PRECISION, "recall": GOAL_RECALL},
        "goal_met": goal_met(pooled),
        "pooled": pooled,
        "worst_seed": {
            "precision": _worst(result.report.precision for result in results),
            "recall": _worst(result.report.recall for result in results),
        },
        "per_seed": per_seed,
        "real_data": real,
        "timing": {
            "synthetic_s": round(synthetic_s, 3),
            "wall_s": round(time.perf_counter() - start, 3),
        },
    }


def _worst(values: Any) -> float | None:
    known = [value for value in values if value is not None]
    return min(known) if known else None
