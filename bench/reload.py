"""Benchmark: hot reload, from saving a strategy file to the new version's first decision.

A host replays the bundled recording in real time (speed 1) in a thread with
the hot reloader on; the bench saves a new version of a strategy file
(atomically: temp file + rename) and measures, in wall time, how long until
the new version's first Decision reaches the engine. Goal: < 250 ms.

The reference, timed in the same run, is a bare watchfiles watcher on the
same folder with the same settings: the time from the same kind of save to
the change notification. ``ratio`` is our save-to-decision time over the
reference's save-to-notification time (what reloading adds on top of noticing).

Run: ``mmhost bench reload --json``.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from host.backtest.runner import merge_feeds, run_replay
from host.reload import WATCH_DEBOUNCE_MS, WATCH_STEP_MS, HotReloader, watched_folders
from host.testing import build_host, config_dict

STRATEGY = '''
from host import Decision, Quote, Side, Strategy


class Bench(Strategy):
    name = "bench_reload"
    VERSION = {version}

    def on_book(self, book):
        mid = book.mid_ticks()
        if mid is None:
            return None
        return Decision(quotes=(Quote(Side.BUY, int(mid) - {offset}, 1, "bid"),))
'''


def save(path: Path, text: str) -> float:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    saved = time.perf_counter()
    os.replace(temporary, path)
    return saved


def wait_for(condition, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.001)
    return False


def measure_reference(folder: Path, rounds: int) -> list[float]:
    """Save-to-notification of a bare watchfiles watcher, same step and debounce."""
    import watchfiles

    path = folder / "reference.py"
    path.write_text("x = 0\n")
    stop = threading.Event()
    seen: list[float] = []

    def watch() -> None:
        for _changes in watchfiles.watch(
            folder,
            watch_filter=lambda _change, name: name.endswith("reference.py"),
            step=WATCH_STEP_MS,
            debounce=WATCH_DEBOUNCE_MS,
            stop_event=stop,
            raise_interrupt=False,
        ):
            seen.append(time.perf_counter())

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(0.3)  # let the watcher start before the first save
    samples = []
    for round_index in range(rounds):
        before = len(seen)
        saved = save(path, f"x = {round_index + 1}\n")
        if wait_for(lambda before=before: len(seen) > before):
            samples.append((seen[-1] - saved) * 1000)
        time.sleep(0.15)
    stop.set()
    thread.join(timeout=5)
    return samples


def measure_reload(folder: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Save-to-first-new-decision, and the reloader's own detect-to-running time."""
    path = folder / "bench_reload.py"
    path.write_text(STRATEGY.format(version=0, offset=10))
    config = config_dict()
    config["strategies"][0].update(name="bench_reload", params={})
    runtime = build_host(config, strategy_dirs=[folder])
    engine = runtime.engine
    reloader = HotReloader(engine, watched_folders([], [folder]))
    first_decision: dict[int, float] = {}
    original = engine.apply_decision

    def recording_apply(slot, decision):  # type: ignore[no-untyped-def]
        version = getattr(slot.strategy, "VERSION", -1)
        first_decision.setdefault(version, time.perf_counter())
        original(slot, decision)

    engine.apply_decision = recording_apply  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(
        target=run_replay,
        args=(engine, merge_feeds(runtime.feeds), runtime.scheduler, runtime.sim_venues),
        kwargs={"speed": 1.0, "progress_every": 1, "should_stop": stop.is_set},
        daemon=True,
    )
    reloader.start()
    thread.start()
    wait_for(lambda: 0 in first_decision)
    samples = []
    for version in range(1, rounds + 1):
        saved = save(path, STRATEGY.format(version=version, offset=10 + version))
        if wait_for(lambda version=version: version in first_decision):
            samples.append((first_decision[version] - saved) * 1000)
        time.sleep(0.15)
    stop.set()
    thread.join(timeout=30)
    reloader.stop()
    internal = [o.duration_ms for o in reloader.outcomes if o.ok]
    return samples, internal


def run(quick: bool = False) -> dict:
    rounds = 3 if quick else 15
    with tempfile.TemporaryDirectory() as reference_dir, tempfile.TemporaryDirectory() as host_dir:
        reference = measure_reference(Path(reference_dir), rounds)
        reload_ms, internal_ms = measure_reload(Path(host_dir), rounds)
    result = {
        "benchmark": "reload",
        "quick": quick,
        "rounds": rounds,
        "reloads_measured": len(reload_ms),
        "save_to_decision_p50_ms": round(statistics.median(reload_ms), 1) if reload_ms else None,
        "save_to_decision_max_ms": round(max(reload_ms), 1) if reload_ms else None,
        "detect_to_running_p50_ms": round(statistics.median(internal_ms), 2)
        if internal_ms
        else None,
        "reference": "bare watchfiles watcher, same step/debounce: save to notification",
        "reference_p50_ms": round(statistics.median(reference), 1) if reference else None,
        "goal_ms": 250,
    }
    if reload_ms and reference:
        result["ratio"] = round(statistics.median(reload_ms) / statistics.median(reference), 2)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
