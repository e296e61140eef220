"""The replay driver: recorded market events through sim venues and the engine.

Time is a SimClock that jumps from event to event. For each recorded event the
sim venue's matching engine sees it first (the exchange side), then the
engine (our side); acks and fills that fall due in between run from the
scheduler in time order. With ``speed`` set, the loop waits for the wall clock
so a replay can be watched; ``"max"`` never waits.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from host.clock import Scheduler
from host.engine import Engine
from host.models import BookMessage, Trade
from host.venues.sim import SimVenue

MarketEvent = BookMessage | Trade

# After the last event, let answers already in flight arrive before stopping.
DRAIN_NS = 2_000_000_000


@dataclass(slots=True)
class ReplayProgress:
    events: int
    market_time_ns: int
    first_event_ns: int


def merge_feeds(feeds: Iterable[Iterator[MarketEvent]]) -> Iterator[MarketEvent]:
    """Several recordings as one stream in local receive order (stable on ties)."""
    return heapq.merge(*feeds, key=lambda event: event.ts_local_ns)


def run_replay(
    engine: Engine,
    events: Iterator[MarketEvent],
    scheduler: Scheduler,
    sim_venues: dict[str, SimVenue],
    *,
    duration_s: float | None = None,
    speed: float | str = "max",
    on_progress: Callable[[ReplayProgress], None] | None = None,
    progress_every: int = 50_000,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Drive ``engine`` with ``events`` until they end, ``duration_s`` of market
    time has passed, or ``should_stop()`` says so; then stop the engine."""
    clock = scheduler.clock
    first_ns = 0
    end_ns: int | None = None
    wall_start = 0.0
    pace = None if speed == "max" else float(speed)
    count = 0
    try:
        for event in events:
            ts_ns = event.ts_local_ns
            if count == 0:
                first_ns = ts_ns
                clock.advance_to(ts_ns)
                if duration_s is not None:
                    end_ns = first_ns + int(duration_s * 1_000_000_000)
                wall_start = time.monotonic()
                engine.stats.first_event_ns = ts_ns
                engine.start()
            if end_ns is not None and ts_ns > end_ns:
                break
            scheduler.run_until(ts_ns)
            if pace is not None:
                lag_s = (ts_ns - first_ns) / 1e9 / pace - (time.monotonic() - wall_start)
                if lag_s > 0:
                    time.sleep(lag_s)
            if engine.pending:
                engine.run_pending()
            if engine.stop_requested:
                break
            venue = sim_venues.get(event.venue)
            if venue is not None:
                venue.on_market(event)
            engine.on_market(event)
            count += 1
            if count % progress_every == 0:
                if on_progress is not None:
                    on_progress(ReplayProgress(count, ts_ns, first_ns))
                if should_stop is not None and should_stop():
                    break
    finally:
        if engine.running:
            last_ns = clock.now_ns()
            scheduler.run_until(last_ns + DRAIN_NS // 2)
            engine.stop()
            scheduler.run_until(clock.now_ns() + DRAIN_NS // 2)
        engine.shutdown()
