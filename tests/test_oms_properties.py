"""Property test: whatever sequence of Decisions, fills, rejects and timeouts,
the OMS never holds more than it asked for and never loses an order.

The venue is the real matching engine. Actions reach it in batches; an answer
may be delivered, lost (a timeout: the OMS is told "Unknown" and the order is
resolved by querying the venue, as the live adapters do), or delayed past the
next Decision. The market trades through random prices so fills happen.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from host.models import (
    AmendOrder,
    BookMessage,
    CancelOrder,
    Decision,
    Fill,
    Instrument,
    NewOrder,
    OrderStatus,
    OrderUpdate,
    Quote,
    Side,
    Trade,
)
from host.oms import OrderManager
from host.venues.matching import MatchingEngine

BTC = Instrument("sim", "BTCUSDT", Decimal("0.1"), Decimal("0.001"), base="BTC")
MAX_TAGS = 3  # per side


def market(bid_ticks: int) -> BookMessage:
    bids = [(bid_ticks - i, 5) for i in range(5)]
    asks = [(bid_ticks + 1 + i, 5) for i in range(5)]
    return BookMessage("sim", "BTCUSDT", 0, 0, True, bids, asks)


class OmsAgainstVenue(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.oms = OrderManager("desk", run_token="p")
        self.venue = MatchingEngine(
            "sim", BTC, maker_fee_rate=Decimal("0.0001"), taker_fee_rate=Decimal("0.0005")
        )
        self.venue.on_book(market(1000), 0)
        self.in_transit: list[NewOrder | CancelOrder | AmendOrder] = []
        self.answers: list[OrderUpdate | Fill] = []
        self.unknown: set[str] = set()
        self.now_ns = 1
        self.fills_seen: dict[str, Fill] = {}

    @rule(
        bids=st.lists(st.integers(990, 1000), max_size=MAX_TAGS),
        asks=st.lists(st.integers(1001, 1010), max_size=MAX_TAGS),
        size=st.integers(1, 4),
        amend=st.booleans(),
    )
    def decide(self, bids: list[int], asks: list[int], size: int, amend: bool) -> None:
        quotes = [Quote(Side.BUY, p, size, f"bid{i}") for i, p in enumerate(bids)]
        quotes += [Quote(Side.SELL, p, size, f"ask{i}") for i, p in enumerate(asks)]
        actions = self.oms.diff(
            "s",
            "sim",
            "BTCUSDT",
            Decision(quotes=tuple(quotes)),
            amend_venues={"sim"} if amend else (),
        )
        self.in_transit.extend(actions)

    @rule(lose_answers=st.booleans())
    def venue_processes(self, lose_answers: bool) -> None:
        """The venue acts on everything in transit; its answers may be lost."""
        for action in self.in_transit:
            self.now_ns += 1
            if isinstance(action, NewOrder):
                answers = self.venue.place(action, self.now_ns)
            elif isinstance(action, CancelOrder):
                answers = self.venue.cancel(action.order_link_id, self.now_ns)
            else:
                answers = self.venue.amend(action, self.now_ns)
            if lose_answers:
                # The request timed out: the adapter reports Unknown, never resends.
                self.unknown.add(action.order_link_id)
                order = self.oms.orders[action.order_link_id]
                self.oms.apply_update(
                    OrderUpdate(
                        "sim",
                        "BTCUSDT",
                        action.order_link_id,
                        OrderStatus.UNKNOWN,
                        self.now_ns,
                        order.side,
                        order.price_ticks,
                        order.size_lots,
                    )
                )
                # Fills still come on the execution stream.
                self.answers.extend(a for a in answers if isinstance(a, Fill))
            else:
                self.answers.extend(answers)
        self.in_transit.clear()

    @rule()
    def answers_arrive(self) -> None:
        for answer in self.answers:
            if isinstance(answer, Fill):
                self.oms.apply_fill(answer)
                self.fills_seen[answer.exec_id] = answer
            else:
                self.oms.apply_update(answer)
        self.answers.clear()

    @rule()
    def resolve_unknown(self) -> None:
        """Query the venue for every order in an unknown state."""
        resting = {o.order_link_id: o for o in self.venue.open_orders()}
        for order_link_id in sorted(self.unknown):
            status = self.venue.order_status(order_link_id)
            order = self.oms.orders[order_link_id]
            if status == OrderStatus.UNKNOWN:
                status = OrderStatus.REJECTED  # never reached the venue: not live
            # The venue's own price and size: an amend may or may not have taken.
            live = resting.get(order_link_id)
            self.oms.apply_update(
                OrderUpdate(
                    "sim",
                    "BTCUSDT",
                    order_link_id,
                    status,
                    self.now_ns,
                    order.side,
                    live.price_ticks if live else order.price_ticks,
                    live.size_lots if live else order.size_lots,
                )
            )
        self.unknown.clear()

    @rule(price=st.integers(995, 1006), size=st.integers(1, 30), seller=st.booleans())
    def market_trades(self, price: int, size: int, seller: bool) -> None:
        self.now_ns += 1
        trade = Trade(
            "sim",
            "BTCUSDT",
            self.now_ns,
            self.now_ns,
            price,
            size,
            Side.SELL if seller else Side.BUY,
        )
        self.answers.extend(self.venue.on_trade(trade, self.now_ns))
        self.answers.extend(self.venue.on_book(market(1000), self.now_ns))

    @invariant()
    def every_order_at_the_venue_is_known_and_live_in_the_oms(self) -> None:
        for resting in self.venue.open_orders():
            order = self.oms.orders.get(resting.order_link_id)
            assert order is not None, f"venue holds {resting.order_link_id}, unknown to the OMS"
            assert not order.is_terminal, f"OMS thinks {order.order_link_id} is {order.status}"

    @invariant()
    def never_more_live_quotes_than_asked(self) -> None:
        """One working order per tag, plus at most one being cancelled for it."""
        live = [o for o in self.oms.live_orders("s") if o.status != OrderStatus.PENDING_CANCEL]
        tags = [o.tag for o in live]
        assert len(tags) == len(set(tags))
        assert len(self.venue.open_orders()) <= 2 * (2 * MAX_TAGS)

    @invariant()
    def resolved_orders_agree_with_the_venue(self) -> None:
        """Once nothing is in transit or unknown, every resting order's price and
        size in the OMS are the venue's."""
        if self.in_transit or self.answers or self.unknown:
            return
        for resting in self.venue.open_orders():
            order = self.oms.orders[resting.order_link_id]
            if order.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
                assert (order.price_ticks, order.size_lots) == (
                    resting.price_ticks,
                    resting.size_lots,
                )

    @invariant()
    def position_matches_the_venue(self) -> None:
        """After every answer has arrived, fills counted once equal the venue's position."""
        if self.answers:
            return
        signed = sum(int(f.side) * f.size_lots for f in self.fills_seen.values())
        assert signed == self.venue.position_lots


TestOmsAgainstVenue = OmsAgainstVenue.TestCase
TestOmsAgainstVenue.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
