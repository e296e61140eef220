"""The OMS diff: fewest actions, one action in flight per order, ids with the desk prefix."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from host.models import (
    CancelOrder,
    Decision,
    Fill,
    NewOrder,
    OrderStatus,
    OrderUpdate,
    Quote,
    Side,
    Take,
)
from host.oms import OrderManager


def ack(oms: OrderManager, action: NewOrder | CancelOrder, status: str | None = None) -> None:
    order = oms.orders[action.order_link_id]
    oms.apply_update(
        OrderUpdate(
            "sim",
            "BTCUSDT",
            action.order_link_id,
            status or (OrderStatus.NEW if isinstance(action, NewOrder) else OrderStatus.CANCELLED),
            0,
            order.side,
            order.price_ticks,
            order.size_lots,
        )
    )


def quotes(bid: int, ask: int, size: int = 5) -> Decision:
    return Decision(quotes=(Quote(Side.BUY, bid, size, "bid"), Quote(Side.SELL, ask, size, "ask")))


def test_first_decision_places_both_sides_with_prefixed_ids() -> None:
    oms = OrderManager("desk1", run_token="r1")
    actions = oms.diff("s", "sim", "BTCUSDT", quotes(100, 102))
    assert [type(a) for a in actions] == [NewOrder, NewOrder]
    for action in actions:
        assert re.fullmatch(r"desk1-r1-\d+", action.order_link_id)
        assert len(action.order_link_id) <= 36
        assert oms.owns(action.order_link_id)
    assert not oms.owns("other-r1-1")


def test_same_decision_again_sends_nothing() -> None:
    oms = OrderManager("d")
    for action in oms.diff("s", "sim", "BTCUSDT", quotes(100, 102)):
        ack(oms, action)
    assert oms.diff("s", "sim", "BTCUSDT", quotes(100, 102)) == []


def test_moved_quote_is_cancelled_and_replaced_other_side_kept() -> None:
    oms = OrderManager("d")
    first = oms.diff("s", "sim", "BTCUSDT", quotes(100, 102))
    for action in first:
        ack(oms, action)
    actions = oms.diff("s", "sim", "BTCUSDT", quotes(99, 102))
    assert [type(a) for a in actions] == [CancelOrder, NewOrder]
    assert actions[0].order_link_id == first[0].order_link_id
    assert actions[1].price_ticks == 99


def test_in_flight_orders_are_left_alone() -> None:
    oms = OrderManager("d")
    oms.diff("s", "sim", "BTCUSDT", quotes(100, 102))  # no acks yet
    assert oms.diff("s", "sim", "BTCUSDT", quotes(90, 110)) == []


def test_empty_decision_cancels_everything_of_that_strategy_only() -> None:
    oms = OrderManager("d")
    for strategy in ("a", "b"):
        for action in oms.diff(strategy, "sim", "BTCUSDT", quotes(100, 102)):
            ack(oms, action)
    actions = oms.diff("a", "sim", "BTCUSDT", Decision())
    assert len(actions) == 2 and all(isinstance(a, CancelOrder) for a in actions)
    assert {oms.orders[a.order_link_id].strategy_id for a in actions} == {"a"}


def test_fills_count_once_per_exec_id() -> None:
    oms = OrderManager("d")
    new = oms.diff("s", "sim", "BTCUSDT", quotes(100, 102))[0]
    ack(oms, new)
    fill = Fill("sim", "BTCUSDT", new.order_link_id, "e1", Side.BUY, 100, 2, Decimal(0), True, 0)
    assert oms.apply_fill(fill) is not None
    assert oms.apply_fill(fill) is None  # the same execution seen again
    assert oms.orders[new.order_link_id].filled_lots == 2
    assert oms.orders[new.order_link_id].status == OrderStatus.PARTIALLY_FILLED


def test_refused_cancel_leaves_the_order_in_the_venues_state() -> None:
    oms = OrderManager("d")
    new = oms.diff("s", "sim", "BTCUSDT", quotes(100, 102))[0]
    ack(oms, new)
    (cancel,) = [a for a in oms.cancel_all() if a.order_link_id == new.order_link_id]
    oms.apply_update(
        OrderUpdate(
            "sim",
            "BTCUSDT",
            cancel.order_link_id,
            OrderStatus.FILLED,
            0,
            Side.BUY,
            100,
            5,
            5,
            reject_code="110001",
            reject_reason="too late to cancel",
        )
    )
    order = oms.orders[new.order_link_id]
    assert order.status == OrderStatus.FILLED and order.reject_code == "110001"
    assert oms.rejects == 0  # a refused cancel is not a rejected order


decisions = st.lists(
    st.tuples(
        st.integers(min_value=90, max_value=100),
        st.integers(min_value=101, max_value=110),
        st.integers(min_value=1, max_value=3),
        st.booleans(),  # does the venue answer before the next decision?
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(decisions)
def test_after_the_venue_answers_live_orders_equal_the_last_decision(steps) -> None:
    oms = OrderManager("d")
    pending: list[NewOrder | CancelOrder] = []
    for bid, ask, size, answered in steps:
        pending.extend(oms.diff("s", "sim", "BTCUSDT", quotes(bid, ask, size)))
        if answered:
            for action in pending:
                ack(oms, action)
            pending.clear()
        # Invariant at every step: at most one live order per tag.
        live_tags = [o.tag for o in oms.live_orders("s") if o.status != OrderStatus.PENDING_CANCEL]
        assert len(live_tags) == len(set(live_tags))
    for action in pending:
        ack(oms, action)
    last_bid, last_ask, last_size, _ = steps[-1]
    for action in oms.diff("s", "sim", "BTCUSDT", quotes(last_bid, last_ask, last_size)):
        ack(oms, action)
    live = {(o.tag, o.price_ticks, o.size_lots) for o in oms.live_orders("s")}
    assert live == {("bid", last_bid, last_size), ("ask", last_ask, last_size)}
    # Every order the OMS ever sent is known to it.
    assert all(o.order_link_id in oms.orders for o in oms.live_orders("s"))


def test_a_decision_held_back_by_orders_in_flight_is_applied_when_they_settle() -> None:
    """A strategy says what it wants once; the host gets there even if the first
    answer had not arrived yet when it changed its mind."""
    from host import Strategy, hookimpl
    from host.testing import build_host, config_dict, replay

    class ChangesMind(Strategy):
        name = "changes_mind"
        decided = 0
        second: tuple[int, int] | None = None
        statuses_at_second: tuple[str, ...] = ()

        def on_book(self, book):
            mid = book.mid_ticks()
            if mid is None or self.decided >= 2:
                return None
            self.decided += 1
            if self.decided == 1:
                return quotes(int(mid) - 100, int(mid) + 100)
            self.second = (int(mid) - 200, int(mid) + 200)
            self.statuses_at_second = tuple(o.status for o in self.ctx.open_orders)
            wider = quotes(*self.second)
            return Decision(quotes=wider.quotes, takes=(Take(Side.BUY, 1, "once"),))

    class Offers:
        @hookimpl
        def mmhost_register_strategies(self):
            return [ChangesMind]

    config = config_dict()
    config["strategies"][0].update(name="changes_mind", params={})
    runtime = replay(build_host(config, plugins=[Offers()]), duration_s=2)
    strategy = runtime.engine.slots["changes_mind"].strategy
    # The second Decision came while the first orders still awaited the venue...
    assert strategy.statuses_at_second == (OrderStatus.PENDING_NEW,) * 2
    # ...and it was carried out when they settled, without being repeated.
    last = {o.tag: o.price_ticks for o in runtime.engine.oms.orders.values()}
    assert (last["bid"], last["ask"]) == strategy.second
    # Its one-shot order went out once, not again with the held-back quotes.
    assert [o.tag for o in runtime.engine.oms.orders.values()].count("once") == 1
