"""Avellaneda-Stoikov (2008): quotes around a reservation price, calibrated online.

With prices in bps of the mid, time in seconds and the inventory q in units
of the order size (so gamma, in 1 / (bps * order), means the same on any
symbol)::

    reservation = mid - q * gamma * sigma^2 * tau
    spread      = gamma * sigma^2 * tau + (2 / gamma) * ln(1 + gamma / k)
    bid = reservation - spread / 2        ask = reservation + spread / 2

``sigma`` (bps / sqrt(s)) is an EWMA of one-second log-returns of the mid;
``k`` (1 / bps) comes from ``lambda(delta) = A * exp(-k * delta)`` fitted to
the market's own trades (``host.estimators.IntensityEstimator``: market
orders reaching each depth bucket per second, log-linear least squares).
``tau`` is ``horizon_s`` (the time-invariant form, for a market that never
closes) or, with ``finite_horizon``, the time left in a session of
``horizon_s`` that restarts when it ends.

Safety: no quote before the warm-up (``warmup_s`` and enough market orders
for a fit); k and A clamped in the estimator; each quote's distance from the
mid clamped to ``[min_half_spread_bps, max_half_spread_bps]`` (the
reservation shift too), never through the touch. At ``max_position_quote``
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
    avellaneda_stoikov_reservation_price,
    avellaneda_stoikov_spread,
    quotes_within_limits,
)
from host.models import OrderStatus

NS_PER_S = 1_000_000_000


class AvellanedaStoikovParams(StrategyParams):
    order_size_quote: Decimal = Field(
        Decimal("500"), gt=0, description="Size of each quote in quote currency (USDT)."
    )
    gamma: float = Field(
        0.05,
        gt=0,
        le=100,
        description="Risk aversion, 1 / (bps * order): larger = wider and more inventory skew.",
    )
    horizon_s: float = Field(
        30.0, gt=0, le=86_400, description="Time horizon tau = T - t of the model, seconds."
    )
    finite_horizon: bool = Field(
        False,
        description="Count tau down to 0 over sessions of horizon_s (else tau = horizon_s always).",
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
    def _clamps_in_order(self) -> AvellanedaStoikovParams:
        if self.min_half_spread_bps > self.max_half_spread_bps:
            raise ValueError("min_half_spread_bps must be <= max_half_spread_bps")
        return self


class AvellanedaStoikov(Strategy):
    name = "avellaneda_stoikov"
    Params = AvellanedaStoikovParams
    params: AvellanedaStoikovParams
    state_version = 1

    def __init__(self, ctx: Any, params: AvellanedaStoikovParams) -> None:
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
        self.session_start_ns = 0  # first event seen: sessions of finite_horizon count from it

    def time_left_s(self, now_ns: int) -> float:
        horizon_s = self.params.horizon_s
        if not self.params.finite_horizon:
            return horizon_s
        elapsed_s = (now_ns - self.session_start_ns) / NS_PER_S
        return horizon_s - elapsed_s % horizon_s

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
        tau_s = self.time_left_s(self.ctx.now_ns())

        # Model in bps relative to the mid (mid = 0).
        reservation_bps = avellaneda_stoikov_reservation_price(
            0.0, inventory_orders, params.gamma, sigma, tau_s
        )
        half_spread_bps = avellaneda_stoikov_spread(params.gamma, sigma, tau_s, fit.k) / 2
        low, high = params.min_half_spread_bps, params.max_half_spread_bps
        reservation_bps = max(-high, min(high, reservation_bps))
        bid_depth_bps = min(max(half_spread_bps - reservation_bps, low), high)
        ask_depth_bps = min(max(half_spread_bps + reservation_bps, low), high)
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
        now_ns = self.ctx.now_ns()
        if not self.session_start_ns:
            self.session_start_ns = now_ns
        self.estimates.observe_book(now_ns, book.mid_ticks())
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
        # The inventory moved the reservation price: requote both sides now.
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
            "session_start_ns": self.session_start_ns,
            "sent_quotes": self.hysteresis.to_state(),
        }

    def on_load(self, state: dict[str, Any]) -> None:
        if "estimates" in state:
            self.estimates.load_state(state["estimates"])
        self.session_start_ns = int(state.get("session_start_ns", 0))
        self.hysteresis.load_state(state.get("sent_quotes"))
