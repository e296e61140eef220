"""Reader of top-N order-book snapshot CSVs (the two-venue LINK/USDT data).

One header line, then one row per sampled book::

    timestamp,symbol,b1..bN,bv1..bvN,a1..aN,av1..avN

(``/work/shared/data/two-venue/README.md``: N = 10, Binance and Huobi spot,
one row per second). Every row becomes one ``BookMessage`` with
``is_snapshot=True``: the file holds no diffs and no update ids, so each row
replaces the whole book and there is no continuity to check.

Assumptions, because the files do not say:

- ``timestamp`` (``YYYY-MM-DD HH:MM:SS``, fractional seconds accepted) is UTC.
- It is the only time there is, so ``ts_exchange_ns == ts_local_ns``. The data
  carries no receive times: feed latency cannot be measured from it and must be
  modelled (sim ``order_latency_ms`` / a feed-latency model), or a backtest
  trades at the very instant the sample was taken.
- ``symbol`` is ``<SYMBOL>.<VENUE>`` (``LINKUSDT.BNC``, ``LINKUSDT.HB``); the
  suffix names the market (``SUFFIX_MARKETS``) for detection.

Numbers are Python float renderings (``195.0``, ``27.1``, and on Huobi sizes
such as ``26.88178831780013``). Each is converted from its decimal string,
never through a binary float: a value on the instrument's grid converts
exactly. A value off the grid is rounded and counted: sizes half-even to the
lot (a positive size never rounds to 0, which would delete the level), in
``ReaderStats.sizes_rounded``; prices outward, bids down and asks up (the
conservative side for a taker), in ``SnapshotCsvReader.prices_rounded``.
Empty fields or zero sizes drop that level (the row keeps its other levels).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path

from loguru import logger

from host.marketdata.common import (
    BadLines,
    OnBadLine,
    ReaderStats,
    UnitGrid,
    open_lines,
)
from host.models import BookMessage, Instrument, OffGridError

__all__ = [
    "HEADER_PREFIX",
    "SUFFIX_MARKETS",
    "SnapshotCsvReader",
    "is_snapshot_csv_header",
    "read_snapshot_csv",
    "split_symbol",
    "write_snapshot_csv",
]

HEADER_PREFIX = b"timestamp,symbol,b1,"
# Venue suffix of the ``symbol`` column -> instrument-table market.
SUFFIX_MARKETS = {"BNC": "binance-spot", "HB": "huobi-spot"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def is_snapshot_csv_header(line: bytes) -> bool:
    return line.startswith(HEADER_PREFIX)


def split_symbol(text: str) -> tuple[str, str | None]:
    """``LINKUSDT.BNC`` -> (``LINKUSDT``, ``binance-spot``); no known suffix -> market None."""
    symbol, _, suffix = text.strip().upper().partition(".")
    return symbol, SUFFIX_MARKETS.get(suffix)


def timestamp_to_ns(text: str) -> int:
    """``2021-08-20 00:00:01`` (UTC assumed) -> ns since the epoch, exactly."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND * 1_000


class _Columns:
    """Column indexes of one file's header."""

    __slots__ = ("ask_prices", "ask_sizes", "bid_prices", "bid_sizes", "count", "depth")

    def __init__(self, header: list[str]) -> None:
        index = {name.strip(): position for position, name in enumerate(header)}
        depth = 0
        while f"b{depth + 1}" in index:
            depth += 1
        names = [
            [f"{prefix}{level}" for level in range(1, depth + 1)]
            for prefix in ("b", "bv", "a", "av")
        ]
        missing = [name for group in names for name in group if name not in index]
        if depth == 0 or missing or header[:2] != ["timestamp", "symbol"]:
            raise ValueError(
                f"not a snapshot CSV header (missing {missing[:4] or ['b1']}): {','.join(header)}"
            )
        self.depth = depth
        self.count = len(header)
        self.bid_prices = [index[name] for name in names[0]]
        self.bid_sizes = [index[name] for name in names[1]]
        self.ask_prices = [index[name] for name in names[2]]
        self.ask_sizes = [index[name] for name in names[3]]


class SnapshotCsvReader:
    """Book snapshots of one instrument from snapshot CSV files (one stream).

    ``instrument.venue`` names the events; the rows' symbol (suffix dropped)
    must be ``instrument.symbol``.
    """

    def __init__(
        self,
        paths: Sequence[Path | str],
        instrument: Instrument,
        *,
        on_bad_line: OnBadLine = "raise",
        stats: ReaderStats | None = None,
    ) -> None:
        self.paths = [Path(path) for path in paths]
        self.instrument = instrument
        self.stats = stats if stats is not None else ReaderStats()
        self.bad_lines = BadLines(self.stats, on_bad_line, "snapshot_csv")
        self.grid = UnitGrid(instrument)
        self.prices_rounded = 0
        self.sizes_rounded = 0  # also added to stats.sizes_rounded
        self._log = logger.bind(component="snapshot_csv", symbol=instrument.symbol)

    def __iter__(self) -> Iterator[BookMessage]:
        last_ts_ns = 0
        row_number = 0
        for path in self.paths:
            columns: _Columns | None = None
            for line_number, raw in open_lines(path, self.bad_lines):
                if not raw.strip():
                    continue
                text = raw.decode("utf-8", "replace")
                fields = text.split(",")
                if columns is None:
                    try:
                        columns = _Columns(fields)
                    except ValueError as error:
                        # A file without its header cannot be read at all: always raise.
                        raise ValueError(f"{path}:{line_number}: {error}") from None
                    continue
                self.stats.lines += 1
                try:
                    message = self._row(fields, columns, row_number)
                except (ValueError, InvalidOperation) as error:
                    self.bad_lines.bad_line(path, line_number, str(error), raw)
                    continue
                if message.ts_local_ns < last_ts_ns:
                    self.stats.out_of_order += 1
                    self.bad_lines.bad_line(path, line_number, "timestamp went backwards", raw)
                    continue
                last_ts_ns = message.ts_local_ns
                row_number += 1
                self.stats.book_messages += 1
                yield message
        if self.prices_rounded or self.sizes_rounded:
            self._log.info(
                "off-grid values rounded: {prices_rounded} prices, {sizes_rounded} sizes",
                prices_rounded=self.prices_rounded,
                sizes_rounded=self.sizes_rounded,
            )

    def _row(self, fields: list[str], columns: _Columns, row_number: int) -> BookMessage:
        if len(fields) != columns.count:
            raise ValueError(f"{len(fields)} fields, the header has {columns.count}")
        symbol, _ = split_symbol(fields[1])
        if symbol != self.instrument.symbol:
            raise ValueError(f"symbol {fields[1]!r} is not {self.instrument.symbol}")
        ts_ns = timestamp_to_ns(fields[0])
        bids = self._levels(fields, columns.bid_prices, columns.bid_sizes, ROUND_FLOOR)
        asks = self._levels(fields, columns.ask_prices, columns.ask_sizes, ROUND_CEILING)
        return BookMessage(
            venue=self.instrument.venue,
            symbol=self.instrument.symbol,
            ts_exchange_ns=ts_ns,
            ts_local_ns=ts_ns,
            is_snapshot=True,
            bids=bids,
            asks=asks,
            seq=row_number,
        )

    def _levels(
        self, fields: list[str], prices: list[int], sizes: list[int], price_rounding: str
    ) -> list[tuple[int, int]]:
        levels: list[tuple[int, int]] = []
        for price_index, size_index in zip(prices, sizes, strict=True):
            price_text = fields[price_index].strip()
            size_text = fields[size_index].strip()
            if not price_text or not size_text:
                continue  # a level the source did not have
            price_ticks = self._price_ticks(price_text, price_rounding)
            size_lots = self._size_lots(size_text)
            if size_lots > 0:
                levels.append((price_ticks, size_lots))
        return levels

    def _price_ticks(self, text: str, rounding: str) -> int:
        try:
            return self.grid.price_ticks(text)
        except OffGridError:
            value = Decimal(text) / self.instrument.tick_size
            self.prices_rounded += 1
            price_ticks = int(value.to_integral_value(rounding=rounding))
            if price_ticks <= 0:
                raise ValueError(f"non-positive price {text!r}") from None
            return price_ticks

    def _size_lots(self, text: str) -> int:
        cached = self.grid.size_cache.get(text)
        if cached is not None:
            return cached
        size_lots, exact = self.grid.sizes.parse_rounded(text)
        if size_lots < 0:
            raise ValueError(f"negative size {text!r}")
        if exact:
            return self.grid.size_lots(text)  # caches it
        self.sizes_rounded += 1
        self.stats.sizes_rounded += 1
        return size_lots


def read_snapshot_csv(
    paths: Sequence[Path | str],
    instrument: Instrument,
    *,
    on_bad_line: OnBadLine = "raise",
    stats: ReaderStats | None = None,
) -> Iterator[BookMessage]:
    """Book snapshots of ``paths`` (one stream) on ``instrument``'s grid."""
    return iter(SnapshotCsvReader(paths, instrument, on_bad_line=on_bad_line, stats=stats))


SnapshotRow = tuple[str, Sequence[tuple[str, str]], Sequence[tuple[str, str]]]


def write_snapshot_csv(
    path: Path | str, symbol: str, rows: Iterable[SnapshotRow], *, depth: int | None = None
) -> Path:
    """Write a snapshot CSV: ``rows`` are ``(timestamp, bids, asks)`` with
    ``(price, size)`` strings, best first. ``depth`` (default: the deepest
    side given) sets the header; missing levels are left empty. For building
    scenarios (tests, what-ifs) in the format the reader takes."""
    rows = list(rows)
    depth = depth or max((max(len(bids), len(asks)) for _, bids, asks in rows), default=1)
    header = ["timestamp", "symbol"]
    for prefix in ("b", "bv", "a", "av"):
        header += [f"{prefix}{level}" for level in range(1, depth + 1)]
    lines = [",".join(header)]
    for timestamp, bids, asks in rows:
        fields = [timestamp, symbol]
        for levels in (bids, asks):
            padded = list(levels) + [("", "")] * (depth - len(levels))
            fields += [price for price, _ in padded] + [size for _, size in padded]
        lines.append(",".join(fields))
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
