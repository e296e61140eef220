"""Benchmark: the cost of the bundled analyzers per book event.

Replays the bundled Binance USD-M BTCUSDT recording through the whole host
(``build_host`` + ``replay``: decode, sim venue, engine, static_spread) twice
per round in the same process: without plugins (the reference) and with every
analyzer in plugins/. Rounds alternate the two and the best of each is kept,
so a busy neighbour hurts both alike.

``overhead_ratio`` = (seconds_with - seconds_without) / seconds_without; the
goal is <= 0.30. ``cpu_overhead_ratio`` is the same from process CPU time
(best of each), which a busy shared machine disturbs less than wall time.
``analyzer_us_per_book_message`` spreads the extra time over book messages
(trades are included in it: they cost the trade observers).

Run: ``mmhost bench analyzers --json`` or ``python -m bench.analyzers``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from host.testing import PROJECT_ROOT, build_host, config_dict, replay

PLUGIN_DIR = PROJECT_ROOT / "plugins"


def _timed_replay(with_analyzers: bool, duration_s: float | None) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds and the finished runtime of one replay."""
    runtime = build_host(config_dict(), plugin_dirs=[PLUGIN_DIR] if with_analyzers else [])
    start = time.perf_counter()
    cpu_start = time.process_time()
    replay(runtime, duration_s=duration_s)
    return time.perf_counter() - start, time.process_time() - cpu_start, runtime


def run(quick: bool = False) -> dict[str, object]:
    """One JSON-able dict; ratios against the plugin-free run of the same process."""
    duration_s = 60.0 if quick else None
    rounds = 1 if quick else 5
    without_s: list[float] = []
    with_s: list[float] = []
    cpu_without_s: list[float] = []
    cpu_with_s: list[float] = []
    runtime_with: Any = None
    for _ in range(rounds):
        seconds, cpu_seconds, _runtime = _timed_replay(False, duration_s)
        without_s.append(seconds)
        cpu_without_s.append(cpu_seconds)
        seconds, cpu_seconds, runtime_with = _timed_replay(True, duration_s)
        with_s.append(seconds)
        cpu_with_s.append(cpu_seconds)
    seconds_without = min(without_s)
    seconds_with = min(with_s)
    cpu_without = min(cpu_without_s)
    cpu_with = min(cpu_with_s)
    engine = runtime_with.engine
    stats = engine.stats
    analyzers = sorted(
        record.name
        for record in runtime_with.plugins.records
        if record.source == "folder" and record.location.startswith(str(PLUGIN_DIR))
    )
    signals = {}
    for state in engine.instruments.values():
        signals.update({name: state.signals[name] for name in state.signals.names()})
    extra_s = seconds_with - seconds_without
    return {
        "benchmark": "analyzers",
        "quick": quick,
        "data": "host/data/binance_usdm btcusdt_2024071{8,9}.gz"
        + (f" (first {duration_s:g} s)" if duration_s else ""),
        "analyzers": analyzers,
        "events": stats.events,
        "book_messages": stats.book_messages,
        "trades": stats.trades,
        "seconds_without": round(seconds_without, 6),
        "seconds_with": round(seconds_with, 6),
        "overhead_ratio": round(extra_s / seconds_without, 3),
        "goal_overhead_ratio": 0.30,
        "cpu_seconds_without": round(cpu_without, 6),
        "cpu_seconds_with": round(cpu_with, 6),
        "cpu_overhead_ratio": round((cpu_with - cpu_without) / cpu_without, 3),
        "analyzer_us_per_book_message": round(extra_s / max(stats.book_messages, 1) * 1e6, 2),
        "engine_us_per_event_without": round(seconds_without / max(stats.events, 1) * 1e6, 2),
        "signals": len(signals),
        "signals_all_finite": all(math.isfinite(value) for value in signals.values()),
        "rounds_best_of": rounds,
        "seconds_without_all": [round(s, 4) for s in without_s],
        "seconds_with_all": [round(s, 4) for s in with_s],
    }


if __name__ == "__main__":
    print(json.dumps(run()))
