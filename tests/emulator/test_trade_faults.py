"""Emulator faults of the trade socket, met by pybit's own ``WebSocketTrading``:
a socket cut before or after its request ran, refused handshakes, and the
record of executed order requests by channel (rest | trade)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from host.emulator import EmulatorServer
from host.emulator.faults import Faults

API_KEY = "emulator-key"
API_SECRET = "emulator-secret"


class Replies:
    """Trade-socket answers from pybit's thread."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(dict(message))


def best_bid(http: Any) -> Decimal:
    book = http.get_orderbook(category="linear", symbol="BTCUSDT", limit=1)["result"]
    return Decimal(book["b"][0][0])


def order_requests_of(emulator: EmulatorServer, order_link_id: str) -> list[tuple[str, str]]:
    """(channel, op) of every executed order request naming ``order_link_id``."""
    return emulator.call(
        lambda hub: [
            (r.channel, r.op) for r in hub.order_requests if order_link_id in r.order_link_ids
        ]
    )


@pytest.mark.parametrize("executed", [False, True])
def test_cut_trade_socket_aborts_before_or_after_the_request_runs(
    emulator: EmulatorServer, http: Any, eventually: Any, executed: bool
) -> None:
    from pybit.unified_trading import WebSocketTrading

    link_id = f"ws-cut-{'after' if executed else 'before'}"
    replies = Replies()
    trading = WebSocketTrading(
        api_key=API_KEY, api_secret=API_SECRET, testnet=False, restart_on_error=False
    )
    try:
        bid = best_bid(http)
        emulator.faults.cut_trade_socket(1, executed=executed)
        trading.place_order(
            replies,
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Limit",
            qty="0.001",
            price=str(bid - 400),
            orderLinkId=link_id,
        )
        eventually(lambda: not trading.is_connected(), what="the trade socket to be cut")
    finally:
        trading.exit()
    assert replies.messages == []  # never answered
    found = http.get_open_orders(category="linear", orderLinkId=link_id)["result"]["list"]
    assert len(found) == (1 if executed else 0)
    assert order_requests_of(emulator, link_id) == ([("trade", "order.create")] if executed else [])
    http.cancel_all_orders(category="linear", symbol="BTCUSDT")


def test_refused_sockets_fail_the_handshake_until_accepted_again(
    emulator: EmulatorServer,
) -> None:
    import websocket
    from pybit.unified_trading import WebSocket, WebSocketTrading

    # (pybit gives up after ``retries`` attempts; 1 would fail even a success.)
    emulator.faults.refuse_sockets("trade")
    with pytest.raises(websocket.WebSocketTimeoutException):
        WebSocketTrading(
            api_key=API_KEY,
            api_secret=API_SECRET,
            testnet=False,
            retries=2,
            restart_on_error=False,
        )
    # Only the kind asked for is refused.
    public = WebSocket(channel_type="linear", testnet=False, retries=2)
    assert public.is_connected()
    public.exit()
    emulator.faults.refuse_sockets("trade", enabled=False)
    trading = WebSocketTrading(api_key=API_KEY, api_secret=API_SECRET, testnet=False, retries=2)
    try:
        assert trading.is_connected()
    finally:
        trading.exit()
    with pytest.raises(ValueError, match="socket kind"):
        emulator.faults.refuse_sockets("orders")


def test_rate_limit_fault_names_its_channel() -> None:
    faults = Faults()
    faults.rate_limit(2, channel="trade")
    assert [faults.take_trade_rate_limit() for _ in range(3)] == [True, True, False]
    with pytest.raises(ValueError, match="channel"):
        faults.rate_limit(1, channel="websocket")
