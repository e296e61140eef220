"""BybitVenue end to end: the real pybit against the loopback emulator.

Nothing is mocked: orders, rejects, fills, reconnects, rate limits and lost
acks happen at the emulator (in-process, 127.0.0.1) and come back through
pybit's sockets and sessions. Waits poll with a deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import requests
from loguru import logger

from host.config import Credentials, VenueSection
from host.emulator import EmulatorConfig, EmulatorServer
from host.instruments import lookup
from host.models import (
    AmendOrder,
    BookMessage,
    CancelOrder,
    Fill,
    Instrument,
    NewOrder,
    OrderStatus,
    OrderUpdate,
    Side,
    Trade,
)
from host.venues import bybit_endpoints
from host.venues.bybit import BybitVenue, RateBudget, VenueStartError

T = TypeVar("T")
API_KEY = "emulator-key"
API_SECRET = "emulator-secret"
WRONG_SECRET = "wrong-secret-0123456789"


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
    """Collects what the venue delivers, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[Any] = []

    def _add(self, event: Any) -> None:
        with self.lock:
            self.events.append(event)

    def on_book_message(self, message: BookMessage) -> None:
        self._add(message)

    def on_trade(self, trade: Trade) -> None:
        self._add(trade)

    def on_order_update(self, update: OrderUpdate) -> None:
        self._add(update)

    def on_fill(self, fill: Fill) -> None:
        self._add(fill)

    def on_venue_status(self, venue: str, status: str, detail: str = "") -> None:
        self._add(("status", venue, status, detail))

    def of(self, kind: type) -> list[Any]:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]

    def updates(self, order_link_id: str) -> list[OrderUpdate]:
        return [u for u in self.of(OrderUpdate) if u.order_link_id == order_link_id]

    def statuses(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(e[2], e[3]) for e in self.events if isinstance(e, tuple)]

    def snapshots(self) -> list[BookMessage]:
        return [m for m in self.of(BookMessage) if m.is_snapshot]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorConfig(speed=1.0, synthetic_step_ms=20))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").faults.reset()


def instruments(symbol: str = "BTCUSDT", **changes: Any) -> dict[str, Instrument]:
    base = replace(lookup("bybit-linear", "BTCUSDT"), venue="bybit", **changes)
    return {symbol: replace(base, symbol=symbol)}


def venue_config(emulator: EmulatorServer, **changes: Any) -> VenueSection:
    assert emulator.urls is not None
    fields: dict[str, Any] = {
        "name": "bybit",
        "kind": "bybit",
        "symbols": ["BTCUSDT"],
        "endpoint": emulator.urls.http,
        "request_timeout_ms": 500,
    }
    fields.update(changes)
    return VenueSection(**fields)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def venue(emulator: EmulatorServer, sink: RecordingSink) -> Iterator[BybitVenue]:
    """Orders over REST (order_entry = "rest"): the REST paths, rate limits and
    faults below are REST's. ``ws_venue`` trades on the trade socket."""
    started = BybitVenue(
        venue_config(emulator, order_entry="rest"),
        instruments(),
        None,
        sink,
        credentials=Credentials(API_KEY, API_SECRET),
    )
    started.start()
    eventually(lambda: sink.snapshots(), what="first book snapshot")
    eventually(lambda: private_subscribed(emulator), what="private subscriptions")
    yield started
    started.stop()


def private_subscribed(emulator: EmulatorServer) -> bool:
    return emulator.call(
        lambda hub: any(len(c.active) == 4 for c in hub.streams.connections if c.kind == "private")
    )


def touch(emulator: EmulatorServer) -> tuple[int, int]:
    """Best bid and ask in ticks (0.10), from the venue's public REST book."""
    assert emulator.urls is not None
    book = requests.get(
        f"{emulator.urls.http}/v5/market/orderbook",
        params={"category": "linear", "symbol": "BTCUSDT", "limit": 1},
        timeout=2,
    ).json()["result"]
    tick = Decimal("0.10")
    return int(Decimal(book["b"][0][0]) / tick), int(Decimal(book["a"][0][0]) / tick)


def orders_at_emulator(emulator: EmulatorServer, order_link_id: str) -> list[Any]:
    return emulator.call(
        lambda hub: [r for r in hub.exchange.orders.values() if r.order_link_id == order_link_id]
    )


def last_status(sink: RecordingSink, order_link_id: str) -> str | None:
    updates = sink.updates(order_link_id)
    return updates[-1].status if updates else None


# ------------------------------------------------------------------ endpoints


def test_endpoints_resolve_names_and_loopback_addresses() -> None:
    assert bybit_endpoints.resolve("mainnet").http == "https://api.bybit.com"
    assert bybit_endpoints.resolve("testnet").private_websocket == (
        "wss://stream-testnet.bybit.com/v5/private"
    )
    demo = bybit_endpoints.resolve("demo")
    assert demo.http == "https://api-demo.bybit.com" and demo.trade_websocket is None
    loopback = bybit_endpoints.resolve("http://127.0.0.1:8765/")
    assert (loopback.http, loopback.private_websocket) == (
        "http://127.0.0.1:8765",
        "ws://127.0.0.1:8765/v5/private",
    )
    for bad in ("http://example.com:80", "emulator", "wss://stream.bybit.com", "mainnet2"):
        with pytest.raises(ValueError):
            bybit_endpoints.resolve(bad)


def test_claim_points_every_pybit_url_once_and_refuses_a_second_endpoint() -> None:
    from pybit import _http_manager, _websocket_trading, unified_trading
    from pybit.unified_trading import HTTP

    before = (
        _http_manager.HTTP_URL,
        unified_trading.PUBLIC_WSS,
        unified_trading.PRIVATE_WSS,
        _websocket_trading.TRADE_WSS,
    )
    testnet = bybit_endpoints.claim("testnet")
    try:
        # pybit's own flags no longer matter: the globals hold concrete URLs.
        assert HTTP(testnet=False, demo=True).endpoint == "https://api-testnet.bybit.com"
        assert unified_trading.PRIVATE_WSS == "wss://stream-testnet.bybit.com/v5/private"
        assert _websocket_trading.TRADE_WSS == "wss://stream-testnet.bybit.com/v5/trade"
        assert bybit_endpoints.claim("testnet") == testnet  # a second user of the same one
        with pytest.raises(bybit_endpoints.EndpointConflictError, match="process-wide"):
            bybit_endpoints.claim("mainnet")
        bybit_endpoints.release(testnet)
        assert bybit_endpoints.claimed() == (testnet, 1)
    finally:
        bybit_endpoints.release(testnet)
    after = (
        _http_manager.HTTP_URL,
        unified_trading.PUBLIC_WSS,
        unified_trading.PRIVATE_WSS,
        _websocket_trading.TRADE_WSS,
    )
    assert after == before and bybit_endpoints.claimed() == (None, 0)


def test_rate_budget_waits_for_the_reset_after_a_limit() -> None:
    now_ms = [1_000_000]
    budget = RateBudget(clock_ms=lambda: now_ms[0])
    budget.observe(
        "/v5/order/create",
        {"X-Bapi-Limit-Status": "3", "X-Bapi-Limit-Reset-Timestamp": "1000400"},
        limited=False,
    )
    assert budget.wait_s("/v5/order/create") == 0
    budget.observe("/v5/order/create", {"X-Bapi-Limit-Reset-Timestamp": "1000400"}, limited=True)
    assert budget.wait_s("/v5/order/create") == pytest.approx(0.4)
    assert budget.wait_s("/v5/order/cancel") == 0  # cancels keep their own budget
    now_ms[0] = 1_000_400
    assert budget.wait_s("/v5/order/create") == 0


# --------------------------------------------------------------------- start


def test_start_streams_book_snapshot_then_deltas_and_trades(
    venue: BybitVenue, sink: RecordingSink
) -> None:
    books = eventually(
        lambda: (books := sink.of(BookMessage)) and len(books) > 5 and books, what="deltas"
    )
    assert books[0].is_snapshot and not books[-1].is_snapshot
    assert books[0].venue == "bybit" and books[0].bids and books[0].asks
    eventually(lambda: sink.of(Trade), what="a public trade")
    assert ("connected", "loopback linear") in sink.statuses()
    assert venue.balances["USDT"] > 0 and venue.positions == {"BTCUSDT": 0}


def test_wrong_secret_is_one_clear_error_without_the_secret(
    emulator: EmulatorServer, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    lines: list[str] = []
    handler_id = logger.add(lines.append, level="DEBUG")
    requests_before = emulator.faults._request_count
    failing = BybitVenue(
        venue_config(emulator),
        instruments(),
        None,
        sink,
        credentials=Credentials(API_KEY, WRONG_SECRET),
    )
    try:
        with pytest.raises(VenueStartError) as error:
            failing.start()
    finally:
        logger.remove(handler_id)
    assert error.value.code == "10004"
    assert "refused the API key" in str(error.value)
    assert WRONG_SECRET not in str(error.value) and WRONG_SECRET not in repr(error.value)
    assert not any(WRONG_SECRET in line for line in lines)
    assert WRONG_SECRET not in caplog.text
    # One authenticated request, no retry loop; the pybit claim was given back.
    assert emulator.faults._request_count - requests_before == 1
    assert bybit_endpoints.claimed() == (None, 0)


def test_unlisted_symbol_names_close_matches(emulator: EmulatorServer, sink: RecordingSink) -> None:
    failing = BybitVenue(
        venue_config(emulator, symbols=["BTCUSD"]),
        instruments("BTCUSD"),
        None,
        sink,
        credentials=None,
    )
    with pytest.raises(VenueStartError, match=r"'BTCUSD' is not listed.*did you mean BTCUSDT"):
        failing.start()


def test_changed_tick_and_lot_come_from_the_venue(
    emulator: EmulatorServer, sink: RecordingSink
) -> None:
    stale = instruments(tick_size=Decimal("0.5"), lot_size=Decimal("0.01"))
    feed_only = BybitVenue(venue_config(emulator), stale, None, sink, credentials=None)
    feed_only.start()
    try:
        instrument = feed_only.instruments["BTCUSDT"]
        assert (instrument.tick_size, instrument.lot_size) == (Decimal("0.10"), Decimal("0.001"))
        eventually(lambda: sink.snapshots(), what="a snapshot on the venue's grid")
    finally:
        feed_only.stop()


# -------------------------------------------------------------------- orders


def test_place_amend_cancel_single_orders(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    bid, _ = touch(emulator)
    venue.submit([NewOrder("single-1", "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    eventually(lambda: last_status(sink, "single-1") == OrderStatus.NEW, what="ack")
    venue.submit([AmendOrder("single-1", "BTCUSDT", bid - 501, 20)])
    eventually(
        lambda: any(
            u.price_ticks == bid - 501 and u.size_lots == 20 for u in sink.updates("single-1")
        ),
        what="amend ack",
    )
    (record,) = orders_at_emulator(emulator, "single-1")
    assert (record.price_ticks, record.qty_lots) == (bid - 501, 20)
    venue.submit([CancelOrder("single-1", "BTCUSDT")])
    eventually(lambda: last_status(sink, "single-1") == OrderStatus.CANCELLED, what="cancel")
    assert not any(u.reject_code for u in sink.updates("single-1"))


def exercise_batches(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer, prefix: str
) -> list[str]:
    """Three PostOnly bids and one the venue refuses (110007) in one batch,
    then a batch amend of two and a batch cancel of three; returns the ids."""
    bid, _ = touch(emulator)
    ids = [f"{prefix}-{n}" for n in range(4)]
    venue.submit(
        [
            NewOrder(ids[0], "BTCUSDT", Side.BUY, 10, bid - 600, "PostOnly"),
            NewOrder(ids[1], "BTCUSDT", Side.BUY, 11, bid - 601, "PostOnly"),
            NewOrder(ids[2], "BTCUSDT", Side.BUY, 12, bid - 602, "PostOnly"),
            # Above 10x leverage on 100k USDT: refused by the venue alone.
            NewOrder(ids[3], "BTCUSDT", Side.BUY, 100_000, bid - 603, "PostOnly"),
        ]
    )
    eventually(
        lambda: all(last_status(sink, i) == OrderStatus.NEW for i in ids[:3]), what="batch acks"
    )
    rejected = eventually(
        lambda: last_status(sink, ids[3]) == OrderStatus.REJECTED and sink.updates(ids[3])
    )
    assert rejected[-1].reject_code == "110007" and rejected[-1].reject_reason
    venue.submit([AmendOrder(i, "BTCUSDT", bid - 700, 5) for i in ids[:2]])
    eventually(
        lambda: all(any(u.price_ticks == bid - 700 for u in sink.updates(i)) for i in ids[:2]),
        what="batch amend acks",
    )
    venue.submit([CancelOrder(i, "BTCUSDT") for i in ids[:3]])
    eventually(
        lambda: all(last_status(sink, i) == OrderStatus.CANCELLED for i in ids[:3]),
        what="batch cancels",
    )
    return ids


def test_batches_report_each_item_with_the_venue_code(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    requests_before = venue.stats.requests
    exercise_batches(venue, sink, emulator, "batch")
    # create-batch, amend-batch, cancel-batch (the worker may split a group
    # that arrived while it was busy, never send one request per order).
    assert venue.stats.requests - requests_before <= 5


def test_ioc_that_takes_brings_a_fill(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    _, ask = touch(emulator)
    venue.submit([NewOrder("take-1", "BTCUSDT", Side.BUY, 2, ask + 200, "IOC")])
    (fill,) = eventually(
        lambda: [f for f in sink.of(Fill) if f.order_link_id == "take-1"], what="fill"
    )
    assert fill.side is Side.BUY and fill.size_lots == 2 and fill.exec_id and not fill.is_maker
    assert fill.price_ticks <= ask + 200 and fill.fee > 0
    eventually(lambda: last_status(sink, "take-1") == OrderStatus.FILLED, what="filled status")
    # Start-up reconciliation reads the same truth back.
    assert any(f.exec_id == fill.exec_id for f in venue.fetch_executions(fill.ts_ns - 1))
    assert venue.fetch_positions()["BTCUSDT"] >= 2
    venue.submit([NewOrder("take-2", "BTCUSDT", Side.SELL, 2, None, "IOC", reduce_only=True)])
    eventually(lambda: last_status(sink, "take-2") == OrderStatus.FILLED, what="flatten")


def test_refused_cancel_carries_the_code_and_the_known_status(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    venue.submit([CancelOrder("never-placed", "BTCUSDT")])
    refused = eventually(lambda: sink.updates("never-placed"), what="refused cancel")
    assert refused[0].reject_code == "110001" and refused[0].status == OrderStatus.UNKNOWN
    bid, _ = touch(emulator)
    venue.submit([NewOrder("gone-1", "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    eventually(lambda: last_status(sink, "gone-1") == OrderStatus.NEW, what="ack")
    venue.submit([CancelOrder("gone-1", "BTCUSDT")])
    eventually(lambda: last_status(sink, "gone-1") == OrderStatus.CANCELLED, what="cancel")
    venue.submit([CancelOrder("gone-1", "BTCUSDT")])
    second = eventually(
        lambda: [u for u in sink.updates("gone-1") if u.reject_code == "110001"], what="refusal"
    )
    assert second[0].status == OrderStatus.CANCELLED


def test_open_orders_are_fetched_for_reconciliation(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    bid, _ = touch(emulator)
    venue.submit([NewOrder("recon-1", "BTCUSDT", Side.BUY, 10, bid - 800, "PostOnly")])
    eventually(lambda: last_status(sink, "recon-1") == OrderStatus.NEW, what="ack")
    open_orders = {u.order_link_id: u for u in venue.fetch_open_orders()}
    assert open_orders["recon-1"].price_ticks == bid - 800
    assert open_orders["recon-1"].status == OrderStatus.NEW
    venue.submit([CancelOrder("recon-1", "BTCUSDT")])
    eventually(lambda: last_status(sink, "recon-1") == OrderStatus.CANCELLED, what="cancel")


# -------------------------------------------------------------------- faults


def test_lost_ack_is_unknown_then_resolved_by_query_without_a_duplicate(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    bid, _ = touch(emulator)
    emulator.faults.lose_acks(1)  # executed, never answered
    venue.submit([NewOrder("lost-1", "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    eventually(
        lambda: any(u.status == OrderStatus.UNKNOWN for u in sink.updates("lost-1")),
        what="Unknown after the timeout",
    )
    eventually(lambda: last_status(sink, "lost-1") == OrderStatus.NEW, what="resolved")
    assert len(orders_at_emulator(emulator, "lost-1")) == 1
    assert venue.stats.unknown_orders >= 1 and venue.stats.resolved_orders >= 1
    venue.submit([CancelOrder("lost-1", "BTCUSDT")])
    eventually(lambda: last_status(sink, "lost-1") == OrderStatus.CANCELLED, what="cancel")


def test_rate_limit_backs_off_until_the_reset_without_a_retry_storm(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    bid, _ = touch(emulator)
    requests_before = emulator.faults._request_count
    sent_before = venue.stats.requests
    emulator.faults.rate_limit(1)
    venue.submit([NewOrder("limited-1", "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    refused = eventually(
        lambda: [u for u in sink.updates("limited-1") if u.status == OrderStatus.REJECTED]
    )
    assert refused[0].reject_code == "10006"
    limited_at = time.monotonic()
    wait_s = venue.budget.wait_s("/v5/order/create")
    # At most the rest of Bybit's 1 s window (0 when a slow machine already
    # spent it between the refusal and this line).
    assert 0 <= wait_s <= 1.0
    # Meanwhile cancels keep their own budget and go at once.
    venue.submit([CancelOrder("no-such-order", "BTCUSDT")])
    eventually(
        lambda: sink.updates("no-such-order"), timeout_s=max(wait_s, 1.0), what="cancel answer"
    )
    venue.submit([NewOrder("limited-2", "BTCUSDT", Side.BUY, 10, bid - 501, "PostOnly")])
    eventually(lambda: last_status(sink, "limited-2") == OrderStatus.NEW, what="create after reset")
    assert time.monotonic() - limited_at >= wait_s - 0.05  # it waited for the reset
    # Exactly the requests we made reached the venue: pybit did not retry,
    # and the 10006 was met once (create, cancel, its status query, create).
    eventually(
        lambda: (
            emulator.faults._request_count - requests_before == venue.stats.requests - sent_before
        ),
        what="request counts to agree",
    )
    assert venue.stats.requests - sent_before <= 4
    venue.submit([CancelOrder("limited-2", "BTCUSDT")])
    eventually(lambda: last_status(sink, "limited-2") == OrderStatus.CANCELLED, what="cancel")


def test_dropped_sockets_reconnect_resubscribe_and_backfill(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    snapshots_before = len(sink.snapshots())
    bid, _ = touch(emulator)
    venue.submit([NewOrder("drop-1", "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    eventually(lambda: last_status(sink, "drop-1") == OrderStatus.NEW, what="ack")
    emulator.faults.drop_sockets("all")
    eventually(
        lambda: sum(1 for status, _ in sink.statuses() if status == "reconnected") >= 2,
        what="both streams reconnected",
    )
    assert sum(1 for status, _ in sink.statuses() if status == "disconnected") >= 2
    eventually(lambda: len(sink.snapshots()) > snapshots_before, what="a fresh snapshot")
    eventually(lambda: venue.stats.backfills >= 1, what="backfill")
    eventually(lambda: private_subscribed(emulator), what="private resubscribed")
    # The private stream works again: a cancel's push arrives.
    venue.submit([CancelOrder("drop-1", "BTCUSDT")])
    eventually(lambda: last_status(sink, "drop-1") == OrderStatus.CANCELLED, what="cancel")


def test_stream_dying_inside_pybit_is_recreated_and_bad_frames_are_counted(
    venue: BybitVenue, sink: RecordingSink
) -> None:
    stream = venue._public
    assert stream is not None and stream.socket is not None
    app = stream.socket.ws
    # A malformed frame through pybit's own path is counted; the stream lives.
    app.on_message(app, "{not json")
    assert venue.stats.malformed_frames >= 1 and not stream.socket.exited

    # A raising message callback is what kills a pybit stream silently.
    def explode(ws: Any, message: str) -> None:
        raise RuntimeError("callback failed")

    snapshots_before = len(sink.snapshots())
    app.on_message = explode
    eventually(
        lambda: ("reconnected", "public stream") in [(s, d[:13]) for s, d in sink.statuses()],
        what="public stream recreated",
    )
    eventually(lambda: len(sink.snapshots()) > snapshots_before, what="snapshot after recreate")


def test_resync_brings_a_new_snapshot(venue: BybitVenue, sink: RecordingSink) -> None:
    snapshots_before = len(sink.snapshots())
    venue.resync("BTCUSDT")
    eventually(lambda: len(sink.snapshots()) > snapshots_before, what="snapshot after resync")


def test_a_stop_is_sent_as_a_conditional_order_not_a_market_order(
    emulator: EmulatorServer, venue: BybitVenue, sink: RecordingSink
) -> None:
    bid, _ask = touch(emulator)
    stop = NewOrder(
        "stop-1",
        "BTCUSDT",
        Side.SELL,
        1,
        None,
        "IOC",
        False,
        trigger_price_ticks=bid - 500,
        trigger_rising=False,
    )
    venue.submit([stop])
    eventually(lambda: last_status(sink, "stop-1") == "Untriggered", what="untriggered stop")
    (record,) = orders_at_emulator(emulator, "stop-1")
    assert record.trigger_price_ticks == bid - 500 and record.trigger_direction == 2
    assert not [f for f in sink.of(Fill) if f.order_link_id == "stop-1"]  # nothing traded
    venue.submit([CancelOrder("stop-1", "BTCUSDT")])
    eventually(lambda: last_status(sink, "stop-1") == "Deactivated", what="deactivated stop")


# ------------------------------------------------- order entry: trade socket


@pytest.fixture
def ws_venue(emulator: EmulatorServer, sink: RecordingSink) -> Iterator[BybitVenue]:
    """Orders on the trade socket (order_entry = "websocket", the default)."""
    started = BybitVenue(
        venue_config(emulator, order_entry="websocket"),
        instruments(),
        None,
        sink,
        credentials=Credentials(API_KEY, API_SECRET),
    )
    started.start()
    eventually(lambda: sink.snapshots(), what="first book snapshot")
    eventually(lambda: private_subscribed(emulator), what="private subscriptions")
    eventually(lambda: started.trade_socket_ready, what="trade socket authenticated")
    yield started
    started.stop()


def channels(emulator: EmulatorServer, order_link_id: str) -> list[tuple[str, str]]:
    """(channel, op) of every order request the emulator executed naming
    ``order_link_id``, oldest first: rest or trade (the socket)."""
    return emulator.call(
        lambda hub: [
            (r.channel, r.op) for r in hub.order_requests if order_link_id in r.order_link_ids
        ]
    )


def settled_after_unknown(sink: RecordingSink, order_link_id: str) -> OrderUpdate | None:
    """The last update of an order that went Unknown, once something followed
    the Unknown (the query's answer)."""
    updates = sink.updates(order_link_id)
    unknown = [n for n, u in enumerate(updates) if u.status == OrderStatus.UNKNOWN]
    if not unknown or unknown[-1] == len(updates) - 1:
        return None
    return updates[-1]


def test_trade_socket_places_amends_cancels_and_fills_come_on_the_private_stream(
    ws_venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    rest_before = ws_venue.stats.requests
    bid, ask = touch(emulator)
    ws_venue.submit([NewOrder("ws-single-1", "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    eventually(lambda: last_status(sink, "ws-single-1") == OrderStatus.NEW, what="ack")
    ws_venue.submit([AmendOrder("ws-single-1", "BTCUSDT", bid - 501, 20)])
    eventually(
        lambda: any(
            u.price_ticks == bid - 501 and u.size_lots == 20 for u in sink.updates("ws-single-1")
        ),
        what="amend ack",
    )
    (record,) = orders_at_emulator(emulator, "ws-single-1")
    assert (record.price_ticks, record.qty_lots) == (bid - 501, 20)
    ws_venue.submit([CancelOrder("ws-single-1", "BTCUSDT")])
    eventually(lambda: last_status(sink, "ws-single-1") == OrderStatus.CANCELLED, what="cancel")
    assert not any(u.reject_code for u in sink.updates("ws-single-1"))

    ws_venue.submit([NewOrder("ws-take-1", "BTCUSDT", Side.BUY, 2, ask + 200, "IOC")])

    def fills() -> list[Fill]:  # one per price level taken
        return [f for f in sink.of(Fill) if f.order_link_id == "ws-take-1"]

    eventually(lambda: sum(f.size_lots for f in fills()) == 2, what="fills of 2 lots")
    assert all(f.side is Side.BUY and f.exec_id for f in fills())
    eventually(lambda: last_status(sink, "ws-take-1") == OrderStatus.FILLED, what="filled")
    ws_venue.submit([NewOrder("ws-take-2", "BTCUSDT", Side.SELL, 2, None, "IOC", reduce_only=True)])
    eventually(lambda: last_status(sink, "ws-take-2") == OrderStatus.FILLED, what="flatten")

    assert channels(emulator, "ws-single-1") == [
        ("trade", "order.create"),
        ("trade", "order.amend"),
        ("trade", "order.cancel"),
    ]
    assert channels(emulator, "ws-take-1") == [("trade", "order.create")]
    assert channels(emulator, "ws-take-2") == [("trade", "order.create")]
    # Not one REST call: acks came on the socket, fills on the private stream.
    assert ws_venue.stats.requests == rest_before
    assert ws_venue.stats.trade_requests >= 5 and ws_venue.stats.rest_fallbacks == 0


def test_trade_socket_batches_report_each_item_with_the_venue_code(
    ws_venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    ids = exercise_batches(ws_venue, sink, emulator, "ws-batch")
    sent = [entry for i in ids for entry in channels(emulator, i)]
    assert {channel for channel, _ in sent} == {"trade"}
    assert {op for _, op in sent} == {
        "order.create-batch",
        "order.amend-batch",
        "order.cancel-batch",
    }


def test_trade_socket_rate_limit_refuses_with_10006_and_waits_for_the_reset(
    ws_venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    bid, _ = touch(emulator)
    limited_before = ws_venue.stats.rate_limited
    fallbacks_before = ws_venue.stats.rest_fallbacks
    emulator.faults.rate_limit(1, channel="trade")
    ws_venue.submit([NewOrder("ws-limited-1", "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    refused = eventually(
        lambda: [u for u in sink.updates("ws-limited-1") if u.status == OrderStatus.REJECTED]
    )
    assert refused[0].reject_code == "10006"
    assert ws_venue.stats.rate_limited == limited_before + 1
    limited_at = time.monotonic()
    wait_s = ws_venue.budget.wait_s("/v5/order/create")
    assert 0 <= wait_s <= 1.0  # the rest of the window (0 if a slow machine spent it)
    ws_venue.submit([NewOrder("ws-limited-2", "BTCUSDT", Side.BUY, 10, bid - 501, "PostOnly")])
    eventually(
        lambda: last_status(sink, "ws-limited-2") == OrderStatus.NEW, what="create after reset"
    )
    assert time.monotonic() - limited_at >= wait_s - 0.05  # it waited for the reset
    # Refused before it reached the exchange, not resent, and no REST detour.
    assert channels(emulator, "ws-limited-1") == []
    assert channels(emulator, "ws-limited-2") == [("trade", "order.create")]
    assert ws_venue.stats.rest_fallbacks == fallbacks_before
    ws_venue.submit([CancelOrder("ws-limited-2", "BTCUSDT")])
    eventually(lambda: last_status(sink, "ws-limited-2") == OrderStatus.CANCELLED, what="cancel")


def test_trade_socket_refusals_carry_the_venue_code(
    ws_venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    bid, _ = touch(emulator)
    ws_venue.submit([NewOrder("ws-poor-1", "BTCUSDT", Side.BUY, 100_000, bid - 500, "PostOnly")])
    rejected = eventually(
        lambda: last_status(sink, "ws-poor-1") == OrderStatus.REJECTED and sink.updates("ws-poor-1")
    )
    assert rejected[-1].reject_code == "110007" and rejected[-1].reject_reason
    assert rejected[-1].order_link_id == "ws-poor-1"
    ws_venue.submit([CancelOrder("ws-never-placed", "BTCUSDT")])
    refused = eventually(lambda: sink.updates("ws-never-placed"), what="refused cancel")
    assert refused[0].reject_code == "110001" and refused[0].status == OrderStatus.UNKNOWN
    assert channels(emulator, "ws-poor-1") == [("trade", "order.create")]
    assert channels(emulator, "ws-never-placed") == [("trade", "order.cancel")]


@pytest.mark.parametrize("executed", [True, False], ids=["create-ran", "create-lost"])
def test_trade_socket_lost_with_a_create_pending_is_queried_and_rest_takes_over(
    ws_venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer, executed: bool
) -> None:
    link_id = "ws-cut-ran" if executed else "ws-cut-lost"
    lost_before = ws_venue.stats.trade_lost
    bid, _ = touch(emulator)
    # The socket stays down until the test lets it back, so the fallback is seen.
    emulator.faults.refuse_sockets("trade")
    emulator.faults.cut_trade_socket(1, executed=executed)
    ws_venue.submit([NewOrder(link_id, "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    eventually(
        lambda: "trade_socket_lost" in [status for status, _ in sink.statuses()],
        what="the trade socket reported lost",
    )
    settled = eventually(
        lambda: settled_after_unknown(sink, link_id), what="Unknown, then the query's answer"
    )
    story = (sink.updates(link_id), ws_venue.stats, channels(emulator, link_id))
    if executed:
        assert settled.status == OrderStatus.NEW, story
        assert len(orders_at_emulator(emulator, link_id)) == 1
    else:
        assert settled.status == OrderStatus.REJECTED, story
        assert settled.reject_code == "ORDER_NOT_FOUND", story
        assert orders_at_emulator(emulator, link_id) == []
    # Never sent again: the one create the exchange ran (if any) came on the socket.
    assert channels(emulator, link_id) == ([("trade", "order.create")] if executed else [])
    assert ws_venue.stats.trade_lost == lost_before + 1, story

    # While the socket is down, new orders go over REST.
    assert not ws_venue.trade_socket_ready
    fallbacks_before = ws_venue.stats.rest_fallbacks
    fallback_id = link_id + "-rest"
    ws_venue.submit([NewOrder(fallback_id, "BTCUSDT", Side.BUY, 10, bid - 501, "PostOnly")])
    eventually(lambda: last_status(sink, fallback_id) == OrderStatus.NEW, what="REST ack")
    assert channels(emulator, fallback_id) == [("rest", "order.create")]
    assert ws_venue.stats.rest_fallbacks == fallbacks_before + 1

    # Back on the socket once the watchdog has reconnected it.
    emulator.faults.refuse_sockets("trade", enabled=False)
    eventually(lambda: ws_venue.trade_socket_ready, timeout_s=15, what="the trade socket back")
    assert "trade_socket_restored" in [status for status, _ in sink.statuses()]
    resting = [fallback_id, link_id] if executed else [fallback_id]
    ws_venue.submit([CancelOrder(i, "BTCUSDT") for i in resting])
    eventually(
        lambda: all(last_status(sink, i) == OrderStatus.CANCELLED for i in resting),
        what="cancels on the socket",
    )
    assert channels(emulator, fallback_id)[-1][0] == "trade"
    assert ws_venue.stats.rest_fallbacks == fallbacks_before + 1
    assert all(len(orders_at_emulator(emulator, i)) == 1 for i in resting)


def test_trade_socket_withheld_ack_is_unknown_then_resolved_by_query_without_a_resend(
    ws_venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    timeouts_before = ws_venue.stats.trade_timeouts
    late_before = ws_venue.stats.late_trade_replies
    bid, _ = touch(emulator)
    # Executed at once, answered well after the venue's 500 ms timeout.
    emulator.faults.lose_acks(1, delay_ms=1500)
    ws_venue.submit([NewOrder("ws-lost-ack", "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    settled = eventually(
        lambda: settled_after_unknown(sink, "ws-lost-ack"), what="Unknown, then the query's answer"
    )
    assert settled.status == OrderStatus.NEW
    assert ws_venue.stats.trade_timeouts == timeouts_before + 1
    assert len(orders_at_emulator(emulator, "ws-lost-ack")) == 1
    # The answer that finally comes is dropped: the query has settled the order.
    eventually(lambda: ws_venue.stats.late_trade_replies > late_before, what="the late answer")
    assert channels(emulator, "ws-lost-ack") == [("trade", "order.create")]
    # The socket itself was fine all along: the cancel goes on it.
    assert ws_venue.trade_socket_ready
    ws_venue.submit([CancelOrder("ws-lost-ack", "BTCUSDT")])
    eventually(lambda: last_status(sink, "ws-lost-ack") == OrderStatus.CANCELLED, what="cancel")
    assert channels(emulator, "ws-lost-ack") == [
        ("trade", "order.create"),
        ("trade", "order.cancel"),
    ]


def test_rest_order_entry_keeps_orders_off_the_trade_socket(
    venue: BybitVenue, sink: RecordingSink, emulator: EmulatorServer
) -> None:
    assert venue.order_entry == "rest" and not venue.trade_socket_ready
    bid, _ = touch(emulator)
    venue.submit([NewOrder("rest-only-1", "BTCUSDT", Side.BUY, 10, bid - 500, "PostOnly")])
    eventually(lambda: last_status(sink, "rest-only-1") == OrderStatus.NEW, what="ack")
    venue.submit([CancelOrder("rest-only-1", "BTCUSDT")])
    eventually(lambda: last_status(sink, "rest-only-1") == OrderStatus.CANCELLED, what="cancel")
    assert channels(emulator, "rest-only-1") == [("rest", "order.create"), ("rest", "order.cancel")]
    assert venue.stats.trade_requests == 0 and venue.stats.rest_fallbacks == 0
    # No trade socket at the venue (one of an earlier test may still be closing).
    eventually(
        lambda: (
            not emulator.call(lambda hub: [c for c in hub.streams.connections if c.kind == "trade"])
        ),
        what="no trade socket",
    )
