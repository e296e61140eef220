"""GLFT: Gueant-Lehalle-Fernandez-Tapia (2013) closed-form quotes, calibrated online.

The asymptotic (time-invariant) approximation of the optimal quotes for a
market maker with CARA risk aversion gamma and inventory limits (Gueant
2017, "Optimal market making"). With prices in bps of the mid, time in
seconds, the inventory q in units of the order size (D = 1) and xi = gamma::

    c1 = 1 / (xi * D) * ln(1 + xi * D / k)
    c2 = sqrt(gamma / (2 * A * D * k) * (1 + xi * D / k) ** (k / (xi * D) + 1))
    bid depth = spread_multiplier * (c1 + D / 2 * sigma * c2) + skew_multiplier * q * sigma * c2
    ask depth = spread_multiplier * (c1 + D / 2 * sigma * c2) - skew_multiplier * q * sigma * c2

Unlike Avellaneda-Stoikov there is no horizon: the spread does not depend on
time, and both A and k enter (A only through the inventory skew c2).

``sigma`` (bps / sqrt(s)) is an EWMA of one-second log-returns of the mid;
A (market orders / s) and k (1 / bps) come from ``lambda(delta) = A *
exp(-k * delta)`` fitted to the market's own trades
(``host.estimators.IntensityEstimator``: market orders reaching each depth
bucket per second, log-linear least squares). ``spread_multiplier`` and
``skew_multiplier`` (1 = the model) scale the two terms, as desks commonly do.

Safety: no quote before the warm-up (``warmup_s`` and enough market orders
for a fit); k and A clamped in the estimator; each quote's distance from the
mid clamped to ``[min_half_spread_bps, max_half_spread_bps]``, never through
the touch. At ``max_position_quote``
the side that would add to the position is dropped. Requotes go through
``QuoteHysteresis`` (price moved > ``requote_threshold_ticks`` or size
changed > ``requote_size_change_pct``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from host import Decision, Fill, OrderUpdate, Quote, Strategy, StrategyParams, Trade
from host.estimators import (
    EwmaVolatility,
    IntensityEstimator,
    MarketEstimates,
    QuoteHysteresis,
    glft_coefficients,
    glft_depths,
    quotes_within_limits,
)
from host.models import OrderStatus


class GlftParams(StrategyParams):
    order_size_quote: Decimal = Field(
        Decimal("500"), gt=0, description="Size of each quote in quote currency (USDT)."
    )
    gamma: float = Field(
        0.05,
        gt=0,
        le=100,
        description="Risk aversion, 1 / (bps * order): larger = wider and more inventory skew.",
    )
    spread_multiplier: float = Field(
        1.0, gt=0, le=100, description="Scales the half-spread term (1 = the model's)."
    )
    skew_multiplier: float = Field(
        1.0, ge=0, le=100, description="Scales the inventory skew term (1 = the model's)."
    )
    max_position_quote: Decimal = Field(
        Decimal("5000"),
        gt=0,
        description="Position limit in quote currency: at it, the side that would add is dropped.",
    )
    volatility_time_constant_s: float = Field(
        60.0, gt=0, le=86_400, description="EWMA time constant of the volatility estimate, seconds."
    )
    intensity_bucket_bps: float = Field(
        0.1, gt=0, le=100, description="Width of the depth buckets of the intensity fit, bps."
    )
    intensity_bucket_count: int = Field(
        20, ge=3, le=500, description="Number of depth buckets of the intensity fit."
    )
    intensity_half_life_s: float = Field(
        600.0, gt=0, description="Half-life of the market orders counted by the intensity fit, s."
    )
    warmup_s: float = Field(
        30.0, ge=1, le=86_400, description="No quotes before this much market time was observed."
    )
    min_half_spread_bps: float = Field(
        0.0, ge=0, le=1000, description="Lower clamp on each quote's distance from mid, bps."
    )
    max_half_spread_bps: float = Field(
        10.0, gt=0, le=10_000, description="Upper clamp on each quote's distance from mid, bps."
    )
    requote_threshold_ticks: int = Field(
        2, ge=0, description="Keep a resting quote until its wanted price moved more than this."
    )
    requote_size_change_pct: float = Field(
        25.0, ge=0, description="Keep a resting quote until its wanted size changed more than this."
    )
    post_only: bool = Field(True, description="Quotes are PostOnly (never take liquidity).")

    @model_validator(mode="after")
    def _clamps_in_order(self) -> GlftParams:
        if self.min_half_spread_bps > self.max_half_spread_bps:
            raise ValueError("min_half_spread_bps must be <= max_half_spread_bps")
        return self


class Glft(Strategy):
    name = "glft"
    Params = GlftParams
    params: GlftParams
    state_version = 1

    def __init__(self, ctx: Any, params: GlftParams) -> None:
        super().__init__(ctx, params)
        self.estimates = MarketEstimates(
            EwmaVolatility(time_constant_s=params.volatility_time_constant_s, step_ms=1000),
            IntensityEstimator(
                bucket_width=params.intensity_bucket_bps,
                bucket_count=params.intensity_bucket_count,
                half_life_s=params.intensity_half_life_s,
                warmup_s=params.warmup_s,
            ),
        )
        self.hysteresis = QuoteHysteresis(
            params.requote_threshold_ticks, params.requote_size_change_pct
        )

    # -- quoting ---------------------------------------------------------------------------------

    def wanted_quotes(self, book: Any) -> list[Quote] | None:
        params = self.params
        mid_ticks = book.mid_ticks()
        if mid_ticks is None or not self.estimates.ready:
            return None
        fit = self.estimates.intensity_fit()
        if fit is None:
            return None
        instrument = self.ctx.instrument
        size_lots = instrument.lots_for_notional(params.order_size_quote, round(mid_ticks))
        if size_lots < instrument.min_qty_lots:
            return []
        max_lots = instrument.lots_for_notional(params.max_position_quote, round(mid_ticks))
        position_lots = self.ctx.position.size_lots
        inventory_orders = position_lots / size_lots
        sigma = self.estimates.sigma_bps_per_sqrt_s()

        # Depths in bps from the mid; the model's terms, then the desk's multipliers.
        c1, c2 = glft_coefficients(params.gamma, fit.a_per_s, fit.k)
        half_spread_bps, _ = glft_depths(c1, c2, sigma, 0.0)
        skew_bps = sigma * c2 * inventory_orders
        half_spread_bps *= params.spread_multiplier
        skew_bps *= params.skew_multiplier
        low, high = params.min_half_spread_bps, params.max_half_spread_bps
        bid_depth_bps = min(max(half_spread_bps + skew_bps, low), high)
        ask_depth_bps = min(max(half_spread_bps - skew_bps, low), high)
        ticks_per_bps = mid_ticks / 10_000

        return quotes_within_limits(
            mid_ticks - bid_depth_bps * ticks_per_bps,
            mid_ticks + ask_depth_bps * ticks_per_bps,
            size_lots,
            position_lots,
            max_lots,
            book,
            params.post_only,
        )

    def decide(self, book: Any) -> Decision | None:
        wanted = self.wanted_quotes(book)
        if wanted is None:
            return None
        quotes = self.hysteresis.filter(wanted)
        return None if quotes is None else Decision(quotes=quotes)

    # -- handlers --------------------------------------------------------------------------------

    def on_book(self, book: Any) -> Decision | None:
        self.estimates.observe_book(self.ctx.now_ns(), book.mid_ticks())
        return self.decide(book)

    def on_trade(self, trade: Trade) -> Decision | None:
        self.estimates.observe_trade(
            self.ctx.now_ns(),
            trade.ts_exchange_ns,
            trade.aggressor,
            trade.price_ticks,
            self.ctx.book.mid_ticks(),
        )
        return None

    def on_fill(self, fill: Fill) -> Decision | None:
        # The inventory moved the skew: requote both sides now.
        self.hysteresis.reset()
        return self.decide(self.ctx.book)

    def on_order_update(self, update: OrderUpdate) -> Decision | None:
        if update.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            self.hysteresis.reset()
        return None

    # -- hot reload ------------------------------------------------------------------------------

    def on_save(self) -> dict[str, Any]:
        return {
            "version": self.state_version,
            "estimates": self.estimates.to_state(),
            "sent_quotes": self.hysteresis.to_state(),
        }

    def on_load(self, state: dict[str, Any]) -> None:
        if "estimates" in state:
            self.estimates.load_state(state["estimates"])
        self.hysteresis.load_state(state.get("sent_quotes"))
