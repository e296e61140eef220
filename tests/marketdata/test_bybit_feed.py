"""Bybit V5 frames and archives, on small files built from the documented format."""

from __future__ import annotations

import gzip
import json
import zipfile
from functools import partial
from pathlib import Path

import pytest

from host.book import OrderBook
from host.instruments import lookup
from host.marketdata.bybit import (
    FRAME_DECODER,
    BybitDecoder,
    PrivateUpdate,
    TickerUpdate,
    UnknownTopicError,
    read_bybit_orderbook,
    read_bybit_trades,
)
from host.marketdata.common import MarketDataError, ReaderStats
from host.models import BookMessage, Side, Trade

LINEAR = lookup("bybit-linear", "BTCUSDT")


def _book_frame(
    kind: str, update_id: int, bids: list, asks: list, ts: int = 1_700_000_000_000
) -> dict:
    return {
        "topic": "orderbook.50.BTCUSDT",
        "type": kind,
        "ts": ts,
        "data": {"s": "BTCUSDT", "b": bids, "a": asks, "u": update_id, "seq": 7_000 + update_id},
        "cts": ts - 2,
    }


def _decoder(market: str = "bybit-linear") -> BybitDecoder:
    return BybitDecoder(partial(lookup, market))


def test_orderbook_snapshot_and_delta_become_book_messages() -> None:
    decoder = _decoder()
    (snapshot,) = decoder.decode(
        json.dumps(_book_frame("snapshot", 10, [["16493.50", "0.006"]], [["16611", "0.029"]])), 5
    )
    assert isinstance(snapshot, BookMessage) and snapshot.is_snapshot
    # Bybit may drop trailing zeros: "16611" and "16611.00" are the same tick
    assert snapshot.bids == [(164935, 6)] and snapshot.asks == [(166110, 29)]
    assert snapshot.first_update_id == snapshot.last_update_id == 10 and snapshot.seq == 7010
    assert snapshot.ts_exchange_ns == 1_700_000_000_000 * 1_000_000 and snapshot.ts_local_ns == 5
    (delta,) = decoder.decode(json.dumps(_book_frame("delta", 11, [], [["16611.0", "0"]])), 6)
    book = OrderBook(snapshot.venue, snapshot.symbol)
    assert book.apply(snapshot) and book.apply(delta)
    assert book.best_ask_ticks == 0
    (gap,) = decoder.decode(json.dumps(_book_frame("delta", 13, [], [])), 7)
    assert not book.apply(gap) and book.stats.gaps == 1


def test_spot_prices_with_many_decimals_are_exact() -> None:
    decoder = _decoder("bybit-spot")
    frame = _book_frame("snapshot", 1, [["61837.63", "0.123456"]], [["61837.7", "2"]])
    (message,) = decoder.decode(json.dumps(frame).replace("50.BTCUSDT", "1.BTCUSDT"), 1)
    assert message.bids == [(6183763, 123456)] and message.asks == [(6183770, 2_000_000)]


def test_public_trades_and_tickers() -> None:
    decoder = _decoder()
    frame = {
        "topic": "publicTrade.BTCUSDT",
        "type": "snapshot",
        "ts": 1672304486868,
        "data": [
            {"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "16578.50",
             "L": "PlusTick", "i": "20f43950-d8dd-5b31-9112-a178eabc3db5", "BT": False},
            {"T": 1672304486866, "s": "BTCUSDT", "S": "Sell", "v": "1.5", "p": "16578.4",
             "L": "MinusTick", "i": "b", "BT": False},
        ],
    }  # fmt: skip
    trades = decoder.decode(json.dumps(frame), 9)
    assert [(t.price_ticks, t.size_lots, t.aggressor) for t in trades] == [
        (165785, 1, Side.BUY),
        (165784, 1500, Side.SELL),
    ]
    assert all(isinstance(t, Trade) for t in trades)
    ticker = {
        "topic": "tickers.BTCUSDT",
        "type": "delta",
        "data": {"symbol": "BTCUSDT", "bid1Price": "17215.50", "tickDirection": "INSURANCE_FUND"},
        "cs": 24987956059,
        "ts": 1673272861686,
    }
    (update,) = decoder.decode(json.dumps(ticker), 10)
    assert isinstance(update, TickerUpdate) and not update.is_snapshot
    assert update.data.bid1Price == "17215.50" and update.data.lastPrice == ""


def test_private_topics_decode_into_typed_items() -> None:
    decoder = _decoder()
    order = {
        "id": "5923240c6880ab-c59f-420b-9adb-3639adc9dd90",
        "topic": "order",
        "creationTime": 1672364262474,
        "data": [
            {"symbol": "BTCUSDT", "orderId": "1", "orderLinkId": "mm-1", "side": "Buy",
             "orderType": "Limit", "price": "16000", "qty": "0.001", "orderStatus": "New",
             "timeInForce": "PostOnly", "category": "linear", "someNewField": 1}
        ],
    }  # fmt: skip
    (update,) = decoder.decode(json.dumps(order), 1)
    assert isinstance(update, PrivateUpdate) and update.topic == "order"
    assert update.items[0].orderLinkId == "mm-1" and update.items[0].orderStatus == "New"
    execution = {"topic": "execution", "creationTime": 1, "data": [
        {"symbol": "BTCUSDT", "execId": "e1", "execPrice": "16000", "execQty": "0.001",
         "execType": "Trade", "isMaker": True, "orderLinkId": "mm-1", "seq": 5}]}  # fmt: skip
    (fill,) = decoder.decode(json.dumps(execution), 2)
    assert fill.items[0].isMaker and fill.items[0].execId == "e1"
    for topic, item in (
        ("position", {"symbol": "BTCUSDT", "side": "Buy", "size": "0.001", "seq": 3}),
        ("wallet", {"accountType": "UNIFIED", "coin": [{"coin": "USDT", "equity": "100"}]}),
    ):
        (update,) = decoder.decode(
            json.dumps({"topic": topic, "creationTime": 1, "data": [item]}), 3
        )
        assert update.topic == topic
    assert decoder.decode('{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}', 4) == []


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        json.dumps(_book_frame("snapshot", 1, [["abc", "1"]], [])),
        json.dumps(_book_frame("snapshot", 1, [["100", "-1"]], [])),
        json.dumps(_book_frame("snapshot", 1, [["100.05", "1"]], [])),  # off the 0.10 grid
        json.dumps(_book_frame("partial", 1, [], [])),
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT"}}',
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":[]}',
        '{"topic":"publicTrade.BTCUSDT","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1}}',
        "{}",
    ],
)
def test_bad_frames_raise_value_error(frame: str) -> None:
    with pytest.raises(ValueError):
        _decoder().decode(frame, 1)


def test_unknown_topic_is_its_own_error() -> None:
    with pytest.raises(UnknownTopicError):
        _decoder().decode('{"topic":"kline.1.BTCUSDT","data":[]}', 1)
    # data shaped like an order book does not make a topic an order book
    with pytest.raises(UnknownTopicError):
        _decoder().decode(
            '{"topic":"kline.1.BTCUSDT","data":{"s":"BTCUSDT","b":[],"a":[],"u":1}}', 1
        )


def test_one_call_fast_path_matches_the_envelope_path() -> None:
    book = _book_frame("snapshot", 10, [["16493.5", "0.006"], ["16493.4", "1"]], [["16611", "2"]])
    trades = {
        "topic": "publicTrade.BTCUSDT",
        "type": "snapshot",
        "ts": 1672304486868,
        "data": [{"T": 1672304486865, "s": "BTCUSDT", "S": "Sell", "v": "0.5", "p": "16578.4"}],
    }
    reordered = {"data": book["data"], "ts": book["ts"], "type": "delta", "topic": book["topic"]}
    ticker = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1, "data": {"symbol": "BTCUSDT"}}
    order = {"topic": "order", "creationTime": 1, "data": [{"symbol": "BTCUSDT", "orderId": "1"}]}
    messages = (book, trades, reordered, order, order, book, ticker, trades, book)
    decoder = _decoder()  # one decoder across topics: its fast-path state must not matter
    for message in messages:
        compact = json.dumps(message, separators=(",", ":"))
        expected = _decoder().decode_envelope(FRAME_DECODER.decode(compact), 3)
        for frame in (compact, compact.encode(), json.dumps(message, indent=1)):
            assert _decoder().decode(frame, 3) == expected
            assert decoder.decode(frame, 3) == expected


def test_new_price_strings_after_cached_ones() -> None:
    decoder = _decoder()
    decoder.decode(json.dumps(_book_frame("snapshot", 1, [["100.1", "1"]], [["100.5", "1"]])), 1)
    # known level first, then strings never seen: converted exactly, once
    (delta,) = decoder.decode(
        json.dumps(_book_frame("delta", 2, [["100.1", "1"], ["100.2", "0.25"]], [["100.50", "1"]])),
        2,
    )
    assert delta.bids == [(1001, 1000), (1002, 250)] and delta.asks == [(1005, 1000)]
    with pytest.raises(ValueError):  # a bad string behind cached ones is still refused
        decoder.decode(json.dumps(_book_frame("delta", 3, [["100.1", "1"], ["x", "1"]], [])), 3)


def test_orderbook_archive_reader_zip_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps(_book_frame("snapshot", 1, [["100.1", "1"]], [["100.3", "1"]], ts=1000)),
        json.dumps(_book_frame("delta", 2, [["100.2", "2"]], [], ts=1001)),
        "garbage",
        json.dumps(_book_frame("delta", 3, [], [["100.3", "0"]], ts=999)),  # time goes back
        '{"topic":"liquidation.BTCUSDT","ts":1002,"data":{}}',
        json.dumps(_book_frame("delta", 3, [], [["100.4", "5"]], ts=1003)),
    ]
    path = tmp_path / "2024-01-01_BTCUSDT_ob500.data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("2024-01-01_BTCUSDT_ob500.data", "\n".join(lines) + "\n")
    with pytest.raises(MarketDataError, match=r"ob500\.data\.zip:3"):
        list(read_bybit_orderbook([path], LINEAR))
    stats = ReaderStats()
    events = list(read_bybit_orderbook([path], LINEAR, on_bad_line="skip", stats=stats))
    assert (stats.bad_lines, stats.out_of_order, stats.unknown) == (2, 1, 1)
    book = OrderBook(LINEAR.venue, LINEAR.symbol)
    assert all(book.apply(event) for event in events)
    assert (book.best_bid_ticks, book.best_ask_ticks, book.size_at(Side.SELL, 1004)) == (
        1002,
        1003,
        5000,
    )


def test_trade_csv_reader(tmp_path: Path) -> None:
    rows = [
        "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional",
        "1585180700.0647,BTCUSDT,Buy,0.5,6500.5,PlusTick,m-1,3.25e+11,0.5,3250.25",
        "1585180700.1,BTCUSDT,Sell,1,6500,MinusTick,m-2,6.5e+11,1,6500",
        "1585180701,ETHUSDT,Sell,1,130,MinusTick,m-3,1,1,130",
        "1585180702.5,BTCUSDT,Sell,-1,6500,MinusTick,m-4,1,1,1",
    ]  # fmt: skip
    path = tmp_path / "BTCUSDT2020-03-26.csv.gz"
    with gzip.open(path, "wt") as stream:
        stream.write("\n".join(rows) + "\n")
    stats = ReaderStats()
    trades = list(read_bybit_trades([path], LINEAR, on_bad_line="skip", stats=stats))
    rows_seen = [
        (t.ts_exchange_ns, t.price_ticks, t.size_lots, t.aggressor, t.trade_id) for t in trades
    ]
    assert rows_seen == [
        (1585180700064700000, 65005, 500, Side.BUY, "m-1"),
        (1585180700100000000, 65000, 1000, Side.SELL, "m-2"),
    ]  # fmt: skip
    assert stats.unknown == 1 and stats.bad_lines == 1


def test_trade_csv_without_the_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(MarketDataError, match="missing columns"):
        list(read_bybit_trades([path], LINEAR))
