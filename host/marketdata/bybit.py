"""Bybit V5: typed frames of the public and private websocket topics, and
readers of Bybit's historical archives.

Decoding goes straight into ``msgspec`` structs. Topics embed the symbol
(``orderbook.50.BTCUSDT``), so a tagged union on ``topic`` cannot work. The
two hot topics need no tag: ``PublicFrame`` decodes a whole orderbook or
publicTrade frame in one call, its ``data`` an object (orderbook) or an array
(trades). Any other frame fails that decode and takes the general path: the
envelope with ``data`` left as ``msgspec.Raw``, then ``data`` decoded by the
struct of the topic's prefix. Enum-like fields
(``orderStatus``, ``execType``, ``tickDirection`` ...) are plain ``str``:
the venue adds values (``"INSURANCE_FUND"``) without notice. Fields Bybit may
omit (ticker deltas, spot vs linear) default to ``""``.

Public topics become host events: ``orderbook.{1,50,200,1000}.*`` ->
``BookMessage`` (``u`` as first and last update id, so ``OrderBook`` checks
``u == previous u + 1``; ``seq`` as ``seq``), ``publicTrade.*`` -> ``Trade``,
``tickers.*`` -> ``TickerUpdate``. Private topics (``order``, ``execution``,
``execution.fast``, ``position``, ``wallet``) become ``PrivateUpdate`` holding
the typed items; turning them into host orders and fills is the venue
adapter's job. Control frames (subscribe acks, pongs) yield nothing.

Prices: Bybit drops trailing zeros (``"0.1"`` where Binance writes
``"0.10"``); ``UnitParser`` is exact for any number of decimals.

Archives:

- order book (``*_ob*.data`` / ``.zip`` / ``.gz``): one V5 orderbook message per
  line, no receive time: ``ts_local_ns`` is the message's ``ts``.
- trades (``*.csv`` / ``.csv.gz``): header
  ``timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,
  homeNotional,foreignNotional``; ``timestamp`` in seconds with a fraction
  (ms or s integers are accepted too); ``side`` is the taker's side. Rows are
  yielded in file order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import msgspec

from host.marketdata.common import (
    BadLines,
    MarketDataError,
    OnBadLine,
    ReaderStats,
    UnitGrid,
    UnitParser,
    open_lines,
)
from host.models import BookMessage, Instrument, Side, Trade

__all__ = [
    "BybitDecoder",
    "BybitFrame",
    "ExecutionItem",
    "OrderItem",
    "OrderbookData",
    "PositionItem",
    "PrivateUpdate",
    "PublicTradeItem",
    "TickerData",
    "TickerUpdate",
    "WalletCoin",
    "WalletItem",
    "read_bybit_orderbook",
    "read_bybit_trades",
]

Levels = list[tuple[str, str]]
_NS_PER_MS = 1_000_000


class BybitFrame(msgspec.Struct):
    """Envelope of every V5 websocket frame: data frames and control frames."""

    topic: str = ""
    type: str = ""  # "snapshot" | "delta"
    ts: int = -1  # ms, when the market-data system produced the frame
    cts: int = -1  # ms, matching engine time (orderbook)
    id: str = ""
    creationTime: int = -1  # Bybit's name (private frames)
    data: msgspec.Raw = msgspec.Raw(b"")
    op: str = ""  # control frames: "subscribe", "ping", "pong", "auth"
    success: bool | None = None
    ret_msg: str = ""
    conn_id: str = ""
    req_id: str = ""


class OrderbookData(msgspec.Struct):
    s: str
    b: Levels
    a: Levels
    u: int
    seq: int = -1


class PublicTradeItem(msgspec.Struct):
    T: int
    s: str
    S: str  # taker side: "Buy" | "Sell"
    v: str
    p: str
    L: str = ""
    i: str = ""
    BT: bool = False


class TickerData(msgspec.Struct):
    """Linear and spot tickers; deltas carry only what changed."""

    symbol: str
    tickDirection: str = ""
    price24hPcnt: str = ""
    lastPrice: str = ""
    prevPrice24h: str = ""
    highPrice24h: str = ""
    lowPrice24h: str = ""
    prevPrice1h: str = ""
    markPrice: str = ""
    indexPrice: str = ""
    usdIndexPrice: str = ""
    openInterest: str = ""
    openInterestValue: str = ""
    turnover24h: str = ""
    volume24h: str = ""
    nextFundingTime: str = ""
    fundingRate: str = ""
    bid1Price: str = ""
    bid1Size: str = ""
    ask1Price: str = ""
    ask1Size: str = ""


class OrderItem(msgspec.Struct):
    category: str = ""
    symbol: str = ""
    orderId: str = ""
    orderLinkId: str = ""
    side: str = ""
    orderType: str = ""
    price: str = ""
    qty: str = ""
    timeInForce: str = ""
    orderStatus: str = ""
    cancelType: str = ""
    rejectReason: str = ""
    avgPrice: str = ""
    leavesQty: str = ""
    cumExecQty: str = ""
    cumExecValue: str = ""
    cumExecFee: str = ""
    reduceOnly: bool = False
    closeOnTrigger: bool = False
    positionIdx: int = 0
    triggerPrice: str = ""
    stopOrderType: str = ""
    createdTime: str = ""
    updatedTime: str = ""
    feeCurrency: str = ""


class ExecutionItem(msgspec.Struct):
    category: str = ""
    symbol: str = ""
    orderId: str = ""
    orderLinkId: str = ""
    side: str = ""
    execId: str = ""
    execPrice: str = ""
    execQty: str = ""
    execFee: str = ""
    execType: str = ""  # "Trade", "Funding", "AdlTrade", "BustTrade", ...
    execValue: str = ""
    execTime: str = ""
    feeRate: str = ""
    isMaker: bool = False
    leavesQty: str = ""
    orderPrice: str = ""
    orderQty: str = ""
    orderType: str = ""
    markPrice: str = ""
    closedSize: str = ""
    seq: int = -1


class PositionItem(msgspec.Struct):
    category: str = ""
    symbol: str = ""
    side: str = ""  # "Buy" | "Sell" | "" (flat)
    size: str = ""
    positionIdx: int = 0
    entryPrice: str = ""
    markPrice: str = ""
    positionValue: str = ""
    leverage: str = ""
    liqPrice: str = ""
    unrealisedPnl: str = ""
    cumRealisedPnl: str = ""
    curRealisedPnl: str = ""
    positionStatus: str = ""
    tradeMode: int = 0
    createdTime: str = ""
    updatedTime: str = ""
    seq: int = -1


class WalletCoin(msgspec.Struct):
    coin: str = ""
    equity: str = ""
    walletBalance: str = ""
    availableToWithdraw: str = ""
    unrealisedPnl: str = ""
    cumRealisedPnl: str = ""
    totalOrderIM: str = ""
    totalPositionIM: str = ""
    totalPositionMM: str = ""
    usdValue: str = ""
    locked: str = ""


class WalletItem(msgspec.Struct):
    accountType: str = ""
    totalEquity: str = ""
    totalWalletBalance: str = ""
    totalMarginBalance: str = ""
    totalAvailableBalance: str = ""
    totalInitialMargin: str = ""
    totalMaintenanceMargin: str = ""
    accountIMRate: str = ""
    accountMMRate: str = ""
    coin: list[WalletCoin] = []


class TickerUpdate(msgspec.Struct, frozen=True):
    venue: str
    symbol: str
    ts_exchange_ns: int
    ts_local_ns: int
    is_snapshot: bool
    data: TickerData


class PrivateUpdate(msgspec.Struct, frozen=True):
    """One private frame: ``topic`` and its typed items, in frame order."""

    topic: str
    ts_exchange_ns: int
    ts_local_ns: int
    items: list[OrderItem] | list[ExecutionItem] | list[PositionItem] | list[WalletItem]


BybitEvent = BookMessage | Trade | TickerUpdate | PrivateUpdate

FRAME_DECODER = msgspec.json.Decoder(BybitFrame)
ORDERBOOK_DECODER = msgspec.json.Decoder(OrderbookData)
TRADES_DECODER = msgspec.json.Decoder(list[PublicTradeItem])
TICKER_DECODER = msgspec.json.Decoder(TickerData)
_PRIVATE = {
    "order": msgspec.json.Decoder(list[OrderItem]),
    "execution": msgspec.json.Decoder(list[ExecutionItem]),
    "execution.fast": msgspec.json.Decoder(list[ExecutionItem]),
    "position": msgspec.json.Decoder(list[PositionItem]),
    "wallet": msgspec.json.Decoder(list[WalletItem]),
}


class UnknownTopicError(ValueError):
    """A well-formed frame of a topic this decoder does not read."""


_SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}


class PublicFrame(BybitFrame, kw_only=True, gc=False):
    """An orderbook or publicTrade frame in one msgspec call: ``data`` is an
    object for orderbook and an array for publicTrade, which msgspec tells
    apart without a tag. ``decode``'s fast path; not an event."""

    data: OrderbookData | list[PublicTradeItem]


PUBLIC_FRAME_DECODER = msgspec.json.Decoder(PublicFrame)
_HOT_TOPICS = ("orderbook.", "publicTrade.")


class BybitDecoder:
    """Frames -> host events. ``instrument_for(symbol)`` supplies tick/lot
    (e.g. ``functools.partial(host.instruments.lookup, "bybit-linear")``).

    ``decode`` raises ``ValueError`` (``msgspec.DecodeError`` included) on a
    bad frame and ``UnknownTopicError`` on a topic it does not read; the
    readers turn those into counts.
    """

    def __init__(self, instrument_for: Callable[[str], Instrument]) -> None:
        self._instrument_for = instrument_for
        self._grids: dict[str, UnitGrid] = {}
        self._try_public_frame = True

    def _grid(self, symbol: str) -> UnitGrid:
        grid = self._grids.get(symbol)
        if grid is None:
            grid = UnitGrid(self._instrument_for(symbol))
            self._grids[symbol] = grid
        return grid

    def decode(self, frame: bytes | str, ts_local_ns: int) -> list[BybitEvent]:
        # Fast path for the two hot topics: the whole frame in one typed
        # msgspec call (``PublicFrame``) instead of the envelope and then its
        # data. Any other frame (a ticker, a private topic, a control or a bad
        # frame) fails that decode, costing 1-2 us, and takes the general path,
        # which decides and words the error as before. A stream of other
        # topics (a private connection) stops trying the fast path until a hot
        # topic shows up again: this state changes speed, never results.
        if self._try_public_frame:
            try:
                message = PUBLIC_FRAME_DECODER.decode(frame)
            except msgspec.DecodeError:
                pass
            else:
                data = message.data
                if type(data) is OrderbookData:
                    if message.topic.startswith("orderbook."):
                        return [self._book(message.type, message.ts, data, ts_local_ns)]
                elif message.topic.startswith("publicTrade."):
                    return self._trade_events(data, ts_local_ns)
        try:
            envelope = FRAME_DECODER.decode(frame)
        except msgspec.DecodeError as error:
            raise ValueError(f"malformed frame: {error}") from None
        self._try_public_frame = envelope.topic.startswith(_HOT_TOPICS)
        return self.decode_envelope(envelope, ts_local_ns)

    def decode_envelope(self, envelope: BybitFrame, ts_local_ns: int) -> list[BybitEvent]:
        topic = envelope.topic
        if not topic:
            if envelope.op:
                return []  # subscribe ack, pong
            raise ValueError("frame without topic or op")
        try:
            if topic.startswith("orderbook."):
                data = ORDERBOOK_DECODER.decode(envelope.data)
                return [self._book(envelope.type, envelope.ts, data, ts_local_ns)]
            if topic.startswith("publicTrade."):
                return self._trade_events(TRADES_DECODER.decode(envelope.data), ts_local_ns)
            if topic.startswith("tickers."):
                ticker = TICKER_DECODER.decode(envelope.data)
                return [
                    TickerUpdate(
                        venue=self._grid(ticker.symbol).instrument.venue,
                        symbol=ticker.symbol,
                        ts_exchange_ns=envelope.ts * _NS_PER_MS,
                        ts_local_ns=ts_local_ns,
                        is_snapshot=envelope.type == "snapshot",
                        data=ticker,
                    )
                ]
            decoder = _PRIVATE.get(topic)
            if decoder is not None:
                return [
                    PrivateUpdate(
                        topic=topic,
                        ts_exchange_ns=envelope.creationTime * _NS_PER_MS,
                        ts_local_ns=ts_local_ns,
                        items=decoder.decode(envelope.data),
                    )
                ]
        except msgspec.DecodeError as error:
            raise ValueError(f"bad {topic} data: {error}") from None
        raise UnknownTopicError(f"unknown topic {topic!r}")

    def _book(self, kind: str, ts_ms: int, data: OrderbookData, ts_local_ns: int) -> BookMessage:
        symbol = data.s
        grid = self._grids.get(symbol) or self._grid(symbol)
        if kind == "delta":
            is_snapshot = False
        elif kind == "snapshot":
            is_snapshot = True
        else:
            raise ValueError(f"orderbook type {kind!r}, expected snapshot or delta")
        levels = grid.levels
        return BookMessage(
            venue=grid.venue,
            symbol=symbol,
            ts_exchange_ns=ts_ms * _NS_PER_MS,
            ts_local_ns=ts_local_ns,
            is_snapshot=is_snapshot,
            bids=levels(data.b),
            asks=levels(data.a),
            first_update_id=data.u,
            last_update_id=data.u,
            seq=data.seq,
        )

    def _trade_events(self, items: list[PublicTradeItem], ts_local_ns: int) -> list[BybitEvent]:
        events: list[BybitEvent] = []
        append = events.append
        grids = self._grids
        for item in items:
            symbol = item.s
            grid = grids.get(symbol) or self._grid(symbol)
            price_ticks = grid.price_cache.get(item.p) or grid.price_ticks(item.p)
            size_lots = grid.size_cache.get(item.v)
            if size_lots is None:
                size_lots = grid.size_lots(item.v)
            if size_lots == 0:
                raise ValueError(f"zero trade size {item.v!r}")
            aggressor = _SIDES.get(item.S)
            if aggressor is None:
                raise ValueError(f"unknown trade side {item.S!r}")
            append(
                Trade(
                    venue=grid.venue,
                    symbol=symbol,
                    ts_exchange_ns=item.T * _NS_PER_MS,
                    ts_local_ns=ts_local_ns,
                    price_ticks=price_ticks,
                    size_lots=size_lots,
                    aggressor=aggressor,
                    trade_id=item.i,
                )
            )
        return events


def read_bybit_orderbook(
    paths: Sequence[Path | str],
    instrument: Instrument,
    *,
    on_bad_line: OnBadLine = "raise",
    stats: ReaderStats | None = None,
) -> Iterator[BookMessage | Trade]:
    """``BookMessage`` (and ``Trade``, if the archive holds publicTrade lines)
    of Bybit order-book archives: one V5 message per line, files in order.
    Lines of other symbols are counted as unknown."""
    stats = stats if stats is not None else ReaderStats()
    bad = BadLines(stats, on_bad_line, component="bybit-archive")
    decoder = BybitDecoder(lambda symbol: instrument)
    last_ts_ns = 0
    for path in map(Path, paths):
        for line_number, line in open_lines(path, bad):
            stats.lines += 1
            if not line.strip():
                continue
            try:
                envelope = FRAME_DECODER.decode(line)
                ts_ns = envelope.ts * _NS_PER_MS
                if ts_ns < last_ts_ns:
                    stats.out_of_order += 1
                    raise ValueError(f"ts went backwards ({envelope.ts} ms)")
                events = decoder.decode_envelope(envelope, ts_ns)
            except UnknownTopicError:
                stats.unknown += 1
                continue
            except (ValueError, msgspec.DecodeError) as error:
                bad.bad_line(path, line_number, str(error), line)
                continue
            last_ts_ns = ts_ns
            for event in events:
                if isinstance(event, BookMessage) and event.symbol == instrument.symbol:
                    stats.book_messages += 1
                    yield event
                elif isinstance(event, Trade) and event.symbol == instrument.symbol:
                    stats.trades += 1
                    yield event
                else:
                    stats.unknown += 1


_TRADE_COLUMNS = ("timestamp", "side", "size", "price")


def _timestamp_ns(text: str) -> int:
    """Seconds with a fraction (``1585180700.0647``) or integer s/ms -> ns,
    exactly (no float)."""
    whole, dot, fraction = text.strip().partition(".")
    if dot:
        if not fraction.isdigit() or len(fraction) > 9:
            raise ValueError(f"bad timestamp {text!r}")
        return int(whole) * 1_000_000_000 + int(fraction.ljust(9, "0"))
    value = int(whole)
    return value * (_NS_PER_MS if len(whole) >= 12 else 1_000_000_000)


def read_bybit_trades(
    paths: Sequence[Path | str],
    instrument: Instrument,
    *,
    on_bad_line: OnBadLine = "raise",
    stats: ReaderStats | None = None,
) -> Iterator[Trade]:
    """``Trade`` of Bybit trade CSV archives (plain, .gz or .zip). There is no
    receive time: ``ts_local_ns`` = the trade's timestamp."""
    stats = stats if stats is not None else ReaderStats()
    bad = BadLines(stats, on_bad_line, component="bybit-trades")
    prices = UnitParser(instrument.tick_size)
    sizes = UnitParser(instrument.lot_size)
    for path in map(Path, paths):
        columns: dict[str, int] | None = None
        for line_number, line in open_lines(path, bad):
            stats.lines += 1
            if not line.strip():
                continue
            try:
                row = next(csv.reader(io.StringIO(line.decode("utf-8"))))
            except (UnicodeDecodeError, csv.Error, StopIteration) as error:
                bad.bad_line(path, line_number, f"malformed CSV row: {error}", line)
                continue
            if columns is None:
                columns = {name.strip(): index for index, name in enumerate(row)}
                missing = [name for name in _TRADE_COLUMNS if name not in columns]
                if missing:
                    raise MarketDataError(
                        path, line_number, f"not a Bybit trade CSV: missing columns {missing}"
                    )
                continue
            try:
                symbol_index = columns.get("symbol")
                if symbol_index is not None and row[symbol_index] != instrument.symbol:
                    stats.unknown += 1
                    continue
                ts_ns = _timestamp_ns(row[columns["timestamp"]])
                price_ticks = prices.parse(row[columns["price"]])
                size_lots = sizes.parse(row[columns["size"]])
                if price_ticks <= 0 or size_lots <= 0:
                    raise ValueError("non-positive price or size")
                aggressor = Side.parse(row[columns["side"]])
                match_index = columns.get("trdMatchID")
                trade_id = row[match_index] if match_index is not None else ""
            except (ValueError, IndexError) as error:
                bad.bad_line(path, line_number, f"bad trade row: {error}", line)
                continue
            stats.trades += 1
            yield Trade(
                venue=instrument.venue,
                symbol=instrument.symbol,
                ts_exchange_ns=ts_ns,
                ts_local_ns=ts_ns,
                price_ticks=price_ticks,
                size_lots=size_lots,
                aggressor=aggressor,
                trade_id=trade_id,
            )
