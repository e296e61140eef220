"""trade_flow: volume imbalance, tape speed, large trades."""

from __future__ import annotations

import pytest
from scripted_market import ScriptedMarket

from host import Side

SETTINGS = {
    "trade_flow": {
        "windows_s": [10],
        "speed_window_s": 10,
        "median_trades": 5,
        "large_multiple": 10,
    }
}


def test_imbalance_and_speed_over_a_window() -> None:
    market = ScriptedMarket("trade_flow", settings=SETTINGS)
    market.trade(0, 100, 3, Side.BUY)
    market.trade(1000, 100, 1, Side.SELL)
    market.trade(5000, 101, 2, Side.BUY)
    signals = market.signals
    assert signals["trade_imbalance_10s"] == pytest.approx((5 - 1) / 6)
    assert signals["trade_volume_lots_10s"] == 6.0
    assert signals["trades_per_s"] == pytest.approx(3 / 10)
    # At 12 s the trades at 0 s and 1 s have left the window.
    market.trade(12_000, 100, 4, Side.SELL)
    assert signals["trade_imbalance_10s"] == pytest.approx((2 - 4) / 6)
    assert signals["trades_per_s"] == pytest.approx(2 / 10)


def test_large_trade_against_the_rolling_median() -> None:
    market = ScriptedMarket("trade_flow", settings=SETTINGS)
    for index in range(4):
        market.trade(index * 10, 100, 2, Side.BUY)
    assert market.signals["large_trade"] == 0.0
    market.trade(100, 99, 30, Side.SELL)  # 15x the median of 2
    assert market.signals["trade_size_to_median"] == pytest.approx(15.0)
    assert market.signals["large_trade"] == -1.0
    assert market.signals["large_trade_flow_lots_10s"] == -30.0
    market.trade(200, 100, 3, Side.BUY)  # median of (2, 2, 2, 2, 30) is 2
    assert market.signals["large_trade"] == 0.0
    assert market.signals["trade_size_to_median"] == pytest.approx(1.5)
    market.trade(11_000, 100, 2, Side.BUY)  # the large print left the window
    assert market.signals["large_trade_flow_lots_10s"] == 0.0
