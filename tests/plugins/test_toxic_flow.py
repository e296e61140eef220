"""toxic_flow: markouts of our fills on book-event time, and the alert."""

from __future__ import annotations

import pytest
from scripted_market import ScriptedMarket

from host import Side

SETTINGS = {
    "toxic_flow": {
        "horizons_s": [1, 10],
        "alert_horizon_s": 1,
        "alert_bps": 10,
        "release_bps": 5,
        "min_fills": 1,
    }
}


def quote(market: ScriptedMarket, at_ms: float, mid: int) -> None:
    market.snapshot(at_ms, bids={mid - 1: 5}, asks={mid + 1: 5})


def test_markouts_use_the_mid_in_effect_at_the_horizon() -> None:
    market = ScriptedMarket("toxic_flow", settings=SETTINGS)
    quote(market, 0, 1000)
    assert market.signals["toxic_flow_alert"] == 0.0
    market.our_fill(0, Side.BUY, 1000)
    quote(market, 500, 998)
    # The first message after 1 s: the mid in effect at 1 s is 998, not 996.
    quote(market, 1200, 996)
    assert market.signals["markout_bps_1s"] == pytest.approx((998 - 1000) / 1000 * 10_000)
    assert market.signals["markout_fills_1s"] == 1.0
    assert market.signals["toxic_flow_alert"] == 1.0  # -20 bps <= -10 bps
    assert market.module("toxic_flow").alert("sim", "BTCUSDT")
    # A message stamped exactly at 10 s counts its own mid.
    quote(market, 10_000, 1010)
    assert market.signals["markout_bps_10s"] == pytest.approx(100.0)


def test_sells_are_signed_and_the_alert_releases() -> None:
    market = ScriptedMarket("toxic_flow", settings=SETTINGS)
    quote(market, 0, 1000)
    market.our_fill(0, Side.SELL, 1000)  # we sold, the price rose: adverse
    quote(market, 1000, 1002)
    assert market.signals["markout_bps_1s"] == pytest.approx(-20.0)
    assert market.signals["toxic_flow_alert"] == 1.0
    market.our_fill(2000, Side.SELL, 1002, size_lots=3)  # we sold, the price fell: good
    quote(market, 3000, 998)
    # Size-weighted mean: (-20 * 1 + 39.92 * 3) / 4 > -5 bps: released.
    expected = (-20.0 + 3 * (1002 - 998) / 1002 * 10_000) / 4
    assert market.signals["markout_bps_1s"] == pytest.approx(expected)
    assert market.signals["toxic_flow_alert"] == 0.0


def test_alert_horizon_must_be_a_measured_horizon() -> None:
    with pytest.raises(ValueError, match="alert_horizon_s"):
        ScriptedMarket("toxic_flow", settings={"toxic_flow": {"alert_horizon_s": 5}})
