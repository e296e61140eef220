"""Hand-checked scenarios for the matching engine (host/venues/matching.py)."""

from __future__ import annotations

from decimal import Decimal

from host.models import (
    AmendOrder,
    BookMessage,
    Fill,
    Instrument,
    NewOrder,
    OrderStatus,
    OrderUpdate,
    Side,
    Trade,
)
from host.venues.matching import (
    ConditionalOrder,
    MatchingEngine,
    OpenOrder,
    TriggerBy,
    TriggerDirection,
)
from host.venues.queue_models import ProbabilisticQueue, RiskAverseQueue

INSTRUMENT = Instrument(
    venue="sim", symbol="BTCUSDT", tick_size=Decimal("0.1"), lot_size=Decimal("0.001")
)
MAKER_FEE_RATE = Decimal("-0.0001")
TAKER_FEE_RATE = Decimal("0.00055")
UNIT_NOTIONAL = Decimal("0.0001")  # tick_size * lot_size


def make_engine(**options: object) -> MatchingEngine:
    return MatchingEngine(
        "sim", INSTRUMENT, maker_fee_rate=MAKER_FEE_RATE, taker_fee_rate=TAKER_FEE_RATE,
        **options,  # type: ignore[arg-type]
    )


def book(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]], *, snapshot: bool = False
) -> BookMessage:
    return BookMessage(
        venue="sim", symbol="BTCUSDT", ts_exchange_ns=0, ts_local_ns=0, is_snapshot=snapshot,
        bids=bids, asks=asks,
    )


def trade(price_ticks: int, size_lots: int, aggressor: Side) -> Trade:
    return Trade(
        venue="sim", symbol="BTCUSDT", ts_exchange_ns=0, ts_local_ns=0,
        price_ticks=price_ticks, size_lots=size_lots, aggressor=aggressor,
    )


def order(
    order_link_id: str, side: Side, size_lots: int, price_ticks: int | None,
    time_in_force: str = "GTC", *, reduce_only: bool = False,
) -> NewOrder:
    return NewOrder(
        order_link_id=order_link_id, symbol="BTCUSDT", side=side, size_lots=size_lots,
        price_ticks=price_ticks, time_in_force=time_in_force, reduce_only=reduce_only,
    )


def fills_of(events: list[OrderUpdate | Fill]) -> list[Fill]:
    return [event for event in events if isinstance(event, Fill)]


def updates_of(events: list[OrderUpdate | Fill]) -> list[OrderUpdate]:
    return [event for event in events if isinstance(event, OrderUpdate)]


def only_open(engine: MatchingEngine) -> OpenOrder:
    (open_order,) = engine.open_orders()
    return open_order


def market_engine(**options: object) -> MatchingEngine:
    """Bids 100x5, 99x4, 98x10; asks 101x2, 102x3, 103x10."""
    engine = make_engine(**options)
    engine.on_book(
        book([(100, 5), (99, 4), (98, 10)], [(101, 2), (102, 3), (103, 10)], snapshot=True), 1
    )
    return engine


# ------------------------------------------------------------------ queue position


def test_queue_ahead_five_then_trades_of_three_and_three_fill_one_lot() -> None:
    engine = market_engine()
    placed = engine.place(order("b1", Side.BUY, 2, 100), 10)
    assert [u.status for u in updates_of(placed)] == [OrderStatus.NEW]
    assert only_open(engine).queue_ahead_lots == 5

    assert engine.on_trade(trade(100, 3, Side.SELL), 20) == []
    assert only_open(engine).queue_ahead_lots == 2

    events = engine.on_trade(trade(100, 3, Side.SELL), 30)
    (fill,) = fills_of(events)
    assert (fill.price_ticks, fill.size_lots, fill.is_maker, fill.side) == (100, 1, True, Side.BUY)
    (update,) = updates_of(events)
    assert (update.status, update.filled_lots, update.size_lots) == (
        OrderStatus.PARTIALLY_FILLED, 1, 2,
    )
    assert events.index(fill) < events.index(update)  # fills first, then the state
    assert only_open(engine).queue_ahead_lots == 0
    assert engine.position_lots == 1


def test_trade_of_the_wrong_aggressor_or_price_does_not_touch_the_queue() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 2, 100), 10)
    assert engine.on_trade(trade(100, 9, Side.BUY), 20) == []  # a buyer lifted asks
    assert engine.on_trade(trade(101, 9, Side.SELL), 20) == []  # above our bid
    assert only_open(engine).queue_ahead_lots == 5


def test_trade_through_our_price_fills_all_of_it_at_our_price() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 3, 100), 10)
    events = engine.on_trade(trade(99, 1, Side.SELL), 20)
    (fill,) = fills_of(events)
    assert (fill.price_ticks, fill.size_lots, fill.is_maker) == (100, 3, True)
    assert updates_of(events)[-1].status == OrderStatus.FILLED
    assert engine.open_orders() == []


def test_book_update_that_crosses_our_order_fills_it_as_maker() -> None:
    engine = market_engine()
    engine.place(order("a1", Side.SELL, 2, 102), 10)  # joins behind 3 lots
    events = engine.on_book(book([(102, 7)], []), 20)  # a bid arrives at our ask
    (fill,) = fills_of(events)
    assert (fill.side, fill.price_ticks, fill.size_lots, fill.is_maker) == (
        Side.SELL, 102, 2, True,
    )
    assert engine.position_lots == -2


def test_book_update_away_from_our_prices_changes_nothing_of_ours() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 2, 99), 10)
    assert engine.on_book(book([(98, 1), (100, 0)], [(103, 0), (101, 7)]), 20) == []
    assert only_open(engine).queue_ahead_lots == 4
    assert engine.best_bid_ticks == 99  # 100 deleted: ours is not in the market book
    assert engine.best_ask_ticks == 101


def test_risk_averse_queue_moves_only_when_the_level_drops_below_it() -> None:
    engine = market_engine(queue_model=RiskAverseQueue())
    engine.place(order("b1", Side.BUY, 1, 99), 10)  # behind 4
    engine.on_book(book([(99, 12)], []), 20)  # 8 join behind us
    engine.on_book(book([(99, 6)], []), 30)  # 6 cancelled: all behind us, by assumption
    assert only_open(engine).queue_ahead_lots == 4
    engine.on_book(book([(99, 3)], []), 40)  # fewer lots than our queue ahead remain
    assert only_open(engine).queue_ahead_lots == 3
    engine.on_book(book([(99, 0)], []), 50)
    assert only_open(engine).queue_ahead_lots == 0


def test_probabilistic_queue_splits_a_cancellation_by_position() -> None:
    engine = make_engine(queue_model=ProbabilisticQueue.power(2.0))
    engine.on_book(book([(100, 10)], [(105, 1)], snapshot=True), 1)
    engine.place(order("b1", Side.BUY, 1, 100), 10)
    engine.on_book(book([(100, 20)], []), 20)  # 10 ahead, 10 behind
    # f(10) / (f(10) + f(10)) = 1/2 of the 4 cancelled lots stood ahead of us.
    engine.on_book(book([(100, 16)], []), 30)
    assert only_open(engine).queue_ahead_lots == 8


def test_probabilistic_queue_does_not_count_a_trade_twice() -> None:
    engine = make_engine(queue_model=ProbabilisticQueue.log())
    engine.on_book(book([(100, 10)], [(105, 1)], snapshot=True), 1)
    engine.place(order("b1", Side.BUY, 1, 100), 10)
    engine.on_trade(trade(100, 3, Side.SELL), 20)
    assert only_open(engine).queue_ahead_lots == 7
    engine.on_book(book([(100, 7)], []), 30)  # the shrink is the trade itself
    assert only_open(engine).queue_ahead_lots == 7


def test_probabilistic_queue_carries_fractions_of_a_lot() -> None:
    engine = make_engine(queue_model=ProbabilisticQueue.power(1.0))
    engine.on_book(book([(100, 4)], [(105, 1)], snapshot=True), 1)
    engine.place(order("b1", Side.BUY, 1, 100), 10)
    engine.on_book(book([(100, 16)], []), 20)  # 4 ahead, 12 behind
    # Each one-lot cancel is ~1/4 ahead: never a whole lot alone, one after a few.
    engine.on_book(book([(100, 15)], []), 30)
    assert only_open(engine).queue_ahead_lots == 4
    for size_lots in (14, 13, 12, 11):
        engine.on_book(book([(100, size_lots)], []), 40)
    assert only_open(engine).queue_ahead_lots == 3


def test_probabilistic_model_cannot_cancel_more_than_is_behind() -> None:
    model = ProbabilisticQueue.power(3.0)
    # 2 behind, 5 cancelled: at least 3 must have stood ahead.
    assert model.cancelled_ahead_lots(8.0, 10, 5) >= 3.0
    assert model.cancelled_ahead_lots(8.0, 10, 5) <= 5.0
    assert model.cancelled_ahead_lots(0.0, 10, 5) == 0.0
    assert RiskAverseQueue().cancelled_ahead_lots(8.0, 10, 5) == 0.0


def test_our_second_order_at_a_price_queues_behind_our_first() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 2, 100), 10)
    engine.place(order("b2", Side.BUY, 3, 100), 11)
    assert [o.queue_ahead_lots for o in engine.open_orders()] == [5, 7]
    events = engine.on_trade(trade(100, 8, Side.SELL), 20)  # 5 market, 2 of b1, 1 of b2
    assert [(f.order_link_id, f.size_lots) for f in fills_of(events)] == [("b1", 2), ("b2", 1)]
    # The trade does not change the book: until the feed says so, 100 still shows 5.
    engine.place(order("b3", Side.BUY, 1, 100), 30)
    assert engine.open_orders()[-1].queue_ahead_lots == 5 + 2  # market, then b2's leaves
    engine.cancel("b2", 40)
    assert only_open(engine).queue_ahead_lots == 5


def test_snapshot_clamps_queue_and_fills_what_it_crosses() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 1, 99), 10)
    engine.place(order("a1", Side.SELL, 1, 103), 10)
    events = engine.on_book(book([(99, 2)], [(103, 5)], snapshot=True), 20)
    assert events == []
    assert {o.order_link_id: o.queue_ahead_lots for o in engine.open_orders()} == {
        "b1": 2, "a1": 5,
    }
    events = engine.on_book(book([(103, 1)], [(104, 5)], snapshot=True), 30)
    assert [(f.order_link_id, f.price_ticks) for f in fills_of(events)] == [("a1", 103)]
    assert engine.best_bid_ticks == 103 and engine.best_ask_ticks == 104


# ------------------------------------------------------------------ fees and money


def test_maker_fill_earns_the_rebate_exactly() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 3, 100), 10)
    (fill,) = fills_of(engine.on_trade(trade(99, 1, Side.SELL), 20))
    notional = Decimal("0.1") * Decimal("0.001") * 100 * 3
    assert fill.fee == notional * MAKER_FEE_RATE == Decimal("-0.000003")
    assert fill.fee < 0


def test_taker_fees_are_exact_per_level() -> None:
    engine = market_engine()
    events = engine.place(order("t1", Side.BUY, 4, None), 10)  # market: 2@101, 2@102
    assert [(f.price_ticks, f.size_lots, f.is_maker) for f in fills_of(events)] == [
        (101, 2, False), (102, 2, False),
    ]
    assert [f.fee for f in fills_of(events)] == [
        UNIT_NOTIONAL * 202 * TAKER_FEE_RATE, UNIT_NOTIONAL * 204 * TAKER_FEE_RATE,
    ]
    assert engine.fees_quote == UNIT_NOTIONAL * 406 * TAKER_FEE_RATE


def test_realized_pnl_and_balance() -> None:
    engine = market_engine(balance_quote=Decimal(1000))
    engine.place(order("buy", Side.BUY, 2, 101, "IOC"), 10)  # 2 @ 101
    engine.on_book(book([(110, 5)], [(111, 5)], snapshot=True), 20)
    engine.place(order("sell", Side.SELL, 2, 110, "IOC"), 30)  # 2 @ 110
    assert engine.position_lots == 0
    assert engine.realized_pnl_quote == UNIT_NOTIONAL * 9 * 2
    assert engine.position_cost_quote == 0
    assert engine.balance_quote == Decimal(1000) + UNIT_NOTIONAL * 18 - engine.fees_quote


def test_insufficient_balance_is_rejected_with_110007() -> None:
    engine = market_engine(balance_quote=Decimal("0.05"))  # room for 5 lots at 100
    events = engine.place(order("big", Side.BUY, 6, 100), 10)
    (update,) = events
    assert (update.status, update.reject_code, update.reject_reason) == (
        OrderStatus.REJECTED, "110007", "ab not enough for new order",
    )
    assert updates_of(engine.place(order("ok", Side.BUY, 5, 100), 10))[0].status == "New"
    # The resting order holds the margin: nothing left for another lot.
    assert engine.place(order("more", Side.BUY, 1, 100), 10)[0].reject_code == "110007"


def test_leverage_scales_the_margin() -> None:
    engine = market_engine(balance_quote=Decimal("0.05"), leverage=Decimal(10))
    assert engine.place(order("big", Side.BUY, 50, 100), 10)[0].status == OrderStatus.NEW


# ------------------------------------------------------------------ order types


def test_post_only_that_would_cross_is_cancelled_like_bybit() -> None:
    engine = market_engine()
    events = engine.place(order("p1", Side.BUY, 1, 101, "PostOnly"), 10)
    (update,) = events
    assert update.status == OrderStatus.CANCELLED
    assert update.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    assert update.reject_code == ""
    assert update.venue_order_id  # it was accepted, so it has an id
    assert engine.open_orders() == [] and engine.position_lots == 0
    assert engine.level_size_lots(Side.SELL, 101) == 2  # took nothing


def test_post_only_that_does_not_cross_rests() -> None:
    engine = market_engine()
    (update,) = engine.place(order("p1", Side.SELL, 1, 101, "PostOnly"), 10)
    assert update.status == OrderStatus.NEW
    assert only_open(engine).queue_ahead_lots == 2


def test_ioc_takes_what_it_can_and_cancels_the_rest() -> None:
    engine = market_engine()
    events = engine.place(order("i1", Side.BUY, 10, 102, "IOC"), 10)
    assert [(f.price_ticks, f.size_lots) for f in fills_of(events)] == [(101, 2), (102, 3)]
    (update,) = updates_of(events)
    assert (update.status, update.filled_lots, update.size_lots) == ("Cancelled", 5, 10)
    assert update.reject_reason == "EC_NoImmediateQtyToFill"
    # The liquidity we took is gone from our copy until the feed reports the levels again.
    assert engine.best_ask_ticks == 103
    again = engine.place(order("i2", Side.BUY, 1, 102, "IOC"), 11)
    assert fills_of(again) == [] and again[0].status == OrderStatus.CANCELLED
    engine.on_book(book([], [(101, 2)]), 12)
    assert engine.best_ask_ticks == 101


def test_fok_is_all_or_nothing() -> None:
    engine = market_engine()
    events = engine.place(order("f1", Side.BUY, 6, 102, "FOK"), 10)
    assert fills_of(events) == []
    (update,) = events
    assert (update.status, update.filled_lots, update.reject_reason) == (
        "Cancelled", 0, "EC_NoEnoughQtyToFill",
    )
    assert engine.level_size_lots(Side.SELL, 101) == 2
    events = engine.place(order("f2", Side.BUY, 5, 102, "FOK"), 11)
    assert sum(f.size_lots for f in fills_of(events)) == 5
    assert updates_of(events)[-1].status == OrderStatus.FILLED


def test_market_order_walks_the_book_and_slips() -> None:
    engine = market_engine()
    events = engine.place(order("m1", Side.SELL, 12, None), 10)
    assert [(f.price_ticks, f.size_lots) for f in fills_of(events)] == [
        (100, 5), (99, 4), (98, 3),
    ]
    (update,) = updates_of(events)
    assert (update.status, update.price_ticks) == (OrderStatus.FILLED, None)
    assert engine.level_size_lots(Side.BUY, 98) == 7


def test_market_order_on_an_empty_side_is_cancelled() -> None:
    engine = make_engine()
    (update,) = engine.place(order("m1", Side.BUY, 1, None), 10)
    assert (update.status, update.reject_reason) == ("Cancelled", "EC_NoImmediateQtyToFill")


def test_crossing_gtc_takes_then_rests_the_remainder() -> None:
    engine = market_engine()
    events = engine.place(order("g1", Side.BUY, 4, 101), 10)
    assert [(f.price_ticks, f.size_lots, f.is_maker) for f in fills_of(events)] == [
        (101, 2, False),
    ]
    assert updates_of(events)[-1].status == OrderStatus.PARTIALLY_FILLED
    resting = only_open(engine)
    assert (resting.price_ticks, resting.leaves_lots, resting.queue_ahead_lots) == (101, 2, 0)


# ------------------------------------------------------------------ reduce-only


def test_reduce_only_is_trimmed_to_the_position() -> None:
    engine = market_engine()
    engine.place(order("long", Side.BUY, 3, None), 10)
    (update,) = engine.place(order("tp", Side.SELL, 10, 105, reduce_only=True), 11)
    assert (update.status, update.size_lots) == (OrderStatus.NEW, 3)


def test_reduce_only_on_the_same_side_or_flat_is_rejected_with_110017() -> None:
    engine = market_engine()
    (update,) = engine.place(order("r1", Side.SELL, 1, 105, reduce_only=True), 10)
    assert (update.status, update.reject_code) == (OrderStatus.REJECTED, "110017")
    engine.place(order("long", Side.BUY, 1, None), 11)
    (update,) = engine.place(order("r2", Side.BUY, 1, 99, reduce_only=True), 12)
    assert update.reject_code == "110017"


def test_reduce_only_is_cancelled_when_the_position_closes() -> None:
    engine = market_engine()
    engine.place(order("long", Side.BUY, 2, None), 10)
    engine.place(order("tp", Side.SELL, 2, 110, reduce_only=True), 11)
    events = engine.place(order("close", Side.SELL, 2, None), 12)
    assert engine.position_lots == 0
    tp_updates = [u for u in updates_of(events) if u.order_link_id == "tp"]
    assert [(u.status, u.reject_reason) for u in tp_updates] == [
        (OrderStatus.CANCELLED, "EC_ReduceOnlyCancel"),
    ]
    assert engine.open_orders() == []


# ------------------------------------------------------------------ amend


def test_amend_size_down_keeps_priority_price_change_loses_it() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 4, 100), 10)
    engine.on_trade(trade(100, 6, Side.SELL), 20)  # 5 ahead, 1 for us
    assert (only_open(engine).filled_lots, only_open(engine).queue_ahead_lots) == (1, 0)
    engine.on_book(book([(100, 6)], []), 21)  # 6 join behind us

    (update,) = engine.amend(AmendOrder("b1", "BTCUSDT", 100, 3), 30)
    assert (update.status, update.size_lots, update.filled_lots) == ("PartiallyFilled", 3, 1)
    kept = only_open(engine)
    assert (kept.queue_ahead_lots, kept.priority_ts_ns) == (0, 10)

    (update,) = engine.amend(AmendOrder("b1", "BTCUSDT", 99, 3), 40)
    moved = only_open(engine)
    assert (moved.price_ticks, moved.queue_ahead_lots, moved.priority_ts_ns) == (99, 4, 40)
    assert update.price_ticks == 99


def test_amend_size_up_goes_to_the_back() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 1, 100), 10)
    engine.on_trade(trade(100, 5, Side.SELL), 20)
    assert only_open(engine).queue_ahead_lots == 0
    engine.on_book(book([(100, 4)], []), 21)
    engine.amend(AmendOrder("b1", "BTCUSDT", 100, 2), 30)
    assert only_open(engine).queue_ahead_lots == 4


def test_amend_below_filled_is_refused_without_touching_the_order() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 4, 100), 10)
    engine.on_trade(trade(100, 7, Side.SELL), 20)  # 2 filled
    (update,) = engine.amend(AmendOrder("b1", "BTCUSDT", 100, 2), 30)
    assert (update.status, update.reject_code) == (OrderStatus.PARTIALLY_FILLED, "10001")
    assert only_open(engine).size_lots == 4


def test_amend_to_a_crossing_price_takes_or_cancels_post_only() -> None:
    engine = market_engine()
    engine.place(order("g1", Side.BUY, 3, 99), 10)
    events = engine.amend(AmendOrder("g1", "BTCUSDT", 101, 3), 20)
    assert [(f.price_ticks, f.size_lots, f.is_maker) for f in fills_of(events)] == [
        (101, 2, False),
    ]
    assert updates_of(events)[-1].status == OrderStatus.PARTIALLY_FILLED
    engine.place(order("p1", Side.SELL, 1, 104, "PostOnly"), 30)
    (update,) = engine.amend(AmendOrder("p1", "BTCUSDT", 100, 1), 40)
    assert (update.status, update.reject_reason) == ("Cancelled", "EC_PostOnlyWillTakeLiquidity")


def test_amend_of_unknown_order_is_110001() -> None:
    engine = market_engine()
    (update,) = engine.amend(AmendOrder("nope", "BTCUSDT", 100, 1), 10)
    assert (update.status, update.reject_code) == (OrderStatus.UNKNOWN, "110001")


# ------------------------------------------------------------------ cancel


def test_cancel_after_fill_reports_filled_with_110001() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 1, 100), 10)
    engine.on_trade(trade(99, 1, Side.SELL), 20)
    (update,) = engine.cancel("b1", 30)
    assert update.status == OrderStatus.FILLED  # not Rejected: the order did fill
    assert (update.reject_code, update.reject_reason) == (
        "110001", "order not exists or too late to cancel",
    )
    assert update.filled_lots == 1


def test_cancel_twice_and_cancel_unknown() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 1, 100), 10)
    (first,) = engine.cancel("b1", 20)
    assert (first.status, first.reject_code) == (OrderStatus.CANCELLED, "")
    (second,) = engine.cancel("b1", 30)
    assert (second.status, second.reject_code) == (OrderStatus.CANCELLED, "110001")
    (unknown,) = engine.cancel("never", 30)
    assert (unknown.status, unknown.reject_code) == (OrderStatus.UNKNOWN, "110001")
    assert engine.on_trade(trade(90, 5, Side.SELL), 40) == []  # no fill after cancel


# ------------------------------------------------------------------ validation


def test_invalid_orders_are_rejected_with_10001() -> None:
    engine = market_engine()
    bad = [
        order("zero", Side.BUY, 0, 100),
        order("negative", Side.BUY, -1, 100),
        order("price", Side.BUY, 1, 0),
        order("tif", Side.BUY, 1, 100, "GTX"),
        order("market_post", Side.BUY, 1, None, "PostOnly"),
        NewOrder("symbol", "ETHUSDT", Side.BUY, 1, 100),
    ]
    for new_order in bad:
        (update,) = engine.place(new_order, 10)
        assert (update.status, update.reject_code) == (OrderStatus.REJECTED, "10001"), new_order
        assert update.reject_reason
    assert engine.open_orders() == []


def test_duplicate_order_link_id_is_rejected() -> None:
    engine = market_engine()
    engine.place(order("b1", Side.BUY, 1, 100), 10)
    (update,) = engine.place(order("b1", Side.BUY, 1, 99), 11)
    assert update.reject_code == "110072"
    assert only_open(engine).price_ticks == 100


# ------------------------------------------------------------------ conditional orders


def test_stop_loss_triggers_on_last_price_and_walks_the_book() -> None:
    engine = market_engine()
    engine.place(order("long", Side.BUY, 12, 103, "IOC"), 10)
    assert engine.position_lots == 12
    stop = ConditionalOrder(
        order("sl", Side.SELL, 12, None, reduce_only=True), trigger_price_ticks=99,
        trigger_direction=TriggerDirection.FALLING,
    )
    (update,) = engine.place_conditional(stop, 11)
    assert update.status == "Untriggered"
    assert engine.on_trade(trade(100, 1, Side.SELL), 20) == []
    events = engine.on_trade(trade(99, 1, Side.SELL), 30)
    assert [u.status for u in updates_of(events)] == ["Triggered", OrderStatus.FILLED]
    # The sell printed at 99 took the bids at 100: the stop walks from 99 down.
    assert [(f.price_ticks, f.size_lots, f.is_maker) for f in fills_of(events)] == [
        (99, 4, False), (98, 8, False),
    ]
    assert engine.position_lots == 0
    assert updates_of(events)[0].venue_order_id == updates_of(events)[1].venue_order_id
    assert engine.open_conditionals() == []


def test_take_profit_on_mark_price_releases_a_limit_order() -> None:
    engine = market_engine()
    engine.place(order("long", Side.BUY, 1, None), 10)
    take_profit = ConditionalOrder(
        order("tp", Side.SELL, 1, 104, reduce_only=True), trigger_price_ticks=104,
        trigger_direction=TriggerDirection.RISING, trigger_by=TriggerBy.MARK_PRICE,
    )
    engine.place_conditional(take_profit, 11)
    assert engine.on_trade(trade(105, 1, Side.BUY), 20) == []  # last price is not watched
    events = engine.on_mark_price(104, 30)
    assert [u.status for u in updates_of(events)] == ["Triggered", OrderStatus.NEW]
    assert only_open(engine).price_ticks == 104


def test_conditional_already_past_its_trigger_is_refused() -> None:
    engine = market_engine()
    engine.on_trade(trade(100, 1, Side.SELL), 5)
    stop = ConditionalOrder(
        order("sl", Side.SELL, 1, None), trigger_price_ticks=101,
        trigger_direction=TriggerDirection.FALLING,
    )
    (update,) = engine.place_conditional(stop, 10)
    assert (update.status, update.reject_code) == (OrderStatus.REJECTED, "10001")


def test_cancelled_conditional_is_deactivated_and_never_fires() -> None:
    engine = market_engine()
    stop = ConditionalOrder(
        order("sl", Side.SELL, 1, None), trigger_price_ticks=95,
        trigger_direction=TriggerDirection.FALLING,
    )
    engine.place_conditional(stop, 10)
    (update,) = engine.cancel("sl", 20)
    assert update.status == "Deactivated"
    assert engine.on_trade(trade(90, 1, Side.SELL), 30) == []


# ------------------------------------------------------------------ determinism


def test_same_inputs_give_identical_events_and_ids() -> None:
    def run() -> list[OrderUpdate | Fill]:
        engine = market_engine(queue_model=ProbabilisticQueue.power(2.0))
        events = engine.place(order("b1", Side.BUY, 3, 100), 10)
        events += engine.on_book(book([(100, 9)], []), 11)
        events += engine.on_book(book([(100, 4)], []), 12)
        events += engine.on_trade(trade(100, 5, Side.SELL), 13)
        events += engine.place(order("t1", Side.SELL, 2, None), 14)
        return events

    first, second = run(), run()
    assert first == second
    exec_ids = [f.exec_id for f in fills_of(first)]
    assert exec_ids and all(exec_id.startswith("sim-") for exec_id in exec_ids)
    assert len(set(exec_ids)) == len(exec_ids)


def test_a_trade_through_the_book_copy_removes_the_levels_it_took() -> None:
    """Trades often arrive before the depth update of the same sweep: a market
    order in between must not fill at bids the trade already took."""
    engine = market_engine()
    best_bid = engine.best_bid_ticks
    assert best_bid is not None
    engine.on_trade(trade(best_bid - 1, 1, Side.SELL), 20)
    assert engine.best_bid_ticks is not None and engine.best_bid_ticks <= best_bid - 1
    events = engine.place(order("sell", Side.SELL, 1, None), 21)
    assert all(f.price_ticks <= best_bid - 1 for f in fills_of(events))
