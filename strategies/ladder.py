"""Ladder: N quotes per side at growing distances and sizes, moved with amends.

Level i (1 .. levels) of each side rests at ``distance_i`` bps from mid::

    linear:    distance_i = first_level_bps + (i - 1) * level_spacing_bps
    geometric: distance_i = first_level_bps + level_spacing_bps * (r^(i-1) - 1) / (r - 1)
               (gaps grow by r = spacing_ratio per level)

and is worth ``size_i`` in quote currency::

    flat:      size_i = order_size_quote
    linear:    size_i = order_size_quote * (1 + size_step * (i - 1))
    geometric: size_i = order_size_quote * size_ratio^(i - 1)

Bids round down and asks up to whole ticks, never through the touch; two
levels that land on one tick are kept apart by a tick. Tags are stable per
level (``bid1`` .. ``bidN``, ``ask1`` .. ``askN``), so when the ladder moves the
OMS amends each order in place rather than cancelling and re-placing it.
A level is requoted only when its price moved more than
``requote_threshold_ticks`` (or its size more than ``requote_size_change_pct``).

Inventory: levels that would take the position past ``max_position_quote``
(counting the levels nearer the mid as filled first) are not quoted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from host import Quote, Side, StrategyParams
from host.estimators import ceil_ask_ticks, floor_bid_ticks
from host.quoting import HysteresisQuoter


class LadderParams(StrategyParams):
    levels: int = Field(5, ge=1, le=20, description="Quotes per side.")
    first_level_bps: float = Field(
        0.2, ge=0, le=1000, description="Distance of the nearest level from mid, bps."
    )
    level_spacing_bps: float = Field(
        0.5, gt=0, le=1000, description="Gap between levels 1 and 2, bps."
    )
    spacing_progression: Literal["linear", "geometric"] = Field(
        "linear",
        description="linear: equal gaps; geometric: each gap spacing_ratio times the last.",
    )
    spacing_ratio: float = Field(
        1.5, ge=1, le=10, description="Growth of the gap per level (geometric spacing)."
    )
    order_size_quote: Decimal = Field(
        Decimal("200"), gt=0, description="Size of level 1 in quote currency (USDT)."
    )
    size_progression: Literal["flat", "linear", "geometric"] = Field(
        "linear",
        description="flat: every level the same; linear: + size_step x level 1 per level; "
        "geometric: x size_ratio per level.",
    )
    size_step: float = Field(
        0.5, ge=0, le=100, description="Linear size growth per level, as a fraction of level 1."
    )
    size_ratio: float = Field(1.5, ge=1, le=10, description="Geometric size growth per level.")
    max_position_quote: Decimal = Field(
        Decimal("10000"),
        gt=0,
        description="Position limit in quote currency: levels that could pass it are dropped.",
    )
    requote_threshold_ticks: int = Field(
        3, ge=0, description="Keep a resting level until its wanted price moved more than this."
    )
    requote_size_change_pct: float = Field(
        25.0, ge=0, description="Keep a resting level until its wanted size changed more than this."
    )
    post_only: bool = Field(True, description="Quotes are PostOnly (never take liquidity).")


class Ladder(HysteresisQuoter):
    name = "ladder"
    Params = LadderParams
    params: LadderParams

    def __init__(self, ctx: Any, params: LadderParams) -> None:
        super().__init__(ctx, params)
        self.distances_bps = self.level_distances_bps(params)
        self.size_factors = self.level_size_factors(params)

    # -- the ladder's shape (pure functions of the parameters) ----------------------------------

    @staticmethod
    def level_distances_bps(params: LadderParams) -> list[float]:
        distances: list[float] = []
        distance = params.first_level_bps
        gap = params.level_spacing_bps
        for _ in range(params.levels):
            distances.append(distance)
            distance += gap
            if params.spacing_progression == "geometric":
                gap *= params.spacing_ratio
        return distances

    @staticmethod
    def level_size_factors(params: LadderParams) -> list[float]:
        """Size of each level as a multiple of level 1."""
        if params.size_progression == "flat":
            return [1.0] * params.levels
        if params.size_progression == "linear":
            return [1.0 + params.size_step * level for level in range(params.levels)]
        return [params.size_ratio**level for level in range(params.levels)]

    # -- quoting ---------------------------------------------------------------------------------

    def wanted_quotes(self, book: Any) -> list[Quote] | None:
        params = self.params
        mid_ticks = book.mid_ticks()
        if mid_ticks is None:
            return None
        instrument = self.ctx.instrument
        price_ticks = round(mid_ticks)
        max_lots = instrument.lots_for_notional(params.max_position_quote, price_ticks)
        position_lots = self.ctx.position.size_lots
        ticks_per_bps = mid_ticks / 10_000
        quotes: list[Quote] = []
        for side in (Side.BUY, Side.SELL):
            # Room left before the limit on this side, if every nearer level filled.
            room_lots = max_lots - int(side) * position_lots
            previous_ticks: int | None = None
            for level, (distance_bps, factor) in enumerate(
                zip(self.distances_bps, self.size_factors, strict=True), start=1
            ):
                notional = params.order_size_quote * Decimal(repr(factor))
                size_lots = instrument.lots_for_notional(notional, price_ticks)
                if size_lots < instrument.min_qty_lots or size_lots > room_lots:
                    break
                room_lots -= size_lots
                offset_ticks = distance_bps * ticks_per_bps
                if side is Side.BUY:
                    level_ticks = floor_bid_ticks(mid_ticks - offset_ticks, book.best_ask_ticks)
                    if previous_ticks is not None:
                        level_ticks = min(level_ticks, previous_ticks - 1)
                    tag = f"bid{level}"
                else:
                    level_ticks = ceil_ask_ticks(mid_ticks + offset_ticks, book.best_bid_ticks)
                    if previous_ticks is not None:
                        level_ticks = max(level_ticks, previous_ticks + 1)
                    tag = f"ask{level}"
                if level_ticks <= 0:
                    break
                previous_ticks = level_ticks
                quotes.append(Quote(side, level_ticks, size_lots, tag, params.post_only))
        return quotes
