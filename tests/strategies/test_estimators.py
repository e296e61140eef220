"""host.estimators against hand-computed values: EWMA volatility, the intensity
fit (exact points and synthetic trades with known A and k), the
Avellaneda-Stoikov and GLFT formulas, tick rounding and requote hysteresis."""

from __future__ import annotations

import math
import random

import pytest

from host import Quote, Side
from host.estimators import (
    EwmaVolatility,
    IntensityEstimator,
    MarketEstimates,
    QuoteHysteresis,
    avellaneda_stoikov_reservation_price,
    avellaneda_stoikov_spread,
    ceil_ask_ticks,
    fit_intensity,
    floor_bid_ticks,
    glft_coefficients,
    glft_depths,
)

S = 1_000_000_000  # ns per second

# -- EWMA volatility ---------------------------------------------------------------------------


def test_ewma_volatility_matches_a_hand_computation() -> None:
    # Time constant 1/ln 2 s on a 1 s grid: decay (1 - a) = 0.5 exactly.
    volatility = EwmaVolatility(time_constant_s=1 / math.log(2), step_ms=1000, warmup_samples=3)
    volatility.update(int(0.5 * S), 100.0)  # first mid: sampling starts at t = 1
    volatility.update(int(1.5 * S), 101.0)  # t=1 sampled 100: r1 = 0
    volatility.update(int(2.5 * S), 100.0)  # t=2 sampled 101: r2 = ln 1.01
    assert not volatility.ready
    volatility.update(int(3.5 * S), 100.0)  # t=3 sampled 100: r3 = ln(1/1.01)
    assert volatility.ready
    # S = 0.5 * (0.5 * (0.5 * 0 + 0.5 * 0) + 0.5 r^2) + 0.5 r^2 = 0.75 r^2 ;  w = 1 - 0.5^3 = 0.875
    # variance per s = 0.75 / 0.875 * ln(1.01)^2 = 8.4866e-5 ; sigma = 1e4 * sqrt(.) = 92.12 bps
    assert volatility.variance_per_s() == pytest.approx(0.75 / 0.875 * 0.00995033085**2, rel=1e-9)
    assert volatility.sigma_bps_per_sqrt_s() == pytest.approx(92.12216, rel=1e-6)
    assert volatility.volatility_bps(4.0) == pytest.approx(2 * 92.12216, rel=1e-6)


def test_ewma_volatility_decays_over_quiet_steps() -> None:
    volatility = EwmaVolatility(time_constant_s=1 / math.log(2), step_ms=1000, warmup_samples=1)
    volatility.update(int(0.5 * S), 100.0)
    volatility.update(int(1.5 * S), 101.0)  # r1 = 0
    volatility.update(int(2.5 * S), 101.0)  # r2 = ln 1.01 (sample at t=2 is 101)
    before = volatility.sum_squares
    volatility.update(int(5.5 * S), 101.0)  # t=3, 4, 5: one zero return and two quiet steps
    assert volatility.sum_squares == pytest.approx(before * 0.5**3)
    assert volatility.samples == 5


# -- intensity ---------------------------------------------------------------------------------


def test_fit_recovers_a_and_k_from_exact_points() -> None:
    depths = [0.1 * index for index in range(1, 11)]
    rates = [2.5 * math.exp(-3.0 * depth) for depth in depths]
    fit = fit_intensity(depths, rates)
    assert fit is not None
    assert fit.a_per_s == pytest.approx(2.5, rel=1e-12)
    assert fit.k == pytest.approx(3.0, rel=1e-12)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.rate_per_s(0.5) == pytest.approx(2.5 * math.exp(-1.5))


def test_fit_of_two_hand_points() -> None:
    # ln(1) = 0 at depth 1, ln(e^-2) = -2 at depth 2: slope -2, intercept 2 -> A = e^2, k = 2.
    fit = fit_intensity([1.0, 2.0], [1.0, math.exp(-2.0)])
    assert fit is not None
    assert fit.k == pytest.approx(2.0)
    assert fit.a_per_s == pytest.approx(math.exp(2.0))
    assert fit_intensity([1.0], [1.0]) is None
    assert fit_intensity([1.0, 2.0], [1.0, 0.0]) is None  # a zero rate has no log


def test_estimator_recovers_known_a_and_k_from_synthetic_trades() -> None:
    """Market orders arrive at A per second; each reaches an Exp(k) depth, so the
    rate reaching delta or further is A * exp(-k * delta)."""
    true_a_per_s, true_k = 4.0, 3.0
    estimator = IntensityEstimator(
        bucket_width=0.1, bucket_count=10, half_life_s=None, warmup_s=10, min_orders=10
    )
    generator = random.Random(7)
    ts_ns = 0
    estimator.advance(ts_ns)
    for order in range(20_000):
        ts_ns += int(generator.expovariate(true_a_per_s) * S)
        estimator.observe_trade(ts_ns, order, generator.expovariate(true_k))
    estimator.flush()
    fit = estimator.fit()
    assert fit is not None and not fit.clamped
    assert fit.k == pytest.approx(true_k, rel=0.05)
    assert fit.a_per_s == pytest.approx(true_a_per_s, rel=0.05)
    assert fit.r_squared > 0.99


def test_prints_of_one_market_order_count_once_at_their_deepest() -> None:
    estimator = IntensityEstimator(bucket_width=1.0, bucket_count=5, half_life_s=None)
    estimator.advance(0)
    # One sweep: three prints with one key, reaching depth 3.2.
    for depth in (0.0, 1.5, 3.2):
        estimator.observe_trade(S, ("t1", 1), depth)
    estimator.observe_trade(2 * S, ("t2", -1), 1.0)  # closes the sweep
    estimator.flush()
    assert estimator.orders == 2
    assert estimator.counts == [2.0, 1.0, 1.0, 0.0, 0.0]  # depths 1, 2, 3, 4, 5
    assert estimator.rates_per_s() == [1.0, 0.5, 0.5, 0.0, 0.0]  # over 2 s observed


def test_forgetting_halves_counts_and_exposure_tends_to_tau() -> None:
    estimator = IntensityEstimator(bucket_width=1.0, bucket_count=2, half_life_s=10.0)
    estimator.advance(0)
    estimator.add_order(5.0)
    estimator.advance(10 * S)
    assert estimator.counts == pytest.approx([0.5, 0.5])
    tau_s = 10.0 / math.log(2)
    assert estimator.exposure_s == pytest.approx(tau_s * 0.5)
    estimator.advance(10_000 * S)
    assert estimator.exposure_s == pytest.approx(tau_s)


def test_warm_up_and_clamps() -> None:
    estimator = IntensityEstimator(
        bucket_width=0.1,
        bucket_count=5,
        half_life_s=None,
        warmup_s=30,
        min_orders=5,
        k_bounds=(0.5, 50.0),
    )
    estimator.advance(0)
    for index in range(10):
        estimator.observe_trade(index * S, index, 10.0)  # every order sweeps every bucket
    estimator.flush()
    assert estimator.fit() is None  # 9 s observed, warm-up is 30 s
    estimator.advance(40 * S)
    fit = estimator.fit()
    # A flat tail fits k = 0 (an infinitely wide spread): held at the lower bound.
    assert fit is not None and fit.clamped
    assert fit.k == 0.5


def test_market_estimates_measure_depth_in_bps_beyond_the_mid() -> None:
    estimates = MarketEstimates(
        EwmaVolatility(), IntensityEstimator(bucket_width=1.0, bucket_count=3, half_life_s=None)
    )
    estimates.observe_book(0, 10_000.0)
    # Buy at 10_002 over mid 10_000: 2 ticks = 2 bps; sell at 10_001: above the mid, depth 0.
    estimates.observe_trade(S, 1, Side.BUY, 10_002, 10_000.0)
    estimates.observe_trade(S, 1, Side.SELL, 10_001, 10_000.0)
    estimates.observe_trade(2 * S, 2, Side.SELL, 9_999, 10_000.0)  # 1 bps below
    estimates.intensity.flush()
    assert estimates.intensity.counts == [2.0, 1.0, 0.0]


# -- Avellaneda-Stoikov --------------------------------------------------------------------------


def test_avellaneda_stoikov_reservation_price_and_spread() -> None:
    # r = 100 - q gamma sigma^2 tau = 100 - 2 * 0.1 * 4 * 10 = 92
    assert avellaneda_stoikov_reservation_price(100.0, 2.0, 0.1, 2.0, 10.0) == pytest.approx(92.0)
    assert avellaneda_stoikov_reservation_price(100.0, -2.0, 0.1, 2.0, 10.0) == pytest.approx(108.0)
    # spread = 0.1 * 4 * 10 + (2 / 0.1) ln(1 + 0.1 / 1.5) = 4 + 20 * 0.06453852 = 5.2907704
    assert avellaneda_stoikov_spread(0.1, 2.0, 10.0, 1.5) == pytest.approx(5.2907704, rel=1e-7)
    # At the end of the horizon only the intensity term is left.
    assert avellaneda_stoikov_spread(0.1, 2.0, 0.0, 1.5) == pytest.approx(1.2907704, rel=1e-7)
    with pytest.raises(ValueError):
        avellaneda_stoikov_spread(0.0, 2.0, 10.0, 1.5)


# -- GLFT ------------------------------------------------------------------------------------------


def test_glft_coefficients_and_depths() -> None:
    # gamma = xi = 0.1, A = 2, k = 1.5, D = 1:
    # c1 = ln(1 + 0.1/1.5) / 0.1 = 0.64538521
    # c2 = sqrt(0.1 / (2*2*1*1.5) * (1 + 0.1/1.5)^16) = sqrt(0.0166667 * 2.8084040) = 0.21634864
    c1, c2 = glft_coefficients(0.1, 2.0, 1.5)
    assert c1 == pytest.approx(0.64538521, rel=1e-7)
    assert c2 == pytest.approx(0.21634864, rel=1e-7)
    # sigma = 2, q = 3: bid = c1 + 3.5 * 2 * c2 = 2.15982567 ; ask = c1 - 2.5 * 2 * c2 = -0.43635797
    bid_depth, ask_depth = glft_depths(c1, c2, 2.0, 3.0)
    assert bid_depth == pytest.approx(2.15982567, rel=1e-7)
    assert ask_depth == pytest.approx(-0.43635797, rel=1e-7)
    flat_bid, flat_ask = glft_depths(c1, c2, 2.0, 0.0)
    assert flat_bid == flat_ask == pytest.approx(c1 + c2)  # half-spread c1 + D/2 sigma c2


def test_glft_half_spread_term_is_avellaneda_stoikovs() -> None:
    # c1 is half the intensity term of the AS spread: (1/gamma) ln(1 + gamma/k).
    c1, _ = glft_coefficients(0.1, 2.0, 1.5)
    assert 2 * c1 == pytest.approx(avellaneda_stoikov_spread(0.1, 2.0, 0.0, 1.5))


def test_glft_mean_variance_limit() -> None:
    # xi = 0: c1 = 1/k = 0.6666667, c2 = sqrt(gamma e / (2 A D k)) = sqrt(0.1 e / 6) = 0.21284900
    c1, c2 = glft_coefficients(0.1, 2.0, 1.5, xi=0.0)
    assert c1 == pytest.approx(1 / 1.5)
    assert c2 == pytest.approx(0.21284900, rel=1e-7)
    near_c1, near_c2 = glft_coefficients(0.1, 2.0, 1.5, xi=1e-9)
    assert (near_c1, near_c2) == pytest.approx((c1, c2), rel=1e-6)


# -- ticks and hysteresis --------------------------------------------------------------------------


def test_rounding_never_crosses() -> None:
    assert floor_bid_ticks(100.7) == 100
    assert ceil_ask_ticks(100.2) == 101
    # A whole tick computed with float noise stays that tick.
    assert floor_bid_ticks(99.99999999999) == 100
    assert ceil_ask_ticks(100.00000000001) == 100
    # Never through the touch: a bid stays under the best ask, an ask over the best bid.
    assert floor_bid_ticks(105.3, best_ask_ticks=103) == 102
    assert ceil_ask_ticks(95.2, best_bid_ticks=97) == 98


def test_hysteresis_keeps_quotes_until_they_moved_enough() -> None:
    hysteresis = QuoteHysteresis(price_threshold_ticks=2, size_threshold_pct=20)
    first = (Quote(Side.BUY, 100, 10, "bid"), Quote(Side.SELL, 110, 10, "ask"))
    assert hysteresis.filter(first) == first
    # 2 ticks and 10 % are within the thresholds: nothing to send.
    assert hysteresis.filter((Quote(Side.BUY, 102, 11, "bid"), first[1])) is None
    # The bid moved 3 ticks: it goes out; the ask stays at what was sent.
    moved = hysteresis.filter((Quote(Side.BUY, 103, 10, "bid"), Quote(Side.SELL, 111, 10, "ask")))
    assert moved == (Quote(Side.BUY, 103, 10, "bid"), first[1])
    # A size change over 20 % goes out.
    resized = hysteresis.filter((Quote(Side.BUY, 103, 13, "bid"), first[1]))
    assert resized is not None and resized[0].size_lots == 13
    # A dropped quote is a change (its order must be cancelled).
    assert hysteresis.filter((first[1],)) == (first[1],)
    # After a reset everything is sent again.
    hysteresis.reset()
    assert hysteresis.filter((first[1],)) == (first[1],)
    state = hysteresis.to_state()
    other = QuoteHysteresis(2, 20)
    other.load_state(state)
    assert other.sent == hysteresis.sent
