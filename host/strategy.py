"""What a strategy is and what it can see.

A strategy is a plain class. The engine calls its ``on_*`` handlers directly
(a direct call is much cheaper than a hook); each handler returns a Decision
or None. A strategy never touches a venue, a socket, ``sleep`` or the wall
clock: it reads time from ``self.ctx.clock`` and says what it wants resting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from host.models import Decision, Fill, Instrument, OrderUpdate, Signal, Trade

if TYPE_CHECKING:
    from host.book import OrderBook
    from host.clock import Clock
    from host.oms import LiveOrder
    from host.portfolio import Position


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: frozen, unknown keys fail."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SignalBoard:
    """Named analytic values of one instrument, stamped with event time.

    Analyzers write (``board.set("ofi_5s", value, ts_ns)``); strategies and
    risk rules read (``board["ofi_5s"]``). Reading costs a dict lookup.
    """

    __slots__ = ("_stamps_ns", "_values")

    def __init__(self) -> None:
        self._values: dict[str, float] = {}
        self._stamps_ns: dict[str, int] = {}

    def set(self, name: str, value: float, ts_ns: int) -> None:
        self._values[name] = value
        self._stamps_ns[name] = ts_ns

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str, default: float | None = None) -> float | None:
        return self._values.get(name, default)

    def stamp_ns(self, name: str) -> int:
        return self._stamps_ns[name]

    def signal(self, name: str) -> Signal:
        return Signal(name, self._values[name], self._stamps_ns[name])

    def names(self) -> list[str]:
        return sorted(self._values)


class Context:
    """What one strategy (or, with ``strategy_id == ""``, one instrument) sees.

    ``book``, ``signals`` and ``instrument`` belong to the instrument and are
    shared by every strategy trading it; ``position`` and ``open_orders`` are
    the strategy's own.
    """

    __slots__ = (
        "_legs",
        "_open_orders",
        "book",
        "clock",
        "instrument",
        "log",
        "position",
        "signals",
        "strategy_id",
        "symbol",
        "venue",
    )

    def __init__(
        self,
        *,
        venue: str,
        symbol: str,
        instrument: Instrument,
        book: OrderBook,
        signals: SignalBoard,
        clock: Clock,
        position: Position,
        log: Any,
        strategy_id: str = "",
        open_orders: Any = None,
        legs: Any = None,
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.instrument = instrument
        self.book = book
        self.signals = signals
        self.clock = clock
        self.position = position
        self.log = log
        self.strategy_id = strategy_id
        self._open_orders = open_orders
        self._legs = legs

    @property
    def open_orders(self) -> list[LiveOrder]:
        """The strategy's live orders (acknowledged or in flight)."""
        return [] if self._open_orders is None else self._open_orders(self.strategy_id)

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def leg(self, venue: str, symbol: str) -> Leg:
        """Another instrument this strategy watches (config ``watch``): its book,
        instrument, signals and this strategy's position there."""
        if self._legs is None:
            raise KeyError(f"{venue}:{symbol} is not watched by this strategy")
        return self._legs(self.strategy_id, venue, symbol)


class Leg:
    """One instrument as a strategy sees it: shared market state, own position."""

    __slots__ = ("book", "instrument", "position", "signals", "symbol", "venue")

    def __init__(
        self,
        venue: str,
        symbol: str,
        instrument: Instrument,
        book: OrderBook,
        signals: SignalBoard,
        position: Position,
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.instrument = instrument
        self.book = book
        self.signals = signals
        self.position = position


class Strategy:
    """Base class of every strategy.

    Subclasses set ``name`` (how config.toml refers to them) and ``Params``
    (a ``StrategyParams`` model), and override the handlers they need.
    ``timer_interval_ms`` > 0 makes the engine call ``on_timer`` that often.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    timer_interval_ms: ClassVar[int] = 0
    state_version: ClassVar[int] = 1

    def __init__(self, ctx: Context, params: StrategyParams) -> None:
        self.ctx = ctx
        self.params = params

    def on_start(self) -> Decision | None:
        """The host starts (or a reloaded version takes over, after on_load)."""
        return None

    def on_book(self, book: OrderBook) -> Decision | None:
        """The instrument's book changed."""
        return None

    def on_trade(self, trade: Trade) -> Decision | None:
        """A public trade printed on the instrument."""
        return None

    def on_fill(self, fill: Fill) -> Decision | None:
        """One of this strategy's orders traded."""
        return None

    def on_order_update(self, update: OrderUpdate) -> Decision | None:
        """An order of this strategy was acknowledged, rejected or cancelled.

        Rejects carry the venue's code in ``update.reject_code``.
        """
        return None

    def on_timer(self, now_ns: int) -> Decision | None:
        """Called every ``timer_interval_ms`` of clock time."""
        return None

    def on_stop(self) -> None:
        """The host is stopping; the engine cancels the strategy's orders after."""

    def on_save(self) -> dict[str, Any]:
        """Plain data to carry over a hot reload; keep the ``"version"`` key."""
        return {"version": self.state_version}

    def on_load(self, state: dict[str, Any]) -> None:
        """Take over the state a previous version saved."""
