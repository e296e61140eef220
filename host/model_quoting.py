"""What the model-based quoters (Avellaneda-Stoikov, GLFT) share.

Both quote one order size around the mid at depths a closed-form model gives
from three online estimates: sigma (an EWMA of one-second log-returns of the
mid, bps / sqrt(s)) and A, k of the intensity fit ``lambda(delta) = A *
exp(-k * delta)`` (``host.estimators``). Everything but the model is the same:
the parameters below, the warm-up, the size and position limits, clamping
each depth to ``[min_half_spread_bps, max_half_spread_bps]``, requote
hysteresis (``host.quoting``), and the estimates carried over a hot reload.
A strategy file subclasses ``ModelQuoter`` and writes only ``depths_bps``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field, model_validator

from host.estimators import (
    EwmaVolatility,
    IntensityEstimator,
    IntensityFit,
    MarketEstimates,
    quotes_within_limits,
)
from host.models import Decision, Quote, Trade
from host.quoting import HysteresisQuoter
from host.strategy import StrategyParams


class ModelQuoterParams(StrategyParams):
    order_size_quote: Decimal = Field(
        Decimal("500"), gt=0, description="Size of each quote in quote currency (USDT)."
    )
    gamma: float = Field(
        0.05,
        gt=0,
        le=100,
        description="Risk aversion, 1 / (bps * order): larger = wider and more inventory skew.",
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
    def _clamps_in_order(self) -> ModelQuoterParams:
        if self.min_half_spread_bps > self.max_half_spread_bps:
            raise ValueError("min_half_spread_bps must be <= max_half_spread_bps")
        return self


class ModelQuoter(HysteresisQuoter):
    """Quotes at the depths ``depths_bps`` returns; see the module docstring."""

    Params: ClassVar[type[StrategyParams]] = ModelQuoterParams
    params: ModelQuoterParams

    def __init__(self, ctx: Any, params: ModelQuoterParams) -> None:
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

    def depths_bps(
        self, sigma: float, fit: IntensityFit, inventory_orders: float
    ) -> tuple[float, float]:
        """The model's bid and ask distances from the mid, bps, before the
        clamps. ``inventory_orders``: the position in order sizes."""
        raise NotImplementedError

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
        bid_depth_bps, ask_depth_bps = self.depths_bps(
            self.estimates.sigma_bps_per_sqrt_s(), fit, position_lots / size_lots
        )
        low, high = params.min_half_spread_bps, params.max_half_spread_bps
        bid_depth_bps = min(max(bid_depth_bps, low), high)
        ask_depth_bps = min(max(ask_depth_bps, low), high)
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

    # -- handlers --------------------------------------------------------------------------------

    def on_book(self, book: Any) -> Decision | None:
        self.estimates.observe_book(self.ctx.now_ns(), book.mid_ticks())
        return super().on_book(book)

    def on_trade(self, trade: Trade) -> Decision | None:
        self.estimates.observe_trade(
            self.ctx.now_ns(),
            trade.ts_exchange_ns,
            trade.aggressor,
            trade.price_ticks,
            self.ctx.book.mid_ticks(),
        )
        return None

    # -- hot reload ------------------------------------------------------------------------------

    def on_save(self) -> dict[str, Any]:
        return {**super().on_save(), "estimates": self.estimates.to_state()}

    def on_load(self, state: dict[str, Any]) -> None:
        if "estimates" in state:
            self.estimates.load_state(state["estimates"])
        super().on_load(state)
