"""The replay driver: recorded market events through sim venues and the engine.

Time is a SimClock that jumps from due item to due item. Three sources are
merged in time order:

1. the exchange side: each recorded event reaches the sim venue's matching
   engine at its exchange time (``max(exchange, previous exchange)``);
2. our side: the same event reaches the engine at the time the feed-latency
   model says (``host.backtest.latency``), never before the exchange had it;
3. the scheduler: order actions arriving at the venue (after the order
   latency), the venue's answers arriving back (after the response latency),
   timers.

Ties go scheduler first (it holds what was already in flight), then the
exchange side, then ours. Events are read one ahead of the exchange side;
those waiting for our side sit in a FIFO (receive order is kept), so memory
does not grow with the length of the data.

Without a feed-latency model the engine sees each event at the moment the
exchange does, at its receive time (the behaviour before feed latency existed).
With ``speed`` set, the loop waits for the wall clock so a replay can be
watched; ``"max"`` never waits.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from host.backtest.latency import FeedLatencyModel, FeedTimingStats
from host.clock import Scheduler
from host.engine import Engine
from host.models import BookMessage, Trade
from host.venues.sim import SimVenue

MarketEvent = BookMessage | Trade

# After the last event, let answers already in flight arrive before stopping.
DRAIN_NS = 2_000_000_000
_NEVER = 1 << 62


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
    feed_latency: FeedLatencyModel | None = None,
    timing_stats: FeedTimingStats | None = None,
    start_trading_ns: int | None = None,
    end_ns: int | None = None,
) -> None:
    """Drive ``engine`` with ``events`` until they end, ``duration_s`` of market
    time has passed, ``end_ns`` (exchange time) is reached, or
    ``should_stop()`` says so; then stop the engine.

    :param feed_latency: when our side sees each event; None: at the same time
        as the exchange, at its receive time.
    :param timing_stats: filled with what the latency model did (clamps ...).
    :param start_trading_ns: events with an exchange time before this only
        build the books (the venue's and ours); strategies start at the first
        event at or after it.
    """
    clock = scheduler.clock
    stats = timing_stats if timing_stats is not None else FeedTimingStats()
    if feed_latency is not None:
        stats.model = feed_latency.name
        stats.clock_offset_ns = feed_latency.clock_offset_ns
        offset_ns = feed_latency.clock_offset_ns
        to_local = feed_latency.local_ns
    else:
        stats.model = "none"
        offset_ns = 0
        to_local = None
    pace = None if speed == "max" else float(speed)
    # Our side's queue: (local_sim_ns, event), FIFO and non-decreasing in time.
    waiting: deque[tuple[int, MarketEvent]] = deque()
    queue_ours = waiting.append
    take_ours = waiting.popleft
    venues_get = sim_venues.get
    heap = scheduler._heap  # read-only peeks at the next due time: no call per event
    run_until = scheduler.run_until
    advance_to = clock.advance_to
    # Engine.on_market's dispatch, without its call per event.
    on_trade = engine.on_trade
    on_book_message = engine.on_book_message
    iterator = iter(events)

    first_ns = 0
    stop_at_local_ns = _NEVER
    stop_at_exchange_ns = end_ns if end_ns is not None else _NEVER
    warming_up = start_trading_ns is not None
    wall_start = time.monotonic()
    count = 0  # events read
    delivered = 0  # events our side has seen
    next_progress = progress_every
    last_exchange_ns = 0
    last_local_ns = 0
    pending: MarketEvent | None = None
    pending_exchange_ns = _NEVER
    exhausted = False
    # The loop reads the next event at its top after the exchange side took
    # the previous one (one read per pass at most, no call per event).
    need_read = True
    starting = True

    try:
        while True:
            if need_read:
                # Take the next event off the stream and time both of its deliveries.
                need_read = False
                event = next(iterator, None)
                if event is None:
                    pending, pending_exchange_ns, exhausted = None, _NEVER, True
                else:
                    ts_local_ns = event.ts_local_ns
                    if count == 0:
                        first_ns = ts_local_ns
                        if duration_s is not None:
                            stop_at_local_ns = first_ns + int(duration_s * 1_000_000_000)
                    if ts_local_ns > stop_at_local_ns:
                        pending, pending_exchange_ns, exhausted = None, _NEVER, True
                    else:
                        count += 1
                        exchange_ns = event.ts_exchange_ns
                        if exchange_ns <= 0:
                            stats.no_exchange_time += 1
                            exchange_ns = ts_local_ns - offset_ns
                        if to_local is None:
                            # No latency model: both sides at the receive time.
                            exchange_ns = local_ns = ts_local_ns
                        else:
                            local_ns = to_local(exchange_ns, ts_local_ns)
                        if exchange_ns < last_exchange_ns:
                            stats.exchange_reordered += 1
                            exchange_ns = last_exchange_ns
                        if exchange_ns > stop_at_exchange_ns:
                            pending, pending_exchange_ns, exhausted = None, _NEVER, True
                        else:
                            if local_ns < exchange_ns:
                                stats.clamped += 1
                                local_ns = exchange_ns
                            if local_ns < last_local_ns:
                                local_ns = last_local_ns
                            last_exchange_ns = exchange_ns
                            last_local_ns = local_ns
                            pending, pending_exchange_ns = event, exchange_ns
                            queue_ours((local_ns, event))
                if starting:
                    starting = False
                    if pending is not None:
                        advance_to(pending_exchange_ns)
                        engine.stats.first_event_ns = pending.ts_local_ns
                        if not warming_up:
                            engine.start()
            if waiting:
                local_due_ns = waiting[0][0]
            elif exhausted:
                break
            else:
                local_due_ns = _NEVER
            due_ns = pending_exchange_ns if pending_exchange_ns <= local_due_ns else local_due_ns
            if heap and heap[0][0] <= due_ns:
                run_until(due_ns)
                if engine.stop_requested:
                    break
            else:
                advance_to(due_ns)
            if pace is not None:
                lag_s = (due_ns - first_ns) / 1e9 / pace - (time.monotonic() - wall_start)
                if lag_s > 0:
                    time.sleep(lag_s)
            if engine.pending:
                engine.run_pending()
            if engine.stop_requested:
                break
            if pending is not None and pending_exchange_ns <= local_due_ns:
                # Exchange side first on a tie: our side cannot see it earlier.
                venue = venues_get(pending.venue)
                if venue is not None:
                    venue.on_market(pending)
                need_read = True
                continue
            event = take_ours()[1]
            if warming_up:
                if start_trading_ns is not None and event.ts_exchange_ns >= start_trading_ns:
                    warming_up = False
                    engine.start()
                else:
                    _warm_up(engine, event)
                    continue
            if isinstance(event, Trade):
                on_trade(event)
            else:
                on_book_message(event)
            delivered += 1
            if delivered == next_progress:
                next_progress += progress_every
                if on_progress is not None:
                    on_progress(ReplayProgress(delivered, clock.now_ns(), first_ns))
                if should_stop is not None and should_stop():
                    break
    finally:
        stats.events = count
        if engine.running:
            last_ns = clock.now_ns()
            scheduler.run_until(last_ns + DRAIN_NS // 2)
            engine.stop()
            scheduler.run_until(clock.now_ns() + DRAIN_NS // 2)
        engine.shutdown()


def _warm_up(engine: Engine, event: MarketEvent) -> None:
    """Before the trading window: build our book, call nobody."""
    if isinstance(event, Trade):
        return
    state = engine.instruments.get((event.venue, event.symbol))
    if state is not None:
        state.book.apply(event)
