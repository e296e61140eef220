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

from pydantic import Field

from host.estimators import IntensityFit, glft_coefficients, glft_depths
from host.model_quoting import ModelQuoter, ModelQuoterParams


class GlftParams(ModelQuoterParams):
    spread_multiplier: float = Field(
        1.0, gt=0, le=100, description="Scales the half-spread term (1 = the model's)."
    )
    skew_multiplier: float = Field(
        1.0, ge=0, le=100, description="Scales the inventory skew term (1 = the model's)."
    )


class Glft(ModelQuoter):
    name = "glft"
    Params = GlftParams
    params: GlftParams

    def depths_bps(
        self, sigma: float, fit: IntensityFit, inventory_orders: float
    ) -> tuple[float, float]:
        # The model's terms, then the desk's multipliers.
        c1, c2 = glft_coefficients(self.params.gamma, fit.a_per_s, fit.k)
        half_spread_bps, _ = glft_depths(c1, c2, sigma, 0.0)
        skew_bps = sigma * c2 * inventory_orders
        half_spread_bps *= self.params.spread_multiplier
        skew_bps *= self.params.skew_multiplier
        return half_spread_bps + skew_bps, half_spread_bps - skew_bps
