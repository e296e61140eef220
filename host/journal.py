"""The crash-safe journal: every order, order event, fill, position, risk event,
reload and strategy state of a host, in one sqlite file (WAL mode).

Threads. One writer thread owns the sqlite connection. The engine thread never
touches sqlite: ``record_*`` puts a plain tuple on a queue (well under a
microsecond) and returns. The writer drains the queue and commits a batch every
``flush_interval_ms`` or every ``flush_rows`` items, whichever comes first, in
one transaction. ``flush()`` blocks until everything enqueued before it is
committed. Readers run on the writer thread too, after a commit, so a read sees
every write enqueued before it.

Durability trade-off (see docs/journal.md). The file runs in WAL mode with
``synchronous=NORMAL``: a commit is a ``write()`` into the WAL, no ``fsync``.
A committed transaction survives the death of the process (kill -9, a crash,
an OOM kill) because the data is in the OS page cache; it can be lost only if
the machine itself loses power before the next checkpoint. Order intents are
the one write that must precede a venue call, so ``record_orders_sent`` does
not wait for the timer: it enqueues the intents plus a barrier and blocks
until the writer has committed them (one thread round trip and one WAL write,
tens of microseconds; everything else pending rides in the same transaction).
A machine that dies takes its venue sessions with it; Bybit's
Disconnect-Cancel-All and the desk prefix on every orderLinkId cover the
orders that power loss could hide. ``synchronous="FULL"`` adds an fsync per
commit for desks that want power-loss durability at about a millisecond per
order batch on ordinary disks.

Numbers. Prices and sizes enter as integer ticks and lots and are stored twice:
the integers, and decimal strings in base units (``price``, ``qty``, ``fee``)
formatted on the writer thread. Never a binary float for money.

Failures are loud. A file that is not a journal, one that another process
holds, or a write that fails raise ``JournalError`` naming the file and what to
do; after a failed write the journal refuses further records rather than
dropping them quietly.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import math
import os
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import msgspec
import sqlite_utils
from loguru import logger

from host.hookspecs import hookimpl
from host.models import Fill, Instrument, OrderStatus, OrderUpdate, Side

if TYPE_CHECKING:
    from host.engine import Engine
    from host.oms import LiveOrder
    from host.risk import RiskEvent

try:  # POSIX only; elsewhere the single-writer guard is sqlite's own locking.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "SCHEMA_VERSION",
    "Journal",
    "JournalError",
    "JournalFill",
    "JournalOrder",
    "JournalPlugin",
    "JournalPosition",
    "OrderIntent",
    "format_ts",
]

SCHEMA_VERSION = 1
T = TypeVar("T")

# Item kinds on the writer queue. Kinds from _INTENTS up have a waiter: the
# writer commits at once instead of waiting for the batch to fill.
_UPDATE = 0
_FILL = 1
_RISK = 2
_RELOAD = 3
_BALANCE = 4
_PNL = 5
_INTENTS = 6
_STATE = 7
_BARRIER = 8
_READ = 9
_CLOSE = 10

_TERMINAL_SQL = ", ".join(f"'{status}'" for status in sorted(OrderStatus.TERMINAL))


class JournalError(RuntimeError):
    """The journal cannot be used: names the file, what happened, what to do."""


class OrderIntent(msgspec.Struct, frozen=True):
    """An order about to be sent, journaled before the venue can know its id."""

    order_link_id: str
    strategy_id: str
    venue: str
    symbol: str
    side: Side
    price_ticks: int | None
    size_lots: int
    tag: str
    time_in_force: str
    ts_ns: int
    reduce_only: bool = False

    @classmethod
    def from_order(cls, order: LiveOrder, ts_ns: int, *, reduce_only: bool = False) -> OrderIntent:
        """Snapshot an OMS order (its fields are copied: the OMS mutates it later)."""
        return cls(
            order.order_link_id,
            order.strategy_id,
            order.venue,
            order.symbol,
            order.side,
            order.price_ticks,
            order.size_lots,
            order.tag,
            order.time_in_force,
            ts_ns,
            reduce_only,
        )


# -- what the readers return -------------------------------------------------------------------


def format_ts(ts_ns: int | None) -> str | None:
    """``2024-07-18T00:00:01.123456789Z``: UTC, nanoseconds kept, no float on the way."""
    if ts_ns is None:
        return None
    seconds, nanoseconds = divmod(ts_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanoseconds:09d}Z"


def _money(value: Decimal | None) -> str | None:
    return None if value is None else _decimal_text(value)


def _decimal_text(value: Decimal) -> str:
    """Plain notation without trailing zeros: ``1E-7`` never reaches a reader."""
    return format(value.normalize(), "f") if value else "0"


@dataclass(frozen=True, slots=True)
class JournalOrder:
    """One order as the journal knows it."""

    order_link_id: str
    strategy_id: str
    venue: str
    symbol: str
    side: Side
    price: Decimal | None
    qty: Decimal | None
    price_ticks: int | None
    size_lots: int
    filled_qty: Decimal | None
    filled_lots: int
    tag: str
    time_in_force: str
    reduce_only: bool
    status: str
    reject_code: str
    reject_reason: str
    venue_order_id: str
    created_ts_ns: int | None
    updated_ts_ns: int | None

    @property
    def is_open(self) -> bool:
        return self.status not in OrderStatus.TERMINAL

    def to_json(self) -> dict[str, Any]:
        return {
            "order_link_id": self.order_link_id,
            "strategy": self.strategy_id,
            "venue": self.venue,
            "symbol": self.symbol,
            "side": self.side.venue_name,
            "price": _money(self.price),
            "qty": _money(self.qty),
            "filled_qty": _money(self.filled_qty),
            "price_ticks": self.price_ticks,
            "size_lots": self.size_lots,
            "filled_lots": self.filled_lots,
            "tag": self.tag,
            "time_in_force": self.time_in_force,
            "reduce_only": self.reduce_only,
            "status": self.status,
            "reject_code": self.reject_code,
            "reject_reason": self.reject_reason,
            "venue_order_id": self.venue_order_id,
            "created": format_ts(self.created_ts_ns),
            "updated": format_ts(self.updated_ts_ns),
        }


@dataclass(frozen=True, slots=True)
class JournalFill:
    """One execution, counted once whatever the number of times it was reported."""

    exec_id: str
    order_link_id: str
    strategy_id: str
    venue: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    price_ticks: int
    size_lots: int
    fee: Decimal
    is_maker: bool
    ts_ns: int
    strategy_version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy_version": self.strategy_version,
            "exec_id": self.exec_id,
            "order_link_id": self.order_link_id,
            "strategy": self.strategy_id,
            "venue": self.venue,
            "symbol": self.symbol,
            "side": self.side.venue_name,
            "price": _money(self.price),
            "qty": _money(self.qty),
            "price_ticks": self.price_ticks,
            "size_lots": self.size_lots,
            "fee": _money(self.fee),
            "is_maker": self.is_maker,
            "time": format_ts(self.ts_ns),
            "ts_ns": self.ts_ns,
        }


@dataclass(frozen=True, slots=True)
class JournalPosition:
    """A position derived from the journal's own (deduplicated) fills.

    ``unrealized_pnl`` is at ``mark_price``: the latest of the last fill price
    and the last mark the engine recorded (``record_pnl``).
    """

    venue: str
    symbol: str
    size_lots: int
    qty: Decimal
    avg_price: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    mark_price: Decimal | None
    fill_count: int
    volume_lots: int
    updated_ts_ns: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "symbol": self.symbol,
            "qty": _decimal_text(self.qty),
            "size_lots": self.size_lots,
            "avg_price": _money(self.avg_price),
            "mark_price": _money(self.mark_price),
            "realized_pnl": _decimal_text(self.realized_pnl),
            "unrealized_pnl": _decimal_text(self.unrealized_pnl),
            "fees": _decimal_text(self.fees),
            "fills": self.fill_count,
            "volume_lots": self.volume_lots,
            "updated": format_ts(self.updated_ts_ns),
        }


# -- exact average-cost accounting on the writer thread ----------------------------------------


class _PositionState:
    """Average-cost position in integer arithmetic (a fraction kept as two ints).

    Same rules as ``host.portfolio.Position`` (a test holds them equal) at a
    fraction of the cost: plain ints instead of ``Fraction``, and denominators
    bounded (``_bounded``) so a position that never goes flat does not slow
    every later fill. ``cost_numerator / cost_denominator`` is the signed open
    cost and ``realized_*`` the realised PnL, both in tick*lot units.
    """

    __slots__ = (
        "cost_denominator",
        "cost_numerator",
        "fees",
        "fill_count",
        "lot_size",
        "mark_price",
        "realized_denominator",
        "realized_numerator",
        "size_lots",
        "tick_size",
        "updated_ts_ns",
        "volume_lots",
    )

    def __init__(self, tick_size: Decimal, lot_size: Decimal) -> None:
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.size_lots = 0
        self.cost_numerator, self.cost_denominator = 0, 1
        self.realized_numerator, self.realized_denominator = 0, 1
        self.fees = Decimal(0)
        self.fill_count = 0
        self.volume_lots = 0
        self.mark_price: Decimal | None = None
        self.updated_ts_ns: int | None = None

    def apply(self, side: int, price_ticks: int, size_lots: int, fee: Decimal) -> None:
        signed_lots = side * size_lots
        size = self.size_lots
        if size == 0 or (size > 0) == (signed_lots > 0):
            self.size_lots = size + signed_lots
            self.cost_numerator += signed_lots * price_ticks * self.cost_denominator
        else:
            closing = min(abs(signed_lots), abs(size))
            direction = 1 if size > 0 else -1
            # entry price per lot = cost / size; realised += closing * (price - entry) * direction
            denominator = self.cost_denominator * size
            gained = direction * closing * (price_ticks * denominator - self.cost_numerator)
            numerator = self.realized_numerator * denominator + gained * self.realized_denominator
            self.realized_numerator, self.realized_denominator = _bounded(
                numerator, denominator * self.realized_denominator
            )
            remaining = size - closing * direction
            opening = abs(signed_lots) - closing
            if opening:
                # The fill went through zero: the rest opens the other way.
                self.size_lots = -direction * opening
                self.cost_numerator, self.cost_denominator = -direction * opening * price_ticks, 1
            elif remaining == 0:
                self.size_lots = 0
                self.cost_numerator, self.cost_denominator = 0, 1
            else:
                self.size_lots = remaining
                self.cost_numerator, self.cost_denominator = _bounded(
                    self.cost_numerator * remaining, self.cost_denominator * size
                )
        self.fees += fee
        self.fill_count += 1
        self.volume_lots += size_lots
        self.mark_price = self.tick_size * price_ticks

    # Stored exactly so accounting resumes across restarts without replaying fills.
    def row(self, venue: str, symbol: str) -> tuple[Any, ...]:
        return (
            venue,
            symbol,
            self.size_lots,
            f"{self.cost_numerator}/{self.cost_denominator}",
            f"{self.realized_numerator}/{self.realized_denominator}",
            _decimal_text(self.fees),
            self.fill_count,
            self.volume_lots,
            str(self.tick_size),
            str(self.lot_size),
            None if self.mark_price is None else _decimal_text(self.mark_price),
            self.updated_ts_ns,
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> _PositionState:
        state = cls(Decimal(row["tick_size"]), Decimal(row["lot_size"]))
        state.size_lots = row["size_lots"]
        state.cost_numerator, state.cost_denominator = _ratio(row["open_cost_units"])
        state.realized_numerator, state.realized_denominator = _ratio(row["realized_units"])
        state.fees = Decimal(row["fees"])
        state.fill_count = row["fill_count"]
        state.volume_lots = row["volume_lots"]
        state.mark_price = None if row["mark_price"] is None else Decimal(row["mark_price"])
        state.updated_ts_ns = row["updated_ts_ns"]
        return state


# Average-cost denominators multiply with every partial close of a position
# that never goes flat (thousands of digits after 20,000 fills, and gcd cost
# grows with them). Past this bound a figure is rounded to 1e-30 tick*lot
# units: invisible in any reported number, and the cost per fill stays flat.
_MAX_DENOMINATOR = 10**30


def _bounded(numerator: int, denominator: int) -> tuple[int, int]:
    """``numerator / denominator`` in lowest terms, denominator > 0 and at most 1e30."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    divisor = math.gcd(numerator, denominator)
    numerator //= divisor
    denominator //= divisor
    if denominator > _MAX_DENOMINATOR:
        # Round half away from zero onto the 1e-30 grid, in integers.
        scaled = abs(numerator) * _MAX_DENOMINATOR * 2 + denominator
        magnitude = scaled // (2 * denominator)
        numerator = magnitude if numerator >= 0 else -magnitude
        divisor = math.gcd(numerator, _MAX_DENOMINATOR)
        return numerator // divisor, _MAX_DENOMINATOR // divisor
    return numerator, denominator


def _ratio(text: str) -> tuple[int, int]:
    numerator, _, denominator = text.partition("/")
    return int(numerator), int(denominator or 1)


def _position_from_row(row: Mapping[str, Any]) -> JournalPosition:
    tick_size, lot_size = Decimal(row["tick_size"]), Decimal(row["lot_size"])
    unit = tick_size * lot_size
    size_lots = row["size_lots"]
    cost = Fraction(*_ratio(row["open_cost_units"]))
    realized = Fraction(*_ratio(row["realized_units"]))
    mark_price = None if row["mark_price"] is None else Decimal(row["mark_price"])
    avg_price = None
    unrealized = Decimal(0)
    if size_lots:
        avg_price = _fraction_decimal(cost / size_lots) * tick_size
        if mark_price is not None:
            mark_ticks = Fraction(mark_price) / Fraction(tick_size)
            unrealized = _fraction_decimal(size_lots * mark_ticks - cost) * unit
    return JournalPosition(
        venue=row["venue"],
        symbol=row["symbol"],
        size_lots=size_lots,
        qty=lot_size * size_lots,
        avg_price=avg_price,
        realized_pnl=_fraction_decimal(realized) * unit,
        unrealized_pnl=unrealized,
        fees=Decimal(row["fees"]),
        mark_price=mark_price,
        fill_count=row["fill_count"],
        volume_lots=row["volume_lots"],
        updated_ts_ns=row["updated_ts_ns"],
    )


def _fraction_decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


# -- schema ------------------------------------------------------------------------------------


def _create_schema(db: sqlite_utils.Database) -> None:
    """Create missing tables and indexes (idempotent); sqlite-utils writes the DDL."""
    db["orders"].create(
        {
            "order_link_id": str,
            "strategy": str,
            "venue": str,
            "symbol": str,
            "side": str,
            "price": str,
            "qty": str,
            "price_ticks": int,
            "size_lots": int,
            "filled_lots": int,
            "tag": str,
            "tif": str,
            "reduce_only": int,
            "status": str,
            "reject_code": str,
            "reject_reason": str,
            "venue_order_id": str,
            "created_ts_ns": int,
            "updated_ts_ns": int,
        },
        pk="order_link_id",
        not_null={"strategy", "venue", "symbol", "side", "size_lots", "filled_lots", "status"},
        defaults={"filled_lots": 0, "reject_code": "", "reject_reason": ""},
        if_not_exists=True,
    )
    db["orders"].create_index(["status"], if_not_exists=True)
    db["order_events"].create(
        {
            "id": int,
            "order_link_id": str,
            "venue": str,
            "symbol": str,
            "status": str,
            "side": str,
            "price": str,
            "qty": str,
            "filled_qty": str,
            "price_ticks": int,
            "size_lots": int,
            "filled_lots": int,
            "reject_code": str,
            "reject_reason": str,
            "venue_order_id": str,
            "ts_ns": int,
        },
        pk="id",
        if_not_exists=True,
    )
    db["order_events"].create_index(["order_link_id"], if_not_exists=True)
    db["fills"].create(
        {
            "exec_id": str,
            "order_link_id": str,
            "strategy": str,
            "venue": str,
            "symbol": str,
            "side": str,
            "price": str,
            "qty": str,
            "price_ticks": int,
            "size_lots": int,
            "fee": str,
            "is_maker": int,
            "ts_ns": int,
            "strategy_version": str,
        },
        pk="exec_id",
        not_null={"order_link_id", "venue", "symbol", "side", "price", "qty", "fee", "ts_ns"},
        if_not_exists=True,
    )
    db["fills"].create_index(["ts_ns"], if_not_exists=True)
    db["fills"].create_index(["order_link_id"], if_not_exists=True)
    db["positions"].create(
        {
            "venue": str,
            "symbol": str,
            "size_lots": int,
            "open_cost_units": str,
            "realized_units": str,
            "fees": str,
            "fill_count": int,
            "volume_lots": int,
            "tick_size": str,
            "lot_size": str,
            "mark_price": str,
            "updated_ts_ns": int,
        },
        pk=("venue", "symbol"),
        if_not_exists=True,
    )
    db["balances"].create(
        {"id": int, "venue": str, "asset": str, "total": str, "available": str, "ts_ns": int},
        pk="id",
        if_not_exists=True,
    )
    db["balances"].create_index(["venue", "asset", "ts_ns"], if_not_exists=True)
    db["pnl"].create(
        {
            "id": int,
            "ts_ns": int,
            "venue": str,
            "symbol": str,
            "strategy": str,
            "position_qty": str,
            "mark_price": str,
            "realized_pnl": str,
            "unrealized_pnl": str,
            "fees": str,
            "net_pnl": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db["risk_events"].create(
        {"id": int, "ts_ns": int, "rule": str, "reason": str, "strategy": str, "kind": str},
        pk="id",
        if_not_exists=True,
    )
    db["reloads"].create(
        {
            "id": int,
            "ts_ns": int,
            "file": str,
            "content_hash": str,
            "duration_ms": float,
            "ok": int,
            "error": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db["strategy_state"].create(
        {"strategy": str, "state": str, "version": int, "revision": int, "updated_ts_ns": int},
        pk="strategy",
        if_not_exists=True,
    )


_INSERT_INTENT = """
INSERT INTO orders (order_link_id, strategy, venue, symbol, side, price, qty, price_ticks,
    size_lots, filled_lots, tag, tif, reduce_only, status, created_ts_ns, updated_ts_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)
ON CONFLICT (order_link_id) DO UPDATE SET
    strategy = excluded.strategy, tag = excluded.tag, tif = excluded.tif,
    reduce_only = excluded.reduce_only, created_ts_ns = excluded.created_ts_ns
"""

# An update never moves a terminal order back to a live state (a late
# PartiallyFilled after Filled); an order first heard of through an update
# (its intent predates this journal) still gets a row, so nothing is dropped.
_UPSERT_FROM_UPDATE = f"""
INSERT INTO orders (order_link_id, strategy, venue, symbol, side, price, qty, price_ticks,
    size_lots, status, reject_code, reject_reason, venue_order_id, created_ts_ns, updated_ts_ns)
VALUES (?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (order_link_id) DO UPDATE SET
    status = CASE
        WHEN orders.status IN ({_TERMINAL_SQL}) AND excluded.status NOT IN ({_TERMINAL_SQL})
        THEN orders.status ELSE excluded.status END,
    reject_code = CASE WHEN excluded.reject_code != '' THEN excluded.reject_code
        ELSE orders.reject_code END,
    reject_reason = CASE WHEN excluded.reject_code != '' THEN excluded.reject_reason
        ELSE orders.reject_reason END,
    venue_order_id = CASE WHEN excluded.venue_order_id != '' THEN excluded.venue_order_id
        ELSE orders.venue_order_id END,
    updated_ts_ns = excluded.updated_ts_ns
"""

_INSERT_EVENT = """
INSERT INTO order_events (order_link_id, venue, symbol, status, side, price, qty, filled_qty,
    price_ticks, size_lots, filled_lots, reject_code, reject_reason, venue_order_id, ts_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_FILL = """
INSERT INTO fills (exec_id, order_link_id, strategy, venue, symbol, side, price, qty,
    price_ticks, size_lots, fee, is_maker, ts_ns, strategy_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_ADD_FILLED = """
UPDATE orders SET filled_lots = filled_lots + ?,
    updated_ts_ns = max(coalesce(updated_ts_ns, 0), ?)
WHERE order_link_id = ?
"""

_UPSERT_POSITION = """
INSERT OR REPLACE INTO positions (venue, symbol, size_lots, open_cost_units, realized_units,
    fees, fill_count, volume_lots, tick_size, lot_size, mark_price, updated_ts_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


class _Scale:
    """Tick and lot of one instrument, and decimal strings from ints, cached.

    A market maker trades a few hundred price levels and sizes over and over:
    the caches turn most formatting into one dict lookup. Used by the writer
    thread only.
    """

    __slots__ = ("_prices", "_quantities", "lot_size", "tick_size")

    _CACHE_LIMIT = 65_536

    def __init__(self, tick_size: Decimal, lot_size: Decimal) -> None:
        self.tick_size = tick_size
        self.lot_size = lot_size
        self._prices: dict[int, str] = {}
        self._quantities: dict[int, str] = {}

    def price(self, price_ticks: int | None) -> str | None:
        if price_ticks is None:
            return None
        text = self._prices.get(price_ticks)
        if text is None:
            if len(self._prices) >= self._CACHE_LIMIT:
                self._prices.clear()
            text = self._prices[price_ticks] = _decimal_text(self.tick_size * price_ticks)
        return text

    def qty(self, size_lots: int) -> str:
        text = self._quantities.get(size_lots)
        if text is None:
            if len(self._quantities) >= self._CACHE_LIMIT:
                self._quantities.clear()
            text = self._quantities[size_lots] = _decimal_text(self.lot_size * size_lots)
        return text


class Journal:
    """The host's sqlite journal. Thread-safe to call; one writer thread inside.

    :param path: the sqlite file; created (with its folder) unless ``readonly``.
    :param flush_interval_ms: longest time a record waits before its commit.
    :param flush_rows: commit as soon as this many records wait.
    :param synchronous: ``"NORMAL"`` (survives process crashes) or ``"FULL"``
        (also survives power loss; an fsync per commit).
    :param busy_timeout_ms: how long to wait for another connection's lock
        before failing with JournalError.
    :param readonly: open for reading only (the CLI): no writer thread, no
        file created, the host lock not taken.
    :param instruments: instruments whose prices and sizes will be recorded
        (more with ``add_instrument``).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        flush_interval_ms: float = 20.0,
        flush_rows: int = 2_000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_ms: int = 5_000,
        readonly: bool = False,
        instruments: Iterable[Instrument] = (),
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = Path(path)
        self.flush_interval_s = flush_interval_ms / 1000
        self.flush_rows = max(1, flush_rows)
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self.readonly = readonly
        self.log = logger.bind(component="journal", path=str(self.path))
        self._scales: dict[tuple[str, str], _Scale] = {}
        for instrument in instruments:
            self.add_instrument(instrument)
        self._error: JournalError | None = None
        self._closed = False
        self._lock_file: Any = None
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._put = self._queue.put
        self._positions: dict[tuple[str, str], _PositionState] = {}
        self._thread: threading.Thread | None = None
        self._reader: sqlite_utils.Database | None = None
        if readonly:
            self._put = self._refuse_write
            self._reader = self._open_readonly()
            return
        self._take_host_lock()
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._writer_main, args=(ready,), name=f"journal-writer:{self.path.name}"
        )
        # A daemon thread never keeps a dying process alive; atexit still flushes.
        self._thread.daemon = True
        self._thread.start()
        try:
            ready.result()
        except JournalError:
            self._release_host_lock()
            raise
        reference = weakref.ref(self)
        self._atexit = lambda: _close_if_alive(reference)
        atexit.register(self._atexit)
        self.log.info("journal open {synchronous}", synchronous=synchronous)

    # -- instruments ---------------------------------------------------------------------------

    def add_instrument(self, instrument: Instrument, *, venue: str | None = None) -> None:
        """Make an instrument's tick and lot known, so its records get decimal strings."""
        key = (venue or instrument.venue, instrument.symbol)
        self._scales[key] = _Scale(instrument.tick_size, instrument.lot_size)

    def knows(self, venue: str, symbol: str) -> bool:
        return (venue, symbol) in self._scales

    def _require(self, venue: str, symbol: str) -> None:
        if (venue, symbol) not in self._scales:
            raise JournalError(
                f"{self.path}: instrument {venue}:{symbol} is not registered with the journal; "
                "call Journal.add_instrument(instrument) before recording its orders or fills"
            )

    # -- writing (engine thread: enqueue only) ----------------------------------------------------

    def record_order_sent(self, intent: OrderIntent) -> None:
        """Journal one order before it is sent; returns once it is committed."""
        self.record_orders_sent((intent,))

    def record_orders_sent(self, intents: Sequence[OrderIntent]) -> None:
        """Journal a batch of new orders before any is sent; blocks until committed.

        One commit for the whole batch, whatever its size. Raises JournalError
        when the journal cannot persist them: then do not send.
        """
        if not intents:
            return
        self._check_writable()
        for intent in intents:
            self._require(intent.venue, intent.symbol)
        done: Future[None] = Future()
        self._put((_INTENTS, tuple(intents), done))
        self._wait(done)

    def record_order_update(self, update: OrderUpdate) -> None:
        """Enqueue a venue's news about an order (ack, reject, cancel, fill state)."""
        if self._error is not None or self._closed:
            self._check_writable()
        if (update.venue, update.symbol) not in self._scales:
            self._require(update.venue, update.symbol)
        self._put((_UPDATE, update))

    def record_fill(self, fill: Fill) -> None:
        """Enqueue an execution; a repeated ``exec_id`` is ignored when written."""
        if self._error is not None or self._closed:
            self._check_writable()
        if (fill.venue, fill.symbol) not in self._scales:
            self._require(fill.venue, fill.symbol)
        self._put((_FILL, fill))

    def record_risk_event(self, event: RiskEvent) -> None:
        """Enqueue a veto, shrink, trip or reset."""
        self._check_writable()
        self._put((_RISK, (event.ts_ns, event.rule, event.reason, event.strategy_id, event.kind)))

    def record_reload(
        self,
        file: Path | str,
        content_hash: str,
        duration_ms: float,
        *,
        ok: bool,
        error: str = "",
        ts_ns: int | None = None,
    ) -> None:
        """Enqueue one hot-reload attempt: file, content hash, how long, outcome."""
        self._check_writable()
        stamp = time.time_ns() if ts_ns is None else ts_ns
        self._put((_RELOAD, (stamp, str(file), content_hash, float(duration_ms), int(ok), error)))

    def record_balance(
        self, venue: str, asset: str, total: Decimal, available: Decimal, ts_ns: int
    ) -> None:
        """Enqueue a balance snapshot (decimal amounts, never float)."""
        self._check_writable()
        row = (
            venue,
            asset,
            _decimal_text(Decimal(total)),
            _decimal_text(Decimal(available)),
            ts_ns,
        )
        self._put((_BALANCE, row))

    def record_pnl(
        self,
        ts_ns: int,
        venue: str,
        symbol: str,
        *,
        position_qty: Decimal,
        mark_price: Decimal | None,
        realized_pnl: Decimal,
        unrealized_pnl: Decimal,
        fees: Decimal,
        strategy_id: str = "",
    ) -> None:
        """Enqueue a PnL point; its mark also becomes the position's mark price."""
        self._check_writable()
        net = realized_pnl + unrealized_pnl - fees
        row = (
            ts_ns,
            venue,
            symbol,
            strategy_id,
            _decimal_text(position_qty),
            _money(mark_price),
            _decimal_text(realized_pnl),
            _decimal_text(unrealized_pnl),
            _decimal_text(fees),
            _decimal_text(net),
        )
        self._put((_PNL, row))

    def save_strategy_state(
        self, strategy_id: str, state: Mapping[str, Any], *, ts_ns: int | None = None
    ) -> int:
        """Store ``on_save()`` output (JSON; Decimal becomes a string); blocks until committed.

        :returns: the revision (1 for the first save of this strategy id).
        """
        self._check_writable()
        text = json.dumps(state, sort_keys=True, default=_json_default)
        version = state.get("version", 0)
        if not isinstance(version, int):
            raise JournalError(
                f"{self.path}: strategy {strategy_id} state 'version' must be an int, "
                f"got {version!r}"
            )
        done: Future[int] = Future()
        stamp = time.time_ns() if ts_ns is None else ts_ns
        self._put((_STATE, (strategy_id, text, version, stamp), done))
        return self._wait(done)

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until everything enqueued before this call is committed."""
        if self.readonly:
            return
        self._check_writable()
        done: Future[None] = Future()
        self._put((_BARRIER, done))
        self._wait(done, timeout_s)

    def close(self) -> None:
        """Flush, stop the writer, release the file. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.conn.close()
            self._reader = None
        if self._thread is not None:
            done: Future[None] = Future()
            self._put((_CLOSE, done))
            try:
                done.result()
            finally:
                self._thread.join()
                self._release_host_lock()
                atexit.unregister(self._atexit)
            self.log.info("journal closed")

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _refuse_write(self, item: tuple[Any, ...]) -> None:
        self._check_writable()

    def _check_writable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise JournalError(f"{self.path}: the journal is closed")
        if self.readonly:
            raise JournalError(f"{self.path}: opened read-only; open it without readonly to write")

    def _wait(self, done: Future[T], timeout_s: float | None = None) -> T:
        """The waiter's answer; never hangs on a writer thread that has died."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            slice_s = 0.5 if deadline is None else min(0.5, max(0.0, deadline - time.monotonic()))
            try:
                return done.result(slice_s)
            except TimeoutError:
                if self._thread is not None and not self._thread.is_alive():
                    raise self._error or JournalError(
                        f"{self.path}: the journal writer stopped; restart the host"
                    ) from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise JournalError(
                        f"{self.path}: the writer did not commit within {timeout_s} s; "
                        "the disk may be stalled"
                    ) from None

    # -- reading ----------------------------------------------------------------------------------

    def orders(
        self,
        *,
        open_only: bool = False,
        prefix: str = "",
        symbol: str | None = None,
        strategy_id: str | None = None,
        limit: int | None = None,
    ) -> list[JournalOrder]:
        """Orders, oldest first (the last ``limit`` when given)."""
        where, params = ["1"], []
        if open_only:
            where.append(f"status NOT IN ({_TERMINAL_SQL})")
        if prefix:
            # substr, not LIKE: '_' and '%' in a prefix are not wildcards.
            where.append("substr(order_link_id, 1, ?) = ?")
            params += [len(prefix), prefix]
        if symbol:
            where.append("symbol = ?")
            params.append(symbol)
        if strategy_id:
            where.append("strategy = ?")
            params.append(strategy_id)
        sql = f"SELECT *, rowid FROM orders WHERE {' AND '.join(where)} ORDER BY rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = self._read(lambda db: list(db.query(sql, params)))
        return [_order_from_row(row) for row in reversed(rows)]

    def open_orders(self, prefix: str = "") -> list[JournalOrder]:
        """Orders not yet Filled, Cancelled or Rejected whose id starts with ``prefix``.

        For start-up recovery: each is unknown until the venue says otherwise
        (query it by orderLinkId, then cancel or adopt it).
        """
        return self.orders(open_only=True, prefix=prefix)

    def order(self, order_link_id: str) -> JournalOrder | None:
        rows = self._read(
            lambda db: list(
                db.query("SELECT * FROM orders WHERE order_link_id = ?", [order_link_id])
            )
        )
        return _order_from_row(rows[0]) if rows else None

    def order_events(self, order_link_id: str | None = None) -> list[dict[str, Any]]:
        """Every recorded OrderUpdate (of one order), in arrival order, as row dicts."""
        if order_link_id is None:
            sql, params = "SELECT * FROM order_events ORDER BY id", []
        else:
            sql, params = (
                "SELECT * FROM order_events WHERE order_link_id = ? ORDER BY id",
                [order_link_id],
            )
        return self._read(lambda db: list(db.query(sql, params)))

    def fills(
        self,
        *,
        symbol: str | None = None,
        strategy_id: str | None = None,
        since_ns: int | None = None,
        limit: int | None = None,
    ) -> list[JournalFill]:
        """Fills in time order (the last ``limit`` when given)."""
        where, params = ["1"], []
        if symbol:
            where.append("symbol = ?")
            params.append(symbol)
        if strategy_id:
            where.append("strategy = ?")
            params.append(strategy_id)
        if since_ns is not None:
            where.append("ts_ns >= ?")
            params.append(since_ns)
        sql = f"SELECT * FROM fills WHERE {' AND '.join(where)} ORDER BY ts_ns DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = self._read(lambda db: list(db.query(sql, params)))
        return [_fill_from_row(row) for row in reversed(rows)]

    def positions(self) -> list[JournalPosition]:
        """One position per venue and symbol, from the journal's deduplicated fills."""
        rows = self._read(
            lambda db: list(db.query("SELECT * FROM positions ORDER BY venue, symbol"))
        )
        return [_position_from_row(row) for row in rows]

    def risk_events(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM risk_events ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(reversed(self._read(lambda db: list(db.query(sql)))))

    def reloads(self) -> list[dict[str, Any]]:
        rows = self._read(lambda db: list(db.query("SELECT * FROM reloads ORDER BY id")))
        return [{**row, "ok": bool(row["ok"])} for row in rows]

    def balances(self) -> list[dict[str, Any]]:
        """The latest balance of each venue and asset."""
        sql = (
            "SELECT venue, asset, total, available, max(ts_ns) AS ts_ns FROM balances "
            "GROUP BY venue, asset ORDER BY venue, asset"
        )
        return self._read(lambda db: list(db.query(sql)))

    def pnl(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM pnl ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(reversed(self._read(lambda db: list(db.query(sql)))))

    def load_strategy_state(self, strategy_id: str) -> dict[str, Any] | None:
        """The last saved state of a strategy id, or None if it never saved."""
        rows = self._read(
            lambda db: list(
                db.query("SELECT state FROM strategy_state WHERE strategy = ?", [strategy_id])
            )
        )
        return json.loads(rows[0]["state"]) if rows else None

    def strategy_states(self) -> list[dict[str, Any]]:
        """Strategy id, version, revision and save time of every saved state."""
        sql = (
            "SELECT strategy, version, revision, updated_ts_ns FROM strategy_state "
            "ORDER BY strategy"
        )
        return self._read(lambda db: list(db.query(sql)))

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables and of open orders."""

        def count(db: sqlite_utils.Database) -> dict[str, int]:
            tables = ("orders", "order_events", "fills", "risk_events", "reloads")
            found = {
                name: db.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in tables
            }
            found["open_orders"] = db.execute(
                f"SELECT count(*) FROM orders WHERE status NOT IN ({_TERMINAL_SQL})"
            ).fetchone()[0]
            found["failed_reloads"] = db.execute(
                "SELECT count(*) FROM reloads WHERE ok = 0"
            ).fetchone()[0]
            return found

        return self._read(count)

    def last_fill_ts_ns(self) -> int | None:
        return self._read(lambda db: db.execute("SELECT max(ts_ns) FROM fills").fetchone()[0])

    def check(self) -> list[str]:
        """``PRAGMA quick_check``: an empty list when the file is sound (reads every page)."""
        rows = self._read(lambda db: db.execute("PRAGMA quick_check").fetchall())
        problems = [row[0] for row in rows]
        return [] if problems == ["ok"] else problems

    def _read(self, query: Callable[[sqlite_utils.Database], T]) -> T:
        if self._reader is not None:
            try:
                return query(self._reader)
            except sqlite3.DatabaseError as error:
                raise _describe(self.path, error) from error
        self._check_writable()
        done: Future[T] = Future()
        self._put((_READ, query, done))
        return self._wait(done)

    # -- opening ---------------------------------------------------------------------------------

    def _take_host_lock(self) -> None:
        """One host process per journal: a second one gets a clear error, not interleaved rows."""
        if fcntl is None:  # pragma: no cover
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the journal's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise JournalError(
                f"{self.path} is in use by another mmhost process (pid {holder}); stop that "
                "process, or point host.journal at another file"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def _release_host_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _open_readonly(self) -> sqlite_utils.Database:
        if not self.path.is_file():
            raise JournalError(
                f"{self.path}: no journal here; run the host first (it creates the file) "
                "or pass --journal PATH"
            )
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            db = sqlite_utils.Database(connection)
            _check_schema(self.path, connection, readonly=True)
        except sqlite3.DatabaseError as error:
            raise _describe(self.path, error) from error
        return db

    def _open_writer(self) -> tuple[sqlite3.Connection, sqlite_utils.Database]:
        existed = self.path.is_file() and self.path.stat().st_size > 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE ... COMMIT).
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            if existed:
                _check_schema(self.path, connection, readonly=False)
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(
                    f"{self.path}: could not switch to WAL mode (got {mode}); is it on a "
                    "network file system? Put host.journal on a local disk"
                )
            connection.execute(f"PRAGMA synchronous = {self.synchronous}")
            db = sqlite_utils.Database(connection)
            connection.execute("BEGIN IMMEDIATE")
            _create_schema(db)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
            for row in db.query("SELECT * FROM positions"):
                self._positions[(row["venue"], row["symbol"])] = _PositionState.from_row(row)
        except BaseException:
            connection.close()
            raise
        return connection, db

    # -- the writer thread -----------------------------------------------------------------------

    def _writer_main(self, ready: Future[None]) -> None:
        try:
            connection, db = self._open_writer()
        except JournalError as error:
            ready.set_exception(error)
            return
        except sqlite3.DatabaseError as error:
            ready.set_exception(_describe(self.path, error))
            return
        ready.set_result(None)
        try:
            self._writer_loop(connection, db)
        finally:
            connection.close()

    def _writer_loop(self, connection: sqlite3.Connection, db: sqlite_utils.Database) -> None:
        get = self._queue.get
        interval_s = self.flush_interval_s
        flush_rows = self.flush_rows
        while True:
            item = get()
            batch = [item]
            deadline = time.monotonic() + interval_s
            # Gather until a barrier, the row limit or the deadline: one commit per batch.
            while item[0] < _INTENTS and len(batch) < flush_rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = get(timeout=remaining)
                except queue.Empty:
                    break
                batch.append(item)
            committed = self._commit(connection, batch)
            last = batch[-1]
            kind = last[0]
            if kind == _READ and committed:
                _, query, done = last
                try:
                    done.set_result(query(db))
                except Exception as error:
                    done.set_exception(
                        _describe(self.path, error)
                        if isinstance(error, sqlite3.DatabaseError)
                        else error
                    )
            elif kind == _CLOSE:
                last[1].set_result(None)
                return

    def _commit(self, connection: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> bool:
        """Write a batch in one transaction and answer its waiters; False when it failed."""
        if self._error is not None:
            for item in batch:
                _fail_waiter(item, self._error)
            return False
        touched: set[tuple[str, str]] = set()
        revision: int | None = None
        try:
            connection.execute("BEGIN IMMEDIATE")
            for kind, group in itertools.groupby(batch, key=lambda entry: entry[0]):
                items = list(group)
                if kind == _FILL:
                    self._write_fills(connection, [entry[1] for entry in items], touched)
                elif kind == _UPDATE:
                    self._write_updates(connection, [entry[1] for entry in items])
                elif kind == _INTENTS:
                    self._write_intents(connection, items)
                elif kind == _RISK:
                    connection.executemany(
                        "INSERT INTO risk_events (ts_ns, rule, reason, strategy, kind) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [entry[1] for entry in items],
                    )
                elif kind == _RELOAD:
                    connection.executemany(
                        "INSERT INTO reloads (ts_ns, file, content_hash, duration_ms, ok, error) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [entry[1] for entry in items],
                    )
                elif kind == _BALANCE:
                    connection.executemany(
                        "INSERT INTO balances (venue, asset, total, available, ts_ns) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [entry[1] for entry in items],
                    )
                elif kind == _PNL:
                    self._write_pnl(connection, [entry[1] for entry in items], touched)
                elif kind == _STATE:
                    revision = self._write_state(connection, items[-1][1])
            for key in touched:
                connection.execute(_UPSERT_POSITION, self._positions[key].row(*key))
            connection.execute("COMMIT")
        except Exception as error:
            # Any failure, a full disk or a bug, stops the journal loudly: the
            # batch is rolled back and every later record raises.
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            self._fail(error, batch)
            # Positions may hold fills of the rolled-back batch: reload them from disk.
            self._reload_positions(connection)
            return False
        for item in batch:
            kind = item[0]
            if kind == _INTENTS:
                item[2].set_result(None)
            elif kind == _BARRIER:
                item[1].set_result(None)
            elif kind == _STATE:
                item[2].set_result(revision)
        return True

    def _fail(self, error: Exception, batch: list[tuple[Any, ...]]) -> None:
        self._error = JournalError(
            f"{self.path}: a write failed ({type(error).__name__}: {error}); "
            f"{len(batch)} records of the last batch are not on disk and the journal "
            "accepts no more. Stop trading, check the disk (space, permissions) and restart"
        )
        self.log.error(
            "journal write failed: {error}; {records} records not written",
            error=str(error),
            records=len(batch),
        )
        for item in batch:
            _fail_waiter(item, self._error)

    def _reload_positions(self, connection: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            cursor = connection.execute("SELECT * FROM positions")
            names = [column[0] for column in cursor.description]
            self._positions = {
                (row[0], row[1]): _PositionState.from_row(dict(zip(names, row, strict=True)))
                for row in cursor
            }

    def _write_intents(self, connection: sqlite3.Connection, items: list[tuple[Any, ...]]) -> None:
        rows = []
        scales = self._scales
        for _, intents, _done in items:
            for intent in intents:
                scale = scales[(intent.venue, intent.symbol)]
                rows.append(
                    (
                        intent.order_link_id,
                        intent.strategy_id,
                        intent.venue,
                        intent.symbol,
                        intent.side.venue_name,
                        scale.price(intent.price_ticks),
                        scale.qty(intent.size_lots),
                        intent.price_ticks,
                        intent.size_lots,
                        intent.tag,
                        intent.time_in_force,
                        int(intent.reduce_only),
                        OrderStatus.PENDING_NEW,
                        intent.ts_ns,
                        intent.ts_ns,
                    )
                )
        connection.executemany(_INSERT_INTENT, rows)

    def _write_updates(self, connection: sqlite3.Connection, updates: list[OrderUpdate]) -> None:
        events, orders = [], []
        scales = self._scales
        for update in updates:
            scale = scales[(update.venue, update.symbol)]
            side = update.side.venue_name
            price = scale.price(update.price_ticks)
            qty = scale.qty(update.size_lots)
            events.append(
                (
                    update.order_link_id,
                    update.venue,
                    update.symbol,
                    update.status,
                    side,
                    price,
                    qty,
                    scale.qty(update.filled_lots),
                    update.price_ticks,
                    update.size_lots,
                    update.filled_lots,
                    update.reject_code,
                    update.reject_reason,
                    update.venue_order_id,
                    update.ts_ns,
                )
            )
            orders.append(
                (
                    update.order_link_id,
                    update.venue,
                    update.symbol,
                    side,
                    price,
                    qty,
                    update.price_ticks,
                    update.size_lots,
                    update.status,
                    update.reject_code,
                    update.reject_reason,
                    update.venue_order_id,
                    update.ts_ns,
                    update.ts_ns,
                )
            )
        connection.executemany(_INSERT_EVENT, events)
        connection.executemany(_UPSERT_FROM_UPDATE, orders)

    def _write_fills(
        self, connection: sqlite3.Connection, fills: list[Fill], touched: set[tuple[str, str]]
    ) -> None:
        # Deduplicate before inserting (one indexed lookup for the whole batch)
        # so only new executions reach the position: never counted twice.
        exec_ids = [fill.exec_id for fill in fills]
        existing = {
            row[0]
            for row in connection.execute(
                "SELECT exec_id FROM fills WHERE exec_id IN (SELECT value FROM json_each(?))",
                (json.dumps(exec_ids),),
            )
        }
        rows = []
        filled: dict[str, list[Any]] = {}
        scales = self._scales
        positions = self._positions
        for fill in fills:
            exec_id = fill.exec_id
            if exec_id in existing:
                continue
            existing.add(exec_id)
            key = (fill.venue, fill.symbol)
            scale = scales[key]
            side = int(fill.side)
            rows.append(
                (
                    exec_id,
                    fill.order_link_id,
                    fill.strategy,
                    fill.venue,
                    fill.symbol,
                    "Buy" if side == 1 else "Sell",
                    scale.price(fill.price_ticks),
                    scale.qty(fill.size_lots),
                    fill.price_ticks,
                    fill.size_lots,
                    _decimal_text(fill.fee),
                    int(fill.is_maker),
                    fill.ts_ns,
                    fill.strategy_version,
                )
            )
            position = positions.get(key)
            if position is None:
                position = positions[key] = _PositionState(scale.tick_size, scale.lot_size)
            position.apply(side, fill.price_ticks, fill.size_lots, fill.fee)
            position.updated_ts_ns = fill.ts_ns
            touched.add(key)
            entry = filled.get(fill.order_link_id)
            if entry is None:
                filled[fill.order_link_id] = [fill.size_lots, fill.ts_ns]
            else:
                entry[0] += fill.size_lots
                entry[1] = max(entry[1], fill.ts_ns)
        if not rows:
            return
        connection.executemany(_INSERT_FILL, rows)
        connection.executemany(
            _ADD_FILLED,
            [(lots, ts_ns, order_link_id) for order_link_id, (lots, ts_ns) in filled.items()],
        )

    def _write_pnl(
        self,
        connection: sqlite3.Connection,
        rows: list[tuple[Any, ...]],
        touched: set[tuple[str, str]],
    ) -> None:
        connection.executemany(
            "INSERT INTO pnl (ts_ns, venue, symbol, strategy, position_qty, mark_price, "
            "realized_pnl, unrealized_pnl, fees, net_pnl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        for row in rows:
            position = self._positions.get((row[1], row[2]))
            if position is not None and row[5] is not None and not row[3]:
                position.mark_price = Decimal(row[5])
                touched.add((row[1], row[2]))

    def _write_state(self, connection: sqlite3.Connection, row: tuple[Any, ...]) -> int:
        strategy_id, text, version, ts_ns = row
        current = connection.execute(
            "SELECT revision FROM strategy_state WHERE strategy = ?", (strategy_id,)
        ).fetchone()
        revision = (current[0] if current else 0) + 1
        connection.execute(
            "INSERT OR REPLACE INTO strategy_state (strategy, state, version, revision, "
            "updated_ts_ns) VALUES (?, ?, ?, ?, ?)",
            (strategy_id, text, version, revision, ts_ns),
        )
        return revision


def _fail_waiter(item: tuple[Any, ...], error: JournalError) -> None:
    kind = item[0]
    if kind in (_INTENTS, _STATE, _READ):
        item[2].set_exception(error)
    elif kind == _BARRIER:
        item[1].set_exception(error)


def _close_if_alive(reference: weakref.ref[Journal]) -> None:
    journal = reference()
    if journal is not None:
        with contextlib.suppress(JournalError):
            journal.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _check_schema(path: Path, connection: sqlite3.Connection, *, readonly: bool) -> None:
    """Reject a file that is not a journal before anything is written to it."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = {
        row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"{path}: written by a newer mmhost (journal schema {version}, this one reads "
            f"{SCHEMA_VERSION}); upgrade mmhost or use another file"
        )
    if tables and "orders" not in tables:
        raise JournalError(
            f"{path}: an sqlite file that is not an mmhost journal (tables: "
            f"{', '.join(sorted(tables))}); point host.journal at another file"
        )
    if readonly and "orders" not in tables:
        raise JournalError(f"{path}: an empty file, not an mmhost journal yet")


def _describe(path: Path, error: sqlite3.DatabaseError | Exception) -> JournalError:
    text = str(error)
    if "locked" in text or "busy" in text:
        return JournalError(
            f"{path} is locked by another connection ({text}); stop the other writer "
            "(another mmhost, an sqlite shell inside a transaction) and retry"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return JournalError(
            f"{path} is not a readable mmhost journal ({text}). It was left untouched: move "
            f"it aside (e.g. to {path.name}.corrupt) to start a fresh journal, or restore "
            "it from a backup"
        )
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return JournalError(
            f"{path}: cannot open for writing ({text}); check the folder exists and is writable"
        )
    return JournalError(f"{path}: {type(error).__name__}: {text}")


def _order_from_row(row: Mapping[str, Any]) -> JournalOrder:
    return JournalOrder(
        order_link_id=row["order_link_id"],
        strategy_id=row["strategy"] or "",
        venue=row["venue"],
        symbol=row["symbol"],
        side=Side.parse(row["side"]),
        price=None if row["price"] is None else Decimal(row["price"]),
        qty=None if row["qty"] is None else Decimal(row["qty"]),
        price_ticks=row["price_ticks"],
        size_lots=row["size_lots"],
        # qty is an exact multiple of the lot, so this division is exact.
        filled_qty=None
        if row["qty"] is None or not row["size_lots"]
        else Decimal(row["qty"]) / row["size_lots"] * row["filled_lots"],
        filled_lots=row["filled_lots"],
        tag=row["tag"] or "",
        time_in_force=row["tif"] or "",
        reduce_only=bool(row["reduce_only"]),
        status=row["status"],
        reject_code=row["reject_code"] or "",
        reject_reason=row["reject_reason"] or "",
        venue_order_id=row["venue_order_id"] or "",
        created_ts_ns=row["created_ts_ns"],
        updated_ts_ns=row["updated_ts_ns"],
    )


def _fill_from_row(row: Mapping[str, Any]) -> JournalFill:
    return JournalFill(
        exec_id=row["exec_id"],
        order_link_id=row["order_link_id"],
        strategy_id=row["strategy"] or "",
        venue=row["venue"],
        symbol=row["symbol"],
        side=Side.parse(row["side"]),
        price=Decimal(row["price"]),
        qty=Decimal(row["qty"]),
        price_ticks=row["price_ticks"],
        size_lots=row["size_lots"],
        fee=Decimal(row["fee"]),
        is_maker=bool(row["is_maker"]),
        ts_ns=row["ts_ns"],
        strategy_version=row.get("strategy_version") or "",
    )


# -- the plugin ------------------------------------------------------------------------------


class JournalPlugin:
    """Feeds a Journal from the engine's hooks; flushes and closes it at shutdown.

    Register one instance per engine: ``pm.register(JournalPlugin(journal),
    name="journal")``. The before-send intent is not a hook: the engine calls
    ``journal.record_orders_sent`` itself before ``venue.submit``.
    """

    def __init__(self, journal: Journal, *, close_on_shutdown: bool = True) -> None:
        self.journal = journal
        self.close_on_shutdown = close_on_shutdown
        self.engine: Engine | None = None

    @hookimpl
    def mmhost_startup(self, engine: Engine) -> None:
        self.engine = engine
        for (venue, _symbol), state in engine.instruments.items():
            self.journal.add_instrument(state.instrument, venue=venue)

    def _learn(self, venue: str, symbol: str) -> None:
        # An instrument added after start-up: take its scale from the engine.
        if self.engine is not None and not self.journal.knows(venue, symbol):
            state = self.engine.instruments.get((venue, symbol))
            if state is not None:
                self.journal.add_instrument(state.instrument, venue=venue)

    @hookimpl
    def mmhost_order_updated(self, update: OrderUpdate) -> None:
        if not self.journal.knows(update.venue, update.symbol):
            self._learn(update.venue, update.symbol)
        self.journal.record_order_update(update)

    @hookimpl
    def mmhost_fill(self, fill: Fill) -> None:
        if not self.journal.knows(fill.venue, fill.symbol):
            self._learn(fill.venue, fill.symbol)
        self.journal.record_fill(fill)

    @hookimpl
    def mmhost_risk_event(self, event: RiskEvent) -> None:
        self.journal.record_risk_event(event)

    @hookimpl
    def mmhost_shutdown(self, engine: Engine) -> None:
        """Record each position's closing PnL at the engine's marks, then flush (and close)."""
        try:
            now_ns = engine.clock.now_ns()
            for position in engine.summary().positions:
                self.journal.record_pnl(
                    now_ns,
                    position.venue,
                    position.symbol,
                    position_qty=position.qty,
                    mark_price=position.mark_price,
                    realized_pnl=position.realized_pnl,
                    unrealized_pnl=position.unrealized_pnl,
                    fees=position.fees,
                )
            self.journal.flush()
        finally:
            if self.close_on_shutdown:
                self.journal.close()
