"""Order management: turn a Decision into the fewest order actions.

The OMS keeps every order it has sent, keyed by client order id
(``order_link_id``), and per strategy the live order of each quote tag. A
Decision lists what the strategy wants resting; ``diff`` keeps orders that
already match, cancels the rest and places what is missing.

Rules that keep orders from getting lost:
- at most one action in flight per order: an order waiting for its ack or for
  a cancel answer is left alone until the venue speaks;
- client order ids carry the desk prefix and a per-run token, so they are
  unique across restarts and a shared account's other desks are never touched;
- fills are counted once per execution id.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import msgspec

from host.models import (
    AmendOrder,
    CancelOrder,
    Decision,
    Fill,
    NewOrder,
    OrderAction,
    OrderStatus,
    OrderUpdate,
    Side,
    Stop,
)

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = _ALPHABET[digit] + text
        if number == 0:
            return text


# States in which the venue owes us an answer: no new action on such an order.
# Unknown (a request timed out) is one of them: the venue adapter resolves it
# by querying the order, never by sending again.
IN_FLIGHT = frozenset(
    {
        OrderStatus.PENDING_NEW,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.PENDING_AMEND,
        OrderStatus.UNKNOWN,
    }
)


@dataclass(slots=True)
class LiveOrder:
    """Our view of one order, from send until a terminal state."""

    order_link_id: str
    strategy_id: str
    venue: str
    symbol: str
    side: Side
    price_ticks: int | None
    size_lots: int
    tag: str
    time_in_force: str
    status: str = OrderStatus.PENDING_NEW
    filled_lots: int = 0
    reject_code: str = ""
    reject_reason: str = ""
    # What an amend in flight asks for; the order's own fields change on the ack.
    amend_price_ticks: int | None = None
    amend_size_lots: int | None = None
    trigger_price_ticks: int | None = None  # a conditional order (Stop)
    # A request on this order timed out: the next news (the venue's answer to
    # a query) is the truth, whatever we were waiting for.
    awaiting_query: bool = False

    @property
    def remaining_lots(self) -> int:
        return self.size_lots - self.filled_lots

    @property
    def in_flight(self) -> bool:
        """An action on this order awaits the venue's answer."""
        return self.status in IN_FLIGHT

    @property
    def is_terminal(self) -> bool:
        return self.status in OrderStatus.TERMINAL


class OrderManager:
    """Desired-vs-live diff and the state of every order we sent."""

    def __init__(
        self,
        desk: str,
        run_token: str | None = None,
        *,
        price_tolerance_ticks: int = 0,
        size_tolerance_lots: int = 0,
    ) -> None:
        self.desk = desk
        self.price_tolerance_ticks = price_tolerance_ticks
        self.size_tolerance_lots = size_tolerance_lots
        self.amends_sent = 0
        # Set by diff: a tag was left alone because its order awaits the venue.
        self.skipped_in_flight = False
        # A per-run token keeps ids unique across restarts without a database.
        self.run_token = run_token or _base36(time.time_ns() // 1_000_000)
        self._sequence = itertools.count(1)
        self.orders: dict[str, LiveOrder] = {}
        self._by_tag: dict[str, dict[str, LiveOrder]] = {}
        self._seen_exec_ids: set[str] = set()
        self.orders_sent = 0
        self.cancels_sent = 0
        self.rejects = 0

    # -- ids -------------------------------------------------------------------

    def next_order_link_id(self) -> str:
        """``<desk>-<run>-<n>``: at most 36 characters of [A-Za-z0-9-]."""
        return f"{self.desk}-{self.run_token}-{next(self._sequence)}"

    def owns(self, order_link_id: str) -> bool:
        return order_link_id.startswith(self.desk + "-")

    # -- queries -----------------------------------------------------------------

    def live_orders(self, strategy_id: str) -> list[LiveOrder]:
        return [
            o for o in self.orders.values() if o.strategy_id == strategy_id and not o.is_terminal
        ]

    def live_on(
        self, venue: str, symbol: str, *, exclude_strategy: str | None = None
    ) -> list[LiveOrder]:
        """Live resting orders (quotes) of every strategy on one instrument,
        but ``exclude_strategy``'s when given."""
        # Loops rather than a comprehension (a function call in 3.11) and the
        # status test inlined: risk and metrics ask this for every Decision.
        terminal = OrderStatus.TERMINAL
        live = []
        for strategy_id, by_tag in self._by_tag.items():
            if strategy_id == exclude_strategy:
                continue
            for order in by_tag.values():
                if order.venue == venue and order.symbol == symbol and order.status not in terminal:
                    live.append(order)
        return live

    def open_order_count(self, strategy_id: str) -> int:
        return len(self.live_orders(strategy_id))

    # -- the diff --------------------------------------------------------------------

    def diff(
        self,
        strategy_id: str,
        venue: str,
        symbol: str,
        decision: Decision,
        *,
        amend_venues: Collection[str] = (),
    ) -> list[OrderAction]:
        """Actions that make the strategy's live orders match ``decision``.

        An order is kept when its price and size are within the tolerances of
        the quote's (size is the order's total quantity, fills included). A
        moved quote is amended when its venue allows it (``amend_venues``), same side
        and time in force; otherwise the order is cancelled and the new quote
        placed at once under a new id (the tag then points at the new order).
        Tags whose order is in flight are skipped: the next decision after the
        venue's answer acts. Cancels come first in the result. ``venue`` and
        ``symbol`` are the strategy's own instrument, used by orders that name
        none.
        """
        by_tag = self._by_tag.setdefault(strategy_id, {})
        wanted: set[str] = set()
        self.skipped_in_flight = False
        price_tolerance = self.price_tolerance_ticks
        size_tolerance = self.size_tolerance_lots
        # Three lists rather than a sort: cancels go first (they only reduce risk
        # and get the rate-limit budget first), then amends, then new orders.
        cancels: list[OrderAction] = []
        amends: list[OrderAction] = []
        news: list[OrderAction] = []
        terminal, in_flight = OrderStatus.TERMINAL, IN_FLIGHT
        own_venue, own_symbol = venue, symbol
        own_amends = own_venue in amend_venues
        for quote in decision.quotes:
            tag = quote.tag
            wanted.add(tag)
            if quote.venue or quote.symbol:  # a watched instrument (rare)
                venue, symbol = quote.venue or own_venue, quote.symbol or own_symbol
                may_amend = venue in amend_venues
            else:
                venue, symbol, may_amend = own_venue, own_symbol, own_amends
            current = by_tag.get(tag)
            if current is not None:
                status = current.status
                if status in terminal:
                    current = None
                elif status in in_flight:
                    self.skipped_in_flight = True
                    continue
                elif current.trigger_price_ticks is not None:
                    # The tag held a stop before: a different kind of order now.
                    cancels.append(self._cancel(current))
                    current = None
            if current is not None:
                same_instrument = current.venue == venue and current.symbol == symbol
                price_ticks = current.price_ticks
                if (
                    same_instrument
                    # A tagged quote is a limit order: its price is set.
                    and -price_tolerance <= price_ticks - quote.price_ticks <= price_tolerance  # type: ignore[operator]
                    and -size_tolerance <= current.size_lots - quote.size_lots <= size_tolerance
                ):
                    continue
                if (
                    may_amend
                    and same_instrument
                    and current.side is quote.side
                    and current.time_in_force == ("PostOnly" if quote.post_only else "GTC")
                    and quote.size_lots > current.filled_lots
                ):
                    amends.append(self._amend(current, quote.price_ticks, quote.size_lots))
                    continue
                cancels.append(self._cancel(current))
            news.append(
                self._new(
                    strategy_id,
                    venue,
                    symbol,
                    quote.side,
                    quote.price_ticks,
                    quote.size_lots,
                    tag,
                    "PostOnly" if quote.post_only else "GTC",
                    quote.reduce_only,
                )
            )
        for stop in decision.stops:
            wanted.add(stop.tag)
            venue, symbol = stop.venue or own_venue, stop.symbol or own_symbol
            current = by_tag.get(stop.tag)
            if current is not None and not current.is_terminal:
                if current.in_flight:
                    self.skipped_in_flight = True
                    continue
                if (
                    current.trigger_price_ticks == stop.trigger_price_ticks
                    and current.price_ticks == stop.limit_price_ticks
                    and current.size_lots == stop.size_lots
                    and current.side is stop.side
                    and current.venue == venue
                ):
                    continue
                cancels.append(self._cancel(current))
            news.append(self._new_stop(strategy_id, venue, symbol, stop))
        # Every wanted tag is in by_tag now; anything more is an order to take down.
        if len(by_tag) > len(wanted):
            for tag, order in list(by_tag.items()):
                if tag in wanted:
                    continue
                if order.status in terminal:
                    del by_tag[tag]
                elif order.status != OrderStatus.PENDING_CANCEL:
                    cancels.append(self._cancel(order))
        for take in decision.takes:
            news.append(
                self._new(
                    strategy_id,
                    take.venue or own_venue,
                    take.symbol or own_symbol,
                    take.side,
                    take.price_ticks,
                    take.size_lots,
                    take.tag,
                    "IOC",
                    take.reduce_only,
                    track_tag=False,
                )
            )
        if amends:
            cancels += amends
        if news:
            cancels += news
        return cancels

    def cancel_all(self, strategy_id: str | None = None) -> list[CancelOrder]:
        """Cancel every live order of ours (of one strategy, if given)."""
        return [
            self._cancel(order)
            for order in list(self.orders.values())
            if not order.is_terminal
            and order.status != OrderStatus.PENDING_CANCEL
            and (strategy_id is None or order.strategy_id == strategy_id)
        ]

    def _new(
        self,
        strategy_id: str,
        venue: str,
        symbol: str,
        side: Side,
        price_ticks: int | None,
        size_lots: int,
        tag: str,
        time_in_force: str,
        reduce_only: bool,
        *,
        track_tag: bool = True,
    ) -> NewOrder:
        order_link_id = self.next_order_link_id()
        order = LiveOrder(
            order_link_id,
            strategy_id,
            venue,
            symbol,
            side,
            price_ticks,
            size_lots,
            tag,
            time_in_force,
        )
        self.orders[order_link_id] = order
        if track_tag:
            self._by_tag.setdefault(strategy_id, {})[tag] = order
        self.orders_sent += 1
        return NewOrder(
            order_link_id, symbol, side, size_lots, price_ticks, time_in_force, reduce_only
        )

    def _new_stop(self, strategy_id: str, venue: str, symbol: str, stop: Stop) -> NewOrder:
        new = self._new(
            strategy_id,
            venue,
            symbol,
            stop.side,
            stop.limit_price_ticks,
            stop.size_lots,
            stop.tag,
            "GTC" if stop.limit_price_ticks is not None else "IOC",
            stop.reduce_only,
        )
        self.orders[new.order_link_id].trigger_price_ticks = stop.trigger_price_ticks
        return msgspec.structs.replace(
            new,
            trigger_price_ticks=stop.trigger_price_ticks,
            trigger_rising=stop.rising,
            trigger_by=stop.trigger_by,
        )

    def _amend(self, order: LiveOrder, price_ticks: int, size_lots: int) -> AmendOrder:
        order.status = OrderStatus.PENDING_AMEND
        order.amend_price_ticks, order.amend_size_lots = price_ticks, size_lots
        self.amends_sent += 1
        return AmendOrder(order.order_link_id, order.symbol, price_ticks, size_lots)

    def _cancel(self, order: LiveOrder) -> CancelOrder:
        order.status = OrderStatus.PENDING_CANCEL
        self.cancels_sent += 1
        return CancelOrder(order.order_link_id, order.symbol)

    # -- what the venue says ----------------------------------------------------------

    def apply_update(self, update: OrderUpdate) -> LiveOrder | None:
        """Record the venue's news; returns our order, or None if not ours."""
        order = self.orders.get(update.order_link_id)
        if order is None:
            return None
        if update.reject_code and update.status != OrderStatus.REJECTED:
            # A refused cancel or amend: the order stands in the state the venue
            # reports. A final state we already know is never undone, and
            # "Unknown" (the venue has no such id) teaches us nothing.
            order.reject_code, order.reject_reason = update.reject_code, update.reject_reason
            order.amend_price_ticks = order.amend_size_lots = None
            if update.status and update.status != OrderStatus.UNKNOWN and not order.is_terminal:
                order.status = update.status
            return order
        if update.status == OrderStatus.UNKNOWN:
            # A request timed out. The order keeps its pending state (a cancel we
            # asked for is still asked for) until the venue is queried.
            if not order.is_terminal:
                order.awaiting_query = True
                if order.status not in IN_FLIGHT:
                    order.status = OrderStatus.UNKNOWN
            return order
        if order.awaiting_query:
            # The answer to our query: it settles the order, pending or not.
            order.awaiting_query = False
            order.amend_price_ticks = order.amend_size_lots = None
            if update.price_ticks is not None and update.status not in OrderStatus.TERMINAL:
                order.price_ticks, order.size_lots = update.price_ticks, update.size_lots
            if not order.is_terminal or update.status in OrderStatus.TERMINAL:
                order.status = update.status
            if update.status == OrderStatus.REJECTED:
                self.rejects += 1
            return order
        terminal_news = update.status in OrderStatus.TERMINAL
        if order.is_terminal and not terminal_news:
            return order  # a late ack after the order ended: the end stands
        if order.status == OrderStatus.PENDING_CANCEL and not terminal_news:
            return order  # an earlier ack arriving late: our cancel is still outstanding
        if order.amend_price_ticks is not None and not terminal_news:
            if (update.price_ticks, update.size_lots) != (
                order.amend_price_ticks,
                order.amend_size_lots,
            ):
                return order  # news from before the amend: it is still in flight
            # The amend took: the venue's answer carries the new price and size.
            order.price_ticks, order.size_lots = update.price_ticks, update.size_lots
        order.amend_price_ticks = order.amend_size_lots = None
        # Filled quantity comes from fills alone (deduplicated by exec id), so an
        # update and a fill reporting the same execution never count it twice.
        order.status = update.status
        if update.status == OrderStatus.REJECTED:
            order.reject_code, order.reject_reason = update.reject_code, update.reject_reason
            self.rejects += 1
        return order

    def apply_fill(self, fill: Fill) -> LiveOrder | None:
        """Count a fill once per exec id; returns our order, or None when the
        fill is a duplicate or not ours."""
        if fill.exec_id in self._seen_exec_ids:
            return None
        order = self.orders.get(fill.order_link_id)
        if order is None:
            return None
        self._seen_exec_ids.add(fill.exec_id)
        order.filled_lots += fill.size_lots
        if order.filled_lots >= order.size_lots:
            order.status = OrderStatus.FILLED
        elif order.status not in IN_FLIGHT:
            order.status = OrderStatus.PARTIALLY_FILLED
        return order

    def first_sighting(self, exec_id: str) -> bool:
        """True the first time an execution id is seen (funding and other
        executions that belong to no order are deduplicated here too)."""
        if exec_id in self._seen_exec_ids:
            return False
        self._seen_exec_ids.add(exec_id)
        return True

    def forget(self, order_link_id: str) -> None:
        """Drop an order that was never sent (its id could not be journaled)."""
        order = self.orders.pop(order_link_id, None)
        if order is not None:
            by_tag = self._by_tag.get(order.strategy_id, {})
            if by_tag.get(order.tag) is order:
                del by_tag[order.tag]
            self.orders_sent -= 1

    def forget_terminal(self, keep_last: int = 10_000) -> None:
        """Drop the oldest terminal orders so memory stays flat on long runs."""
        terminal = [key for key, order in self.orders.items() if order.is_terminal]
        for key in terminal[: max(0, len(terminal) - keep_last)]:
            del self.orders[key]

    def tags(self, strategy_id: str) -> Iterable[str]:
        return self._by_tag.get(strategy_id, {}).keys()
