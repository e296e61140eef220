"""Liquidity clusters ("walls"): levels far larger than their neighbours.

Per side, the best ``depth_levels`` levels (K) are the neighbourhood. Their
median size is the local median; a level is a wall when

    size_lots >= size_multiple * local_median  and  size_lots >= min_size_lots.

A wall's persistence is how long its price has stayed a wall without a break
(``first_seen`` is the first message that found it; a level that stops being a
wall and comes back starts again). Its distance is measured from the same
side's touch, in ticks (0 = the wall is the best level).

Signals, for the wall nearest the touch on each side (``bid`` / ``ask``):

- ``wall_bid_distance_ticks``: best bid - wall price (asks: wall - best ask);
  -1 when the side has no wall within K levels.
- ``wall_bid_size_lots``, ``wall_bid_size_to_median`` (0 without a wall).
- ``wall_bid_age_s``: seconds since the wall was first seen (0 without one).
- ``wall_bid_count``: walls within K levels.

``walls(venue, symbol)`` returns every current wall with that evidence.

Cost: the K levels of a side are read (``OrderBook.top_of_book``, two lists)
only when the message changed a level within them (at or better than the K-th
price last read); ages are refreshed on every message from the stored
first-seen times.

Settings (``[plugins.liquidity_walls]``): see ``WallSettings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import compress
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from host import Side, hookimpl

if TYPE_CHECKING:
    from host import BookMessage, Context
    from host.book import OrderBook

PLUGIN_NAME = __name__.rpartition(".")[2]


class PluginSettingsError(ValueError):
    """A ``[plugins.<name>]`` table has an unknown key or a bad value."""


class WallSettings(BaseModel):
    """``[plugins.liquidity_walls]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    depth_levels: int = Field(
        20, ge=3, description="K: levels per side scanned; also the median's neighbourhood."
    )
    size_multiple: float = Field(
        5.0, gt=1, description="A wall holds at least this multiple of the local median."
    )
    min_size_lots: int = Field(1, ge=1, description="A wall holds at least this many lots.")


def load_settings(raw: Mapping[str, Any]) -> WallSettings:
    """Validate the plugin's config table; errors name the key."""
    try:
        return WallSettings.model_validate(dict(raw))
    except ValidationError as error:
        raise PluginSettingsError(describe_settings_error(error, WallSettings)) from None


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


@dataclass(frozen=True, slots=True)
class Wall:
    """One wall as of the latest message."""

    side: Side
    price_ticks: int
    size_lots: int
    distance_ticks: int
    size_to_median: float
    first_seen_ns: int
    age_s: float


class _SideState:
    __slots__ = (
        "age_name",
        "boundary_ticks",
        "count_name",
        "distance_name",
        "first_seen_ns",
        "median_lots",
        "nearest_price_ticks",
        "ratio_name",
        "side",
        "size_name",
        "sizes",
        "touch_ticks",
    )

    def __init__(self, side: Side) -> None:
        label = "bid" if side is Side.BUY else "ask"
        self.side = side
        self.distance_name = f"wall_{label}_distance_ticks"
        self.size_name = f"wall_{label}_size_lots"
        self.ratio_name = f"wall_{label}_size_to_median"
        self.age_name = f"wall_{label}_age_s"
        self.count_name = f"wall_{label}_count"
        self.boundary_ticks = 0  # K-th price at the last read; 0 forces a read
        self.first_seen_ns: dict[int, int] = {}  # wall price -> first seen
        self.sizes: dict[int, int] = {}  # wall price -> lots at the last read
        self.median_lots = 0.0
        self.nearest_price_ticks = 0  # 0: no wall
        self.touch_ticks = 0  # the side's best price at the last read


class WallAnalyzer:
    """Per-instrument walls; the module registers one instance."""

    def __init__(self, settings: WallSettings | None = None) -> None:
        self.configure(settings or WallSettings())

    def configure(self, settings: WallSettings) -> None:
        self.settings = settings
        self.states: dict[tuple[str, str], tuple[_SideState, _SideState]] = {}

    @hookimpl
    def mmhost_startup(self, engine: Any) -> None:
        self.configure(load_settings(engine.config.plugins.get(PLUGIN_NAME, {})))

    def walls(self, venue: str, symbol: str, now_ns: int | None = None) -> list[Wall]:
        """Current walls of both sides, nearest the touch first per side."""
        sides = self.states.get((venue, symbol))
        if sides is None:
            return []
        found = []
        for side_state in sides:
            touch = side_state.touch_ticks
            ordered = sorted(side_state.sizes, reverse=side_state.side is Side.BUY)
            for price in ordered:
                first_seen = side_state.first_seen_ns[price]
                size = side_state.sizes[price]
                found.append(
                    Wall(
                        side=side_state.side,
                        price_ticks=price,
                        size_lots=size,
                        distance_ticks=abs(touch - price),
                        size_to_median=size / side_state.median_lots
                        if side_state.median_lots
                        else 0.0,
                        first_seen_ns=first_seen,
                        age_s=0.0 if now_ns is None else (now_ns - first_seen) / 1e9,
                    )
                )
        return found

    @hookimpl
    def mmhost_book_updated(self, book: OrderBook, message: BookMessage, ctx: Context) -> None:
        key = (ctx.venue, ctx.symbol)
        sides = self.states.get(key)
        if sides is None or message.is_snapshot:
            sides = (_SideState(Side.BUY), _SideState(Side.SELL))
            self.states[key] = sides
        bid_state, ask_state = sides
        ts_ns = message.ts_local_ns
        # max/min compare (price, size) pairs in C: the best changed price.
        boundary = bid_state.boundary_ticks
        if boundary and message.bids and max(message.bids)[0] >= boundary:
            bid_state.boundary_ticks = 0
        boundary = ask_state.boundary_ticks
        if boundary and message.asks and min(message.asks)[0] <= boundary:
            ask_state.boundary_ticks = 0
        signals = ctx.signals
        if not bid_state.boundary_ticks:
            self._rescan(bid_state, book, book.best_bid_ticks, signals, ts_ns)
        if not ask_state.boundary_ticks:
            self._rescan(ask_state, book, book.best_ask_ticks, signals, ts_ns)
        nearest = bid_state.nearest_price_ticks
        age_s = (ts_ns - bid_state.first_seen_ns[nearest]) / 1e9 if nearest else 0.0
        signals.set(bid_state.age_name, age_s, ts_ns)
        nearest = ask_state.nearest_price_ticks
        age_s = (ts_ns - ask_state.first_seen_ns[nearest]) / 1e9 if nearest else 0.0
        signals.set(ask_state.age_name, age_s, ts_ns)

    def _rescan(
        self, side_state: _SideState, book: OrderBook, touch: int, signals: Any, ts_ns: int
    ) -> None:
        """Read the K levels again; write the side's signals if anything changed."""
        before = (side_state.nearest_price_ticks, len(side_state.sizes), side_state.touch_ticks)
        nearest_size = side_state.sizes.get(side_state.nearest_price_ticks, 0)
        self._scan(side_state, book, ts_ns)
        nearest = side_state.nearest_price_ticks
        size = side_state.sizes.get(nearest, 0)
        # Most rescans find the same walls: write only what changed.
        if (
            before != (nearest, len(side_state.sizes), touch)
            or size != nearest_size
            or side_state.distance_name not in signals
        ):
            if nearest:
                signals.set(side_state.distance_name, float(abs(touch - nearest)), ts_ns)
                signals.set(side_state.size_name, float(size), ts_ns)
                signals.set(side_state.ratio_name, size / side_state.median_lots, ts_ns)
            else:
                signals.set(side_state.distance_name, -1.0, ts_ns)
                signals.set(side_state.size_name, 0.0, ts_ns)
                signals.set(side_state.ratio_name, 0.0, ts_ns)
            signals.set(side_state.count_name, float(len(side_state.sizes)), ts_ns)

    def _scan(self, side_state: _SideState, book: OrderBook, ts_ns: int) -> None:
        settings = self.settings
        depth = settings.depth_levels
        prices, sizes = book.top_of_book(side_state.side, depth)
        side_state.touch_ticks = prices[0] if prices else 0
        # Thin book: any change may matter; read again next time.
        side_state.boundary_ticks = prices[-1] if len(prices) == depth else 0
        if not prices:
            side_state.median_lots = 0.0
            side_state.first_seen_ns = {}
            side_state.sizes = {}
            side_state.nearest_price_ticks = 0
            return
        ordered = sorted(sizes)
        count = len(ordered)
        middle = count // 2
        median = ordered[middle] if count % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        side_state.median_lots = median
        threshold = max(settings.size_multiple * median, settings.min_size_lots)
        if ordered[-1] < threshold:  # the usual answer: no wall at all
            if side_state.sizes:
                side_state.first_seen_ns = {}
                side_state.sizes = {}
            side_state.nearest_price_ticks = 0
            return
        # Best first, so the first wall (dicts keep insertion order) is the
        # nearest. Built by C iterators: this runs on most messages.
        walls = dict(compress(zip(prices, sizes, strict=True), map(threshold.__le__, sizes)))
        if walls.keys() != side_state.sizes.keys():  # a wall came or went
            previous_first_seen = side_state.first_seen_ns
            side_state.first_seen_ns = {
                price: previous_first_seen.get(price, ts_ns) for price in walls
            }
        side_state.sizes = walls
        side_state.nearest_price_ticks = next(iter(walls))


analyzer = WallAnalyzer()
mmhost_startup = analyzer.mmhost_startup
mmhost_book_updated = analyzer.mmhost_book_updated
walls = analyzer.walls
