"""Book imbalance over the best N levels and within X bps, and the microprice.

Signals (per instrument, stamped with the book message's ``ts_local_ns``):

- ``imbalance_<N>``: ``(B - A) / (B + A)`` where B and A are the lots resting
  on the best N bid and ask levels; in [-1, 1], positive = more bids.
- ``imbalance_<X>bps``: the same with B and A the lots within X bps of each
  side's own touch (``OrderBook.depth_within_bps``: bids priced at least
  ``best_bid * (1 - X/10000)``, asks at most ``best_ask * (1 + X/10000)``).
- ``microprice_ticks``: ``(bid * ask_size + ask * bid_size) / (bid_size +
  ask_size)`` at the touch; ``microprice_offset_ticks`` = microprice - mid.

Cost: the within-bps sums span hundreds of levels on BTCUSDT, so the book
keeps them as running sums (``OrderBook.watch_depth_within_bps``: the changed
levels move them inside the book's own loop, and a touch move reads only the
levels that enter or leave the band at its far edge). The top-N sums read N
levels only when a changed level lies within them.

Settings (``[plugins.imbalance]``): see ``ImbalanceSettings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from host import Side, hookimpl

if TYPE_CHECKING:
    from host import BookMessage, Context
    from host.book import OrderBook

PLUGIN_NAME = __name__.rpartition(".")[2]
_BUY = Side.BUY
_SELL = Side.SELL


class PluginSettingsError(ValueError):
    """A ``[plugins.<name>]`` table has an unknown key or a bad value."""


class ImbalanceSettings(BaseModel):
    """``[plugins.imbalance]``: which depths to measure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: tuple[int, ...] = Field(
        (1, 5, 10), description="Level counts N: one ``imbalance_<N>`` signal each."
    )
    within_bps: tuple[float, ...] = Field(
        (5.0, 10.0), description="Bands X in bps of each touch: one ``imbalance_<X>bps`` each."
    )

    @field_validator("levels")
    @classmethod
    def _positive_levels(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(count <= 0 for count in value):
            raise ValueError("every level count must be > 0")
        return tuple(sorted(set(value)))

    @field_validator("within_bps")
    @classmethod
    def _positive_bps(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(bps <= 0 for bps in value):
            raise ValueError("every band must be > 0 bps")
        return tuple(sorted(set(value)))


def load_settings(raw: Mapping[str, Any]) -> ImbalanceSettings:
    """Validate the plugin's config table; errors name the key."""
    try:
        return ImbalanceSettings.model_validate(dict(raw))
    except ValidationError as error:
        raise PluginSettingsError(describe_settings_error(error, ImbalanceSettings)) from None


def describe_settings_error(error: ValidationError, model: type[BaseModel]) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            problems.append(f"unknown key {key!r} (allowed: {allowed})")
        else:
            problems.append(f"{key} = {item.get('input')!r}: {item['msg']}")
    return f"[plugins.{PLUGIN_NAME}]: " + "; ".join(problems)


def band_signal_name(bps: float) -> str:
    return f"imbalance_{bps:g}bps"


class _InstrumentState:
    __slots__ = ("ask_boundary_ticks", "bid_boundary_ticks", "book")

    def __init__(self, book: OrderBook) -> None:
        self.book = book  # the book whose depth bands are watched
        # Worst price among the top-N levels read last time; a change beyond it
        # cannot alter the top-N sums. 0 forces a read.
        self.bid_boundary_ticks = 0
        self.ask_boundary_ticks = 0


class ImbalanceAnalyzer:
    """Per-instrument imbalance state; the module registers one instance."""

    def __init__(self, settings: ImbalanceSettings | None = None) -> None:
        self.configure(settings or ImbalanceSettings())

    def configure(self, settings: ImbalanceSettings) -> None:
        self.settings = settings
        self.max_levels = max(settings.levels) if settings.levels else 0
        self.level_names = [(count, f"imbalance_{count}") for count in settings.levels]
        self.band_names = [(bps, band_signal_name(bps)) for bps in settings.within_bps]
        self.states: dict[tuple[str, str], _InstrumentState] = {}

    @hookimpl
    def mmhost_startup(self, engine: Any) -> None:
        self.configure(load_settings(engine.config.plugins.get(PLUGIN_NAME, {})))

    @hookimpl
    def mmhost_book_updated(self, book: OrderBook, message: BookMessage, ctx: Context) -> None:
        key = (ctx.venue, ctx.symbol)
        state = self.states.get(key)
        if state is None or state.book is not book:
            state = _InstrumentState(book)
            self.states[key] = state
            for bps in self.settings.within_bps:
                book.watch_depth_within_bps(bps)
        ts_ns = message.ts_local_ns
        signals = ctx.signals
        depth_within_bps = book.depth_within_bps
        for bps, name in self.band_names:
            bid_lots = depth_within_bps(_BUY, bps)
            ask_lots = depth_within_bps(_SELL, bps)
            total = bid_lots + ask_lots
            signals.set(name, (bid_lots - ask_lots) / total if total else 0.0, ts_ns)
        if message.is_snapshot:
            state.bid_boundary_ticks = state.ask_boundary_ticks = 0
        else:
            # max/min compare (price, size) pairs in C: the best changed price.
            boundary = state.bid_boundary_ticks
            if boundary and message.bids and max(message.bids)[0] >= boundary:
                state.bid_boundary_ticks = 0
            boundary = state.ask_boundary_ticks
            if boundary and message.asks and min(message.asks)[0] <= boundary:
                state.ask_boundary_ticks = 0
        if not (state.bid_boundary_ticks and state.ask_boundary_ticks):
            self._top_levels(state, book, signals, ts_ns)
        best_bid = book.best_bid_ticks
        best_ask = book.best_ask_ticks
        if best_bid and best_ask:
            bid_size = book.best_bid_size_lots
            ask_size = book.best_ask_size_lots
            micro = (best_bid * ask_size + best_ask * bid_size) / (bid_size + ask_size)
            signals.set("microprice_ticks", micro, ts_ns)
            signals.set("microprice_offset_ticks", micro - (best_bid + best_ask) / 2, ts_ns)

    # -- internals ---------------------------------------------------------------------

    def _top_levels(
        self, state: _InstrumentState, book: OrderBook, signals: Any, ts_ns: int
    ) -> None:
        depth = self.max_levels
        if not depth:
            return
        bid_prices, bid_sizes = book.top_of_book(Side.BUY, depth)
        ask_prices, ask_sizes = book.top_of_book(Side.SELL, depth)
        # A missing level (thin book) leaves the boundary at the far end of the
        # price range, so any change still triggers a read.
        state.bid_boundary_ticks = bid_prices[-1] if len(bid_prices) == depth else 1
        state.ask_boundary_ticks = ask_prices[-1] if len(ask_prices) == depth else 1 << 62
        for count, name in self.level_names:
            bid_lots = sum(bid_sizes[:count])
            ask_lots = sum(ask_sizes[:count])
            total = bid_lots + ask_lots
            signals.set(name, (bid_lots - ask_lots) / total if total else 0.0, ts_ns)


analyzer = ImbalanceAnalyzer()
mmhost_startup = analyzer.mmhost_startup
mmhost_book_updated = analyzer.mmhost_book_updated
