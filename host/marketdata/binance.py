"""Reader of Binance raw recordings (hftbacktest collector format).

Each line is ``<local_ts> <json>``: a combined-stream envelope
(``{"stream": "btcusdt@depth@0ms", "data": {...}}``) or a REST depth snapshot
(top-level ``lastUpdateId``). See ``/work/shared/data/binance/README.md``.

What the reader does so that ``OrderBook`` sees a clean stream:

- Several files are one stream (the collector rotates at UTC midnight and the
  continuation has no snapshot); ``OrderBook`` checks continuity across joins.
- Diffs are kept in a small ring. Before the first snapshot nothing is
  emitted; when a snapshot with ``lastUpdateId = L`` arrives, the snapshot is
  emitted, then every ringed diff that is not older than it (futures
  ``u >= L``, spot ``u > L``). The bridging diff usually comes *before* the
  snapshot line, so this is what makes the book line up. Re-emitted diffs get
  the snapshot's receive time: that is when they became usable, and it keeps
  ``ts_local_ns`` non-decreasing. A later snapshot (a resync) re-emits in the
  same way; the book drops what it already has as stale.
- ``bookTicker`` never becomes a ``BookMessage``: skipped (counted), or
  yielded as ``BookTicker`` with ``include_book_ticker=True``.
- Update ids: futures diffs carry ``pu`` -> ``prev_update_id``; spot diffs only
  ``U``/``u`` -> ``first_update_id``/``last_update_id``.
- Exchange time: depth and snapshots use ``E`` (event time); trades ``T``
  (trade time). -1 when absent (spot snapshots, spot bookTicker).
- Receive time unit is inferred from the digit count (ns or us).
- Off-grid sizes (3 spot quantities carry a 6th decimal below the 0.00001
  lot) are rounded half-even to the lot and counted in
  ``stats.sizes_rounded``; a positive size never rounds to 0. Off-grid
  prices are bad lines.
"""

from __future__ import annotations

import re
import statistics
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from host.marketdata.common import (
    BadLines,
    BookTicker,
    OnBadLine,
    ReaderStats,
    UnitGrid,
    UnitParser,
    local_ts_to_ns,
    open_lines,
)
from host.models import BookMessage, Instrument, OffGridError, Side, Trade

__all__ = ["BinanceReader", "estimate_clock_offset_ns", "read_binance"]

Levels = list[tuple[str, str]]


class _Line(msgspec.Struct):
    """Either an envelope (stream + data) or a REST snapshot."""

    stream: str = ""
    data: msgspec.Raw = msgspec.Raw(b"")  # empty for a REST snapshot
    lastUpdateId: int = -1  # Binance's field name
    E: int = -1
    T: int = -1
    bids: Levels = []
    asks: Levels = []


class _Depth(msgspec.Struct):
    E: int
    U: int
    u: int
    b: Levels
    a: Levels
    s: str = ""
    T: int = -1
    pu: int = -1


class _Trade(msgspec.Struct):
    E: int
    p: str
    q: str
    m: bool
    s: str = ""
    t: int = -1
    T: int = -1


class _BookTicker(msgspec.Struct):
    u: int
    b: str
    B: str
    a: str
    A: str
    s: str = ""
    E: int = -1
    T: int = -1


_LINE_DECODER = msgspec.json.Decoder(_Line)
_DEPTH_DECODER = msgspec.json.Decoder(_Depth)
_TRADE_DECODER = msgspec.json.Decoder(_Trade)
_TICKER_DECODER = msgspec.json.Decoder(_BookTicker)

_NS_PER_MS = 1_000_000


class _BadValue(ValueError):
    """A value the reader refuses (negative size, price off the grid)."""


class BinanceReader:
    """Iterator of ``BookMessage`` / ``Trade`` (and ``BookTicker`` if asked)
    over one or more Binance recording files read as one stream.

    ``stats`` is filled while iterating. ``bridge_buffer`` bounds the diffs
    kept for aligning with a snapshot.
    """

    def __init__(
        self,
        paths: Sequence[Path | str],
        instrument: Instrument,
        *,
        on_bad_line: OnBadLine = "raise",
        include_book_ticker: bool = False,
        bridge_buffer: int = 1000,
        stats: ReaderStats | None = None,
    ) -> None:
        self.paths = [Path(path) for path in paths]
        self.instrument = instrument
        self.include_book_ticker = include_book_ticker
        self.stats = stats if stats is not None else ReaderStats()
        self._bad = BadLines(self.stats, on_bad_line, component="binance-reader")
        self._prices = UnitParser(instrument.tick_size)
        self._sizes = UnitParser(instrument.lot_size)
        # Memoised conversion: depth streams repeat the same strings constantly.
        self._grid = UnitGrid(instrument)
        self._bridge_buffer = bridge_buffer

    def __iter__(self) -> Iterator[BookMessage | Trade | BookTicker]:
        stats = self.stats
        bad = self._bad
        venue = self.instrument.venue
        symbol = self.instrument.symbol
        recent: deque[BookMessage] = deque(maxlen=self._bridge_buffer)
        synced = False
        last_ts_local_ns = 0
        for path in self.paths:
            for line_number, line in open_lines(path, bad):
                stats.lines += 1
                if not line:
                    continue
                ts_text, _, body = line.partition(b" ")
                try:
                    ts_local_ns = local_ts_to_ns(ts_text)
                    parsed = _LINE_DECODER.decode(body)
                except (ValueError, msgspec.DecodeError) as error:
                    bad.bad_line(path, line_number, f"malformed line: {error}", line)
                    continue
                if ts_local_ns < last_ts_local_ns:
                    stats.out_of_order += 1
                    bad.bad_line(
                        path,
                        line_number,
                        f"receive time went backwards ({ts_local_ns} < {last_ts_local_ns})",
                        line,
                    )
                    continue
                last_ts_local_ns = ts_local_ns
                stream = parsed.stream
                has_data = len(parsed.data) > 0
                try:
                    if has_data and "@depth" in stream:
                        message = self._depth(parsed.data, ts_local_ns, venue, symbol)
                        if len(recent) == recent.maxlen and not synced:
                            stats.unaligned_dropped += 1
                        recent.append(message)
                        if synced:
                            stats.book_messages += 1
                            yield message
                    elif has_data and stream.endswith("@trade"):
                        trade = self._trade(parsed.data, ts_local_ns, venue, symbol)
                        stats.trades += 1
                        yield trade
                    elif has_data and stream.endswith("@bookTicker"):
                        stats.book_tickers += 1
                        if self.include_book_ticker:
                            yield self._ticker(parsed.data, ts_local_ns, venue, symbol)
                    elif parsed.lastUpdateId != -1:
                        snapshot = self._snapshot(parsed, ts_local_ns, venue, symbol)
                        stats.book_messages += 1
                        yield snapshot
                        for message in self._aligned(recent, snapshot, synced):
                            stats.book_messages += 1
                            yield message
                        recent.clear()
                        synced = True
                    else:
                        stats.unknown += 1
                except (ValueError, msgspec.DecodeError) as error:
                    bad.bad_line(path, line_number, f"bad {stream or 'snapshot'}: {error}", line)
        if not synced:
            stats.unaligned_dropped += len(recent)

    def _aligned(
        self, recent: deque[BookMessage], snapshot: BookMessage, synced: bool
    ) -> Iterator[BookMessage]:
        last_id = snapshot.last_update_id
        for message in recent:
            # Futures: a diff with u == L still bridges; spot: it is already in L.
            is_futures = message.prev_update_id != -1
            if message.last_update_id > last_id or (
                is_futures and message.last_update_id == last_id
            ):
                yield msgspec.structs.replace(message, ts_local_ns=snapshot.ts_local_ns)
            elif not synced:
                self.stats.stale_dropped += 1

    def _levels(self, levels: Levels) -> list[tuple[int, int]]:
        try:
            return self._grid.levels(levels)
        except OffGridError:
            # A size finer than the lot (a few spot lines): round it, counted.
            return self._levels_rounded(levels)

    def _levels_rounded(self, levels: Levels) -> list[tuple[int, int]]:
        price_units = self._prices.parse
        size_units = self._sizes.parse
        result: list[tuple[int, int]] = []
        append = result.append
        for price_text, size_text in levels:
            price_ticks = price_units(price_text)
            try:
                size_lots = size_units(size_text)
            except OffGridError:
                size_lots, _ = self._sizes.parse_rounded(size_text)
                self.stats.sizes_rounded += 1
            if size_lots < 0 or price_ticks <= 0:
                raise _BadValue(f"negative size or non-positive price {price_text} {size_text}")
            append((price_ticks, size_lots))
        return result

    def _depth(self, data: msgspec.Raw, ts_local_ns: int, venue: str, symbol: str) -> BookMessage:
        depth = _DEPTH_DECODER.decode(data)
        return BookMessage(
            venue=venue,
            symbol=symbol,
            ts_exchange_ns=depth.E * _NS_PER_MS,
            ts_local_ns=ts_local_ns,
            is_snapshot=False,
            bids=self._levels(depth.b),
            asks=self._levels(depth.a),
            first_update_id=depth.U,
            last_update_id=depth.u,
            prev_update_id=depth.pu,
        )

    def _snapshot(self, line: _Line, ts_local_ns: int, venue: str, symbol: str) -> BookMessage:
        return BookMessage(
            venue=venue,
            symbol=symbol,
            ts_exchange_ns=line.E * _NS_PER_MS if line.E != -1 else -1,
            ts_local_ns=ts_local_ns,
            is_snapshot=True,
            bids=self._levels(line.bids),
            asks=self._levels(line.asks),
            last_update_id=line.lastUpdateId,
        )

    def _trade(self, data: msgspec.Raw, ts_local_ns: int, venue: str, symbol: str) -> Trade:
        trade = _TRADE_DECODER.decode(data)
        price_ticks = self._prices.parse(trade.p)
        try:
            size_lots = self._sizes.parse(trade.q)
        except OffGridError:
            size_lots, _ = self._sizes.parse_rounded(trade.q)
            self.stats.sizes_rounded += 1
        if size_lots <= 0 or price_ticks <= 0:
            raise _BadValue(f"non-positive trade price or size {trade.p} {trade.q}")
        exchange_ms = trade.T if trade.T != -1 else trade.E
        return Trade(
            venue=venue,
            symbol=symbol,
            ts_exchange_ns=exchange_ms * _NS_PER_MS,
            ts_local_ns=ts_local_ns,
            price_ticks=price_ticks,
            size_lots=size_lots,
            # buyer is maker -> the taker sold
            aggressor=Side.SELL if trade.m else Side.BUY,
            trade_id=str(trade.t),
        )

    def _ticker(self, data: msgspec.Raw, ts_local_ns: int, venue: str, symbol: str) -> BookTicker:
        ticker = _TICKER_DECODER.decode(data)
        prices = self._prices.parse
        sizes = self._sizes.parse_rounded
        return BookTicker(
            venue=venue,
            symbol=symbol,
            ts_exchange_ns=ticker.E * _NS_PER_MS if ticker.E != -1 else -1,
            ts_local_ns=ts_local_ns,
            update_id=ticker.u,
            bid_price_ticks=prices(ticker.b),
            bid_size_lots=sizes(ticker.B)[0],
            ask_price_ticks=prices(ticker.a),
            ask_size_lots=sizes(ticker.A)[0],
        )


def read_binance(
    paths: Sequence[Path | str],
    instrument: Instrument,
    *,
    on_bad_line: OnBadLine = "raise",
    include_book_ticker: bool = False,
) -> Iterator[BookMessage | Trade | BookTicker]:
    """Typed events of Binance recordings, several files as one stream.
    Use ``BinanceReader`` directly to read its ``stats`` afterwards."""
    return iter(
        BinanceReader(
            paths, instrument, on_bad_line=on_bad_line, include_book_ticker=include_book_ticker
        )
    )


_EVENT_TIME = re.compile(rb'"E":(\d+)')


def estimate_clock_offset_ns(paths: Sequence[Path | str], *, max_lines: int = 0) -> int:
    """Median of ``local_ts - E`` in ns over lines with an exchange event time.

    The recorder's clock was ~1.3-1.5 s *behind* the exchange in the bundled
    files, so this is negative there. Subtract it from receive times before
    reading ``local - exchange`` as feed latency. ``max_lines`` > 0 stops early.
    Lines without ``E`` and corrupt tails are skipped silently: this is an
    estimate, not a validation.
    """
    offsets: list[int] = []
    bad = BadLines(ReaderStats(), "skip", component="binance-clock")
    count = 0
    for path in paths:
        for _, line in open_lines(Path(path), bad):
            count += 1
            if max_lines and count > max_lines:
                break
            ts_text, _, body = line.partition(b" ")
            match = _EVENT_TIME.search(body)
            if match is None:
                continue
            try:
                offsets.append(local_ts_to_ns(ts_text) - int(match.group(1)) * _NS_PER_MS)
            except ValueError:
                continue
    if not offsets:
        raise ValueError("no line with an exchange event time (E) in " + ", ".join(map(str, paths)))
    return int(statistics.median(offsets))
