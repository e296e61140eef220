"""The real pybit client against the emulator: REST orders, private and public
streams, the trade socket, auth errors and injected faults."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from host.emulator import EmulatorServer, point_pybit_at

API_KEY = "emulator-key"
API_SECRET = "emulator-secret"


class Recorder:
    """Collects stream messages from pybit's threads (copies: pybit mutates its dicts)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        import copy

        with self.lock:
            self.messages.append(copy.deepcopy(message))

    def topic(self, topic: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if m.get("topic") == topic]

    def items(self, topic: str) -> list[dict[str, Any]]:
        return [item for message in self.topic(topic) for item in message["data"]]


def best_prices(
    http: Any, category: str = "linear", symbol: str = "BTCUSDT"
) -> tuple[Decimal, Decimal]:
    book = http.get_orderbook(category=category, symbol=symbol, limit=1)["result"]
    return Decimal(book["b"][0][0]), Decimal(book["a"][0][0])


@pytest.fixture
def private(emulator: EmulatorServer, eventually: Any):
    from pybit.unified_trading import WebSocket

    recorder = Recorder()
    socket = WebSocket(
        channel_type="private", api_key=API_KEY, api_secret=API_SECRET, testnet=False
    )
    for subscribe in (
        socket.order_stream,
        socket.execution_stream,
        socket.position_stream,
        socket.wallet_stream,
    ):
        subscribe(recorder)
    # The subscriptions are live once the server has acked them; a ping round
    # trip after the last subscribe is not observable through pybit, so wait
    # for the server to list the topics.
    eventually(
        lambda: emulator.call(
            lambda hub: any(
                len(c.active) == 4 for c in hub.streams.connections if c.kind == "private"
            )
        ),
        what="private subscriptions",
    )
    yield recorder
    socket.exit()


def test_point_pybit_at_redirects_every_url_and_restores() -> None:
    from pybit import _http_manager, _websocket_trading, unified_trading

    before = (
        _http_manager.HTTP_URL,
        unified_trading.PUBLIC_WSS,
        unified_trading.PRIVATE_WSS,
        _websocket_trading.TRADE_WSS,
    )
    restore = point_pybit_at("http://127.0.0.1:1234")
    try:
        from pybit.unified_trading import HTTP

        assert HTTP(testnet=True, domain="bytick", tld="nl").endpoint == "http://127.0.0.1:1234"
        assert unified_trading.PRIVATE_WSS == "ws://127.0.0.1:1234/v5/private"
        assert _websocket_trading.TRADE_WSS == "ws://127.0.0.1:1234/v5/trade"
        public = unified_trading.PUBLIC_WSS.replace("{CHANNEL_TYPE}", "linear")
        assert public.format(SUBDOMAIN="s", DOMAIN="d", TLD="t") == (
            "ws://127.0.0.1:1234/v5/public/linear"
        )
    finally:
        restore()
    after = (
        _http_manager.HTTP_URL,
        unified_trading.PUBLIC_WSS,
        unified_trading.PRIVATE_WSS,
        _websocket_trading.TRADE_WSS,
    )
    assert after == before


def test_market_endpoints_use_bybit_listings(http: Any) -> None:
    info = http.get_instruments_info(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert info["priceFilter"]["tickSize"] == "0.10"
    assert info["lotSizeFilter"]["qtyStep"] == "0.001"
    eth = http.get_instruments_info(category="linear", symbol="ETHUSDT")["result"]["list"][0]
    assert eth["lotSizeFilter"]["minOrderQty"] == "0.01"
    spot = http.get_instruments_info(category="spot", symbol="BTCUSDT")["result"]["list"][0]
    assert spot["priceFilter"]["tickSize"] == "0.01"
    bid, ask = best_prices(http)
    assert bid < ask
    ticker = http.get_tickers(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert ticker["bid1Price"] and ticker["ask1Price"]
    assert int(http.get_server_time()["result"]["timeSecond"]) > 1_600_000_000


def test_place_amend_cancel_single_order(http: Any, private: Recorder, eventually: Any) -> None:
    bid, _ = best_prices(http)
    price = bid - 100
    placed = http.place_order(
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.010",
        price=str(price),
        orderLinkId="single-1",
        timeInForce="PostOnly",
    )
    assert placed["retCode"] == 0 and placed["result"]["orderLinkId"] == "single-1"
    amended = http.amend_order(
        category="linear",
        symbol="BTCUSDT",
        orderLinkId="single-1",
        price=str(price - 1),
        qty="0.020",
    )
    assert amended["result"]["orderId"] == placed["result"]["orderId"]
    live = http.get_open_orders(category="linear", orderLinkId="single-1")["result"]["list"][0]
    assert (live["price"], live["qty"], live["orderStatus"]) == (
        format(price - 1, "f"),
        "0.020",
        "New",
    )
    http.cancel_order(category="linear", symbol="BTCUSDT", orderLinkId="single-1")
    with pytest.raises(InvalidRequestError) as refused:
        http.cancel_order(category="linear", symbol="BTCUSDT", orderLinkId="single-1")
    assert refused.value.status_code == 110001
    statuses = eventually(
        lambda: [
            o["orderStatus"]
            for o in private.items("order")
            if o["orderLinkId"] == "single-1" and o["orderStatus"] == "Cancelled"
        ],
        what="cancel push",
    )
    assert statuses == ["Cancelled"]


def test_batch_orders_report_each_item(http: Any) -> None:
    bid, _ = best_prices(http)
    price = str(bid - 200)
    created = http.place_batch_order(
        category="linear",
        request=[
            {
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.001",
                "price": price,
                "orderLinkId": "batch-1",
            },
            {
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.0015",
                "price": price,
                "orderLinkId": "batch-2",
            },
            {
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.002",
                "price": price,
                "orderLinkId": "batch-3",
            },
        ],
    )
    codes = [item["code"] for item in created["retExtInfo"]["list"]]
    assert codes == [0, 10001, 0]
    assert [item["orderLinkId"] for item in created["result"]["list"]] == [
        "batch-1",
        "batch-2",
        "batch-3",
    ]
    amended = http.amend_batch_order(
        category="linear",
        request=[
            {"symbol": "BTCUSDT", "orderLinkId": "batch-1", "qty": "0.003"},
            {"symbol": "BTCUSDT", "orderLinkId": "missing", "qty": "0.003"},
        ],
    )
    assert [item["code"] for item in amended["retExtInfo"]["list"]] == [0, 110001]
    cancelled = http.cancel_batch_order(
        category="linear",
        request=[
            {"symbol": "BTCUSDT", "orderLinkId": "batch-1"},
            {"symbol": "BTCUSDT", "orderLinkId": "batch-3"},
        ],
    )
    assert [item["code"] for item in cancelled["retExtInfo"]["list"]] == [0, 0]


def test_post_only_that_would_take_is_accepted_then_cancelled(
    http: Any, private: Recorder, eventually: Any
) -> None:
    _, ask = best_prices(http)
    placed = http.place_order(
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.001",
        price=str(ask + 50),
        orderLinkId="po-take",
        timeInForce="PostOnly",
    )
    assert placed["retCode"] == 0
    update = eventually(
        lambda: next((o for o in private.items("order") if o["orderLinkId"] == "po-take"), None),
        what="PostOnly cancel",
    )
    assert update["orderStatus"] == "Cancelled"
    assert update["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
    assert not private.items("execution") or all(
        e["orderLinkId"] != "po-take" for e in private.items("execution")
    )


def test_fill_on_private_stream_matches_position_and_wallet(
    emulator: EmulatorServer, http: Any, private: Recorder, eventually: Any
) -> None:
    wallet_before = Decimal(
        http.get_wallet_balance(accountType="UNIFIED", coin="USDT")["result"]["list"][0]["coin"][0][
            "walletBalance"
        ]
    )
    position_before = Decimal(
        http.get_positions(category="linear", symbol="ETHUSDT")["result"]["list"][0]["size"]
    )
    _, ask = best_prices(http, symbol="ETHUSDT")
    # A limit through the ask takes liquidity at once; the rest of the
    # suite's fill (maker, replayed market) is in test_recording.py.
    http.place_order(
        category="linear",
        symbol="ETHUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.10",
        price=str(ask + 5),
        orderLinkId="fill-1",
        timeInForce="IOC",
    )
    executions = eventually(
        lambda: [e for e in private.items("execution") if e["orderLinkId"] == "fill-1"],
        what="execution push",
    )
    filled = sum(Decimal(e["execQty"]) for e in executions)
    fees = sum(Decimal(e["execFee"]) for e in executions)
    assert filled == Decimal("0.10")
    assert fees > 0 and all(e["isMaker"] is False for e in executions)
    position = http.get_positions(category="linear", symbol="ETHUSDT")["result"]["list"][0]
    assert Decimal(position["size"]) == position_before + filled
    wallet_after = Decimal(
        http.get_wallet_balance(accountType="UNIFIED", coin="USDT")["result"]["list"][0]["coin"][0][
            "walletBalance"
        ]
    )
    assert wallet_after == pytest.approx(wallet_before - fees, abs=Decimal("0.0000001"))
    assert eventually(
        lambda: [p for p in private.items("position") if p["symbol"] == "ETHUSDT"],
        what="position push",
    )
    assert eventually(lambda: private.items("wallet"), what="wallet push")
    execution_list = http.get_executions(category="linear", orderLinkId="fill-1")
    assert {e["execId"] for e in execution_list["result"]["list"]} == {
        e["execId"] for e in executions
    }


def test_trading_stop_is_stored_and_armed(http: Any) -> None:
    position = http.get_positions(category="linear", symbol="ETHUSDT")["result"]["list"][0]
    if Decimal(position["size"]) == 0:
        http.place_order(
            category="linear",
            symbol="ETHUSDT",
            side="Buy",
            orderType="Market",
            qty="0.10",
            orderLinkId="tpsl-open",
        )
    bid, ask = best_prices(http, symbol="ETHUSDT")
    http.set_trading_stop(
        category="linear",
        symbol="ETHUSDT",
        takeProfit=str(ask + 200),
        stopLoss=str(bid - 200),
        positionIdx=0,
        tpslMode="Full",
    )
    position = http.get_positions(category="linear", symbol="ETHUSDT")["result"]["list"][0]
    assert position["takeProfit"] == format(ask + 200, "f")
    assert position["stopLoss"] == format(bid - 200, "f")
    untriggered = [
        o
        for o in http.get_open_orders(category="linear", symbol="ETHUSDT")["result"]["list"]
        if o["orderStatus"] == "Untriggered"
    ]
    assert {o["stopOrderType"] for o in untriggered} == {"TakeProfit", "StopLoss"}


def test_reduce_only_without_position_is_refused(http: Any) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        http.place_order(
            category="linear",
            symbol="BTCUSDT",
            side="Sell",
            orderType="Market",
            qty="0.001",
            reduceOnly=True,
            orderLinkId="ro-1",
        )
    # BTCUSDT may hold a long from other tests; then a Buy is the same side.
    if refused.value.status_code != 110017:
        raise AssertionError(f"expected 110017, got {refused.value.status_code}")


def test_insufficient_balance_is_110007(http: Any) -> None:
    _, ask = best_prices(http)
    with pytest.raises(InvalidRequestError) as refused:
        http.place_order(
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Limit",
            qty="900",
            price=str(ask - 1000),
            orderLinkId="too-big",
        )
    assert refused.value.status_code == 110007


def test_wrong_secret_is_10004(emulator: EmulatorServer) -> None:
    from pybit.unified_trading import HTTP

    wrong = HTTP(api_key=API_KEY, api_secret="not-the-secret", retry_codes={-1}, max_retries=1)
    with pytest.raises(InvalidRequestError) as refused:
        wrong.get_wallet_balance(accountType="UNIFIED")
    assert refused.value.status_code == 10004
    unknown = HTTP(api_key="nobody", api_secret=API_SECRET, retry_codes={-1}, max_retries=1)
    with pytest.raises(InvalidRequestError) as refused:
        unknown.get_wallet_balance(accountType="UNIFIED")
    assert refused.value.status_code == 10003


def test_clock_skew_is_10002(emulator: EmulatorServer, http: Any) -> None:
    emulator.faults.set_clock_skew(60_000)
    with pytest.raises(InvalidRequestError) as refused:
        http.get_wallet_balance(accountType="UNIFIED")
    assert refused.value.status_code == 10002


def test_rate_limit_is_10006_with_headers(emulator: EmulatorServer) -> None:
    from pybit.unified_trading import HTTP

    client = HTTP(
        api_key=API_KEY,
        api_secret=API_SECRET,
        retry_codes={-1},
        max_retries=1,
        return_response_headers=True,
    )
    _, _, headers = client.get_wallet_balance(accountType="UNIFIED")
    assert int(headers["X-Bapi-Limit"]) >= int(headers["X-Bapi-Limit-Status"])
    emulator.faults.rate_limit(1)
    with pytest.raises(InvalidRequestError) as refused:
        client.get_wallet_balance(accountType="UNIFIED")
    assert refused.value.status_code == 10006
    limited = refused.value.resp_headers
    assert limited["X-Bapi-Limit-Status"] == "0"
    assert int(limited["X-Bapi-Limit-Reset-Timestamp"]) > 1_600_000_000_000
    # The real limiter: order writes are limited per endpoint per second.
    codes = []
    for index in range(12):
        try:
            client.amend_order(
                category="linear", symbol="BTCUSDT", orderLinkId=f"none-{index}", qty="0.001"
            )
        except InvalidRequestError as error:
            codes.append(error.status_code)
    assert 10006 in codes and 110001 in codes


def test_server_error_is_5xx(emulator: EmulatorServer, http: Any) -> None:
    emulator.faults.server_errors(1, status=503)
    with pytest.raises(FailedRequestError) as failed:
        http.get_wallet_balance(accountType="UNIFIED")
    assert failed.value.status_code == 503
    assert http.get_wallet_balance(accountType="UNIFIED")["retCode"] == 0


def test_lost_ack_then_query_by_order_link_id_finds_the_order(emulator: EmulatorServer) -> None:
    from pybit.unified_trading import HTTP

    client = HTTP(
        api_key=API_KEY, api_secret=API_SECRET, retry_codes={-1}, max_retries=1, timeout=0.5
    )
    bid, _ = best_prices(client)
    emulator.faults.lose_acks(1)  # never answered
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.place_order(
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Limit",
            qty="0.001",
            price=str(bid - 300),
            orderLinkId="lost-ack-1",
        )
    found = client.get_open_orders(category="linear", orderLinkId="lost-ack-1")
    assert found["result"]["list"][0]["orderStatus"] == "New"
    client.cancel_order(category="linear", symbol="BTCUSDT", orderLinkId="lost-ack-1")


def test_trade_socket_echoes_req_id_and_places_orders(http: Any, eventually: Any) -> None:
    from pybit.unified_trading import WebSocketTrading

    replies = Recorder()
    trading = WebSocketTrading(api_key=API_KEY, api_secret=API_SECRET, testnet=False)
    try:
        bid, _ = best_prices(http)
        trading.place_order(
            replies,
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Limit",
            qty="0.001",
            price=str(bid - 400),
            orderLinkId="ws-1",
        )
        trading.place_batch_order(
            replies,
            category="linear",
            request=[
                {
                    "symbol": "BTCUSDT",
                    "side": "Buy",
                    "orderType": "Limit",
                    "qty": "0.001",
                    "price": str(bid - 401),
                    "orderLinkId": "ws-2",
                }
            ],
        )
        trading.cancel_order(replies, category="linear", symbol="BTCUSDT", orderLinkId="ws-1")
        eventually(lambda: len(replies.messages) == 3, what="three trade replies")
        assert [m["op"] for m in replies.messages] == [
            "order.create",
            "order.create-batch",
            "order.cancel",
        ]
        assert all(m["retCode"] == 0 and m["reqId"] for m in replies.messages)
        assert replies.messages[1]["data"]["list"][0]["orderLinkId"] == "ws-2"
        assert replies.messages[1]["retExtInfo"]["list"][0]["code"] == 0
    finally:
        trading.exit()


def test_spot_order_moves_coins(http: Any, eventually: Any) -> None:
    before = {
        c["coin"]: Decimal(c["walletBalance"])
        for c in http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]["coin"]
    }
    _, ask = best_prices(http, category="spot")
    http.place_order(
        category="spot",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.001",
        price=str(ask + 1),
        timeInForce="IOC",
        orderLinkId="spot-1",
    )
    after = {
        c["coin"]: Decimal(c["walletBalance"])
        for c in http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]["coin"]
    }
    assert after["BTC"] - before.get("BTC", Decimal(0)) == Decimal("0.001")
    assert before["USDT"] - after["USDT"] > Decimal(60)  # ~64 USDT + fee
    with pytest.raises(InvalidRequestError) as refused:
        http.place_order(
            category="spot",
            symbol="BTCUSDT",
            side="Sell",
            orderType="Limit",
            qty="5",
            price=str(ask),
            orderLinkId="spot-2",
        )
    assert refused.value.status_code == 170131


def test_disconnect_cancel_all_fires_after_the_window(
    emulator: EmulatorServer, http: Any, eventually: Any
) -> None:
    from pybit.unified_trading import WebSocket

    http.set_dcp(timeWindow=3)
    socket = WebSocket(
        channel_type="private", api_key=API_KEY, api_secret=API_SECRET, testnet=False
    )
    bid, _ = best_prices(http)
    http.place_order(
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.001",
        price=str(bid - 500),
        orderLinkId="dcp-1",
    )
    socket.exit()
    status = eventually(
        lambda: (
            (
                s := http.get_open_orders(category="linear", orderLinkId="dcp-1")["result"]["list"][
                    0
                ]["orderStatus"]
            )
            == "Cancelled"
            and s
        ),
        timeout_s=8,
        what="DCP cancel",
        interval_s=0.1,
    )
    assert status == "Cancelled"
    emulator.call(lambda hub: setattr(hub.exchange, "dcp_window_s", None))
