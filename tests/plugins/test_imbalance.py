"""imbalance: top-N and within-bps imbalance, microprice, on known books."""

from __future__ import annotations

import random

import pytest
from scripted_market import ScriptedMarket

from host import Side

SETTINGS = {"imbalance": {"levels": [1, 2], "within_bps": [1, 2]}}


def test_signals_on_a_known_book() -> None:
    market = ScriptedMarket("imbalance", settings=SETTINGS)
    # 1 bps of 100_000 ticks is 10 ticks.
    market.snapshot(
        0,
        bids={100_000: 10, 99_995: 20, 99_985: 30},
        asks={100_001: 5, 100_008: 5, 100_030: 40},
    )
    signals = market.signals
    assert signals["imbalance_1"] == pytest.approx((10 - 5) / 15)
    assert signals["imbalance_2"] == pytest.approx((30 - 10) / 40)
    # 1 bps: bids >= 99_990 (30 lots), asks <= 100_011 (10 lots)
    assert signals["imbalance_1bps"] == pytest.approx((30 - 10) / 40)
    # 2 bps: bids >= 99_980 (60 lots), asks <= 100_021 (10 lots)
    assert signals["imbalance_2bps"] == pytest.approx((60 - 10) / 70)
    micro = (100_000 * 5 + 100_001 * 10) / 15
    assert signals["microprice_ticks"] == pytest.approx(micro)
    assert signals["microprice_offset_ticks"] == pytest.approx(micro - 100_000.5)


def test_touch_moves_keep_the_band_sums_exact() -> None:
    market = ScriptedMarket("imbalance", settings=SETTINGS)
    market.snapshot(0, bids={100_000: 10, 99_995: 20, 99_985: 30}, asks={100_001: 5})
    # The best bid leaves: the 1 bps band now starts at ceil(99_995 * 0.9999)
    # = 99_986, so 99_985 stays out; the 2 bps band (>= 99_976) takes it in.
    market.delta(100, bids={100_000: 0})
    assert market.signals["imbalance_1bps"] == pytest.approx((20 - 5) / 25)
    assert market.signals["imbalance_2bps"] == pytest.approx((50 - 5) / 55)
    assert market.signals["imbalance_1"] == pytest.approx((20 - 5) / 25)


def test_random_walk_matches_a_full_recount() -> None:
    """Incremental sums equal the book's own depth_within_bps after every message."""
    randomness = random.Random(7)
    market = ScriptedMarket(
        "imbalance", settings={"imbalance": {"levels": [1, 3, 8], "within_bps": [0.5, 3]}}
    )
    bids = {100_000 - i: randomness.randint(1, 50) for i in range(1, 80)}
    asks = {100_000 + i: randomness.randint(1, 50) for i in range(1, 80)}
    market.snapshot(0, bids=bids, asks=asks)
    book = market.book
    for step in range(1, 400):
        best_bid, best_ask = book.best_bid_ticks, book.best_ask_ticks
        bid_changes: dict[int, int] = {}
        ask_changes: dict[int, int] = {}
        for _ in range(randomness.randint(1, 6)):
            if randomness.random() < 0.5:
                price = best_bid - randomness.randint(-2, 60)
                if price < best_ask:
                    bid_changes[price] = randomness.choice([0, randomness.randint(1, 80)])
            else:
                price = best_ask + randomness.randint(-2, 60)
                if price > best_bid:
                    ask_changes[price] = randomness.choice([0, randomness.randint(1, 80)])
        if not set(bid_changes) & set(ask_changes):
            market.delta(step * 10, bids=bid_changes, asks=ask_changes)
        if not (book.is_valid and book.best_bid_ticks and book.best_ask_ticks):
            break
        for bps in (0.5, 3.0):
            bid_lots = book.depth_within_bps(Side.BUY, bps)
            ask_lots = book.depth_within_bps(Side.SELL, bps)
            expected = (bid_lots - ask_lots) / (bid_lots + ask_lots)
            assert market.signals[f"imbalance_{bps:g}bps"] == pytest.approx(expected)
        for count in (1, 3, 8):
            bid_lots = sum(level.size_lots for level in book.levels(Side.BUY, count))
            ask_lots = sum(level.size_lots for level in book.levels(Side.SELL, count))
            expected = (bid_lots - ask_lots) / (bid_lots + ask_lots)
            assert market.signals[f"imbalance_{count}"] == pytest.approx(expected)


def test_unknown_setting_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"plugins\.imbalance.*unknown key 'levelz'"):
        ScriptedMarket("imbalance", settings={"imbalance": {"levelz": 3}})


def test_bad_value_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"levels"):
        ScriptedMarket("imbalance", settings={"imbalance": {"levels": [0]}})
