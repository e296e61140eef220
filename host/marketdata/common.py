"""Pieces every market-data reader shares.

- ``UnitParser``: decimal text -> integer ticks/lots, exactly, without floats.
- ``open_lines``: lines of a plain, gzip or zip file, with corrupt containers
  reported as ``MarketDataError`` naming the file and the line reached.
- ``ReaderStats`` and ``BadLines``: the counters and the one place that
  decides, per ``on_bad_line``, whether a bad line raises or is counted,
  logged (raw text truncated) and skipped.
- ``BookTicker``: the best-bid/ask feed kept out of the L2 book.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Literal

import msgspec
from loguru import logger

from host.models import Instrument, OffGridError

OnBadLine = Literal["raise", "skip"]

RAW_LOG_CHARS = 200  # enough to recognise a frame, short enough for a log line

__all__ = [
    "RAW_LOG_CHARS",
    "BadLines",
    "BookTicker",
    "MarketDataError",
    "OnBadLine",
    "ReaderStats",
    "UnitParser",
    "local_ts_to_ns",
    "open_binary",
    "open_lines",
]


class MarketDataError(ValueError):
    """A bad line or a corrupt file; the message names the file and line."""

    def __init__(self, path: str | Path, line_number: int, reason: str) -> None:
        self.path = str(path)
        self.line_number = line_number
        self.reason = reason
        super().__init__(
            f"{path}:{line_number}: {reason} "
            "(pass on_bad_line='skip' / --on-bad-line skip to count and skip such lines)"
        )


class BookTicker(msgspec.Struct, frozen=True):
    """Best bid/ask from a ticker stream (Binance ``bookTicker``).

    Never fed to ``OrderBook``: it races the depth diffs and would cross the
    book. ``ts_exchange_ns`` is -1 where the feed has no exchange time.
    """

    venue: str
    symbol: str
    ts_exchange_ns: int
    ts_local_ns: int
    update_id: int
    bid_price_ticks: int
    bid_size_lots: int
    ask_price_ticks: int
    ask_size_lots: int


class UnitParser:
    """Exact decimal text -> integer multiples of ``unit`` (a tick or a lot).

    Fast path: split on '.', pad or trim the fraction to the unit's scale (the
    trimmed digits must be zeros) and call ``int``; then divide by the unit's
    step when the unit is not a power of ten (tick 0.5 -> step 5 at scale 1).
    Anything ``int`` refuses (exponents such as ``1E-7``) goes through Decimal.
    Bybit drops trailing zeros and Binance pads them; both land on the same
    integer.
    """

    __slots__ = ("_step", "digits", "unit")

    def __init__(self, unit: Decimal | str) -> None:
        unit = Decimal(unit)
        if not unit.is_finite() or unit <= 0:
            raise ValueError(f"unit must be a positive finite decimal, got {unit}")
        self.unit = unit
        exponent = unit.normalize().as_tuple().exponent
        assert isinstance(exponent, int)
        self.digits = max(0, -exponent)
        self._step = int(unit.scaleb(self.digits))

    def parse(self, text: str) -> int:
        """Units in ``text``; ValueError if not a number, OffGridError if
        between two units."""
        whole, _, fraction = text.partition(".")
        digits = self.digits
        if len(fraction) > digits:
            if not fraction.isdigit():  # an exponent or junk: let Decimal judge
                return self._parse_slow(text)
            if fraction[digits:].strip("0"):
                raise OffGridError(f"{text} is not a multiple of {self.unit}")
            fraction = fraction[:digits]
        elif len(fraction) < digits:
            fraction = fraction + "0" * (digits - len(fraction))
        try:
            scaled = int(whole + fraction)
        except ValueError:
            return self._parse_slow(text)
        if "_" in text or " " in text:  # int() tolerates these, a price must not
            raise ValueError(f"not a decimal number: {text!r}")
        step = self._step
        if step == 1:
            return scaled
        units, remainder = divmod(scaled, step)
        if remainder:
            raise OffGridError(f"{text} is not a multiple of {self.unit}")
        return units

    def parse_rounded(self, text: str) -> tuple[int, bool]:
        """Units, rounded half-even to the grid; a positive value never rounds
        to 0 (that would delete a level). Returns (units, was_exact)."""
        try:
            return self.parse(text), True
        except OffGridError:
            value = _decimal(text) / self.unit
            units = int(value.to_integral_value(rounding=ROUND_HALF_EVEN))
            if units == 0 and value > 0:
                units = 1
            return units, False

    def _parse_slow(self, text: str) -> int:
        value = _decimal(text)
        units, remainder = divmod(value, self.unit)
        if remainder:
            raise OffGridError(f"{text} is not a multiple of {self.unit}")
        return int(units)


_CACHE_LIMIT = 65_536  # distinct strings per side before a cache starts over


class UnitGrid:
    """Tick/lot conversion of one instrument, memoised by the exact string.

    Order-book streams repeat the same price strings (and many sizes)
    constantly; a dict hit costs a fraction of a parse. Only values that
    passed validation are cached, so a hit needs no further check: a hot loop
    may read ``price_cache`` / ``size_cache`` directly and call
    ``price_ticks`` / ``size_lots`` on a miss (never write to them). The
    caches are cleared in place when full, never replaced.
    """

    __slots__ = ("instrument", "price_cache", "prices", "size_cache", "sizes", "venue")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.venue = instrument.venue
        self.prices = UnitParser(instrument.tick_size)
        self.sizes = UnitParser(instrument.lot_size)
        self.price_cache: dict[str, int] = {}
        self.size_cache: dict[str, int] = {}

    def price_ticks(self, text: str) -> int:
        price_ticks = self.price_cache.get(text)
        if price_ticks is None:
            price_ticks = self.prices.parse(text)
            if price_ticks <= 0:
                raise ValueError(f"non-positive price {text!r}")
            if len(self.price_cache) >= _CACHE_LIMIT:
                self.price_cache.clear()
            self.price_cache[text] = price_ticks
        return price_ticks

    def size_lots(self, text: str) -> int:
        size_lots = self.size_cache.get(text)
        if size_lots is None:
            size_lots = self.sizes.parse(text)
            if size_lots < 0:
                raise ValueError(f"negative size {text!r}")
            if len(self.size_cache) >= _CACHE_LIMIT:
                self.size_cache.clear()
            self.size_cache[text] = size_lots
        return size_lots

    def levels(self, levels: list[tuple[str, str]]) -> list[tuple[int, int]]:
        """``(price_ticks, size_lots)`` of ``(price, size)`` strings."""
        price_cache = self.price_cache
        size_cache = self.size_cache
        converted: list[tuple[int, int]] = []
        append = converted.append
        try:
            # Nearly always every string is known. A plain loop: for the 0-10
            # levels of a diff it beats a comprehension (no frame to set up).
            for price, size in levels:
                append((price_cache[price], size_cache[size]))
        except KeyError:
            # A new string: carry on from the first miss, no level done twice.
            price_ticks = self.price_ticks
            size_lots = self.size_lots
            for price, size in levels[len(converted) :]:
                append((price_ticks(price), size_lots(size)))
        return converted


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {text!r}") from None
    if not value.is_finite() or "_" in text:
        raise ValueError(f"not a finite decimal number: {text!r}")
    return value


def local_ts_to_ns(text: bytes | str) -> int:
    """A receive timestamp in ns, whatever unit the recorder wrote: the unit
    is inferred from the digit count (19 ns, 16 us, 13 ms, 10 s)."""
    value = int(text)
    digits = len(str(value))
    if digits >= 18:
        return value
    if digits >= 15:
        return value * 1_000
    if digits >= 12:
        return value * 1_000_000
    return value * 1_000_000_000


@dataclass(slots=True)
class ReaderStats:
    """What a reader saw. Shared shape for every reader; zero when n/a."""

    lines: int = 0
    book_messages: int = 0
    trades: int = 0
    book_tickers: int = 0  # bookTicker lines (yielded only when asked for)
    bad_lines: int = 0
    unknown: int = 0  # well-formed frames of a stream/topic we do not read
    out_of_order: int = 0  # local timestamp went backwards (also a bad line)
    sizes_rounded: int = 0  # sizes off the lot grid, rounded (Binance spot)
    stale_dropped: int = 0  # diffs older than the snapshot they were aligned to
    unaligned_dropped: int = 0  # diffs never usable: no snapshot came in time
    corrupt_files: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class BadLines:
    """Applies the ``on_bad_line`` policy: raise, or count + log + skip."""

    __slots__ = ("_log", "on_bad_line", "stats")

    def __init__(self, stats: ReaderStats, on_bad_line: OnBadLine, component: str) -> None:
        if on_bad_line not in ("raise", "skip"):
            raise ValueError(f"on_bad_line must be 'raise' or 'skip', got {on_bad_line!r}")
        self.stats = stats
        self.on_bad_line = on_bad_line
        self._log = logger.bind(component=component)

    def bad_line(self, path: str | Path, line_number: int, reason: str, raw: bytes | str) -> None:
        """Raise under 'raise'; else count and log. Callers skip the line."""
        if self.on_bad_line == "raise":
            raise MarketDataError(path, line_number, reason)
        self.stats.bad_lines += 1
        self._log.warning(
            "bad line skipped {path}:{line_number}: {reason}",
            path=str(path),
            line_number=line_number,
            reason=reason,
            raw=_truncate(raw),
        )

    def corrupt_file(self, path: str | Path, line_number: int, reason: str) -> None:
        if self.on_bad_line == "raise":
            raise MarketDataError(path, line_number, f"corrupt or truncated file: {reason}")
        self.stats.corrupt_files += 1
        self._log.error(
            "corrupt file, rest skipped {path}:{line_number}: {reason}",
            path=str(path),
            line_number=line_number,
            reason=reason,
        )


def _truncate(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw[: RAW_LOG_CHARS * 4].decode("utf-8", "replace")
    return raw if len(raw) <= RAW_LOG_CHARS else raw[:RAW_LOG_CHARS] + "..."


def open_lines(path: Path, bad_lines: BadLines) -> Iterator[tuple[int, bytes]]:
    """(line_number, line without the newline) of a plain, .gz or .zip file
    (first member of a zip). A corrupt container goes to ``bad_lines``."""
    line_number = 0
    try:
        with open_binary(path) as stream:
            for line_number, line in enumerate(stream, start=1):
                yield line_number, line.rstrip(b"\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile, OSError) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise  # missing file, permissions: not corruption, let it surface as is
        bad_lines.corrupt_file(path, line_number + 1, f"{type(error).__name__}: {error}")


@contextmanager
def open_binary(path: Path) -> Iterator[IO[bytes]]:
    name = path.name.lower()
    if name.endswith(".gz"):
        with gzip.open(path, "rb") as stream:
            yield stream
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if not members:
                raise zipfile.BadZipFile("empty zip archive")
            with archive.open(members[0]) as stream:
                yield stream
    else:
        with open(path, "rb") as stream:
            yield stream
