"""Binance recordings: alignment, continuity across files, bad input."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.book import BookEvent, OrderBook
from host.instruments import lookup
from host.marketdata.binance import BinanceReader, estimate_clock_offset_ns
from host.marketdata.common import BookTicker, MarketDataError, UnitParser, local_ts_to_ns
from host.models import BookMessage, OffGridError, Side, Trade

REPO = Path(__file__).resolve().parents[2]
USDM = sorted((REPO / "host" / "data" / "binance_usdm").glob("btcusdt_*.gz"))
SPOT = REPO / ".." / "shared" / "data" / "binance" / "spot" / "btcusdt_20240808.gz"


def _replay(reader: BinanceReader) -> tuple[OrderBook, int]:
    book = OrderBook(reader.instrument.venue, reader.instrument.symbol)
    last_local_ns = 0
    for event in reader:
        assert event.ts_local_ns >= last_local_ns  # emitted in receive order
        last_local_ns = event.ts_local_ns
        if isinstance(event, BookMessage):
            result = book.apply(event)
            assert result, (result, event.last_update_id)
            assert book.best_bid_ticks < book.best_ask_ticks  # never crossed
    return book, last_local_ns


def test_usdm_files_replay_as_one_stream_without_a_break() -> None:
    assert len(USDM) == 2
    reader = BinanceReader(USDM, lookup("binance-usdm", "BTCUSDT"))
    book, _ = _replay(reader)
    assert book.stats.gaps == book.stats.crossed == book.stats.ignored == 0
    assert book.stats.snapshots == 1
    # README: 3,326 + 5,696 diffs; all but the stale pre-snapshot ones applied
    assert book.stats.messages_applied - 1 + reader.stats.stale_dropped == 3326 + 5696
    assert reader.stats.trades == 974 + 9727
    assert reader.stats.book_tickers == 7113 + 45147
    assert book.is_valid


def test_usdm_continuation_file_alone_never_syncs() -> None:
    reader = BinanceReader(USDM[1:], lookup("binance-usdm", "BTCUSDT"))
    events = list(reader)
    assert not any(isinstance(event, BookMessage) for event in events)
    assert reader.stats.unaligned_dropped == 5696


def test_spot_file_replays_and_rounds_three_sizes() -> None:
    reader = BinanceReader([SPOT], lookup("binance-spot", "BTCUSDT"))
    book, _ = _replay(reader)
    assert book.stats.gaps == book.stats.crossed == 0
    assert book.stats.messages_applied - 1 + reader.stats.stale_dropped == 3451
    assert reader.stats.sizes_rounded == 3


def test_book_ticker_is_a_separate_event_type() -> None:
    reader = BinanceReader(USDM[:1], lookup("binance-usdm", "BTCUSDT"), include_book_ticker=True)
    tickers = [event for event in reader if isinstance(event, BookTicker)]
    assert len(tickers) == 7113
    assert tickers[0].bid_price_ticks == 639439 and tickers[0].ask_price_ticks == 639440


def test_trade_fields() -> None:
    reader = BinanceReader(USDM[:1], lookup("binance-usdm", "BTCUSDT"))
    trade = next(event for event in reader if isinstance(event, Trade))
    # line 18 of the README: p 63943.90 q 0.003 m true -> the taker sold
    assert (trade.price_ticks, trade.size_lots, trade.aggressor) == (639439, 3, Side.SELL)
    assert trade.ts_exchange_ns == 1721347022956 * 1_000_000
    assert trade.ts_local_ns == 1721347021434994132


def test_clock_offset_is_negative_about_one_and_a_half_seconds() -> None:
    offset_ns = estimate_clock_offset_ns(USDM, max_lines=5000)
    assert -1_600_000_000 < offset_ns < -1_450_000_000


def _write(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt") as stream:
        stream.write("\n".join(lines) + "\n")
    return path


SNAP = '{"lastUpdateId":10,"E":5,"T":5,"bids":[["100.0","1.000"]],"asks":[["101.0","1.000"]]}'


def _diff(first: int, last: int, prev: int, bid: str = "100.0", size: str = "2.000") -> str:
    return (
        '{"stream":"x@depth@0ms","data":{"e":"depthUpdate","E":6,"T":6,"s":"BTCUSDT",'
        f'"U":{first},"u":{last},"pu":{prev},"b":[["{bid}","{size}"]],"a":[]}}}}'
    )


def test_bad_lines_raise_naming_file_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.gz",
        [f"1000000000000000000 {SNAP}", "1000000000000000001 {not json"],
    )
    with pytest.raises(MarketDataError, match=r"bad\.gz:2"):
        list(BinanceReader([path], lookup("binance-usdm", "BTCUSDT")))


def test_bad_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    lines = [
        f"1000000000000000000 {SNAP}",
        f"1000000000000000001 {_diff(11, 12, 10)}",
        "1000000000000000002 {not json",
        f"1000000000000000003 {_diff(13, 14, 12, bid='abc')}",  # non-numeric price
        f"1000000000000000004 {_diff(13, 14, 12, size='-1.000')}",  # negative size
        f"1000000000000000005 {_diff(13, 14, 12, bid='100.05')}",  # price off the tick grid
        f"0999999999999999999 {_diff(13, 14, 12)}",  # receive time goes backwards
        '1000000000000000006 {"stream":"x@kline_1m","data":{"e":"kline"}}',  # unknown stream
        f"1000000000000000007 {_diff(13, 14, 12, size='3.000')}",
    ]
    path = _write(tmp_path / "skip.gz", lines)
    reader = BinanceReader([path], lookup("binance-usdm", "BTCUSDT"), on_bad_line="skip")
    book = OrderBook("binance-usdm", "BTCUSDT")
    for event in reader:
        if isinstance(event, BookMessage):
            assert book.apply(event)
    assert reader.stats.bad_lines == 5
    assert reader.stats.out_of_order == 1
    assert reader.stats.unknown == 1
    assert book.size_at(Side.BUY, 1000) == 3000 and book.stats.gaps == 0


def test_truncated_gzip_is_reported_or_skipped(tmp_path: Path) -> None:
    data = USDM[0].read_bytes()
    path = tmp_path / "truncated.gz"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(MarketDataError, match=r"truncated\.gz"):
        list(BinanceReader([path], lookup("binance-usdm", "BTCUSDT")))
    reader = BinanceReader([path], lookup("binance-usdm", "BTCUSDT"), on_bad_line="skip")
    events = list(reader)
    assert events and reader.stats.corrupt_files == 1


def test_local_timestamp_unit_is_inferred() -> None:
    assert local_ts_to_ns(b"1721347020984480942") == 1721347020984480942
    assert local_ts_to_ns(b"1721347020984480") == 1721347020984480000
    assert local_ts_to_ns("1721347020984") == 1721347020984000000


def test_unit_parser_exact_cases() -> None:
    tick = UnitParser(Decimal("0.10"))
    assert tick.parse("63943.90") == 639439
    assert tick.parse("63943.9") == 639439
    assert tick.parse("63944") == 639440
    assert tick.parse("1E+1") == 100
    with pytest.raises(OffGridError):
        tick.parse("63943.95")
    with pytest.raises(ValueError):
        tick.parse("6394x.9")
    with pytest.raises(ValueError):
        tick.parse("1_000")
    half = UnitParser(Decimal("0.5"))
    assert half.parse("10.5") == 21
    with pytest.raises(OffGridError):
        half.parse("10.2")
    lot = UnitParser(Decimal("0.00001"))
    assert lot.parse_rounded("244.56630400") == (24456630, False)
    assert lot.parse_rounded("0.000001") == (1, False)  # never rounds a size to 0
    assert lot.parse("1E-5") == 1


@given(units=st.integers(-(10**12), 10**12), scale=st.sampled_from(["0.1", "0.01", "0.5", "1"]))
def test_unit_parser_round_trips_decimal_text(units: int, scale: str) -> None:
    parser = UnitParser(Decimal(scale))
    value = Decimal(scale) * units
    assert parser.parse(format(value, "f")) == units
    assert parser.parse(format(value.normalize(), "f")) == units  # trailing zeros dropped
    text = format(value, "f")
    if "." in text:
        assert parser.parse(text + "000") == units  # extra zeros, as Binance pads


def test_event_types_and_bridge_timestamps() -> None:
    reader = BinanceReader(USDM[:1], lookup("binance-usdm", "BTCUSDT"))
    events = iter(reader)
    first = next(events)
    assert isinstance(first, BookMessage) and first.is_snapshot
    bridge = next(event for event in events if isinstance(event, BookMessage))
    # the bridging diff was received before the snapshot; it is emitted with the
    # snapshot's receive time, when it became usable
    assert bridge.ts_local_ns == first.ts_local_ns
    assert bridge.first_update_id <= first.last_update_id <= bridge.last_update_id
    book = OrderBook("binance-usdm", "BTCUSDT")
    assert book.apply(first) is BookEvent.SNAPSHOT
    assert book.apply(bridge) is BookEvent.APPLIED
