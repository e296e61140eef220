"""volatility: EWMA of squared mid log-returns on a fixed time grid."""

from __future__ import annotations

import math

import pytest
from scripted_market import ScriptedMarket

SETTINGS = {"volatility": {"step_ms": 100, "horizons_s": [1]}}


def expected_volatility_bps(returns: list[float], step_s: float, horizon_s: float) -> float:
    """The documented formula, written out plainly."""
    decay = math.exp(-step_s / horizon_s)
    total = 0.0
    for value in returns:
        total = decay * total + (1 - decay) * value * value
    weight = 1 - decay ** len(returns)
    return 10_000 * math.sqrt(total / weight * horizon_s / step_s)


def book(mid_ticks: int) -> tuple[dict[int, int], dict[int, int]]:
    return {mid_ticks - 1: 5}, {mid_ticks + 1: 5}


def test_flat_mid_has_zero_volatility() -> None:
    market = ScriptedMarket("volatility", settings=SETTINGS)
    market.snapshot(50, *book(1000))
    for step in range(1, 20):
        market.delta(50 + step * 100, bids={999: 5 + step})  # size only: mid unchanged
    assert market.signals["volatility_bps_1s"] == 0.0


def test_alternating_mid_matches_the_formula() -> None:
    market = ScriptedMarket("volatility", settings=SETTINGS)
    market.snapshot(50, *book(1000))
    mids = [1000]
    for step in range(1, 30):
        mid = 1002 if step % 2 else 1000
        bids, asks = book(mid)
        previous_bids, previous_asks = book(mids[-1])
        market.delta(
            50 + step * 100,
            bids={**{price: 0 for price in previous_bids}, **bids},
            asks={**{price: 0 for price in previous_asks}, **asks},
        )
        mids.append(mid)
    # Grid time k*100 ms samples the mid left by the message at (k-1)*100 + 50 ms;
    # the first grid time compares the first mid with itself.
    returns = [0.0] + [math.log(mids[k] / mids[k - 1]) for k in range(1, len(mids) - 1)]
    assert market.signals["volatility_bps_1s"] == pytest.approx(
        expected_volatility_bps(returns, 0.1, 1.0)
    )


def test_quiet_steps_count_as_zero_returns() -> None:
    market = ScriptedMarket("volatility", settings=SETTINGS)
    market.snapshot(50, *book(1000))
    market.delta(150, bids={999: 0, 1001: 5}, asks={1001: 0, 1003: 5})  # mid 1002
    market.delta(250, bids={1001: 7})  # grid 200 ms samples 1002
    after_one = market.signals["volatility_bps_1s"]
    # 1 s later with no book change: ten more steps of zero return.
    market.delta(1250, bids={1001: 8})
    returns = [0.0, math.log(1002 / 1000)] + [0.0] * 10
    assert market.signals["volatility_bps_1s"] == pytest.approx(
        expected_volatility_bps(returns, 0.1, 1.0)
    )
    assert market.signals["volatility_bps_1s"] < after_one
