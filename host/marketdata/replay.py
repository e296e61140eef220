"""Replay recorded market data through ``OrderBook`` and count what happened.

``detect`` recognises a file's format from its first lines; ``open_events``
picks the reader; ``replay_stats`` feeds every book message into a
``BookSet`` and returns ``ReplayStats`` (continuity breaks, crossed books,
bad lines, time span, final best bid/ask per book).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from host.book import BookSet
from host.instruments import lookup
from host.marketdata.binance import BinanceReader
from host.marketdata.bybit import read_bybit_orderbook, read_bybit_trades
from host.marketdata.common import OnBadLine, ReaderStats, open_binary
from host.marketdata.recording import HEADER_PREFIX, read_recording
from host.marketdata.snapshot_csv import is_snapshot_csv_header, read_snapshot_csv, split_symbol
from host.models import BookMessage, Instrument, Side, Trade

__all__ = ["FORMATS", "Detected", "ReplayStats", "detect", "open_events", "replay_stats"]

FORMATS = ("mmhost", "binance", "bybit-orderbook", "bybit-trades", "snapshot-csv")
_PEEK_LINES = 200
_SYMBOL = re.compile(rb'"s":"([A-Za-z0-9]+)"')


@dataclass(frozen=True, slots=True)
class Detected:
    format: str  # one of FORMATS
    market: str | None
    symbol: str | None


def _peek(path: Path, lines: int) -> list[bytes]:
    result: list[bytes] = []
    try:
        with open_binary(path) as stream:
            for line in stream:
                result.append(line.rstrip(b"\r\n"))
                if len(result) >= lines:
                    break
    except (EOFError, OSError, zipfile.BadZipFile):
        pass  # a truncated file still shows its first lines; the reader reports the rest
    return result


def detect(path: Path | str) -> Detected:
    """The format of ``path`` and, where the data says so, market and symbol.

    :raises ValueError: naming the file when the format is not recognised.
    """
    path = Path(path)
    lines = [line for line in _peek(path, _PEEK_LINES) if line.strip()]
    if not lines:
        raise ValueError(f"{path}: empty or unreadable file, format unknown")
    first = lines[0]
    if first.startswith(HEADER_PREFIX.encode()):
        return Detected("mmhost", None, None)
    symbol_match = next((m for m in map(_SYMBOL.search, lines) if m), None)
    symbol = symbol_match.group(1).decode().upper() if symbol_match else None
    if re.match(rb"^\d{10,19} \{", first):
        is_futures = any(b'"pu":' in line for line in lines)
        return Detected("binance", "binance-usdm" if is_futures else "binance-spot", symbol)
    if first.startswith(b"{") and b'"topic"' in first:
        return Detected("bybit-orderbook", None, symbol)
    if is_snapshot_csv_header(first):
        # Top-N snapshot rows; the symbol's suffix (LINKUSDT.BNC) names the market.
        if len(lines) < 2:
            return Detected("snapshot-csv", None, None)
        symbol_text = lines[1].decode("utf-8", "replace").split(",")[1:2]
        symbol, market = split_symbol(symbol_text[0]) if symbol_text else ("", None)
        return Detected("snapshot-csv", market, symbol or None)
    if first.startswith(b"timestamp,"):
        header = first.decode("utf-8", "replace").split(",")
        symbol = None
        if "symbol" in header and len(lines) > 1:
            row = lines[1].decode("utf-8", "replace").split(",")
            if len(row) == len(header):
                symbol = row[header.index("symbol")].upper()
        return Detected("bybit-trades", None, symbol)
    raise ValueError(
        f"{path}: unrecognised format (expected an mmhost recording, a Binance "
        "recording, a Bybit order-book archive, a Bybit trade CSV or a snapshot CSV)"
    )


def open_events(
    paths: Sequence[Path | str],
    *,
    market: str | None = None,
    symbol: str | None = None,
    on_bad_line: OnBadLine = "raise",
    stats: ReaderStats | None = None,
    instrument: Instrument | None = None,
) -> Iterator[object]:
    """Events of ``paths`` (one format, one stream) with the right reader.
    ``market``/``symbol`` override what the data says (needed for Bybit
    archives: spot and linear look alike, linear is assumed). An
    ``instrument`` given by the caller wins over both: its ``venue`` names the
    events (the host's own venue name)."""
    paths = [Path(path) for path in paths]
    if not paths:
        raise ValueError("no input files")
    stats = stats if stats is not None else ReaderStats()
    detected = detect(paths[0])
    if detected.format == "mmhost":
        return read_recording(paths, on_bad_line=on_bad_line, stats=stats)
    chosen_symbol = symbol or detected.symbol
    if not chosen_symbol:
        raise ValueError(f"{paths[0]}: cannot tell the symbol; pass --symbol")
    if detected.format == "binance":
        chosen_market = market or detected.market or "binance-usdm"
        instrument = instrument or lookup(chosen_market, chosen_symbol)
        return iter(BinanceReader(paths, instrument, on_bad_line=on_bad_line, stats=stats))
    if detected.format == "snapshot-csv":
        chosen_market = market or detected.market
        if instrument is None and chosen_market is None:
            raise ValueError(f"{paths[0]}: cannot tell the market; pass --market")
        instrument = instrument or lookup(chosen_market, chosen_symbol)  # type: ignore[arg-type]
        return read_snapshot_csv(paths, instrument, on_bad_line=on_bad_line, stats=stats)
    chosen_market = market or "bybit-linear"
    instrument = instrument or lookup(chosen_market, chosen_symbol)
    if detected.format == "bybit-orderbook":
        return read_bybit_orderbook(paths, instrument, on_bad_line=on_bad_line, stats=stats)
    return read_bybit_trades(paths, instrument, on_bad_line=on_bad_line, stats=stats)


@dataclass(slots=True)
class ReplayStats:
    files: list[str]
    format: str
    messages: int = 0  # book messages fed to the books
    level_updates: int = 0
    trades: int = 0
    gaps: int = 0
    resyncs: int = 0
    crossed: int = 0
    ignored: int = 0  # deltas while a book was invalid
    stale: int = 0
    bad_lines: int = 0
    unknown: int = 0
    out_of_order: int = 0
    sizes_rounded: int = 0
    corrupt_files: int = 0
    first_ts_local_ns: int = 0
    last_ts_local_ns: int = 0
    first_ts_exchange_ns: int = 0
    last_ts_exchange_ns: int = 0
    books: dict[str, dict[str, object]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def replay_stats(
    paths: Sequence[Path | str],
    *,
    market: str | None = None,
    symbol: str | None = None,
    on_bad_line: OnBadLine = "raise",
) -> ReplayStats:
    """Feed ``paths`` through one ``OrderBook`` per (venue, symbol) and count.

    Books' final best bid/ask are given in ticks and as decimal strings.
    :raises MarketDataError: on a bad line under ``on_bad_line="raise"``.
    """
    reader_stats = ReaderStats()
    events = open_events(
        paths, market=market, symbol=symbol, on_bad_line=on_bad_line, stats=reader_stats
    )
    result = ReplayStats(files=[str(path) for path in paths], format=detect(paths[0]).format)
    books = BookSet()
    first_local = 0
    last_local = 0
    first_exchange = 0
    last_exchange = 0
    for event in events:
        if isinstance(event, BookMessage):
            result.messages += 1
            books.apply(event)
        elif isinstance(event, Trade):
            result.trades += 1
        else:
            continue
        ts_local_ns = event.ts_local_ns
        if not first_local:
            first_local = ts_local_ns
        last_local = ts_local_ns
        ts_exchange_ns = event.ts_exchange_ns
        if ts_exchange_ns > 0:
            if not first_exchange:
                first_exchange = ts_exchange_ns
            last_exchange = max(last_exchange, ts_exchange_ns)
    result.first_ts_local_ns = first_local
    result.last_ts_local_ns = last_local
    result.first_ts_exchange_ns = first_exchange
    result.last_ts_exchange_ns = last_exchange
    for book in books:
        stats = book.stats
        result.level_updates += stats.level_updates
        result.gaps += stats.gaps
        result.resyncs += stats.resyncs
        result.crossed += stats.crossed
        result.ignored += stats.ignored
        result.stale += stats.stale
        instrument = lookup(book.venue, book.symbol)
        result.books[f"{book.venue}:{book.symbol}"] = {
            "valid": book.is_valid,
            "best_bid_ticks": book.best_bid_ticks,
            "best_ask_ticks": book.best_ask_ticks,
            "best_bid_price": instrument.format_price(book.best_bid_ticks)
            if book.best_bid_ticks
            else None,
            "best_ask_price": instrument.format_price(book.best_ask_ticks)
            if book.best_ask_ticks
            else None,
            "bid_levels": book.level_count(Side.BUY),
            "ask_levels": book.level_count(Side.SELL),
            "last_update_id": book.last_update_id,
        }
    result.bad_lines = reader_stats.bad_lines
    result.unknown = reader_stats.unknown
    result.out_of_order = reader_stats.out_of_order
    result.sizes_rounded = reader_stats.sizes_rounded
    result.corrupt_files = reader_stats.corrupt_files
    return result
