"""liquidity_walls: walls against the local median, their distance and age."""

from __future__ import annotations

import pytest
from scripted_market import ScriptedMarket

from host import Side

SETTINGS = {"liquidity_walls": {"depth_levels": 10, "size_multiple": 5}}


def ladder(best: int, step: int) -> dict[int, int]:
    return {best + step * index: 10 for index in range(10)}


def test_wall_distance_size_and_age() -> None:
    market = ScriptedMarket("liquidity_walls", settings=SETTINGS)
    bids = ladder(1000, -1)
    bids[995] = 100  # 10x the median of 10
    market.snapshot(0, bids=bids, asks=ladder(1005, 1))
    signals = market.signals
    assert signals["wall_bid_distance_ticks"] == 5.0
    assert signals["wall_bid_size_lots"] == 100.0
    assert signals["wall_bid_size_to_median"] == pytest.approx(10.0)
    assert signals["wall_bid_count"] == 1.0
    assert signals["wall_ask_distance_ticks"] == -1.0
    assert signals["wall_ask_size_lots"] == 0.0
    # Two seconds later, an unrelated change: same wall, older.
    market.delta(2000, asks={1009: 11})
    assert signals["wall_bid_age_s"] == pytest.approx(2.0)
    # The touch moves up 2 ticks: the wall is now 7 ticks away, still the same wall.
    market.delta(2500, bids={1001: 10, 1002: 10})
    assert signals["wall_bid_distance_ticks"] == 7.0
    assert signals["wall_bid_age_s"] == pytest.approx(2.5)
    (wall,) = market.module("liquidity_walls").walls("sim", "BTCUSDT", now_ns=market.clock.now_ns())
    assert (wall.side, wall.price_ticks, wall.size_lots, wall.distance_ticks) == (
        Side.BUY,
        995,
        100,
        7,
    )
    # The wall shrinks to ordinary size: gone.
    market.delta(3000, bids={995: 10})
    assert signals["wall_bid_distance_ticks"] == -1.0
    assert signals["wall_bid_age_s"] == 0.0
    # It comes back: its age starts again.
    market.delta(4000, bids={995: 90})
    market.delta(4500, asks={1009: 12})
    assert signals["wall_bid_age_s"] == pytest.approx(0.5)
