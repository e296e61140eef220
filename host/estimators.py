"""Estimators and closed-form quoting formulas shared by the bundled strategies.

Strategies may import ``host.*`` but never each other, so what several of
them need lives here, tested once:

- ``EwmaVolatility``: realised volatility of the mid (EWMA of squared
  log-returns on a fixed time grid), as sigma per square-root second.
- ``IntensityEstimator`` / ``fit_intensity``: the order-arrival intensity
  ``lambda(delta) = A * exp(-k * delta)`` fitted from the market's own trades
  at distances ``delta`` from the mid.
- Avellaneda-Stoikov (2008) reservation price and optimal spread; the
  Gueant-Lehalle-Fernandez-Tapia (2013) closed-form approximation of the
  optimal bid and ask depths (Gueant 2017, "Optimal market making").
- ``MarketEstimates``: both estimators fed from one instrument's book and
  trades, depths in bps of the mid.
- Rounding prices to ticks so a quote never crosses (bids down, asks up), and
  ``QuoteHysteresis``, which keeps a resting quote until the wanted price or
  size has moved enough to be worth an amend.

Units. The formulas are unit-agnostic; the strategies run them with prices
in bps of the mid, time in seconds and inventory in units of the order size,
so one parameter set (gamma in 1 / (bps * order)) fits any symbol:
sigma in bps / sqrt(s), A in market orders per second, k in 1 / bps.

Everything here is pure arithmetic on the values passed in: no clock, no I/O,
so a strategy using it stays deterministic under the simulated clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from host.models import Quote, Side

__all__ = [
    "EwmaVolatility",
    "IntensityEstimator",
    "IntensityFit",
    "MarketEstimates",
    "QuoteHysteresis",
    "avellaneda_stoikov_reservation_price",
    "avellaneda_stoikov_spread",
    "ceil_ask_ticks",
    "fit_intensity",
    "floor_bid_ticks",
    "glft_coefficients",
    "glft_depths",
    "quotes_within_limits",
]

NS_PER_S = 1_000_000_000
# Float arithmetic can land a hair beside a whole tick (100.00000000001); this
# much is forgiven before rounding, so an exact tick is not pushed one further.
_ROUNDING_SLACK_TICKS = 1e-9


# -- prices on the tick grid -----------------------------------------------------------------


def floor_bid_ticks(price_ticks: float, best_ask_ticks: int = 0) -> int:
    """A bid price rounded down to a whole tick, and below the best ask.

    Rounding down never makes a bid more aggressive than computed; staying
    under ``best_ask_ticks`` (when > 0) keeps a PostOnly bid from being
    refused for crossing.
    """
    bid_ticks = math.floor(price_ticks + _ROUNDING_SLACK_TICKS)
    if best_ask_ticks > 0:
        bid_ticks = min(bid_ticks, best_ask_ticks - 1)
    return bid_ticks


def ceil_ask_ticks(price_ticks: float, best_bid_ticks: int = 0) -> int:
    """An ask price rounded up to a whole tick, and above the best bid."""
    ask_ticks = math.ceil(price_ticks - _ROUNDING_SLACK_TICKS)
    if best_bid_ticks > 0:
        ask_ticks = max(ask_ticks, best_bid_ticks + 1)
    return ask_ticks


def quotes_within_limits(
    bid_price_ticks: float,
    ask_price_ticks: float,
    size_lots: int,
    position_lots: int,
    max_position_lots: int,
    book: Any,
    post_only: bool,
) -> list[Quote]:
    """A bid and an ask on the tick grid (bids down, asks up, never crossing the
    book), leaving out the side whose fill would take the position past
    ``max_position_lots``."""
    quotes: list[Quote] = []
    if position_lots + size_lots <= max_position_lots:
        bid_ticks = floor_bid_ticks(bid_price_ticks, book.best_ask_ticks)
        quotes.append(Quote(Side.BUY, bid_ticks, size_lots, "bid", post_only))
    if position_lots - size_lots >= -max_position_lots:
        ask_ticks = ceil_ask_ticks(ask_price_ticks, book.best_bid_ticks)
        quotes.append(Quote(Side.SELL, ask_ticks, size_lots, "ask", post_only))
    return quotes


# -- volatility ---------------------------------------------------------------------------------


class EwmaVolatility:
    """Realised volatility of the mid: EWMA of squared log-returns on a time grid.

    Grid times are ``t_j = j * step``. The mid sampled at ``t_j`` is the one
    left by the last update before ``t_j``; ``r_j = ln(mid(t_j) / mid(t_j-1))``
    (0 for a step without an update: a quiet market lowers the estimate).
    With ``a = 1 - exp(-step / time_constant)``::

        S_j = (1 - a) * S_j-1 + a * r_j^2
        w_j = 1 - (1 - a)^j                      (bias correction while warming up)
        variance_per_s = S_j / w_j / step_s

    ``sigma_bps_per_sqrt_s = 10_000 * sqrt(variance_per_s)``: the typical move
    of the mid over one second, in bps, assuming independent steps. Sampling
    on a grid of about a second, not per message, keeps the bid-ask bounce of
    the mid (half a tick per flicker) out of the estimate.
    """

    __slots__ = (
        "decay",
        "last_mid",
        "last_step",
        "sampled_mid",
        "samples",
        "step_ns",
        "step_s",
        "sum_squares",
        "time_constant_s",
        "unweighted",
        "warmup_samples",
    )

    def __init__(
        self, *, time_constant_s: float = 60.0, step_ms: int = 1000, warmup_samples: int = 30
    ) -> None:
        if time_constant_s <= 0 or step_ms <= 0 or warmup_samples < 1:
            raise ValueError("time_constant_s and step_ms must be > 0, warmup_samples >= 1")
        self.time_constant_s = time_constant_s
        self.step_ns = step_ms * 1_000_000
        self.step_s = step_ms / 1000
        self.decay = math.exp(-self.step_s / time_constant_s)  # 1 - a
        self.warmup_samples = warmup_samples
        self.sum_squares = 0.0  # S
        self.unweighted = 1.0  # (1 - a)^j, so w = 1 - unweighted
        self.samples = 0
        self.last_step = -1  # grid index of the newest sample; -1 before the first mid
        self.sampled_mid = 0.0
        self.last_mid = 0.0

    def update(self, ts_ns: int, mid: float) -> None:
        """A new mid (any unit: only ratios are used) seen at ``ts_ns``."""
        if mid <= 0:
            return
        step = ts_ns // self.step_ns
        if self.last_step < 0:
            # This message's own grid time has passed without an earlier mid;
            # sampling starts at the next grid time.
            self.last_step = step
            self.sampled_mid = self.last_mid = mid
            return
        if step > self.last_step:
            # Grid times last_step+1 .. step all saw last_mid: one return, then
            # (steps - 1) zero returns, applied in one go.
            steps = step - self.last_step
            log_return = math.log(self.last_mid / self.sampled_mid)
            decay = self.decay
            total = decay * self.sum_squares + (1.0 - decay) * log_return * log_return
            unweighted = self.unweighted * decay
            if steps > 1:
                quiet = decay ** (steps - 1)
                total *= quiet
                unweighted *= quiet
            self.sum_squares = total
            self.unweighted = unweighted
            self.samples += steps
            self.last_step = step
            self.sampled_mid = self.last_mid
        self.last_mid = mid

    @property
    def ready(self) -> bool:
        """True once ``warmup_samples`` grid steps have been sampled."""
        return self.samples >= self.warmup_samples

    def variance_per_s(self) -> float:
        """Variance of the log-mid per second (0 before the first sample)."""
        weight = 1.0 - self.unweighted
        if weight <= 0.0:
            return 0.0
        return self.sum_squares / weight / self.step_s

    def sigma_bps_per_sqrt_s(self) -> float:
        return 10_000.0 * math.sqrt(self.variance_per_s())

    def volatility_bps(self, horizon_s: float) -> float:
        """The typical move over ``horizon_s`` in bps (independent steps assumed)."""
        return self.sigma_bps_per_sqrt_s() * math.sqrt(horizon_s)

    def to_state(self) -> dict[str, Any]:
        return {
            "sum_squares": self.sum_squares,
            "unweighted": self.unweighted,
            "samples": self.samples,
            "last_step": self.last_step,
            "sampled_mid": self.sampled_mid,
            "last_mid": self.last_mid,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Take over a saved state (same step and time constant assumed)."""
        self.sum_squares = float(state["sum_squares"])
        self.unweighted = float(state["unweighted"])
        self.samples = int(state["samples"])
        self.last_step = int(state["last_step"])
        self.sampled_mid = float(state["sampled_mid"])
        self.last_mid = float(state["last_mid"])


# -- order-arrival intensity --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntensityFit:
    """``lambda(delta) = A * exp(-k * delta)``: market orders per second reaching
    depth ``delta`` (or further) from the mid.

    ``a_per_s`` and ``k`` are after clamping; ``clamped`` says whether a clamp
    bit. ``r_squared`` is the weighted fit's coefficient of determination.
    """

    a_per_s: float
    k: float
    r_squared: float
    buckets: int
    clamped: bool = False

    def rate_per_s(self, depth: float) -> float:
        return self.a_per_s * math.exp(-self.k * depth)


def fit_intensity(
    depths: Sequence[float], rates_per_s: Sequence[float], weights: Sequence[float] | None = None
) -> IntensityFit | None:
    """Weighted least squares of ``ln(rate) = ln(A) - k * depth``.

    Points with a rate <= 0 are left out (no log). ``weights`` default to 1;
    the estimator passes each bucket's order count, the inverse of the
    variance of ``ln(count)`` for Poisson counts, so thin tail buckets count
    little. Returns None with fewer than two usable depths.
    """
    points = [
        (depth, math.log(rate), 1.0 if weights is None else weights[index])
        for index, (depth, rate) in enumerate(zip(depths, rates_per_s, strict=True))
        if rate > 0.0 and (weights is None or weights[index] > 0.0)
    ]
    if len({depth for depth, _, _ in points}) < 2:
        return None
    total_weight = sum(weight for _, _, weight in points)
    mean_x = sum(weight * x for x, _, weight in points) / total_weight
    mean_y = sum(weight * y for _, y, weight in points) / total_weight
    spread_xx = sum(weight * (x - mean_x) ** 2 for x, _, weight in points)
    spread_xy = sum(weight * (x - mean_x) * (y - mean_y) for x, y, weight in points)
    spread_yy = sum(weight * (y - mean_y) ** 2 for _, y, weight in points)
    slope = spread_xy / spread_xx
    intercept = mean_y - slope * mean_x
    r_squared = 1.0 if spread_yy == 0.0 else spread_xy * spread_xy / (spread_xx * spread_yy)
    return IntensityFit(math.exp(intercept), -slope, r_squared, len(points))


class IntensityEstimator:
    """Online estimate of ``lambda(delta) = A * exp(-k * delta)`` from public trades.

    A market order that trades at depth ``delta`` from the mid (buys above
    it, sells below it; the mid known just before the trade) would have
    filled a quote resting anywhere up to ``delta``. Per bucket depth
    ``delta_j = j * bucket_width`` (j = 1 .. bucket_count) the estimator
    counts market orders reaching at least ``delta_j``, divides by the time
    observed, and fits ``ln(rate_j) = ln(A) - k * delta_j`` by least squares
    weighted by the counts (``fit_intensity``).

    - Several prints with the same exchange time and aggressor are one
      market order sweeping levels: it counts once, at its deepest print.
    - Depth 0 (the touch) is left out: most orders stop at the touch, a mass
      the exponential tail does not describe, and a quote is never inside
      the touch by choice.
    - Forgetting: with ``half_life_s`` counts and observed time decay
      exponentially (rates of the last few half-lives); None keeps all.
    - Warm-up: ``fit()`` returns None until ``warmup_s`` of time, ``min_orders``
      orders and ``min_buckets`` non-empty buckets have been seen.
    - Clamps: A and k are held within bounds, so a thin tail never yields a
      k near 0 (an absurdly wide spread) or a huge one (quoting at the touch
      regardless of risk).
    """

    __slots__ = (
        "a_bounds_per_s",
        "bucket_count",
        "bucket_width",
        "counts",
        "exposure_s",
        "half_life_s",
        "k_bounds",
        "last_ts_ns",
        "min_buckets",
        "min_orders",
        "observed_s",
        "orders",
        "pending_depth",
        "pending_key",
        "time_constant_s",
        "warmup_s",
    )

    def __init__(
        self,
        *,
        bucket_width: float = 0.1,
        bucket_count: int = 20,
        half_life_s: float | None = 600.0,
        warmup_s: float = 30.0,
        min_orders: int = 30,
        min_buckets: int = 3,
        k_bounds: tuple[float, float] = (0.2, 200.0),
        a_bounds_per_s: tuple[float, float] = (1e-3, 1e4),
    ) -> None:
        if bucket_width <= 0 or bucket_count < 2:
            raise ValueError("bucket_width must be > 0 and bucket_count >= 2")
        if half_life_s is not None and half_life_s <= 0:
            raise ValueError("half_life_s must be > 0 or None")
        self.bucket_width = bucket_width
        self.bucket_count = bucket_count
        self.half_life_s = half_life_s
        self.time_constant_s = None if half_life_s is None else half_life_s / math.log(2)
        self.warmup_s = warmup_s
        self.min_orders = min_orders
        self.min_buckets = min_buckets
        self.k_bounds = k_bounds
        self.a_bounds_per_s = a_bounds_per_s
        self.counts = [0.0] * bucket_count  # counts[j - 1]: orders reaching delta_j (decayed)
        self.exposure_s = 0.0  # time observed (decayed like the counts)
        self.observed_s = 0.0  # time observed, not decayed: for the warm-up
        self.orders = 0  # market orders counted, at any depth (not decayed)
        self.last_ts_ns: int | None = None  # None until the first event
        self.pending_key: Any = None  # the market order still being swept
        self.pending_depth = 0.0

    # -- feeding ---------------------------------------------------------------------------

    def advance(self, ts_ns: int) -> None:
        """Time passes to ``ts_ns``: it counts as observed, counts decay."""
        if self.last_ts_ns is None:
            self.last_ts_ns = ts_ns
            return
        elapsed_s = (ts_ns - self.last_ts_ns) / NS_PER_S
        if elapsed_s <= 0:
            return
        self.last_ts_ns = ts_ns
        self.observed_s += elapsed_s
        if self.time_constant_s is None:
            self.exposure_s += elapsed_s
            return
        decay = math.exp(-elapsed_s / self.time_constant_s)
        # The integral of exp(-(now - s) / tau) over the newly observed time.
        self.exposure_s = self.exposure_s * decay + self.time_constant_s * (1.0 - decay)
        counts = self.counts
        for index in range(len(counts)):
            counts[index] *= decay

    def observe_trade(self, ts_ns: int, order_key: Any, depth: float) -> None:
        """One public print at ``depth`` from the mid (>= 0 beyond the mid).

        ``order_key`` groups the prints of one market order, e.g. ``(exchange
        time, aggressor side)``; a new key closes the previous order.
        """
        self.advance(ts_ns)
        if order_key == self.pending_key and self.pending_key is not None:
            self.pending_depth = max(self.pending_depth, depth)
            return
        self.flush()
        self.pending_key = order_key
        self.pending_depth = depth

    def flush(self) -> None:
        """Count the market order still open (called by the next one, or at the end)."""
        if self.pending_key is None:
            return
        self.add_order(self.pending_depth)
        self.pending_key = None
        self.pending_depth = 0.0

    def add_order(self, depth: float, count: float = 1.0) -> None:
        """Count ``count`` market orders that reached ``depth`` from the mid."""
        self.orders += 1
        reached = min(int(depth / self.bucket_width + 1e-9), self.bucket_count)
        counts = self.counts
        for index in range(reached):
            counts[index] += count

    # -- reading -----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return (
            self.observed_s >= self.warmup_s
            and self.orders >= self.min_orders
            and sum(1 for count in self.counts if count > 0.0) >= self.min_buckets
        )

    def depths(self) -> list[float]:
        return [self.bucket_width * (index + 1) for index in range(self.bucket_count)]

    def rates_per_s(self) -> list[float]:
        if self.exposure_s <= 0.0:
            return [0.0] * self.bucket_count
        return [count / self.exposure_s for count in self.counts]

    def fit(self, *, require_ready: bool = True) -> IntensityFit | None:
        """The clamped fit, or None while warming up or without two usable buckets."""
        if require_ready and not self.ready:
            return None
        raw = fit_intensity(self.depths(), self.rates_per_s(), self.counts)
        if raw is None:
            return None
        k_low, k_high = self.k_bounds
        a_low, a_high = self.a_bounds_per_s
        k = min(max(raw.k, k_low), k_high)
        a_per_s = min(max(raw.a_per_s, a_low), a_high)
        clamped = k != raw.k or a_per_s != raw.a_per_s
        return IntensityFit(a_per_s, k, raw.r_squared, raw.buckets, clamped)

    def to_state(self) -> dict[str, Any]:
        return {
            "counts": list(self.counts),
            "exposure_s": self.exposure_s,
            "observed_s": self.observed_s,
            "orders": self.orders,
            "last_ts_ns": self.last_ts_ns,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Take over a saved state (same buckets assumed; a different count restarts)."""
        counts = [float(count) for count in state["counts"]]
        if len(counts) != self.bucket_count:
            return
        self.counts = counts
        self.exposure_s = float(state["exposure_s"])
        self.observed_s = float(state["observed_s"])
        self.orders = int(state["orders"])
        last_ts_ns = state["last_ts_ns"]
        self.last_ts_ns = None if last_ts_ns is None else int(last_ts_ns)


# -- Avellaneda-Stoikov --------------------------------------------------------------------------


def avellaneda_stoikov_reservation_price(
    mid: float, inventory: float, gamma: float, sigma: float, time_left_s: float
) -> float:
    """``r = s - q * gamma * sigma^2 * (T - t)``: the mid as the inventory holder
    values it; below the mid when long, so both quotes lean toward unloading."""
    return mid - inventory * gamma * sigma * sigma * time_left_s


def avellaneda_stoikov_spread(gamma: float, sigma: float, time_left_s: float, k: float) -> float:
    """``delta_a + delta_b = gamma * sigma^2 * (T - t) + (2 / gamma) * ln(1 + gamma / k)``:
    the optimal distance from bid to ask, centred on the reservation price."""
    if gamma <= 0 or k <= 0:
        raise ValueError("gamma and k must be > 0")
    return gamma * sigma * sigma * time_left_s + (2.0 / gamma) * math.log1p(gamma / k)


# -- Gueant-Lehalle-Fernandez-Tapia ---------------------------------------------------------------


def glft_coefficients(
    gamma: float, a_per_s: float, k: float, *, order_size: float = 1.0, xi: float | None = None
) -> tuple[float, float]:
    """``(c1, c2)`` of the GLFT closed-form approximation (Gueant 2017)::

        c1 = 1 / (xi * D) * ln(1 + xi * D / k)
        c2 = sqrt(gamma / (2 * A * D * k) * (1 + xi * D / k) ** (k / (xi * D) + 1))

    ``D`` is the order size (in the unit of the inventory) and ``xi`` the
    utility's risk aversion: ``xi = gamma`` (the default) for the CARA model,
    ``xi = 0`` for the mean-variance one, whose limit is ``c1 = 1 / k`` and
    ``c2 = sqrt(gamma * e / (2 * A * D * k))``.
    """
    if gamma <= 0 or a_per_s <= 0 or k <= 0 or order_size <= 0:
        raise ValueError("gamma, A, k and order_size must be > 0")
    xi = gamma if xi is None else xi
    if xi == 0:
        return 1.0 / k, math.sqrt(gamma * math.e / (2.0 * a_per_s * order_size * k))
    ratio = xi * order_size / k
    c1 = math.log1p(ratio) / (xi * order_size)
    c2 = math.sqrt(
        gamma / (2.0 * a_per_s * order_size * k) * (1.0 + ratio) ** (k / (xi * order_size) + 1.0)
    )
    return c1, c2


def glft_depths(
    c1: float, c2: float, sigma: float, inventory: float, *, order_size: float = 1.0
) -> tuple[float, float]:
    """Optimal distances of the bid and the ask from the mid::

        bid = c1 + (2q + D) / 2 * sigma * c2
        ask = c1 - (2q - D) / 2 * sigma * c2

    i.e. a half-spread ``c1 + D/2 * sigma * c2`` and a skew of
    ``sigma * c2`` per unit of inventory ``q``, moving both quotes down when
    long. A depth may come out negative (a quote through the mid) at large
    inventory: the caller clamps.
    """
    half_spread = c1 + order_size / 2.0 * sigma * c2
    skew = sigma * c2 * inventory
    return half_spread + skew, half_spread - skew


# -- requote hysteresis ---------------------------------------------------------------------------


class QuoteHysteresis:
    """Keep resting quotes until the wanted ones have moved enough.

    ``filter(wanted)`` returns the quotes to send: a wanted quote whose tag
    was sent before, on the same side, within ``price_threshold_ticks`` of the
    sent price and within ``size_threshold_pct`` of the sent size, is replaced
    by the one sent (so the OMS leaves the order alone); the others are taken
    as wanted. It returns None when the result is what was sent last: nothing
    to do, so no Decision at all. ``reset()`` forgets what was sent, so the
    next call sends everything (after a fill, a cancel or a reject, when the
    venue no longer holds what was sent).
    """

    __slots__ = ("price_threshold_ticks", "sent", "size_threshold_pct")

    def __init__(self, price_threshold_ticks: int, size_threshold_pct: float) -> None:
        self.price_threshold_ticks = price_threshold_ticks
        self.size_threshold_pct = size_threshold_pct
        self.sent: dict[str, Quote] | None = None

    def filter(self, wanted: Iterable[Quote]) -> tuple[Quote, ...] | None:
        sent = self.sent
        result: list[Quote] = []
        for quote in wanted:
            previous = None if sent is None else sent.get(quote.tag)
            if previous is not None and self._close(previous, quote):
                result.append(previous)
            else:
                result.append(quote)
        chosen = {quote.tag: quote for quote in result}
        if sent is not None and chosen == sent:
            return None
        self.sent = chosen
        return tuple(result)

    def _close(self, previous: Quote, quote: Quote) -> bool:
        if previous.side is not quote.side or previous.post_only != quote.post_only:
            return False
        if previous.reduce_only != quote.reduce_only:
            return False
        if abs(previous.price_ticks - quote.price_ticks) > self.price_threshold_ticks:
            return False
        size_change_pct = abs(quote.size_lots - previous.size_lots) / previous.size_lots * 100
        return size_change_pct <= self.size_threshold_pct

    def reset(self) -> None:
        self.sent = None

    def to_state(self) -> list[list[Any]] | None:
        if self.sent is None:
            return None
        return [
            [q.tag, int(q.side), q.price_ticks, q.size_lots, q.post_only, q.reduce_only]
            for q in self.sent.values()
        ]

    def load_state(self, state: list[list[Any]] | None) -> None:
        if state is None:
            self.sent = None
            return
        self.sent = {
            tag: Quote(Side(side), price_ticks, size_lots, tag, post_only, reduce_only)
            for tag, side, price_ticks, size_lots, post_only, reduce_only in state
        }


# -- both estimators fed from one instrument's events ---------------------------------------------


class MarketEstimates:
    """Volatility and intensity of one instrument, fed from its book and trades.

    Depths are measured in bps of the mid, so A is in market orders per
    second and k in 1 / bps whatever the symbol's tick. The mid of a trade
    is the one known just before it (the book the strategy quoted on).
    """

    __slots__ = ("intensity", "volatility")

    def __init__(self, volatility: EwmaVolatility, intensity: IntensityEstimator) -> None:
        self.volatility = volatility
        self.intensity = intensity

    def observe_book(self, ts_ns: int, mid_ticks: float | None) -> None:
        self.intensity.advance(ts_ns)
        if mid_ticks is not None:
            self.volatility.update(ts_ns, mid_ticks)

    def observe_trade(
        self,
        ts_ns: int,
        trade_ts_exchange_ns: int,
        aggressor: Side,
        price_ticks: int,
        mid_ticks: float | None,
    ) -> None:
        """One public print; prints of one market order share exchange time and aggressor."""
        if mid_ticks is None or mid_ticks <= 0:
            return
        # A buy lifts asks above the mid, a sell hits bids below it; a print on
        # the near side of the mid (a mid older than the trade) counts as depth 0.
        depth_bps = max(0.0, (price_ticks - mid_ticks) * int(aggressor)) * 10_000 / mid_ticks
        self.intensity.observe_trade(ts_ns, (trade_ts_exchange_ns, int(aggressor)), depth_bps)

    @property
    def ready(self) -> bool:
        return self.volatility.ready and self.intensity.ready

    def sigma_bps_per_sqrt_s(self) -> float:
        return self.volatility.sigma_bps_per_sqrt_s()

    def intensity_fit(self) -> IntensityFit | None:
        return self.intensity.fit()

    def to_state(self) -> dict[str, Any]:
        return {"volatility": self.volatility.to_state(), "intensity": self.intensity.to_state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.volatility.load_state(state["volatility"])
        self.intensity.load_state(state["intensity"])
