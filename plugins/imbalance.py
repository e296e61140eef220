"""Book imbalance over the best N levels and within X bps, and the microprice.

Signals (per instrument, stamped with the book message's ``ts_local_ns``):

- ``imbalance_<N>``: ``(B - A) / (B + A)`` where B and A are the lots resting
  on the best N bid and ask levels; in [-1, 1], positive = more bids.
- ``imbalance_<X>bps``: the same with B and A the lots within X bps of each
  side's own touch (``OrderBook.depth_within_bps``: bids priced at least
  ``best_bid * (1 - X/10000)``, asks at most ``best_ask * (1 + X/10000)``).
- ``microprice_ticks``: ``(bid * ask_size + ask * bid_size) / (bid_size +
  ask_size)`` at the touch; ``microprice_offset_ticks`` = microprice - mid.

Cost: the within-bps sums span hundreds of levels on BTCUSDT, so they are kept
incrementally: the message's changed levels adjust the sum by (new - old size),
the old sizes recorded by the book (``OrderBook.track_changes``), and when the
touch moves only the levels that enter or leave the band at its far edge are
read. The top-N sums read N levels only when a changed level lies within them.

Settings (``[plugins.imbalance]``): see ``ImbalanceSettings``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from host import Side, hookimpl

if TYPE_CHECKING:
    from host import BookMessage, Context
    from host.book import OrderBook

PLUGIN_NAME = __name__.rpartition(".")[2]


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


class _Band:
    """Running lot sums within one bps band of each touch."""

    __slots__ = ("ask_ceiling_ticks", "ask_lots", "bid_floor_ticks", "bid_lots", "bps", "name")

    def __init__(self, bps: float) -> None:
        self.bps = bps
        self.name = band_signal_name(bps)
        self.bid_floor_ticks = 0  # lowest bid price inside the band
        self.ask_ceiling_ticks = 0  # highest ask price inside the band
        self.bid_lots = 0
        self.ask_lots = 0


class _InstrumentState:
    __slots__ = (
        "ask_boundary_ticks",
        "bands",
        "best_ask_ticks",
        "best_bid_ticks",
        "bid_boundary_ticks",
    )

    def __init__(self, bands: list[_Band]) -> None:
        self.bands = bands
        # Worst price among the top-N levels read last time; a change beyond it
        # cannot alter the top-N sums. 0 forces a read.
        self.bid_boundary_ticks = 0
        self.ask_boundary_ticks = 0
        # Touches the band edges were last placed from.
        self.best_bid_ticks = 0
        self.best_ask_ticks = 0


class ImbalanceAnalyzer:
    """Per-instrument imbalance state; the module registers one instance."""

    def __init__(self, settings: ImbalanceSettings | None = None) -> None:
        self.configure(settings or ImbalanceSettings())

    def configure(self, settings: ImbalanceSettings) -> None:
        self.settings = settings
        self.max_levels = max(settings.levels) if settings.levels else 0
        self.level_names = [(count, f"imbalance_{count}") for count in settings.levels]
        self.states: dict[tuple[str, str], _InstrumentState] = {}

    @hookimpl
    def mmhost_startup(self, engine: Any) -> None:
        self.configure(load_settings(engine.config.plugins.get(PLUGIN_NAME, {})))

    @hookimpl
    def mmhost_book_updated(self, book: OrderBook, message: BookMessage, ctx: Context) -> None:
        key = (ctx.venue, ctx.symbol)
        state = self.states.get(key)
        if state is None or message.is_snapshot or not book.track_changes:
            # The running sums need the book's old sizes from the next message on.
            book.track_changes = True
            state = self._seed(key, book)
        else:
            self._apply_changes(state, book, message)
        ts_ns = message.ts_local_ns
        signals = ctx.signals
        for band in state.bands:
            total = band.bid_lots + band.ask_lots
            value = (band.bid_lots - band.ask_lots) / total if total else 0.0
            signals.set(band.name, value, ts_ns)
        if state.bid_boundary_ticks == 0 or state.ask_boundary_ticks == 0:
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

    def _seed(self, key: tuple[str, str], book: OrderBook) -> _InstrumentState:
        """Full read after a snapshot (or on the first message seen)."""
        bands = [_Band(bps) for bps in self.settings.within_bps]
        state = _InstrumentState(bands)
        for band in bands:
            self._recompute_band(band, book)
        state.best_bid_ticks = book.best_bid_ticks
        state.best_ask_ticks = book.best_ask_ticks
        self.states[key] = state
        return state

    @staticmethod
    def _recompute_band(band: _Band, book: OrderBook) -> None:
        best_bid = book.best_bid_ticks
        best_ask = book.best_ask_ticks
        # Same float expression as OrderBook.depth_within_bps, rounded onto the
        # integer grid, so both agree exactly on the boundary level.
        band.bid_floor_ticks = math.ceil(best_bid * (1.0 - band.bps / 10_000.0)) if best_bid else 0
        band.ask_ceiling_ticks = (
            math.floor(best_ask * (1.0 + band.bps / 10_000.0)) if best_ask else 0
        )
        band.bid_lots = book.depth_within_bps(Side.BUY, band.bps)
        band.ask_lots = book.depth_within_bps(Side.SELL, band.bps)

    def _apply_changes(
        self, state: _InstrumentState, book: OrderBook, message: BookMessage
    ) -> None:
        """Adjust the band sums by the message's changed levels (new - old, the
        old sizes recorded by the book), then move the bands with the touches."""
        bands = state.bands
        # Bands nest: sorted narrow to wide, a price inside band k is inside
        # every wider one. Each changed level adds its change to the bucket of
        # the narrowest band holding it (a sentinel bucket collects the rest);
        # band k then moves by the sum of buckets 0..k. This keeps the
        # per-level work to a few local operations.
        if message.bids:
            boundary = state.bid_boundary_ticks
            floors = [band.bid_floor_ticks for band in bands]
            floors.append(-1)
            buckets = [0] * len(floors)
            # Nothing below both the widest band and the top-N levels matters.
            lowest = min(floors[-2], boundary) if bands else boundary
            top_changed = False
            for (price, size), old in zip(message.bids, book.old_bid_sizes_lots, strict=True):
                if price < lowest or size == old:
                    continue
                if price >= boundary:
                    top_changed = True
                index = 0
                while price < floors[index]:
                    index += 1
                buckets[index] += size - old
            if top_changed:
                state.bid_boundary_ticks = 0
            running = 0
            for band, bucket in zip(bands, buckets, strict=False):
                running += bucket
                band.bid_lots += running
        if message.asks:
            boundary = state.ask_boundary_ticks
            ceilings = [band.ask_ceiling_ticks for band in bands]
            ceilings.append(1 << 62)
            buckets = [0] * len(ceilings)
            highest = max(ceilings[-2], boundary) if bands else boundary
            top_changed = False
            for (price, size), old in zip(message.asks, book.old_ask_sizes_lots, strict=True):
                if price > highest or size == old:
                    continue
                if price <= boundary:
                    top_changed = True
                index = 0
                while price > ceilings[index]:
                    index += 1
                buckets[index] += size - old
            if top_changed:
                state.ask_boundary_ticks = 0
            running = 0
            for band, bucket in zip(bands, buckets, strict=False):
                running += bucket
                band.ask_lots += running
        best_bid = book.best_bid_ticks
        if best_bid != state.best_bid_ticks:
            state.best_bid_ticks = best_bid
            self._move_bid_bands(bands, book, best_bid)
        best_ask = book.best_ask_ticks
        if best_ask != state.best_ask_ticks:
            state.best_ask_ticks = best_ask
            self._move_ask_bands(bands, book, best_ask)

    @staticmethod
    def _move_bid_bands(bands: list[_Band], book: OrderBook, best_bid: int) -> None:
        """The best bid moved: shift each band's floor, reading only the levels
        between the old and the new floor (their sizes are the book's current ones)."""
        for band in bands:
            if not best_bid:
                band.bid_floor_ticks = 0
                band.bid_lots = 0
                continue
            floor_ticks = math.ceil(best_bid * (1.0 - band.bps / 10_000.0))
            old_floor = band.bid_floor_ticks
            if floor_ticks == old_floor:
                continue
            if old_floor == 0:
                band.bid_lots = book.depth_within_bps(Side.BUY, band.bps)
            elif floor_ticks > old_floor:  # band moved up: levels leave at the bottom
                band.bid_lots -= book.depth_between(Side.BUY, old_floor, floor_ticks)
            else:  # band moved down: levels join at the bottom
                band.bid_lots += book.depth_between(Side.BUY, floor_ticks, old_floor)
            band.bid_floor_ticks = floor_ticks

    @staticmethod
    def _move_ask_bands(bands: list[_Band], book: OrderBook, best_ask: int) -> None:
        for band in bands:
            if not best_ask:
                band.ask_ceiling_ticks = 0
                band.ask_lots = 0
                continue
            ceiling_ticks = math.floor(best_ask * (1.0 + band.bps / 10_000.0))
            old_ceiling = band.ask_ceiling_ticks
            if ceiling_ticks == old_ceiling:
                continue
            if old_ceiling == 0:
                band.ask_lots = book.depth_within_bps(Side.SELL, band.bps)
            elif ceiling_ticks < old_ceiling:  # band moved down: levels leave at the top
                band.ask_lots -= book.depth_between(Side.SELL, ceiling_ticks + 1, old_ceiling + 1)
            else:  # band moved up: levels join at the top
                band.ask_lots += book.depth_between(Side.SELL, old_ceiling + 1, ceiling_ticks + 1)
            band.ask_ceiling_ticks = ceiling_ticks

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
