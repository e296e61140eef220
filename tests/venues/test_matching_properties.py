"""Invariants of the matching engine under random markets and random order flow.

A hypothesis state machine drives book deltas, snapshots, trades, mark prices
and every order action at random, and checks after each step what must hold
whatever happened: quantity is conserved, no fill is worse than its limit,
the position is the sum of signed fills, nothing fills after it ended, queue
positions are never negative, and no order of ours rests crossed with the
market book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

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
    DEACTIVATED,
    TRIGGERED,
    UNTRIGGERED,
    ConditionalOrder,
    MatchingEngine,
    TriggerBy,
    TriggerDirection,
)
from host.venues.queue_models import ProbabilisticQueue, RiskAverseQueue

INSTRUMENT = Instrument(
    venue="sim", symbol="BTCUSDT", tick_size=Decimal("0.5"), lot_size=Decimal("0.01")
)
MAKER_FEE_RATE = Decimal("-0.00025")
TAKER_FEE_RATE = Decimal("0.00075")

prices = st.integers(min_value=95, max_value=105)
sizes = st.integers(min_value=0, max_value=8)
sides = st.sampled_from([Side.BUY, Side.SELL])
levels = st.lists(st.tuples(prices, sizes), max_size=4)


@dataclass
class Expected:
    """What the test knows about one order from the events alone."""

    side: Side
    limit_ticks: int | None
    size_lots: int
    status: str
    filled_lots: int = 0
    fills: list[Fill] = field(default_factory=list)


class MatchingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine: MatchingEngine | None = None
        self.orders: dict[str, Expected] = {}
        self.position_lots = 0
        self.counter = 0

    @rule(
        model=st.sampled_from(["risk_averse", "power", "log"]),
        bids=levels, asks=levels,
        balance=st.sampled_from([None, Decimal("5"), Decimal("50")]),
    )
    @precondition(lambda self: self.engine is None)
    def start(
        self, model: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]],
        balance: Decimal | None,
    ) -> None:
        queue_model = {
            "risk_averse": RiskAverseQueue(),
            "power": ProbabilisticQueue.power(2.0),
            "log": ProbabilisticQueue.log(),
        }[model]
        self.engine = MatchingEngine(
            "sim", INSTRUMENT, maker_fee_rate=MAKER_FEE_RATE, taker_fee_rate=TAKER_FEE_RATE,
            queue_model=queue_model, balance_quote=balance,
        )
        # A sane starting book: bids below 100, asks from 100 up.
        self.absorb(self.engine.on_book(self.message(
            [(min(p, 99), s) for p, s in bids], [(max(p, 100), s) for p, s in asks], True,
        ), 0))

    # ---------------------------------------------------------------- market

    @rule(bids=levels, asks=levels)
    @precondition(lambda self: self.engine is not None)
    def book_delta(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        assert self.engine is not None
        self.absorb(self.engine.on_book(self.message(bids, asks, False), self.tick()))

    @rule(bids=levels, asks=levels)
    @precondition(lambda self: self.engine is not None)
    def book_snapshot(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        assert self.engine is not None
        self.absorb(self.engine.on_book(self.message(bids, asks, True), self.tick()))

    @rule(price=prices, size=st.integers(min_value=1, max_value=8), aggressor=sides)
    @precondition(lambda self: self.engine is not None)
    def public_trade(self, price: int, size: int, aggressor: Side) -> None:
        assert self.engine is not None
        self.absorb(self.engine.on_trade(Trade(
            venue="sim", symbol="BTCUSDT", ts_exchange_ns=0, ts_local_ns=0,
            price_ticks=price, size_lots=size, aggressor=aggressor,
        ), self.tick()))

    @rule(price=prices)
    @precondition(lambda self: self.engine is not None)
    def mark_price(self, price: int) -> None:
        assert self.engine is not None
        self.absorb(self.engine.on_mark_price(price, self.tick()))

    # ---------------------------------------------------------------- orders

    @rule(
        side=sides, size=st.integers(min_value=-1, max_value=6),
        price=st.one_of(st.none(), prices),
        time_in_force=st.sampled_from(["GTC", "GTC", "PostOnly", "IOC", "FOK"]),
        reduce_only=st.booleans(),
    )
    @precondition(lambda self: self.engine is not None)
    def place(
        self, side: Side, size: int, price: int | None, time_in_force: str, reduce_only: bool
    ) -> None:
        assert self.engine is not None
        if price is None and time_in_force == "PostOnly":
            time_in_force = "IOC"
        self.counter += 1
        order_link_id = f"o{self.counter}"
        self.orders[order_link_id] = Expected(side, price, size, OrderStatus.PENDING_NEW)
        self.absorb(self.engine.place(NewOrder(
            order_link_id=order_link_id, symbol="BTCUSDT", side=side, size_lots=size,
            price_ticks=price, time_in_force=time_in_force, reduce_only=reduce_only,
        ), self.tick()))
        assert self.orders[order_link_id].status != OrderStatus.PENDING_NEW

    @rule(
        side=sides, size=st.integers(min_value=1, max_value=6),
        price=st.one_of(st.none(), prices), trigger=prices,
        direction=st.sampled_from(list(TriggerDirection)),
        trigger_by=st.sampled_from([TriggerBy.LAST_PRICE, TriggerBy.MARK_PRICE]),
    )
    @precondition(lambda self: self.engine is not None)
    def place_conditional(
        self, side: Side, size: int, price: int | None, trigger: int,
        direction: TriggerDirection, trigger_by: str,
    ) -> None:
        assert self.engine is not None
        self.counter += 1
        order_link_id = f"c{self.counter}"
        self.orders[order_link_id] = Expected(side, price, size, OrderStatus.PENDING_NEW)
        new_order = NewOrder(
            order_link_id=order_link_id, symbol="BTCUSDT", side=side, size_lots=size,
            price_ticks=price, time_in_force="GTC",
        )
        self.absorb(self.engine.place_conditional(
            ConditionalOrder(new_order, trigger, direction, trigger_by), self.tick()
        ))

    @rule(data=st.data())
    @precondition(lambda self: self.engine is not None and self.orders)
    def cancel(self, data: st.DataObject) -> None:
        assert self.engine is not None
        order_link_id = data.draw(st.sampled_from(sorted(self.orders)))
        before = self.orders[order_link_id].status
        events = self.engine.cancel(order_link_id, self.tick())
        (update,) = events
        if before in OrderStatus.TERMINAL or before == DEACTIVATED:
            # A refused cancel never changes the status it reports; a rejected
            # order never existed at the venue, so its id is unknown there.
            assert update.reject_code == "110001"
            expected_status = OrderStatus.UNKNOWN if before == OrderStatus.REJECTED else before
            assert update.status == expected_status
        self.absorb(events)

    @rule(data=st.data(), price=prices, size=st.integers(min_value=0, max_value=8))
    @precondition(lambda self: self.engine is not None and self.orders)
    def amend(self, data: st.DataObject, price: int, size: int) -> None:
        assert self.engine is not None
        order_link_id = data.draw(st.sampled_from(sorted(self.orders)))
        before = self.orders[order_link_id].status
        events = self.engine.amend(AmendOrder(order_link_id, "BTCUSDT", price, size),
                                   self.tick())
        refusals = [e for e in events if isinstance(e, OrderUpdate) and e.reject_code]
        for refusal in refusals:
            if before != OrderStatus.REJECTED:
                assert refusal.status == before, (refusal, before)
        if not refusals:
            # An amend's fills come before its update: they are bound by the new price.
            self.orders[order_link_id].limit_ticks = price
        self.absorb(events)

    # ---------------------------------------------------------------- checks

    def absorb(self, events: list[OrderUpdate | Fill]) -> None:
        for event in events:
            expected = self.orders.get(event.order_link_id)
            assert expected is not None, event
            if isinstance(event, Fill):
                assert expected.status not in OrderStatus.TERMINAL, ("fill after end", event)
                assert event.side is expected.side
                assert event.size_lots > 0
                if expected.limit_ticks is not None:
                    # Never a fill worse than the order's limit.
                    assert (event.price_ticks - expected.limit_ticks) * int(event.side) <= 0
                rate = MAKER_FEE_RATE if event.is_maker else TAKER_FEE_RATE
                notional = INSTRUMENT.notional(event.price_ticks, event.size_lots)
                assert event.fee == notional * rate
                expected.filled_lots += event.size_lots
                expected.fills.append(event)
                self.position_lots += int(event.side) * event.size_lots
                continue
            if event.reject_code:
                # A new order, or the one a conditional released, refused outright.
                if expected.status in (OrderStatus.PENDING_NEW, TRIGGERED):
                    expected.status = event.status
                    assert event.status == OrderStatus.REJECTED
                continue
            assert event.filled_lots == expected.filled_lots, event
            expected.status = event.status
            if event.status in (UNTRIGGERED, TRIGGERED):
                continue
            expected.size_lots = event.size_lots
            if event.price_ticks is not None:
                expected.limit_ticks = event.price_ticks
            # Quantity is conserved: what filled plus what remains is the order's size.
            assert 0 <= event.filled_lots <= event.size_lots
            if event.status == OrderStatus.FILLED:
                assert event.filled_lots == event.size_lots
            if event.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
                assert event.filled_lots < event.size_lots

    @invariant()
    def position_is_the_sum_of_signed_fills(self) -> None:
        if self.engine is not None:
            assert self.engine.position_lots == self.position_lots

    @invariant()
    def open_orders_agree_with_the_events(self) -> None:
        if self.engine is None:
            return
        open_ids = set()
        for open_order in self.engine.open_orders():
            open_ids.add(open_order.order_link_id)
            expected = self.orders[open_order.order_link_id]
            assert open_order.queue_ahead_lots >= 0
            assert open_order.status == expected.status
            assert open_order.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
            assert open_order.filled_lots == expected.filled_lots
            assert open_order.size_lots == expected.size_lots
            assert open_order.leaves_lots > 0
        for order_link_id, expected in self.orders.items():
            if expected.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
                assert order_link_id in open_ids, (order_link_id, expected)

    @invariant()
    def our_orders_never_rest_crossed_with_the_market(self) -> None:
        if self.engine is None:
            return
        best_bid = self.engine.best_bid_ticks
        best_ask = self.engine.best_ask_ticks
        for open_order in self.engine.open_orders():
            if open_order.side is Side.BUY and best_ask is not None:
                assert open_order.price_ticks < best_ask
            if open_order.side is Side.SELL and best_bid is not None:
                assert open_order.price_ticks > best_bid

    @invariant()
    def reduce_only_orders_never_exceed_the_position(self) -> None:
        if self.engine is None:
            return
        for open_order in self.engine.open_orders():
            if open_order.reduce_only:
                assert self.position_lots * int(open_order.side) < 0
                assert open_order.leaves_lots <= abs(self.position_lots)

    @invariant()
    def cached_best_prices_match_the_book(self) -> None:
        if self.engine is None:
            return
        engine = self.engine
        bids = [p for p in range(80, 120) if engine.level_size_lots(Side.BUY, p)]
        asks = [p for p in range(80, 120) if engine.level_size_lots(Side.SELL, p)]
        assert engine.best_bid_ticks == (max(bids) if bids else None)
        assert engine.best_ask_ticks == (min(asks) if asks else None)

    def message(
        self, bids: list[tuple[int, int]], asks: list[tuple[int, int]], snapshot: bool
    ) -> BookMessage:
        return BookMessage(
            venue="sim", symbol="BTCUSDT", ts_exchange_ns=0, ts_local_ns=0,
            is_snapshot=snapshot, bids=bids, asks=asks,
        )

    def tick(self) -> int:
        self.counter += 1
        return self.counter


TestMatchingMachine = MatchingMachine.TestCase
TestMatchingMachine.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
