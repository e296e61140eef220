"""The live driver: the engine on an asyncio loop, venues on their own threads.

The engine is single-threaded and synchronous. Venue adapters (pybit and
ccxt run their own threads) never call it directly: they hand every event to
``ThreadSafeSink``, which queues it and wakes the loop. Timers (strategy
timers, housekeeping, simulated latency in paper mode) run on the loop with
wall-clock time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from loguru import logger

from host.clock import LiveClock
from host.engine import Engine
from host.models import BookMessage, Fill, Funding, OrderUpdate, Trade

# After stop, wait at least this long for the venues to confirm our cancels;
# a venue that resolves timeouts by querying asks for more (``settle_timeout_s``).
STOP_GRACE_S = 3.0
POLL_S = 0.05


class LiveScheduler:
    """The Scheduler interface (``call_at`` / ``call_later`` in ns) on an asyncio loop."""

    def __init__(self, clock: LiveClock, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.clock = clock
        self.loop = loop

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def call_later(self, delay_ns: int, callback: Callable[..., Any], *args: Any) -> None:
        assert self.loop is not None, "LiveScheduler used before its loop started"
        self.loop.call_soon_threadsafe(self.loop.call_later, delay_ns / 1e9, callback, *args)

    def call_at(self, ts_ns: int, callback: Callable[..., Any], *args: Any) -> None:
        self.call_later(max(0, ts_ns - self.clock.now_ns()), callback, *args)


class ThreadSafeSink:
    """What venue adapters call from any thread; events reach the engine in order
    on the engine's loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.paper_venues: dict[str, Any] = {}

    def on_book_message(self, message: BookMessage) -> None:
        self.engine.call_soon_threadsafe(lambda: self._market(message))

    def on_trade(self, trade: Trade) -> None:
        self.engine.call_soon_threadsafe(lambda: self._market(trade))

    def on_order_update(self, update: OrderUpdate) -> None:
        self.engine.call_soon_threadsafe(lambda: self.engine.on_order_update(update))

    def on_fill(self, fill: Fill) -> None:
        self.engine.call_soon_threadsafe(lambda: self.engine.on_fill(fill))

    def on_funding(self, funding: Funding) -> None:
        self.engine.call_soon_threadsafe(lambda: self.engine.on_funding(funding))

    def on_venue_status(self, venue: str, status: str, detail: str = "") -> None:
        """A venue connected, disconnected, resynced; breakers count disconnects."""
        self.engine.call_soon_threadsafe(lambda: self.engine.on_venue_status(venue, status, detail))

    def _market(self, event: BookMessage | Trade) -> None:
        # Paper trading: the simulated venue sees the market before our strategies do.
        paper = self.paper_venues.get(event.venue)
        if paper is not None:
            paper.on_market(event)
        self.engine.on_market(event)


def run_live(
    engine: Engine,
    scheduler: LiveScheduler,
    *,
    duration_s: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Run ``engine`` until ``duration_s`` of wall time, ``should_stop()``, the kill
    switch or Ctrl-C; then stop quoting, let the cancels land, shut down."""
    loop = asyncio.new_event_loop()
    scheduler.bind(loop)
    engine.wake = lambda: loop.call_soon_threadsafe(engine.run_pending)
    deadline = None if duration_s is None else time.monotonic() + duration_s

    async def main() -> None:
        engine.start()
        engine.run_pending()
        while not engine.stop_requested:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if should_stop is not None and should_stop():
                break
            await asyncio.sleep(POLL_S)
        await stop_and_settle(engine)

    try:
        loop.run_until_complete(main())
    except KeyboardInterrupt:
        loop.run_until_complete(stop_and_settle(engine))
    finally:
        engine.shutdown()
        engine.wake = None
        loop.close()


def stop_grace_s(engine: Engine) -> float:
    """How long a stop waits for the last answers: one request timing out plus
    the queries that resolve it, for the slowest venue (``STOP_GRACE_S`` at least)."""
    venue_graces = [getattr(venue, "settle_timeout_s", 0.0) for venue in engine.venues.values()]
    return max([STOP_GRACE_S, *venue_graces])


async def stop_and_settle(engine: Engine, grace_s: float | None = None) -> list[str]:
    """Stop quoting and wait until every order of ours is terminal, or the grace
    is over; returns the ids still unconfirmed (logged as an error).

    An order a venue reports open again after our cancel (a query found that
    the cancel did not take) is cancelled again while waiting.
    """
    log = logger.bind(component="live")
    engine.stop()
    grace_s = stop_grace_s(engine) if grace_s is None else grace_s
    grace_end = time.monotonic() + grace_s
    while time.monotonic() < grace_end:
        if all(order.is_terminal for order in engine.oms.orders.values()):
            return []
        engine.cancel_all()  # only orders no cancel of ours is waiting on
        await asyncio.sleep(POLL_S)
    left = [o for o in engine.oms.orders.values() if not o.is_terminal]
    if not left:
        return []
    windows = {
        name: getattr(getattr(venue, "config", None), "dcp_window_s", None)
        for name, venue in engine.venues.items()
    }
    log.error(
        "{count} orders unconfirmed {grace_s} s after stop: {ids}; giving up. Each venue's "
        "disconnect-cancel-all cancels what still rests once our connection closes "
        "(window in s: {windows}); check the venue's open orders before trading again",
        count=len(left),
        grace_s=round(grace_s, 1),
        ids=[f"{o.venue}:{o.order_link_id}:{o.status}" for o in left],
        windows=windows,
    )
    return [o.order_link_id for o in left]


def in_thread(target: Callable[[], Any], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
