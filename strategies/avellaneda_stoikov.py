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

from typing import Any

from pydantic import Field

from host import Decision
from host.estimators import (
    IntensityFit,
    avellaneda_stoikov_reservation_price,
    avellaneda_stoikov_spread,
)
from host.model_quoting import ModelQuoter, ModelQuoterParams

NS_PER_S = 1_000_000_000


class AvellanedaStoikovParams(ModelQuoterParams):
    horizon_s: float = Field(
        30.0, gt=0, le=86_400, description="Time horizon tau = T - t of the model, seconds."
    )
    finite_horizon: bool = Field(
        False,
        description="Count tau down to 0 over sessions of horizon_s (else tau = horizon_s always).",
    )


class AvellanedaStoikov(ModelQuoter):
    name = "avellaneda_stoikov"
    Params = AvellanedaStoikovParams
    params: AvellanedaStoikovParams

    def __init__(self, ctx: Any, params: AvellanedaStoikovParams) -> None:
        super().__init__(ctx, params)
        self.session_start_ns = 0  # first event seen: sessions of finite_horizon count from it

    def time_left_s(self, now_ns: int) -> float:
        horizon_s = self.params.horizon_s
        if not self.params.finite_horizon:
            return horizon_s
        elapsed_s = (now_ns - self.session_start_ns) / NS_PER_S
        return horizon_s - elapsed_s % horizon_s

    def depths_bps(
        self, sigma: float, fit: IntensityFit, inventory_orders: float
    ) -> tuple[float, float]:
        params = self.params
        tau_s = self.time_left_s(self.ctx.now_ns())
        # Model in bps relative to the mid (mid = 0); the reservation shift is
        # clamped like the depths.
        reservation_bps = avellaneda_stoikov_reservation_price(
            0.0, inventory_orders, params.gamma, sigma, tau_s
        )
        half_spread_bps = avellaneda_stoikov_spread(params.gamma, sigma, tau_s, fit.k) / 2
        high = params.max_half_spread_bps
        reservation_bps = max(-high, min(high, reservation_bps))
        return half_spread_bps - reservation_bps, half_spread_bps + reservation_bps

    def on_book(self, book: Any) -> Decision | None:
        if not self.session_start_ns:
            self.session_start_ns = self.ctx.now_ns()
        return super().on_book(book)

    def on_save(self) -> dict[str, Any]:
        return {**super().on_save(), "session_start_ns": self.session_start_ns}

    def on_load(self, state: dict[str, Any]) -> None:
        super().on_load(state)
        self.session_start_ns = int(state.get("session_start_ns", 0))
