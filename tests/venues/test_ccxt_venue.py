"""CcxtVenue end to end: ccxt's own bybit class (websocket feeds and REST orders)
against the loopback emulator, and the start-up errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from host.config import Credentials, VenueSection
from host.emulator import EmulatorConfig, EmulatorServer
from host.instruments import lookup
from host.models import BookMessage, CancelOrder, Fill, NewOrder, OrderStatus, OrderUpdate, Side
from host.venues.bybit import VenueStartError
from host.venues.ccxt_venue import CcxtVenue

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout_s: float = 5.0, what: str = "it") -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


class RecordingSink:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[Any] = []

    def _add(self, event: Any) -> None:
        with self.lock:
            self.events.append(event)

    on_book_message = on_trade = on_order_update = on_fill = _add

    def on_venue_status(self, venue: str, status: str, detail: str = "") -> None:
        self._add(("status", venue, status, detail))

    def of(self, kind: type) -> list[Any]:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]

    def last_status(self, order_link_id: str) -> str | None:
        updates = [u for u in self.of(OrderUpdate) if u.order_link_id == order_link_id]
        return updates[-1].status if updates else None


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorConfig(speed=1.0, synthetic_step_ms=20))
    server.start()
    yield server
    server.stop()


def make_venue(emulator: EmulatorServer, sink: RecordingSink, **changes: Any) -> CcxtVenue:
    assert emulator.urls is not None
    fields: dict[str, Any] = {
        "name": "hedge",
        "kind": "ccxt",
        "exchange": "bybit",
        "symbols": ["BTCUSDT"],
        "endpoint": emulator.urls.http,
    }
    fields.update(changes)
    config = VenueSection(**fields)
    instruments = {
        symbol: replace(lookup("bybit-linear", "BTCUSDT"), venue="hedge", symbol=symbol)
        for symbol in config.symbols
    }
    venue = CcxtVenue(
        config, instruments, None, sink, credentials=Credentials("emulator-key", "emulator-secret")
    )
    venue.poll_interval_s = 0.2
    return venue


def test_places_and_cancels_an_order_and_sees_the_book(emulator: EmulatorServer) -> None:
    sink = RecordingSink()
    venue = make_venue(emulator, sink)
    venue.start()
    try:
        book = eventually(lambda: sink.of(BookMessage), what="a book")[-1]
        assert book.venue == "hedge" and book.is_snapshot and book.bids and book.asks
        best_bid = max(price for price, _ in book.bids)
        assert best_bid < min(price for price, _ in book.asks)
        venue.submit([NewOrder("cx-1", "BTCUSDT", Side.BUY, 2, best_bid - 500, "PostOnly")])
        eventually(lambda: sink.last_status("cx-1") == OrderStatus.NEW, what="ack")
        (live,) = [u for u in venue.fetch_open_orders() if u.order_link_id == "cx-1"]
        assert (live.price_ticks, live.size_lots) == (best_bid - 500, 2)
        venue.submit([CancelOrder("cx-1", "BTCUSDT")])
        eventually(lambda: sink.last_status("cx-1") == OrderStatus.CANCELLED, what="cancel")
        assert not [u for u in venue.fetch_open_orders() if u.order_link_id == "cx-1"]

        # A taking IOC: its fill is found by the private poll.
        ask = min(price for price, _ in sink.of(BookMessage)[-1].asks)
        venue.submit([NewOrder("cx-2", "BTCUSDT", Side.BUY, 1, ask + 200, "IOC")])
        (fill,) = eventually(
            lambda: [f for f in sink.of(Fill) if f.order_link_id == "cx-2"], what="fill"
        )
        assert fill.size_lots == 1 and fill.exec_id
        eventually(lambda: sink.last_status("cx-2") == OrderStatus.FILLED, what="filled")
        # The venue's refusal carries its code.
        venue.submit([NewOrder("cx-3", "BTCUSDT", Side.BUY, 100_000, best_bid - 500, "PostOnly")])
        eventually(lambda: sink.last_status("cx-3") == OrderStatus.REJECTED, what="reject")
        (rejected,) = [u for u in sink.of(OrderUpdate) if u.order_link_id == "cx-3"]
        assert rejected.reject_code == "110007"
    finally:
        venue.stop()


def test_unknown_exchange_and_unlisted_symbol_fail_at_start(emulator: EmulatorServer) -> None:
    sink = RecordingSink()
    with pytest.raises(VenueStartError, match=r"'bybitt' is not in ccxt.*did you mean bybit"):
        make_venue(emulator, sink, exchange="bybitt").start()
    with pytest.raises(VenueStartError, match=r"hedge.*'BTCUSD' is not listed as linear on bybit"):
        make_venue(emulator, sink, symbols=["BTCUSD"]).start()
