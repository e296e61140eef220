"""spoofing: large orders pulled as the price approaches, ladders that vanish
together, and genuine orders that trade away (never flagged)."""

from __future__ import annotations

import pytest
from scripted_market import ScriptedMarket

from host import Side

# Every level holds 10 lots, so the reference is 10: a placement adds >= 30,
# a lone spoof >= 50. 25 bps of 100_000 ticks is 250 ticks.
SETTINGS = {
    "spoofing": {
        "reference_levels": 10,
        "track_multiple": 3,
        "size_multiple": 5,
        "min_distance_ticks": 2,
        "trade_grace_ms": 250,
        "ladder_window_ms": 100,
        "ladder_min_levels": 3,
    }
}
TOUCH = 100_000


def fresh_book(market: ScriptedMarket, at_ms: float) -> None:
    market.snapshot(
        at_ms,
        bids={TOUCH - index: 10 for index in range(10)},
        asks={TOUCH + 1 + index: 10 for index in range(10)},
    )


def sell_down_to(market: ScriptedMarket, at_ms: float, new_best_bid: int) -> None:
    """Sellers hit the bids from the touch down to (not including) new_best_bid."""
    for price in range(TOUCH, new_best_bid, -1):
        market.trade(at_ms, price, 10, Side.SELL)
    market.delta(at_ms, bids={price: 0 for price in range(TOUCH, new_best_bid, -1)})


def spoof_episode(market: ScriptedMarket, start_ms: float) -> None:
    fresh_book(market, start_ms)
    market.delta(start_ms + 100, bids={TOUCH - 10: 100})  # 10 ticks away, 10x reference
    sell_down_to(market, start_ms + 500, TOUCH - 5)  # the touch comes 5 ticks closer
    market.delta(start_ms + 700, bids={TOUCH - 10: 0})  # pulled: no trade at its price
    market.delta(start_ms + 1100, asks={TOUCH + 5: 11})  # later event: grace has passed


def test_repeated_spoofing_is_detected_with_evidence() -> None:
    market = ScriptedMarket("spoofing", settings=SETTINGS)
    for episode in range(3):
        spoof_episode(market, episode * 2000)
    events = market.module("spoofing").events("sim", "BTCUSDT")
    assert [(event.kind, event.side) for event in events] == [("spoof", Side.BUY)] * 3
    (evidence,) = events[0].levels
    assert evidence.price_ticks == TOUCH - 10
    assert evidence.added_lots == 100
    assert evidence.lifetime_ms == pytest.approx(600.0)
    assert evidence.distance_at_placement_ticks == 10
    assert evidence.distance_at_removal_ticks == 5
    assert evidence.traded_lots == 0
    assert evidence.cancelled_lots == 100
    signals = market.signals
    assert 2.9 < signals["spoof_score_bid"] <= 3.0  # three episodes, barely decayed
    assert signals["spoof_score_ask"] == 0.0
    assert signals["spoof_events"] == 3.0


def test_a_large_order_that_gets_filled_is_not_flagged() -> None:
    market = ScriptedMarket("spoofing", settings=SETTINGS)
    fresh_book(market, 0)
    market.delta(100, bids={TOUCH - 10: 100})
    sell_down_to(market, 500, TOUCH - 10)
    # Sellers reach the large order and consume it: trades at its price.
    market.trade(800, TOUCH - 10, 60, Side.SELL)
    market.delta(800, bids={TOUCH - 10: 50})
    market.trade(900, TOUCH - 10, 50, Side.SELL)
    market.delta(900, bids={TOUCH - 10: 0})
    market.delta(2000, asks={TOUCH + 5: 11})
    assert market.module("spoofing").events("sim", "BTCUSDT") == []
    assert market.signals["spoof_score_bid"] == 0.0


def test_fills_reported_after_the_depth_update_still_count() -> None:
    """The depth stream shows the level gone before the tape shows the trades."""
    market = ScriptedMarket("spoofing", settings=SETTINGS)
    fresh_book(market, 0)
    market.delta(100, bids={TOUCH - 10: 100})
    sell_down_to(market, 500, TOUCH - 10)
    market.delta(800, bids={TOUCH - 10: 0})
    market.trade(900, TOUCH - 10, 110, Side.SELL)  # 100 ms later, inside the grace
    market.delta(2000, asks={TOUCH + 5: 11})
    assert market.module("spoofing").events("sim", "BTCUSDT") == []


def test_a_pulled_order_the_price_never_approached_is_not_a_spoof() -> None:
    market = ScriptedMarket("spoofing", settings=SETTINGS)
    fresh_book(market, 0)
    market.delta(100, bids={TOUCH - 10: 100})
    market.delta(700, bids={TOUCH - 10: 0})
    market.delta(1100, asks={TOUCH + 5: 11})
    assert market.module("spoofing").events("sim", "BTCUSDT") == []


def test_a_ladder_that_appears_and_vanishes_together_is_layering() -> None:
    market = ScriptedMarket("spoofing", settings=SETTINGS)
    fresh_book(market, 0)
    ladder = {TOUCH + 20: 40, TOUCH + 21: 40, TOUCH + 22: 40}  # each 4x: below a lone spoof
    market.delta(100, asks=ladder)
    market.delta(400, asks={price: 0 for price in ladder})
    market.delta(1000, bids={TOUCH - 5: 11})
    (event,) = market.module("spoofing").events("sim", "BTCUSDT")
    assert event.kind == "layering"
    assert event.side is Side.SELL
    assert [level.price_ticks for level in event.levels] == sorted(ladder)
    assert all(level.cancelled_lots == 40 for level in event.levels)
    assert all(level.lifetime_ms == pytest.approx(300.0) for level in event.levels)
    assert market.signals["spoof_score_ask"] == pytest.approx(1.0, abs=0.02)


def test_a_ladder_that_trades_away_is_not_layering() -> None:
    market = ScriptedMarket("spoofing", settings=SETTINGS)
    fresh_book(market, 0)
    ladder = {TOUCH + 20: 40, TOUCH + 21: 40, TOUCH + 22: 40}
    market.delta(100, asks=ladder)
    for price in ladder:
        market.trade(400, price, 40, Side.BUY)
    market.delta(400, asks={price: 0 for price in ladder})
    market.delta(1000, bids={TOUCH - 5: 11})
    assert market.module("spoofing").events("sim", "BTCUSDT") == []


def test_ladders_on_both_sides_together_are_market_making_not_layering() -> None:
    """A maker requoting both sides places and pulls a ladder on each at once:
    neither is reported; the same ask ladder alone is (the test above)."""
    market = ScriptedMarket("spoofing", settings=SETTINGS)
    fresh_book(market, 0)
    asks = {TOUCH + 20: 40, TOUCH + 21: 40, TOUCH + 22: 40}
    bids = {TOUCH - 20: 40, TOUCH - 21: 40, TOUCH - 22: 40}
    market.delta(100, asks=asks)
    market.delta(150, bids=bids)  # within the 100 ms ladder window of the asks
    market.delta(400, asks={price: 0 for price in asks}, bids={price: 0 for price in bids})
    market.delta(1000, bids={TOUCH - 5: 11})
    module = market.module("spoofing")
    assert module.events("sim", "BTCUSDT") == []
    assert module.analyzer.states[("sim", "BTCUSDT")].two_sided_ladders == 2


def test_a_ladder_on_the_other_side_later_than_the_window_does_not_excuse_layering() -> None:
    market = ScriptedMarket("spoofing", settings=SETTINGS)
    fresh_book(market, 0)
    asks = {TOUCH + 20: 40, TOUCH + 21: 40, TOUCH + 22: 40}
    bids = {TOUCH - 20: 40, TOUCH - 21: 40, TOUCH - 22: 40}
    market.delta(100, asks=asks)
    market.delta(300, bids=bids)  # 200 ms later: a separate decision
    market.delta(400, asks={price: 0 for price in asks})
    market.delta(600, bids={price: 0 for price in bids})
    market.delta(1200, bids={TOUCH - 5: 11})
    events = market.module("spoofing").events("sim", "BTCUSDT")
    assert sorted((event.kind, event.side) for event in events) == [
        ("layering", Side.SELL),
        ("layering", Side.BUY),
    ]
