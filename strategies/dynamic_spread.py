"""Dynamic spread: a bid and an ask whose distance follows volatility, liquidity and inventory.

Half-spread in bps of mid, per side::

    half = base_half_spread_bps
         + volatility_multiplier * volatility_bps            (move over volatility_horizon_s)
         + liquidity_widening_bps * max(0, 1 - depth_quote / liquidity_reference_quote)
         + inventory_widening_bps * share   on the side that would add to the position
    centre = mid - inventory_skew_bps * share * mid / 10_000 (in ticks)

``share = position / max_position`` (-1 .. 1), ``depth_quote`` = what rests
within ``liquidity_band_bps`` of each touch, both sides, in quote currency.
``volatility_bps`` is the ``volatility_bps_<H>s`` signal of the volatility
analyzer when it is loaded, else the strategy's own EWMA (same definition).
Each half-spread is clamped to ``max_half_spread_bps``; bids round down and
asks up, and neither crosses the touch (PostOnly would be refused).

At ``max_position_quote`` the side that would add to the position is not
quoted. Requoting is continuous but with hysteresis: a resting quote is kept
until the wanted price moved more than ``requote_threshold_ticks`` or the
wanted size changed more than ``requote_size_change_pct`` (no amend spam).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from host import Decision, Quote, Side, StrategyParams
from host.estimators import EwmaVolatility, quotes_within_limits
from host.quoting import HysteresisQuoter


class DynamicSpreadParams(StrategyParams):
    order_size_quote: Decimal = Field(
        Decimal("500"), gt=0, description="Size of each quote in quote currency (USDT)."
    )
    base_half_spread_bps: float = Field(
        0.05, ge=0, le=1000, description="Distance of each quote from mid before any widening, bps."
    )
    volatility_multiplier: float = Field(
        0.1,
        ge=0,
        le=100,
        description="Half-spread added per bps of volatility over volatility_horizon_s.",
    )
    volatility_horizon_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Horizon of the volatility used (reads the volatility_bps_<H>s signal).",
    )
    use_volatility_signal: bool = Field(
        True, description="Use the volatility analyzer's signal when present (else own EWMA)."
    )
    liquidity_band_bps: float = Field(
        2.0, gt=0, le=1000, description="Depth is measured within this distance of each touch, bps."
    )
    liquidity_reference_quote: Decimal = Field(
        Decimal("1000000"),
        gt=0,
        description="Depth within the band (both sides, quote currency) at which no widening "
        "applies; a thinner book widens linearly.",
    )
    liquidity_widening_bps: float = Field(
        0.2, ge=0, le=1000, description="Half-spread added when the band is empty, bps."
    )
    inventory_skew_bps: float = Field(
        0.3,
        ge=0,
        le=1000,
        description="Both quotes shift this far against the position at max_position_quote, bps.",
    )
    inventory_widening_bps: float = Field(
        0.1,
        ge=0,
        le=1000,
        description="Half-spread added on the side that would add to the position, at the "
        "limit (proportional below it), bps.",
    )
    max_position_quote: Decimal = Field(
        Decimal("5000"),
        gt=0,
        description="Position limit in quote currency: at it, the side that would add is dropped.",
    )
    max_half_spread_bps: float = Field(
        20.0, gt=0, le=10_000, description="Clamp on each quote's distance from mid, bps."
    )
    requote_threshold_ticks: int = Field(
        2, ge=0, description="Keep a resting quote until its wanted price moved more than this."
    )
    requote_size_change_pct: float = Field(
        25.0, ge=0, description="Keep a resting quote until its wanted size changed more than this."
    )
    post_only: bool = Field(True, description="Quotes are PostOnly (never take liquidity).")


class DynamicSpread(HysteresisQuoter):
    name = "dynamic_spread"
    Params = DynamicSpreadParams
    params: DynamicSpreadParams

    def __init__(self, ctx: Any, params: DynamicSpreadParams) -> None:
        super().__init__(ctx, params)
        # 100 ms steps as the volatility analyzer, so own estimate and signal agree.
        self.volatility = EwmaVolatility(
            time_constant_s=params.volatility_horizon_s, step_ms=100, warmup_samples=20
        )
        self.signal_name = f"volatility_bps_{params.volatility_horizon_s:g}s"

    # -- inputs ----------------------------------------------------------------------------------

    def volatility_bps(self) -> float | None:
        """Move of the mid over the horizon, bps; None while nothing is known yet."""
        if self.params.use_volatility_signal:
            value = self.ctx.signals.get(self.signal_name)
            if value is not None:
                return value
        if not self.volatility.ready:
            return None
        return self.volatility.volatility_bps(self.params.volatility_horizon_s)

    def depth_quote(self, book: Any, mid_ticks: float) -> float:
        """Quote currency resting within the band of both touches (float: a width input)."""
        band_bps = self.params.liquidity_band_bps
        lots = book.depth_within_bps(Side.BUY, band_bps) + book.depth_within_bps(
            Side.SELL, band_bps
        )
        instrument = self.ctx.instrument
        return lots * float(instrument.lot_size * instrument.tick_size) * mid_ticks

    # -- quoting ---------------------------------------------------------------------------------

    def wanted_quotes(self, book: Any) -> list[Quote] | None:
        params = self.params
        mid_ticks = book.mid_ticks()
        if mid_ticks is None:
            return None
        volatility_bps = self.volatility_bps()
        if volatility_bps is None:
            return None
        instrument = self.ctx.instrument
        size_lots = instrument.lots_for_notional(params.order_size_quote, round(mid_ticks))
        if size_lots < instrument.min_qty_lots:
            return []
        max_lots = instrument.lots_for_notional(params.max_position_quote, round(mid_ticks))
        position_lots = self.ctx.position.size_lots
        share = max(-1.0, min(1.0, position_lots / max_lots)) if max_lots > 0 else 0.0

        reference = float(params.liquidity_reference_quote)
        thinness = max(0.0, 1.0 - self.depth_quote(book, mid_ticks) / reference)
        half_bps = (
            params.base_half_spread_bps
            + params.volatility_multiplier * volatility_bps
            + params.liquidity_widening_bps * thinness
        )
        # Long (share > 0): the bid adds, so it widens; short: the ask does.
        bid_half_bps = half_bps + params.inventory_widening_bps * max(share, 0.0)
        ask_half_bps = half_bps + params.inventory_widening_bps * max(-share, 0.0)
        bid_half_bps = min(bid_half_bps, params.max_half_spread_bps)
        ask_half_bps = min(ask_half_bps, params.max_half_spread_bps)
        ticks_per_bps = mid_ticks / 10_000
        centre_ticks = mid_ticks - params.inventory_skew_bps * share * ticks_per_bps

        return quotes_within_limits(
            centre_ticks - bid_half_bps * ticks_per_bps,
            centre_ticks + ask_half_bps * ticks_per_bps,
            size_lots,
            position_lots,
            max_lots,
            book,
            params.post_only,
        )

    # -- handlers --------------------------------------------------------------------------------

    def on_book(self, book: Any) -> Decision | None:
        mid_ticks = book.mid_ticks()
        if mid_ticks is not None:
            self.volatility.update(self.ctx.now_ns(), mid_ticks)
        return super().on_book(book)

    # -- hot reload ------------------------------------------------------------------------------

    def on_save(self) -> dict[str, Any]:
        return {**super().on_save(), "volatility": self.volatility.to_state()}

    def on_load(self, state: dict[str, Any]) -> None:
        if "volatility" in state:
            self.volatility.load_state(state["volatility"])
        super().on_load(state)
