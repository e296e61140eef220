"""Each library strategy on hand-built books, against hand-computed prices.

Book: best bid 640,000 and best ask 640,001 ticks (BTCUSDT, tick 0.1): mid
640,000.5, so 1 bps = 64.00005 ticks. 500 USDT at 640,000 ticks is 7 lots
(one lot at that price is worth 64 USDT).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from strategy_harness import FakeBook, make_harness

from host import Decision, Fill, OrderUpdate, Quote, Side, Stop, Take
from host.estimators import IntensityFit
from host.models import OrderStatus

S = 1_000_000_000
BID, ASK = 640_000, 640_001


def book() -> FakeBook:
    return FakeBook(BID, ASK)


def quotes_by_tag(decision: Decision | None) -> dict[str, Quote]:
    assert decision is not None
    return {quote.tag: quote for quote in decision.quotes}


def fill(side: Side, price_ticks: int, size_lots: int, ts_ns: int = 0) -> Fill:
    return Fill(
        "sim", "BTCUSDT", "x-1", "e-1", side, price_ticks, size_lots, Decimal(0), True, ts_ns
    )


@dataclass
class StubEstimates:
    """Stands in for MarketEstimates with chosen sigma, A and k."""

    sigma: float
    fit: IntensityFit
    ready: bool = True

    def sigma_bps_per_sqrt_s(self) -> float:
        return self.sigma

    def intensity_fit(self) -> IntensityFit:
        return self.fit

    def observe_book(self, ts_ns: int, mid_ticks: float | None) -> None:
        pass


# -- dynamic_spread ----------------------------------------------------------------------------


def test_dynamic_spread_width_from_volatility_signal() -> None:
    harness = make_harness("dynamic_spread", book(), liquidity_widening_bps=0)
    assert harness.strategy.on_book(harness.book) is None  # no volatility known yet
    harness.signals.set("volatility_bps_10s", 2.0, 0)
    quotes = quotes_by_tag(harness.strategy.on_book(harness.book))
    # half = 0.05 + 0.1 * 2 = 0.25 bps = 16.0000125 ticks
    assert quotes["bid"] == Quote(Side.BUY, 639_984, 7, "bid")  # floor(640000.5 - 16.0000125)
    assert quotes["ask"] == Quote(Side.SELL, 640_017, 7, "ask")  # ceil(640000.5 + 16.0000125)


def test_dynamic_spread_widens_on_a_thin_book() -> None:
    harness = make_harness("dynamic_spread", book())
    harness.signals.set("volatility_bps_10s", 2.0, 0)
    # 1000 lots each side = 128,000 USDT of a 1,000,000 reference: thinness 0.872,
    # + 0.2 * 0.872 bps -> half 0.4244 bps = 27.16162 ticks.
    quotes = quotes_by_tag(harness.strategy.on_book(harness.book))
    assert quotes["bid"].price_ticks == 639_973
    assert quotes["ask"].price_ticks == 640_028


def test_dynamic_spread_hysteresis_and_inventory_limit() -> None:
    harness = make_harness("dynamic_spread", book(), liquidity_widening_bps=0)
    harness.signals.set("volatility_bps_10s", 2.0, 0)
    assert harness.strategy.on_book(harness.book) is not None
    assert harness.strategy.on_book(harness.book) is None  # nothing moved
    harness.book.best_bid_ticks, harness.book.best_ask_ticks = BID + 2, ASK + 2
    assert harness.strategy.on_book(harness.book) is None  # 2 ticks: within the threshold
    harness.book.best_bid_ticks, harness.book.best_ask_ticks = BID + 3, ASK + 3
    assert harness.strategy.on_book(harness.book) is not None
    # Long 78 lots = the 5000 USDT limit: no bid; the ask is skewed down to the touch.
    harness.book.best_bid_ticks, harness.book.best_ask_ticks = BID, ASK
    harness.set_position(78, BID)
    quotes = quotes_by_tag(harness.strategy.on_fill(fill(Side.BUY, BID, 7)))
    assert set(quotes) == {"ask"}
    assert quotes["ask"].price_ticks == ASK  # ceil(639981.3 + 16.0) = 639998, kept off the bid


def test_dynamic_spread_falls_back_to_its_own_volatility() -> None:
    harness = make_harness("dynamic_spread", book(), use_volatility_signal=False)
    decisions = []
    for step in range(25):  # 25 x 100 ms steps: past the 20-sample warm-up
        harness.clock.advance_to(harness.clock.now_ns() + S // 10)
        harness.book.best_bid_ticks, harness.book.best_ask_ticks = BID + step % 2, ASK + step % 2
        decisions.append(harness.strategy.on_book(harness.book))
    assert harness.strategy.volatility.ready
    # Quiet until the estimate is warm, then quotes (and no spam: a 1-tick wobble is kept).
    assert decisions[:19] == [None] * 19
    assert sum(decision is not None for decision in decisions) == 1


# -- avellaneda_stoikov ------------------------------------------------------------------------


def as_harness(**params: object):
    harness = make_harness("avellaneda_stoikov", book(), **params)
    harness.strategy.estimates = StubEstimates(0.5, IntensityFit(1.5, 3.0, 1.0, 20))
    return harness


def test_avellaneda_stoikov_quotes_around_the_reservation_price() -> None:
    harness = as_harness()
    # spread = 0.05 * 0.25 * 30 + (2 / 0.05) ln(1 + 0.05 / 3) = 1.036172 bps; half 0.518086
    # = 33.15753 ticks from the mid.
    quotes = quotes_by_tag(harness.strategy.on_book(harness.book))
    assert quotes["bid"] == Quote(Side.BUY, 639_967, 7, "bid")
    assert quotes["ask"] == Quote(Side.SELL, 640_034, 7, "ask")
    # Long 14 lots = 2 orders: reservation 2 * 0.05 * 0.25 * 30 = 0.75 bps under the mid.
    harness.set_position(14, BID)
    quotes = quotes_by_tag(harness.strategy.on_fill(fill(Side.BUY, BID, 7)))
    assert quotes["bid"].price_ticks == 639_919  # floor(640000.5 - 1.268086 * 64.00005)
    # The ask would sit 0.23 bps under the mid: clamped to the mid, then off the best bid.
    assert quotes["ask"].price_ticks == ASK


def test_avellaneda_stoikov_waits_for_its_estimates_and_counts_down_a_finite_horizon() -> None:
    harness = make_harness("avellaneda_stoikov", book(), finite_horizon=True, horizon_s=30)
    assert harness.strategy.on_book(harness.book) is None  # warming up
    start_ns = harness.strategy.session_start_ns
    assert harness.strategy.time_left_s(start_ns + 10 * S) == pytest.approx(20.0)
    assert harness.strategy.time_left_s(start_ns + 45 * S) == pytest.approx(15.0)


# -- glft ------------------------------------------------------------------------------------------


def test_glft_quotes_from_its_closed_form() -> None:
    harness = make_harness("glft", book())
    harness.strategy.estimates = StubEstimates(0.5, IntensityFit(1.5, 3.0, 1.0, 20))
    # c1 = ln(1 + 0.05/3) / 0.05 = 0.330586 ; c2 = 0.123399 ; half = c1 + 0.5 * 0.5 * c2 = 0.361436
    quotes = quotes_by_tag(harness.strategy.on_book(harness.book))
    assert quotes["bid"].price_ticks == 639_977
    assert quotes["ask"].price_ticks == 640_024
    # Long 2 orders: skew 2 * 0.5 * c2 = 0.123399 bps, both quotes lower.
    harness.set_position(14, BID)
    quotes = quotes_by_tag(harness.strategy.on_fill(fill(Side.BUY, BID, 7)))
    assert quotes["bid"].price_ticks == 639_969
    assert quotes["ask"].price_ticks == 640_016


# -- ladder ----------------------------------------------------------------------------------------


def test_ladder_levels_sizes_and_stable_tags() -> None:
    harness = make_harness("ladder", book())
    quotes = quotes_by_tag(harness.strategy.on_book(harness.book))
    assert sorted(quotes) == sorted(
        [f"bid{i}" for i in range(1, 6)] + [f"ask{i}" for i in range(1, 6)]
    )
    # Distances 0.2, 0.7, 1.2, 1.7, 2.2 bps;
    # sizes 200, 300, 400, 500, 600 USDT = 3, 4, 6, 7, 9 lots.
    assert [quotes[f"bid{i}"].size_lots for i in range(1, 6)] == [3, 4, 6, 7, 9]
    assert quotes["bid1"].price_ticks == 639_987  # floor(640000.5 - 12.80001)
    assert quotes["ask1"].price_ticks == 640_014  # ceil(640000.5 + 12.80001)
    assert quotes["bid5"].price_ticks == 639_859  # floor(640000.5 - 140.80011)
    # Long 150 of a 156-lot limit: only bid1 (3 lots) still fits.
    harness.set_position(150, BID)
    quotes = quotes_by_tag(harness.strategy.on_fill(fill(Side.BUY, BID, 3)))
    assert [tag for tag in quotes if tag.startswith("bid")] == ["bid1"]


def test_ladder_geometric_progressions() -> None:
    harness = make_harness(
        "ladder",
        book(),
        spacing_progression="geometric",
        spacing_ratio=1.5,
        size_progression="geometric",
        size_ratio=2.0,
        levels=4,
    )
    assert harness.strategy.distances_bps == pytest.approx([0.2, 0.7, 1.45, 2.575])
    assert harness.strategy.size_factors == [1.0, 2.0, 4.0, 8.0]


def test_ladder_moves_with_amends_on_the_bundled_recording(bundled_run) -> None:
    oms = bundled_run("ladder", 0).runtime.engine.oms
    # Stable tags per level: the ladder follows the market by amending its orders.
    assert oms.amends_sent > len(oms.orders)


# -- scalper ---------------------------------------------------------------------------------------


def bid_heavy_book() -> FakeBook:
    # Imbalance over 5 levels (1000 - 200) / 1200 = 0.67; microprice 640000.9 > mid.
    return FakeBook(BID, ASK, bids=[(BID, 900), (BID - 1, 100)], asks=[(ASK, 100), (ASK + 1, 100)])


def test_scalper_joins_the_touch_on_imbalance_computed_from_the_book() -> None:
    harness = make_harness("scalper", bid_heavy_book())
    decision = harness.strategy.on_book(harness.book)
    assert decision == Decision(quotes=(Quote(Side.BUY, BID, 7, "entry"),))
    assert harness.strategy.on_book(harness.book) is None  # already resting
    # The analyzer's signal wins over the book: it says sell, the microprice disagrees.
    harness.signals.set("imbalance_5", -0.9, 0)
    assert harness.strategy.on_book(harness.book) == Decision()  # entry withdrawn


def test_scalper_take_entry_is_an_ioc_at_the_far_touch() -> None:
    harness = make_harness("scalper", bid_heavy_book(), entry="take", max_slippage_ticks=1)
    decision = harness.strategy.on_book(harness.book)
    assert decision == Decision(takes=(Take(Side.BUY, 7, "entry", price_ticks=ASK + 1),))
    assert harness.strategy.on_book(harness.book) is None  # cooling down: one IOC at a time


def test_scalper_exits_with_take_profit_stop_loss_and_time_limit() -> None:
    harness = make_harness("scalper", bid_heavy_book())
    harness.set_position(7, BID)
    decision = harness.strategy.on_fill(fill(Side.BUY, BID, 7))
    # 1 bps = 64 ticks above the entry; stop 2 bps = 128 ticks under it.
    assert decision == Decision(
        quotes=(Quote(Side.SELL, 640_064, 7, "take_profit", post_only=False, reduce_only=True),),
        stops=(Stop(Side.SELL, 7, 639_872, False, "stop_loss"),),
    )
    assert harness.strategy.on_book(harness.book) is None  # exits rest; no new entry
    entry_ns = harness.clock.now_ns()
    assert harness.strategy.on_timer(entry_ns + 59 * S) is None
    assert harness.strategy.on_timer(entry_ns + 60 * S) == Decision(
        takes=(Take(Side.SELL, 7, "time_exit", reduce_only=True),)
    )
    assert harness.strategy.on_timer(entry_ns + 61 * S) is None  # sent once
    harness.set_position(0, 0)
    assert harness.strategy.on_fill(fill(Side.SELL, BID, 7)) == Decision()  # flat: cancel the rest
    assert harness.strategy.on_book(harness.book) is None  # cooldown


def test_scalper_closes_at_market_when_its_stop_is_refused() -> None:
    harness = make_harness("scalper", bid_heavy_book())
    harness.set_position(-7, BID)
    decision = harness.strategy.on_fill(fill(Side.SELL, BID, 7))
    assert decision is not None and decision.stops[0].rising  # short: stop above
    assert decision.stops[0].trigger_price_ticks == 640_128
    refused = OrderUpdate(
        "sim", "BTCUSDT", "x-2", OrderStatus.REJECTED, 0, Side.BUY, None, 7, reject_code="10001"
    )
    assert harness.strategy.on_order_update(refused) == Decision(
        takes=(Take(Side.BUY, 7, "stop_exit", reduce_only=True),)
    )
