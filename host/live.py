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
from host.models import BookMessage, Fill, OrderUpdate, Trade

# After stop, wait this long at most for the venues to confirm our cancels.
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
    log = logger.bind(component="live")

    async def main() -> None:
        engine.start()
        engine.run_pending()
        while not engine.stop_requested:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if should_stop is not None and should_stop():
                break
            await asyncio.sleep(POLL_S)
        engine.stop()
        grace_end = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < grace_end and any(
            not order.is_terminal for order in engine.oms.orders.values()
        ):
            await asyncio.sleep(POLL_S)
        left = [o.order_link_id for o in engine.oms.orders.values() if not o.is_terminal]
        if left:
            log.warning("{count} orders unconfirmed at shutdown: {ids}", count=len(left), ids=left)

    try:
        loop.run_until_complete(main())
    except KeyboardInterrupt:
        loop.run_until_complete(_stop_after_interrupt(engine))
    finally:
        engine.shutdown()
        engine.wake = None
        loop.close()


async def _stop_after_interrupt(engine: Engine) -> None:
    engine.stop()
    grace_end = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < grace_end and any(
        not order.is_terminal for order in engine.oms.orders.values()
    ):
        await asyncio.sleep(POLL_S)


def in_thread(target: Callable[[], Any], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread
