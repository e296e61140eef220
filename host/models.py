"""Value types shared by every room of the host.

Prices and sizes are integers of the instrument's tick and lot everywhere inside
the host (``price_ticks``, ``size_lots``). Decimal appears only where money
leaves the integer grid: fees, PnL, and the strings sent to a venue. Binary
floats never carry a price or a size in an order message.

Hot-path values (book messages, trades, quotes) are frozen ``msgspec.Struct``;
the rest are frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

import msgspec


class Side(IntEnum):
    """Order or aggressor side; the value is the sign of the position change."""

    BUY = 1
    SELL = -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def venue_name(self) -> str:
        """Bybit's spelling: ``Buy`` / ``Sell``."""
        return "Buy" if self is Side.BUY else "Sell"

    @classmethod
    def parse(cls, text: str) -> Side:
        lowered = text.lower()
        if lowered in ("buy", "b", "bid"):
            return cls.BUY
        if lowered in ("sell", "s", "ask"):
            return cls.SELL
        raise ValueError(f"unknown side {text!r}; expected Buy or Sell")


class OffGridError(ValueError):
    """A price or size that is not a whole number of ticks or lots."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """What the host must know to trade one symbol on one venue.

    ``tick_size`` and ``lot_size`` turn venue decimals into the integer
    ``price_ticks`` / ``size_lots`` used inside the host, and back.
    """

    venue: str
    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    base: str = ""
    quote: str = "USDT"
    category: str = "linear"
    min_qty_lots: int = 1
    min_notional: Decimal = Decimal(0)

    def price_to_ticks(self, price: Decimal | str | int) -> int:
        """Exact conversion; raises OffGridError for a price between ticks."""
        return _to_units(Decimal(price), self.tick_size, "price", self.symbol)

    def qty_to_lots(self, qty: Decimal | str | int) -> int:
        """Exact conversion; raises OffGridError for a size between lots."""
        return _to_units(Decimal(qty), self.lot_size, "qty", self.symbol)

    def ticks_to_price(self, price_ticks: int) -> Decimal:
        return self.tick_size * price_ticks

    def lots_to_qty(self, size_lots: int) -> Decimal:
        return self.lot_size * size_lots

    def format_price(self, price_ticks: int) -> str:
        """The venue-edge string: plain notation, never ``1E-7``."""
        return format(self.ticks_to_price(price_ticks).normalize(), "f")

    def format_qty(self, size_lots: int) -> str:
        return format(self.lots_to_qty(size_lots).normalize(), "f")

    def notional(self, price_ticks: int, size_lots: int) -> Decimal:
        """Quote-currency value of ``size_lots`` at ``price_ticks``."""
        return self.tick_size * self.lot_size * price_ticks * size_lots

    def lots_for_notional(self, notional: Decimal, price_ticks: int) -> int:
        """Whole lots worth at most ``notional`` at ``price_ticks`` (floor)."""
        if price_ticks <= 0:
            return 0
        unit = self.tick_size * self.lot_size * price_ticks
        return int(notional // unit)


def _to_units(value: Decimal, unit: Decimal, what: str, symbol: str) -> int:
    if not value.is_finite():
        raise OffGridError(f"{symbol}: {what} {value} is not a finite number")
    units, remainder = divmod(value, unit)
    if remainder != 0:
        raise OffGridError(f"{symbol}: {what} {value} is not a multiple of {unit}")
    return int(units)


class BookMessage(msgspec.Struct, frozen=True):
    """One applied-or-to-apply order-book message, already on the integer grid.

    ``bids`` / ``asks`` hold ``(price_ticks, size_lots)`` pairs; size 0 deletes
    the level. ``is_snapshot`` replaces the whole book. Update ids follow the
    feed's own semantics; ``prev_update_id`` is -1 when the feed has none.
    """

    venue: str
    symbol: str
    ts_exchange_ns: int
    ts_local_ns: int
    is_snapshot: bool
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    first_update_id: int = -1
    last_update_id: int = -1
    prev_update_id: int = -1
    seq: int = -1


class Trade(msgspec.Struct, frozen=True):
    """A public trade. ``aggressor`` is the taker's side."""

    venue: str
    symbol: str
    ts_exchange_ns: int
    ts_local_ns: int
    price_ticks: int
    size_lots: int
    aggressor: Side
    trade_id: str = ""


class Level(msgspec.Struct, frozen=True):
    price_ticks: int
    size_lots: int


class Quote(msgspec.Struct, frozen=True):
    """An order the strategy wants resting on the book.

    ``tag`` names the slot (``"bid"``, ``"ask"``, ``"bid1"``, ``"take_profit"``):
    the OMS keeps, amends or replaces the live order of the same tag.
    """

    side: Side
    price_ticks: int
    size_lots: int
    tag: str
    post_only: bool = True
    reduce_only: bool = False
    # Another instrument the strategy watches (arbitrage, hedging); "" = its own.
    venue: str = ""
    symbol: str = ""


class Take(msgspec.Struct, frozen=True):
    """A one-shot order: IOC at ``price_ticks`` (a limit on slippage), or a
    market order when ``price_ticks`` is None."""

    side: Side
    size_lots: int
    tag: str
    price_ticks: int | None = None
    reduce_only: bool = False
    venue: str = ""
    symbol: str = ""


class Stop(msgspec.Struct, frozen=True):
    """A conditional order the venue holds: a stop-loss or a take-profit.

    When the watched price (``trigger_by``: Bybit's ``LastPrice`` or
    ``MarkPrice``) rises to ``trigger_price_ticks`` (``rising``) or falls to
    it, ``size_lots`` go out as a market order, or as a limit order at
    ``limit_price_ticks``. Reduce-only by default: it closes, never opens.
    """

    side: Side
    size_lots: int
    trigger_price_ticks: int
    rising: bool
    tag: str
    limit_price_ticks: int | None = None
    trigger_by: str = "LastPrice"
    reduce_only: bool = True
    venue: str = ""
    symbol: str = ""


class Decision(msgspec.Struct, frozen=True):
    """What a strategy wants after one event.

    ``quotes`` and ``stops`` are the complete sets of resting and conditional
    orders wanted: live orders of the strategy whose tag is absent get
    cancelled (tags are unique across both). ``takes`` go out once. A handler
    returning None means "keep what is there"; ``Decision()`` means "cancel
    everything of mine".
    """

    quotes: tuple[Quote, ...] = ()
    takes: tuple[Take, ...] = ()
    stops: tuple[Stop, ...] = ()


class OrderStatus:
    """Order states as strings (Bybit's names where Bybit has one)."""

    PENDING_NEW = "PendingNew"
    NEW = "New"
    PARTIALLY_FILLED = "PartiallyFilled"
    FILLED = "Filled"
    PENDING_CANCEL = "PendingCancel"
    PENDING_AMEND = "PendingAmend"
    CANCELLED = "Cancelled"
    REJECTED = "Rejected"
    UNKNOWN = "Unknown"
    # Conditional (stop / take-profit) orders before and after their trigger.
    UNTRIGGERED = "Untriggered"
    TRIGGERED = "Triggered"
    DEACTIVATED = "Deactivated"

    TERMINAL = frozenset({FILLED, CANCELLED, REJECTED, DEACTIVATED})


class NewOrder(msgspec.Struct, frozen=True):
    """An action for a venue: place an order."""

    order_link_id: str
    symbol: str
    side: Side
    size_lots: int
    price_ticks: int | None
    time_in_force: str = "GTC"  # GTC | PostOnly | IOC | FOK
    reduce_only: bool = False
    # Set for a conditional order (a Stop): held by the venue until triggered.
    trigger_price_ticks: int | None = None
    trigger_rising: bool = False
    trigger_by: str = "LastPrice"


class CancelOrder(msgspec.Struct, frozen=True):
    order_link_id: str
    symbol: str


class AmendOrder(msgspec.Struct, frozen=True):
    order_link_id: str
    symbol: str
    price_ticks: int
    size_lots: int


OrderAction = NewOrder | CancelOrder | AmendOrder


class OrderUpdate(msgspec.Struct, frozen=True):
    """A venue's news about one of our orders: ack, reject, cancel, fill state.

    ``filled_lots`` is cumulative. Rejects carry the venue's ``reject_code``
    (e.g. Bybit ``110007``) and message.
    """

    venue: str
    symbol: str
    order_link_id: str
    status: str
    ts_ns: int
    side: Side
    price_ticks: int | None
    size_lots: int
    filled_lots: int = 0
    reject_code: str = ""
    reject_reason: str = ""
    venue_order_id: str = ""


class Fill(msgspec.Struct, frozen=True):
    """One execution of one of our orders. ``fee`` is in the quote currency;
    negative means a rebate."""

    venue: str
    symbol: str
    order_link_id: str
    exec_id: str
    side: Side
    price_ticks: int
    size_lots: int
    fee: Decimal
    is_maker: bool
    ts_ns: int
    strategy: str = ""
    # Which code produced it: the strategy file's hash and the plugin set
    # (``<sha256 prefix>;<plugin fingerprint>``), stamped by the engine.
    strategy_version: str = ""


class Funding(msgspec.Struct, frozen=True):
    """A perpetual's funding payment on our position. ``amount`` is in the quote
    currency: positive when we paid, negative when we received."""

    venue: str
    symbol: str
    exec_id: str
    amount: Decimal
    ts_ns: int


class Signal(msgspec.Struct, frozen=True):
    """A named analytic value stamped with the event time it describes."""

    name: str
    value: float
    ts_ns: int
