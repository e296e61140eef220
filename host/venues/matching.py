"""The simulated exchange's matching engine: our orders against a market we do not control.

The market (replayed or synthetic) arrives as L2 book messages and public
trades; our orders arrive as place / cancel / amend calls. Every call takes the
event time ``ts_ns`` and returns the events it caused, in order. The module is
pure: no clock, no I/O, no logging, no randomness. Latency and rate limits
belong to the venue wrapper, which calls in here at the right simulated times.
The exact fill conditions are in docs/simulator.md; the short version:

* A resting order joins behind the visible size at its price (plus our own
  earlier orders there). Trades at its price shrink the queue ahead; the
  excess fills it. A trade through its price, or a book update whose opposite
  side reaches its price, fills all of it at its own price, as maker.
* Cancellations seen in the book advance it as the :mod:`queue model
  <host.venues.queue_models>` says.
* Taking orders walk our copy of the visible book and consume it: the levels
  we take stay smaller until the feed next reports them.

Conventions (Bybit V5's, where Bybit has one):

* Order of events: an order's fills come first, then one OrderUpdate with its
  state after the call (cumulative ``filled_lots``).
* A request the venue refuses carries ``reject_code`` (Bybit's retCode as a
  string) and ``reject_reason`` (its retMsg). For a new order the status is
  Rejected. **A refused cancel or amend never changes the order's status**:
  the OrderUpdate carries the order's real current status (Filled, Cancelled,
  New ...; Unknown for an id we never accepted: a Rejected order never
  existed at the venue) with ``reject_code="110001"``
  ``reject_reason="order not exists or too late to cancel"`` (or ``replace``
  for an amend). Consumers must read reject_code, not status, to learn that a
  request failed.
* An accepted order that the venue itself ends is Cancelled with an empty
  ``reject_code`` and Bybit's ``rejectReason`` in ``reject_reason``: PostOnly
  that would cross -> ``EC_PostOnlyWillTakeLiquidity`` (no New first, as on
  Bybit's order stream); IOC / market remainder -> ``EC_NoImmediateQtyToFill``;
  FOK not fully fillable -> ``EC_NoEnoughQtyToFill``; our own cancel ->
  ``EC_PerCancelRequest``; a reduce-only order left with nothing to reduce ->
  ``EC_ReduceOnlyCancel``. An IOC partly filled then cancelled is Cancelled with
  ``filled_lots > 0`` (Bybit's PartiallyFilledCanceled is spot only).
* Conditional (stop / take-profit) orders report ``Untriggered``, then
  ``Triggered`` followed by the events of the order they release; cancelled
  before triggering they become ``Deactivated``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

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
from host.venues.queue_models import ProbabilisticQueue, QueueModel, RiskAverseQueue

__all__ = [
    "ConditionalOrder",
    "MatchingEngine",
    "OpenOrder",
    "ProbabilisticQueue",
    "QueueModel",
    "RiskAverseQueue",
    "TriggerBy",
    "TriggerDirection",
]

# Bybit retCodes (request refused) ...
CODE_INVALID_REQUEST = "10001"
CODE_ORDER_NOT_EXISTS = "110001"
CODE_INSUFFICIENT_BALANCE = "110007"
CODE_REDUCE_ONLY_SAME_SIDE = "110017"
CODE_DUPLICATE_ORDER_LINK_ID = "110072"
CODE_BELOW_MIN_NOTIONAL = "110094"
# ... and rejectReasons (accepted order ended by the venue).
REASON_POST_ONLY_WOULD_TAKE = "EC_PostOnlyWillTakeLiquidity"
REASON_NO_IMMEDIATE_QTY = "EC_NoImmediateQtyToFill"
REASON_FOK_NOT_FILLABLE = "EC_NoEnoughQtyToFill"
REASON_CANCEL_REQUEST = "EC_PerCancelRequest"
REASON_REDUCE_ONLY_CANCEL = "EC_ReduceOnlyCancel"

# Conditional-order states; not in OrderStatus because only conditionals have them.
UNTRIGGERED = "Untriggered"
TRIGGERED = "Triggered"
DEACTIVATED = "Deactivated"

TIME_IN_FORCES = frozenset({"GTC", "PostOnly", "IOC", "FOK"})
_RESTING_TIME_IN_FORCES = frozenset({"GTC", "PostOnly"})
_OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
_NO_PRICE_ABOVE = sys.maxsize  # sentinel: "no ask" / "no trigger above"
_NO_PRICE_BELOW = 0  # sentinel: "no bid"; prices are positive ticks
_BEST_WALK_TICKS = 64  # a stale best: ticks walked before scanning the whole side


class TriggerDirection(IntEnum):
    """Bybit's ``triggerDirection``: 1 fires on a rise to the trigger, 2 on a fall to it."""

    RISING = 1
    FALLING = 2


class TriggerBy:
    """Which price a conditional order watches (Bybit's ``triggerBy`` names)."""

    LAST_PRICE = "LastPrice"
    MARK_PRICE = "MarkPrice"


_LAST_PRICE = TriggerBy.LAST_PRICE


@dataclass(frozen=True, slots=True)
class ConditionalOrder:
    """A stop-loss or take-profit: ``order`` is released when the price crosses the trigger.

    RISING fires when the watched price becomes >= ``trigger_price_ticks``,
    FALLING when it becomes <=. ``order`` is a market (``price_ticks=None``) or
    limit NewOrder; its ``order_link_id`` names the conditional too.
    """

    order: NewOrder
    trigger_price_ticks: int
    trigger_direction: TriggerDirection
    trigger_by: str = TriggerBy.LAST_PRICE


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A snapshot of one of our resting orders.

    ``queue_ahead_lots`` counts every lot that must trade at the price before
    this order fills: the market's and our own earlier orders' there.
    """

    order_link_id: str
    venue_order_id: str
    side: Side
    price_ticks: int
    size_lots: int
    filled_lots: int
    queue_ahead_lots: int
    time_in_force: str
    reduce_only: bool
    status: str
    priority_ts_ns: int

    @property
    def leaves_lots(self) -> int:
        return self.size_lots - self.filled_lots


@dataclass(slots=True)
class _Order:
    order_link_id: str
    venue_order_id: str
    side: Side
    price_ticks: int
    size_lots: int
    filled_lots: int
    time_in_force: str
    reduce_only: bool
    status: str
    priority_ts_ns: int
    queue_ahead_lots: int = 0
    # Fractions of a lot the queue model credited as cancelled ahead of us,
    # kept so that many small expected values still add up to whole lots.
    queue_carry_lots: float = 0.0
    # Lots traded at our price since the last book update there: the next
    # update's shrink includes them, and they must not count as cancellations.
    traded_since_book_lots: int = 0


@dataclass(slots=True)
class _Conditional:
    conditional: ConditionalOrder
    venue_order_id: str


class MatchingEngine:
    """Our orders against a market we do not control (replayed or synthetic).

    :param venue: name stamped on events and ids.
    :param instrument: the one symbol this engine trades.
    :param maker_fee_rate: fee per unit of notional for maker fills; negative is a rebate.
    :param taker_fee_rate: fee per unit of notional for taker fills.
    :param queue_model: how cancellations move our queue position; RiskAverseQueue by default.
    :param balance_quote: wallet balance in the quote currency; None means unlimited.
    :param leverage: initial margin is notional / leverage (linear contracts).
    :param max_finished_orders: how many ended orders are remembered to answer
        late cancels and amends with their real status.
    """

    def __init__(
        self,
        venue: str,
        instrument: Instrument,
        *,
        maker_fee_rate: Decimal,
        taker_fee_rate: Decimal,
        queue_model: QueueModel | None = None,
        balance_quote: Decimal | None = None,
        leverage: Decimal = Decimal(1),
        max_finished_orders: int = 100_000,
    ) -> None:
        if leverage <= 0:
            raise ValueError(f"leverage {leverage}: expected a positive number")
        self.venue = venue
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.maker_fee_rate = Decimal(maker_fee_rate)
        self.taker_fee_rate = Decimal(taker_fee_rate)
        self.queue_model: QueueModel = queue_model if queue_model is not None else RiskAverseQueue()
        self.leverage = Decimal(leverage)
        self._unit_notional = instrument.tick_size * instrument.lot_size
        self._max_finished_orders = max_finished_orders

        # Our copy of the market, price_ticks -> size_lots; the best prices are
        # cached and recomputed only after the best level is deleted.
        self._bid_book: dict[int, int] = {}
        self._ask_book: dict[int, int] = {}
        self._best_bid_ticks = _NO_PRICE_BELOW
        self._best_ask_ticks = _NO_PRICE_ABOVE
        self._best_bid_stale = False
        self._best_ask_stale = False
        self.last_price_ticks: int | None = None
        self.mark_price_ticks: int | None = None

        # Our resting orders, by id and by price (each list in time priority).
        self._orders: dict[str, _Order] = {}
        self._our_bids: dict[int, list[_Order]] = {}
        self._our_asks: dict[int, list[_Order]] = {}
        self._our_max_bid_ticks = _NO_PRICE_BELOW
        self._our_min_ask_ticks = _NO_PRICE_ABOVE
        self._reduce_only_open = 0
        self._finished: dict[str, _Order] = {}

        self._conditionals: dict[str, _Conditional] = {}
        # Per trigger source: lowest rising trigger, highest falling trigger,
        # so a trade that fires nothing costs two comparisons.
        self._rising_min_ticks = {
            TriggerBy.LAST_PRICE: _NO_PRICE_ABOVE,
            TriggerBy.MARK_PRICE: _NO_PRICE_ABOVE,
        }
        self._falling_max_ticks = {TriggerBy.LAST_PRICE: -1, TriggerBy.MARK_PRICE: -1}

        self._sequence = 0
        self.position_lots = 0
        # Entry cost of the open position (quote currency, positive for longs and shorts).
        self.position_cost_quote = Decimal(0)
        self.realized_pnl_quote = Decimal(0)
        self.fees_quote = Decimal(0)
        self.initial_balance_quote = balance_quote

    # ------------------------------------------------------------------ market

    @property
    def best_bid_ticks(self) -> int | None:
        if self._best_bid_stale:
            self._refresh_best_bid()
        return None if self._best_bid_ticks == _NO_PRICE_BELOW else self._best_bid_ticks

    @property
    def best_ask_ticks(self) -> int | None:
        if self._best_ask_stale:
            self._refresh_best_ask()
        return None if self._best_ask_ticks == _NO_PRICE_ABOVE else self._best_ask_ticks

    def mid_ticks(self) -> float | None:
        """Mid of our book copy in ticks (x.5 possible); None if a side is empty."""
        if self._best_bid_stale:
            self._refresh_best_bid()
        if self._best_ask_stale:
            self._refresh_best_ask()
        bid_ticks = self._best_bid_ticks
        ask_ticks = self._best_ask_ticks
        if bid_ticks == _NO_PRICE_BELOW or ask_ticks == _NO_PRICE_ABOVE:
            return None
        return (bid_ticks + ask_ticks) / 2

    # While a side is stale, no level of it lies beyond the old best (every
    # path that adds a level moves the best, a snapshot sets it): the new best
    # is the first level met walking away from the old one. The levels near
    # the touch are dense, so a short walk replaces a scan of the whole side.
    def _refresh_best_bid(self) -> None:
        book = self._bid_book
        price_ticks = self._best_bid_ticks
        floor_ticks = price_ticks - _BEST_WALK_TICKS
        while price_ticks > floor_ticks and price_ticks not in book:
            price_ticks -= 1
        if price_ticks not in book:
            price_ticks = max(book, default=_NO_PRICE_BELOW)
        self._best_bid_ticks = price_ticks
        self._best_bid_stale = False

    def _refresh_best_ask(self) -> None:
        book = self._ask_book
        price_ticks = self._best_ask_ticks
        ceiling_ticks = price_ticks + _BEST_WALK_TICKS
        while price_ticks < ceiling_ticks and price_ticks not in book:
            price_ticks += 1
        if price_ticks not in book:
            price_ticks = min(book, default=_NO_PRICE_ABOVE)
        self._best_ask_ticks = price_ticks
        self._best_ask_stale = False

    def level_size_lots(self, side: Side, price_ticks: int) -> int:
        """Visible market size at a price on one side of our book copy (0 if none)."""
        book = self._bid_book if side is Side.BUY else self._ask_book
        return book.get(price_ticks, 0)

    def on_book(self, msg: BookMessage, ts_ns: int) -> list[OrderUpdate | Fill]:
        """Apply one L2 message (absolute sizes; 0 deletes) and fill what it crossed."""
        events: list[OrderUpdate | Fill] = []
        if msg.is_snapshot:
            self._apply_snapshot(msg)
            highest_new_bid = max((p for p, s in msg.bids if s > 0), default=_NO_PRICE_BELOW)
            lowest_new_ask = min((p for p, s in msg.asks if s > 0), default=_NO_PRICE_ABOVE)
        else:
            highest_new_bid = self._apply_bids(msg.bids)
            lowest_new_ask = self._apply_asks(msg.asks)
        # Only a level this message set can newly reach one of our prices:
        # whatever was there before was checked when it arrived.
        if lowest_new_ask <= self._our_max_bid_ticks:
            self._sweep(Side.BUY, lowest_new_ask, ts_ns, events)
        if highest_new_bid >= self._our_min_ask_ticks:
            self._sweep(Side.SELL, highest_new_bid, ts_ns, events)
        return events

    def _apply_bids(self, levels: list[tuple[int, int]]) -> int:
        book = self._bid_book
        ours = self._our_bids
        best = self._best_bid_ticks
        stale = self._best_bid_stale
        highest_new = _NO_PRICE_BELOW
        for price_ticks, size_lots in levels:
            # No ``ours and`` first: one hash probe is cheaper than testing a
            # dict that is seldom empty (we quote most of the time).
            if price_ticks in ours:
                self._level_changed(ours[price_ticks], book.get(price_ticks, 0), size_lots)
            if size_lots > 0:
                book[price_ticks] = size_lots
                if price_ticks > highest_new:
                    highest_new = price_ticks
                    if price_ticks > best:  # best >= highest_new: only then can it move
                        best = price_ticks
            elif price_ticks in book:  # deleting a level we never had is normal
                del book[price_ticks]
                if price_ticks == best:
                    stale = True
        self._best_bid_ticks = best
        self._best_bid_stale = stale
        return highest_new

    def _apply_asks(self, levels: list[tuple[int, int]]) -> int:
        book = self._ask_book
        ours = self._our_asks
        best = self._best_ask_ticks
        stale = self._best_ask_stale
        lowest_new = _NO_PRICE_ABOVE
        for price_ticks, size_lots in levels:
            if price_ticks in ours:
                self._level_changed(ours[price_ticks], book.get(price_ticks, 0), size_lots)
            if size_lots > 0:
                book[price_ticks] = size_lots
                if price_ticks < lowest_new:
                    lowest_new = price_ticks
                    if price_ticks < best:
                        best = price_ticks
            elif price_ticks in book:  # deleting a level we never had is normal
                del book[price_ticks]
                if price_ticks == best:
                    stale = True
        self._best_ask_ticks = best
        self._best_ask_stale = stale
        return lowest_new

    def _apply_snapshot(self, msg: BookMessage) -> None:
        old_bids, old_asks = self._bid_book, self._ask_book
        self._bid_book = {p: s for p, s in msg.bids if s > 0}
        self._ask_book = {p: s for p, s in msg.asks if s > 0}
        self._best_bid_ticks = max(self._bid_book, default=_NO_PRICE_BELOW)
        self._best_ask_ticks = min(self._ask_book, default=_NO_PRICE_ABOVE)
        self._best_bid_stale = self._best_ask_stale = False
        for price_ticks, orders in self._our_bids.items():
            self._level_changed(
                orders, old_bids.get(price_ticks, 0), self._bid_book.get(price_ticks, 0)
            )
        for price_ticks, orders in self._our_asks.items():
            self._level_changed(
                orders, old_asks.get(price_ticks, 0), self._ask_book.get(price_ticks, 0)
            )

    def _level_changed(self, orders: list[_Order], before_lots: int, after_lots: int) -> None:
        """Move our queue positions at one price after its visible size changed."""
        shrink_lots = before_lots - after_lots
        own_ahead_lots = 0
        for order in orders:
            traded_lots = order.traded_since_book_lots
            order.traded_since_book_lots = 0
            cancelled_lots = shrink_lots - traded_lots
            if cancelled_lots > 0 and order.queue_ahead_lots > own_ahead_lots:
                market_ahead = order.queue_ahead_lots - own_ahead_lots - order.queue_carry_lots
                credit = order.queue_carry_lots + self.queue_model.cancelled_ahead_lots(
                    max(market_ahead, 0.0), before_lots - traded_lots, cancelled_lots
                )
                whole_lots = int(credit)
                order.queue_ahead_lots -= whole_lots
                order.queue_carry_lots = credit - whole_lots
            # Nobody who left the book can still stand ahead of us.
            limit_lots = after_lots + own_ahead_lots
            if order.queue_ahead_lots >= limit_lots:
                order.queue_ahead_lots = limit_lots
                order.queue_carry_lots = 0.0
            own_ahead_lots += order.size_lots - order.filled_lots

    def on_trade(self, trade: Trade, ts_ns: int) -> list[OrderUpdate | Fill]:
        """Apply one public trade: advance queues, fill what it reached, fire stops."""
        events: list[OrderUpdate | Fill] = []
        price_ticks = trade.price_ticks
        self.last_price_ticks = price_ticks
        # Most prints are at or behind the best price, where there is nothing
        # to consume: the cached best (unless stale) says so without a call.
        if trade.aggressor is Side.SELL:
            if price_ticks <= self._our_max_bid_ticks:
                self._trade_hits(Side.BUY, price_ticks, trade.size_lots, ts_ns, events)
            if self._best_bid_stale or self._best_bid_ticks > price_ticks:
                self._consume_bids_above(price_ticks)
        else:
            if price_ticks >= self._our_min_ask_ticks:
                self._trade_hits(Side.SELL, price_ticks, trade.size_lots, ts_ns, events)
            if self._best_ask_stale or self._best_ask_ticks < price_ticks:
                self._consume_asks_below(price_ticks)
        if (
            price_ticks >= self._rising_min_ticks[_LAST_PRICE]
            or price_ticks <= self._falling_max_ticks[_LAST_PRICE]
        ):
            self._fire_conditionals(TriggerBy.LAST_PRICE, price_ticks, ts_ns, events)
        return events

    def _consume_bids_above(self, price_ticks: int) -> None:
        """A sell printed at ``price_ticks``: every bid above it was taken.

        Trades often arrive before the depth update that reports the same
        sweep; without this, a market order in that gap would fill at bids
        that no longer exist. The next depth update sets the real sizes.
        """
        best = self.best_bid_ticks
        if best is None or best <= price_ticks:
            return
        book = self._bid_book
        for level_ticks in range(best, price_ticks, -1):
            book.pop(level_ticks, None)
        self._best_bid_ticks = price_ticks
        # Nothing is above it now: if it is not a level, the next best is below.
        self._best_bid_stale = price_ticks not in book

    def _consume_asks_below(self, price_ticks: int) -> None:
        """A buy printed at ``price_ticks``: every ask below it was taken."""
        best = self.best_ask_ticks
        if best is None or best >= price_ticks:
            return
        book = self._ask_book
        for level_ticks in range(best, price_ticks):
            book.pop(level_ticks, None)
        self._best_ask_ticks = price_ticks
        self._best_ask_stale = price_ticks not in book

    def on_mark_price(self, mark_price_ticks: int, ts_ns: int) -> list[OrderUpdate | Fill]:
        """Record the mark price and fire conditionals that watch it."""
        events: list[OrderUpdate | Fill] = []
        self.mark_price_ticks = mark_price_ticks
        if (
            mark_price_ticks >= self._rising_min_ticks[TriggerBy.MARK_PRICE]
            or mark_price_ticks <= self._falling_max_ticks[TriggerBy.MARK_PRICE]
        ):
            self._fire_conditionals(TriggerBy.MARK_PRICE, mark_price_ticks, ts_ns, events)
        return events

    def _trade_hits(
        self,
        side: Side,
        price_ticks: int,
        size_lots: int,
        ts_ns: int,
        events: list[OrderUpdate | Fill],
    ) -> None:
        """A trade whose taker is on the other side of our ``side`` orders."""
        levels = self._our_bids if side is Side.BUY else self._our_asks
        # A trade through our price means the market swept our level: all of it fills.
        if side is Side.BUY:
            swept = [p for p in levels if p > price_ticks]
        else:
            swept = [p for p in levels if p < price_ticks]
        if swept:
            self._fill_levels(side, swept, ts_ns, events)
        orders = levels.get(price_ticks)
        if not orders:
            return
        for order in list(orders):
            if order.status not in _OPEN_STATUSES:
                continue
            order.traded_since_book_lots += size_lots
            ahead_lots = order.queue_ahead_lots
            if size_lots > ahead_lots:
                order.queue_ahead_lots = 0
                order.queue_carry_lots = 0.0
                fill_lots = min(size_lots - ahead_lots, order.size_lots - order.filled_lots)
                self._fill_maker(order, fill_lots, ts_ns, events)
            else:
                order.queue_ahead_lots = ahead_lots - size_lots

    def _sweep(
        self, side: Side, reached_ticks: int, ts_ns: int, events: list[OrderUpdate | Fill]
    ) -> None:
        """The other side of the book reached ``reached_ticks``: fill ours there and beyond."""
        if side is Side.BUY:
            prices = [p for p in self._our_bids if p >= reached_ticks]
        else:
            prices = [p for p in self._our_asks if p <= reached_ticks]
        self._fill_levels(side, prices, ts_ns, events)

    def _fill_levels(
        self, side: Side, prices: list[int], ts_ns: int, events: list[OrderUpdate | Fill]
    ) -> None:
        levels = self._our_bids if side is Side.BUY else self._our_asks
        # Best price first, each level in time priority: deterministic event order.
        for price_ticks in sorted(prices, reverse=side is Side.BUY):
            orders = levels.get(price_ticks)
            if not orders:
                continue
            for order in list(orders):
                if order.status in _OPEN_STATUSES:
                    order.queue_ahead_lots = 0
                    order.queue_carry_lots = 0.0
                    self._fill_maker(order, order.size_lots - order.filled_lots, ts_ns, events)

    # ------------------------------------------------------------------ orders

    def place(self, order: NewOrder, ts_ns: int) -> list[OrderUpdate | Fill]:
        """Accept, take, rest or refuse one new order."""
        events: list[OrderUpdate | Fill] = []
        refusal = self._check_new(order)
        if refusal is None and self._is_known(order.order_link_id):
            refusal = (CODE_DUPLICATE_ORDER_LINK_ID, "OrderLinkedID is duplicate")
        if refusal is not None:
            events.append(self._rejected(order, ts_ns, *refusal))
            return events
        self._place_checked(order, ts_ns, events, venue_order_id=None)
        return events

    def _place_checked(
        self,
        order: NewOrder,
        ts_ns: int,
        events: list[OrderUpdate | Fill],
        venue_order_id: str | None,
    ) -> None:
        side = order.side
        size_lots = order.size_lots
        if order.reduce_only:
            reducible_lots = self._reducible_lots(side)
            if reducible_lots == 0:
                events.append(
                    self._rejected(
                        order,
                        ts_ns,
                        CODE_REDUCE_ONLY_SAME_SIDE,
                        "reduce-only order has same side with current position",
                    )
                )
                return
            # Bybit shrinks a reduce-only order to the position instead of refusing it.
            size_lots = min(size_lots, reducible_lots)

        limit_ticks = order.price_ticks
        time_in_force = order.time_in_force if limit_ticks is not None else "IOC"
        crosses = limit_ticks is None or self._crosses(side, limit_ticks)
        if time_in_force == "PostOnly" and crosses:
            state = self._new_state(order, size_lots, ts_ns, venue_order_id)
            state.status = OrderStatus.CANCELLED
            events.append(self._update(state, ts_ns, reject_reason=REASON_POST_ONLY_WOULD_TAKE))
            self._remember(state)
            return
        plan = self._plan_take(side, size_lots, limit_ticks) if crosses else []
        take_lots = sum(lots for _, lots in plan)

        if time_in_force == "FOK" and take_lots < size_lots:
            plan, take_lots = [], 0
            end_reason = REASON_FOK_NOT_FILLABLE
        else:
            end_reason = REASON_NO_IMMEDIATE_QTY

        if self.initial_balance_quote is not None and not order.reduce_only:
            margin_quote = sum((self._notional(price, lots) for price, lots in plan), Decimal(0))
            if time_in_force in _RESTING_TIME_IN_FORCES and limit_ticks is not None:
                margin_quote += self._notional(limit_ticks, size_lots - take_lots)
            if margin_quote / self.leverage > self.available_balance_quote:
                events.append(
                    self._rejected(
                        order, ts_ns, CODE_INSUFFICIENT_BALANCE, "ab not enough for new order"
                    )
                )
                return

        state = self._new_state(order, size_lots, ts_ns, venue_order_id)
        self._orders[state.order_link_id] = state
        if state.reduce_only:
            self._reduce_only_open += 1
        if plan:
            self._take(state, plan, ts_ns, events)
        if state.status not in _OPEN_STATUSES:
            return  # filled by the take, or ended by the reduce-only rule
        if time_in_force in _RESTING_TIME_IN_FORCES and limit_ticks is not None:
            self._rest(state)
            events.append(self._update(state, ts_ns))
        else:
            self._end(state, OrderStatus.CANCELLED)
            events.append(self._update(state, ts_ns, reject_reason=end_reason))
        if state.filled_lots and self._reduce_only_open:
            self._enforce_reduce_only(ts_ns, events)

    def cancel(self, order_link_id: str, ts_ns: int) -> list[OrderUpdate]:
        """Cancel a resting order or an untriggered conditional.

        An unknown or already ended order is answered with its real status and
        ``reject_code="110001"``; see the module docstring. A Rejected order
        never existed at the venue: its id is answered Unknown.
        """
        state = self._orders.get(order_link_id)
        if state is not None:
            self._unrest(state)
            self._end(state, OrderStatus.CANCELLED)
            return [self._update(state, ts_ns, reject_reason=REASON_CANCEL_REQUEST)]
        pending = self._conditionals.pop(order_link_id, None)
        if pending is not None:
            self._refresh_triggers()
            inner = pending.conditional.order
            state = self._new_state(inner, inner.size_lots, ts_ns, pending.venue_order_id)
            state.status = DEACTIVATED
            self._remember(state)
            return [self._update(state, ts_ns, reject_reason=REASON_CANCEL_REQUEST)]
        return [self._not_open(order_link_id, ts_ns, "order not exists or too late to cancel")]

    def amend(self, amend: AmendOrder, ts_ns: int) -> list[OrderUpdate | Fill]:
        """Change price and/or total size of a resting order, with Bybit's priority rules.

        A price change or a size increase sends the order to the back of the
        queue (a price change may also make it take, or cancel a PostOnly); a
        size decrease keeps its place.
        """
        events: list[OrderUpdate | Fill] = []
        state = self._orders.get(amend.order_link_id)
        pending = self._conditionals.get(amend.order_link_id)
        if pending is not None:
            # Bybit can amend a conditional's trigger; the simulator cannot (yet).
            inner = pending.conditional.order
            events.append(
                OrderUpdate(
                    venue=self.venue,
                    symbol=self.symbol,
                    order_link_id=amend.order_link_id,
                    status=UNTRIGGERED,
                    ts_ns=ts_ns,
                    side=inner.side,
                    price_ticks=inner.price_ticks,
                    size_lots=inner.size_lots,
                    reject_code=CODE_INVALID_REQUEST,
                    reject_reason="amending an untriggered conditional order is not simulated",
                    venue_order_id=pending.venue_order_id,
                )
            )
            return events
        if state is None:
            events.append(
                self._not_open(
                    amend.order_link_id, ts_ns, "order not exists or too late to replace"
                )
            )
            return events
        refusal: tuple[str, str] | None = None
        new_size_lots = amend.size_lots
        if amend.symbol != self.symbol:
            refusal = (CODE_INVALID_REQUEST, f"symbol {amend.symbol} is not {self.symbol}")
        elif amend.price_ticks <= 0 or new_size_lots <= 0:
            refusal = (CODE_INVALID_REQUEST, "price and qty must be positive")
        elif new_size_lots <= state.filled_lots:
            refusal = (
                CODE_INVALID_REQUEST,
                f"qty {new_size_lots} must exceed filled qty {state.filled_lots}",
            )
        if refusal is None and state.reduce_only:
            reducible_lots = self._reducible_lots(state.side)
            new_size_lots = min(new_size_lots, state.filled_lots + reducible_lots)
        if refusal is None and self.initial_balance_quote is not None and not state.reduce_only:
            extra_quote = self._notional(
                amend.price_ticks, new_size_lots - state.filled_lots
            ) - self._notional(state.price_ticks, state.size_lots - state.filled_lots)
            if extra_quote > 0 and extra_quote / self.leverage > self.available_balance_quote:
                refusal = (CODE_INSUFFICIENT_BALANCE, "ab not enough for new order")
        if refusal is not None:
            events.append(
                self._update(state, ts_ns, reject_code=refusal[0], reject_reason=refusal[1])
            )
            return events

        if amend.price_ticks != state.price_ticks:
            self._unrest(state)
            state.price_ticks = amend.price_ticks
            state.size_lots = new_size_lots
            state.priority_ts_ns = ts_ns
            self._reenter(state, ts_ns, events)
            return events
        if new_size_lots > state.size_lots:
            self._unrest(state)
            state.size_lots = new_size_lots
            state.priority_ts_ns = ts_ns
            self._rest(state)
        elif new_size_lots < state.size_lots:
            self._shrink(state, new_size_lots)
        events.append(self._update(state, ts_ns))
        return events

    def place_conditional(self, conditional: ConditionalOrder, ts_ns: int) -> list[OrderUpdate]:
        """Hold ``conditional.order`` until its trigger fires.

        Refused with 10001 when the watched price is known and already past the
        trigger (Bybit refuses "expect Rising, but trigger_price <= current").
        Balance and reduce-only rules apply when it fires, not now.
        """
        order = conditional.order
        refusal = self._check_new(order)
        if refusal is None and self._is_known(order.order_link_id):
            refusal = (CODE_DUPLICATE_ORDER_LINK_ID, "OrderLinkedID is duplicate")
        trigger_ticks = conditional.trigger_price_ticks
        if refusal is None and trigger_ticks <= 0:
            refusal = (CODE_INVALID_REQUEST, "trigger price must be positive")
        if refusal is None and conditional.trigger_by not in self._rising_min_ticks:
            refusal = (CODE_INVALID_REQUEST, f"unknown triggerBy {conditional.trigger_by!r}")
        if refusal is None:
            current_ticks = (
                self.last_price_ticks
                if conditional.trigger_by == TriggerBy.LAST_PRICE
                else self.mark_price_ticks
            )
            if current_ticks is not None:
                if (
                    conditional.trigger_direction is TriggerDirection.RISING
                    and trigger_ticks <= current_ticks
                ):
                    refusal = (
                        CODE_INVALID_REQUEST,
                        f"expect Rising, but trigger_price[{trigger_ticks}] "
                        f"<= current[{current_ticks}]",
                    )
                elif (
                    conditional.trigger_direction is TriggerDirection.FALLING
                    and trigger_ticks >= current_ticks
                ):
                    refusal = (
                        CODE_INVALID_REQUEST,
                        f"expect Falling, but trigger_price[{trigger_ticks}] "
                        f">= current[{current_ticks}]",
                    )
        if refusal is not None:
            return [self._rejected(order, ts_ns, *refusal)]
        venue_order_id = self._next_id()
        self._conditionals[order.order_link_id] = _Conditional(conditional, venue_order_id)
        self._refresh_triggers()
        return [
            OrderUpdate(
                venue=self.venue,
                symbol=self.symbol,
                order_link_id=order.order_link_id,
                status=UNTRIGGERED,
                ts_ns=ts_ns,
                side=order.side,
                price_ticks=order.price_ticks,
                size_lots=order.size_lots,
                venue_order_id=venue_order_id,
            )
        ]

    def open_orders(self) -> list[OpenOrder]:
        """Our resting orders, oldest first, with their queue position."""
        return [
            OpenOrder(
                order_link_id=state.order_link_id,
                venue_order_id=state.venue_order_id,
                side=state.side,
                price_ticks=state.price_ticks,
                size_lots=state.size_lots,
                filled_lots=state.filled_lots,
                queue_ahead_lots=state.queue_ahead_lots,
                time_in_force=state.time_in_force,
                reduce_only=state.reduce_only,
                status=state.status,
                priority_ts_ns=state.priority_ts_ns,
            )
            for state in self._orders.values()
        ]

    def open_conditionals(self) -> list[ConditionalOrder]:
        """Conditional orders still waiting for their trigger, oldest first."""
        return [pending.conditional for pending in self._conditionals.values()]

    def order_status(self, order_link_id: str) -> str:
        """Current status of an order we know; Unknown otherwise."""
        state = self._orders.get(order_link_id) or self._finished.get(order_link_id)
        if state is not None:
            return state.status
        if order_link_id in self._conditionals:
            return UNTRIGGERED
        return OrderStatus.UNKNOWN

    # ---------------------------------------------------------------- balance

    @property
    def balance_quote(self) -> Decimal | None:
        """Wallet balance: initial + realized PnL - fees; None when unlimited."""
        if self.initial_balance_quote is None:
            return None
        return self.initial_balance_quote + self.realized_pnl_quote - self.fees_quote

    @property
    def available_balance_quote(self) -> Decimal:
        """Wallet balance less the initial margin of the position and of open orders.

        Both sides of the book count in full (conservative: Bybit nets them).
        Unrealized PnL is ignored. Infinite when the balance is unlimited.
        """
        balance = self.balance_quote
        if balance is None:
            return Decimal("Infinity")
        margin_quote = self.position_cost_quote
        for state in self._orders.values():
            if not state.reduce_only:
                margin_quote += self._notional(
                    state.price_ticks, state.size_lots - state.filled_lots
                )
        return balance - margin_quote / self.leverage

    # --------------------------------------------------------------- internals

    def _check_new(self, order: NewOrder) -> tuple[str, str] | None:
        if order.symbol != self.symbol:
            return CODE_INVALID_REQUEST, f"symbol {order.symbol} is not {self.symbol}"
        if order.size_lots <= 0:
            return CODE_INVALID_REQUEST, f"qty {order.size_lots} lots must be positive"
        if order.size_lots < self.instrument.min_qty_lots:
            return (
                CODE_INVALID_REQUEST,
                f"qty {order.size_lots} lots below minimum {self.instrument.min_qty_lots}",
            )
        if order.time_in_force not in TIME_IN_FORCES:
            return (
                CODE_INVALID_REQUEST,
                f"timeInForce {order.time_in_force!r}: expected GTC, PostOnly, IOC or FOK",
            )
        if order.price_ticks is None:
            if order.time_in_force == "PostOnly":
                return CODE_INVALID_REQUEST, "market order cannot be PostOnly"
            return None
        if order.price_ticks <= 0:
            return CODE_INVALID_REQUEST, f"price {order.price_ticks} ticks must be positive"
        if (
            not order.reduce_only
            and self.instrument.min_notional
            and self._notional(order.price_ticks, order.size_lots) < self.instrument.min_notional
        ):
            return CODE_BELOW_MIN_NOTIONAL, "order does not meet minimum order value"
        return None

    def _is_known(self, order_link_id: str) -> bool:
        return (
            order_link_id in self._orders
            or order_link_id in self._finished
            or order_link_id in self._conditionals
        )

    def _crosses(self, side: Side, price_ticks: int) -> bool:
        if side is Side.BUY:
            best_ask = self.best_ask_ticks
            return best_ask is not None and price_ticks >= best_ask
        best_bid = self.best_bid_ticks
        return best_bid is not None and price_ticks <= best_bid

    def _plan_take(
        self, side: Side, size_lots: int, limit_ticks: int | None
    ) -> list[tuple[int, int]]:
        """The (price, lots) a taker would get from our book copy, best price first."""
        if side is Side.BUY:
            book = self._ask_book
            prices = sorted(p for p in book if limit_ticks is None or p <= limit_ticks)
        else:
            book = self._bid_book
            prices = sorted(
                (p for p in book if limit_ticks is None or p >= limit_ticks), reverse=True
            )
        plan: list[tuple[int, int]] = []
        remaining_lots = size_lots
        for price_ticks in prices:
            lots = min(book[price_ticks], remaining_lots)
            plan.append((price_ticks, lots))
            remaining_lots -= lots
            if remaining_lots == 0:
                break
        return plan

    def _take(
        self,
        state: _Order,
        plan: list[tuple[int, int]],
        ts_ns: int,
        events: list[OrderUpdate | Fill],
    ) -> None:
        """Execute a planned walk: consume our book copy, fill ``state`` as taker."""
        if state.side is Side.BUY:
            book, ours = self._ask_book, self._our_asks
        else:
            book, ours = self._bid_book, self._our_bids
        for price_ticks, lots in plan:
            remaining_lots = book[price_ticks] - lots
            if remaining_lots > 0:
                book[price_ticks] = remaining_lots
            else:
                del book[price_ticks]
                if state.side is Side.BUY:
                    self._best_ask_stale = True
                else:
                    self._best_bid_stale = True
            # Our own resting orders at a level we take from move up the queue
            # (we never trade with ourselves: the walk sees only the market).
            for resting in ours.get(price_ticks, ()):
                resting.queue_ahead_lots = max(resting.queue_ahead_lots - lots, 0)
            self._execute(state, price_ticks, lots, is_maker=False, ts_ns=ts_ns, events=events)
        if state.filled_lots == state.size_lots:
            self._end(state, OrderStatus.FILLED)
            events.append(self._update(state, ts_ns))
            if self._reduce_only_open:
                self._enforce_reduce_only(ts_ns, events)

    def _reenter(self, state: _Order, ts_ns: int, events: list[OrderUpdate | Fill]) -> None:
        """An amended price: the order is matched again as if new, keeping its fills."""
        if not self._crosses(state.side, state.price_ticks):
            self._rest(state)
            events.append(self._update(state, ts_ns))
            return
        if state.time_in_force == "PostOnly":
            self._end(state, OrderStatus.CANCELLED)
            events.append(self._update(state, ts_ns, reject_reason=REASON_POST_ONLY_WOULD_TAKE))
            return
        plan = self._plan_take(state.side, state.size_lots - state.filled_lots, state.price_ticks)
        self._take(state, plan, ts_ns, events)
        if state.status in _OPEN_STATUSES:
            self._rest(state)
            events.append(self._update(state, ts_ns))

    def _fill_maker(
        self, state: _Order, lots: int, ts_ns: int, events: list[OrderUpdate | Fill]
    ) -> None:
        if state.reduce_only:
            lots = min(lots, self._reducible_lots(state.side))
            if lots == 0:
                self._unrest(state)
                self._end(state, OrderStatus.CANCELLED)
                events.append(self._update(state, ts_ns, reject_reason=REASON_REDUCE_ONLY_CANCEL))
                return
        self._execute(state, state.price_ticks, lots, is_maker=True, ts_ns=ts_ns, events=events)
        if state.filled_lots == state.size_lots:
            self._unrest(state)
            self._end(state, OrderStatus.FILLED)
        events.append(self._update(state, ts_ns))
        if self._reduce_only_open:
            self._enforce_reduce_only(ts_ns, events)

    def _execute(
        self,
        state: _Order,
        price_ticks: int,
        lots: int,
        *,
        is_maker: bool,
        ts_ns: int,
        events: list[OrderUpdate | Fill],
    ) -> None:
        """Book one execution: order state, position, PnL, fee, Fill event."""
        notional_quote = self._unit_notional * (price_ticks * lots)
        fee_quote = notional_quote * (self.maker_fee_rate if is_maker else self.taker_fee_rate)
        state.filled_lots += lots
        state.status = OrderStatus.PARTIALLY_FILLED
        self.fees_quote += fee_quote
        self._update_position(int(state.side) * lots, price_ticks)
        events.append(
            Fill(
                venue=self.venue,
                symbol=self.symbol,
                order_link_id=state.order_link_id,
                exec_id=self._next_id(),
                side=state.side,
                price_ticks=price_ticks,
                size_lots=lots,
                fee=fee_quote,
                is_maker=is_maker,
                ts_ns=ts_ns,
            )
        )

    def _update_position(self, signed_lots: int, price_ticks: int) -> None:
        position = self.position_lots
        lots = abs(signed_lots)
        if position == 0 or (position > 0) == (signed_lots > 0):
            self.position_cost_quote += self._notional(price_ticks, lots)
        else:
            closed_lots = min(lots, abs(position))
            if closed_lots == abs(position):
                closed_cost = self.position_cost_quote  # exact: no average needed
            else:
                closed_cost = self.position_cost_quote * closed_lots / abs(position)
            # A long gains when it exits above cost, a short when below.
            direction = 1 if position > 0 else -1
            self.realized_pnl_quote += (
                self._notional(price_ticks, closed_lots) - closed_cost
            ) * direction
            self.position_cost_quote = (
                self.position_cost_quote
                - closed_cost
                + self._notional(price_ticks, lots - closed_lots)
            )
        self.position_lots = position + signed_lots

    def _reducible_lots(self, side: Side) -> int:
        """Lots an order on ``side`` can fill without growing or flipping the position."""
        position = self.position_lots
        if position * int(side) < 0:
            return abs(position)
        return 0

    def _enforce_reduce_only(self, ts_ns: int, events: list[OrderUpdate | Fill]) -> None:
        """After the position moved: trim reduce-only orders to it, cancel the idle ones."""
        for state in [s for s in self._orders.values() if s.reduce_only]:
            reducible_lots = self._reducible_lots(state.side)
            leaves_lots = state.size_lots - state.filled_lots
            if reducible_lots == 0:
                self._unrest(state)
                self._end(state, OrderStatus.CANCELLED)
                events.append(self._update(state, ts_ns, reject_reason=REASON_REDUCE_ONLY_CANCEL))
            elif leaves_lots > reducible_lots:
                self._shrink(state, state.filled_lots + reducible_lots)
                events.append(self._update(state, ts_ns))

    def _fire_conditionals(
        self, trigger_by: str, price_ticks: int, ts_ns: int, events: list[OrderUpdate | Fill]
    ) -> None:
        fired = [
            pending
            for pending in self._conditionals.values()
            if pending.conditional.trigger_by == trigger_by
            and (
                price_ticks >= pending.conditional.trigger_price_ticks
                if pending.conditional.trigger_direction is TriggerDirection.RISING
                else price_ticks <= pending.conditional.trigger_price_ticks
            )
        ]
        for pending in fired:
            order = pending.conditional.order
            del self._conditionals[order.order_link_id]
            events.append(
                OrderUpdate(
                    venue=self.venue,
                    symbol=self.symbol,
                    order_link_id=order.order_link_id,
                    status=TRIGGERED,
                    ts_ns=ts_ns,
                    side=order.side,
                    price_ticks=order.price_ticks,
                    size_lots=order.size_lots,
                    venue_order_id=pending.venue_order_id,
                )
            )
            self._place_checked(order, ts_ns, events, venue_order_id=pending.venue_order_id)
        self._refresh_triggers()

    def _refresh_triggers(self) -> None:
        for trigger_by in (TriggerBy.LAST_PRICE, TriggerBy.MARK_PRICE):
            rising = [
                c.conditional.trigger_price_ticks
                for c in self._conditionals.values()
                if c.conditional.trigger_by == trigger_by
                and c.conditional.trigger_direction is TriggerDirection.RISING
            ]
            falling = [
                c.conditional.trigger_price_ticks
                for c in self._conditionals.values()
                if c.conditional.trigger_by == trigger_by
                and c.conditional.trigger_direction is TriggerDirection.FALLING
            ]
            self._rising_min_ticks[trigger_by] = min(rising, default=_NO_PRICE_ABOVE)
            self._falling_max_ticks[trigger_by] = max(falling, default=-1)

    def _new_state(
        self, order: NewOrder, size_lots: int, ts_ns: int, venue_order_id: str | None
    ) -> _Order:
        return _Order(
            order_link_id=order.order_link_id,
            venue_order_id=venue_order_id if venue_order_id is not None else self._next_id(),
            side=order.side,
            price_ticks=order.price_ticks if order.price_ticks is not None else 0,
            size_lots=size_lots,
            filled_lots=0,
            time_in_force=order.time_in_force,
            reduce_only=order.reduce_only,
            status=OrderStatus.NEW,
            priority_ts_ns=ts_ns,
        )

    def _rest(self, state: _Order) -> None:
        """Put ``state`` at the back of its price's queue: behind the market and our own."""
        price_ticks = state.price_ticks
        if state.side is Side.BUY:
            levels, book = self._our_bids, self._bid_book
            if price_ticks > self._our_max_bid_ticks:
                self._our_max_bid_ticks = price_ticks
        else:
            levels, book = self._our_asks, self._ask_book
            if price_ticks < self._our_min_ask_ticks:
                self._our_min_ask_ticks = price_ticks
        orders = levels.setdefault(price_ticks, [])
        state.queue_ahead_lots = book.get(price_ticks, 0) + sum(
            o.size_lots - o.filled_lots for o in orders
        )
        state.queue_carry_lots = 0.0
        state.traded_since_book_lots = 0
        orders.append(state)

    def _unrest(self, state: _Order) -> None:
        """Take ``state`` out of its price's queue; our later orders there move up."""
        levels = self._our_bids if state.side is Side.BUY else self._our_asks
        orders = levels.get(state.price_ticks)
        if not orders or state not in orders:
            return
        index = orders.index(state)
        del orders[index]
        leaves_lots = state.size_lots - state.filled_lots
        for later in orders[index:]:
            later.queue_ahead_lots = max(later.queue_ahead_lots - leaves_lots, 0)
        if not orders:
            del levels[state.price_ticks]
            if state.side is Side.BUY:
                self._our_max_bid_ticks = max(levels, default=_NO_PRICE_BELOW)
            else:
                self._our_min_ask_ticks = min(levels, default=_NO_PRICE_ABOVE)

    def _shrink(self, state: _Order, new_size_lots: int) -> None:
        """Lower the total size in place (priority kept); our later orders move up."""
        removed_lots = state.size_lots - new_size_lots
        state.size_lots = new_size_lots
        levels = self._our_bids if state.side is Side.BUY else self._our_asks
        orders = levels.get(state.price_ticks, [])
        if state in orders:
            for later in orders[orders.index(state) + 1 :]:
                later.queue_ahead_lots = max(later.queue_ahead_lots - removed_lots, 0)

    def _end(self, state: _Order, status: str) -> None:
        state.status = status
        if self._orders.pop(state.order_link_id, None) is not None and state.reduce_only:
            self._reduce_only_open -= 1
        self._remember(state)

    def _remember(self, state: _Order) -> None:
        finished = self._finished
        finished[state.order_link_id] = state
        if len(finished) > self._max_finished_orders:
            del finished[next(iter(finished))]

    def _notional(self, price_ticks: int, size_lots: int) -> Decimal:
        return self._unit_notional * (price_ticks * size_lots)

    def _next_id(self) -> str:
        self._sequence += 1
        return f"{self.venue}-{self._sequence}"

    def _update(
        self, state: _Order, ts_ns: int, *, reject_code: str = "", reject_reason: str = ""
    ) -> OrderUpdate:
        return OrderUpdate(
            venue=self.venue,
            symbol=self.symbol,
            order_link_id=state.order_link_id,
            status=state.status,
            ts_ns=ts_ns,
            side=state.side,
            price_ticks=state.price_ticks or None,
            size_lots=state.size_lots,
            filled_lots=state.filled_lots,
            reject_code=reject_code,
            reject_reason=reject_reason,
            venue_order_id=state.venue_order_id,
        )

    def _rejected(self, order: NewOrder, ts_ns: int, code: str, reason: str) -> OrderUpdate:
        return OrderUpdate(
            venue=self.venue,
            symbol=self.symbol,
            order_link_id=order.order_link_id,
            status=OrderStatus.REJECTED,
            ts_ns=ts_ns,
            side=order.side,
            price_ticks=order.price_ticks,
            size_lots=order.size_lots,
            reject_code=code,
            reject_reason=reason,
        )

    def _not_open(self, order_link_id: str, ts_ns: int, reason: str) -> OrderUpdate:
        """A refused cancel/amend: the order's real status, never Rejected."""
        state = self._finished.get(order_link_id)
        if state is not None:
            return self._update(
                state, ts_ns, reject_code=CODE_ORDER_NOT_EXISTS, reject_reason=reason
            )
        # Side is meaningless for an id we never saw; Unknown says so.
        return OrderUpdate(
            venue=self.venue,
            symbol=self.symbol,
            order_link_id=order_link_id,
            status=OrderStatus.UNKNOWN,
            ts_ns=ts_ns,
            side=Side.BUY,
            price_ticks=None,
            size_lots=0,
            reject_code=CODE_ORDER_NOT_EXISTS,
            reject_reason=reason,
        )
