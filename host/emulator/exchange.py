"""The emulated Bybit account: orders, executions, positions and wallet, in
Bybit V5's shapes, on top of one ``MatchingEngine`` per listing.

Everything here runs on the emulator's event loop thread; nothing blocks and
nothing does I/O. Requests come in as Bybit parameter dicts (strings, as on
the wire) and go out as Bybit result dicts, or raise ``BybitError`` with
Bybit's retCode and retMsg. Changes are pushed to ``publish_private(topic,
items)`` (the private streams' order / execution / position / wallet).

The account is one unified account: a single USDT wallet margins every linear
listing (``leverage`` x) and pays for spot; spot base coins are wallet coins.
Balance checks happen here (110007 linear, 170131 spot) because the engines
each see one symbol only, so they run with an unlimited balance.

Simplifications (see docs/emulator.md): one-way position mode
(positionIdx 0); fees in the quote coin on spot too; our orders are not shown
in the public book; TP/SL of ``trading-stop`` are "Full" mode conditional
market orders sized to the position when set.
"""

from __future__ import annotations

import itertools
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from host.emulator.listings import Listing
from host.models import (
    AmendOrder,
    BookMessage,
    Fill,
    NewOrder,
    OffGridError,
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

__all__ = ["BybitError", "Exchange", "OrderRecord"]

_OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, UNTRIGGERED})
_MAX_EXECUTIONS = 10_000
_MAX_PAGE = 50
BATCH_LIMITS = {"linear": 20, "spot": 10}


class BybitError(Exception):
    """A refused request: Bybit's ``retCode`` and ``retMsg``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(slots=True)
class OrderRecord:
    """One order as Bybit reports it; mutated as the engine reports news."""

    listing: Listing
    order_id: str
    order_link_id: str  # the client's; "" when none was given
    engine_id: str  # the id inside the matching engine (unique per engine)
    side: Side
    order_type: str  # Limit | Market
    price_ticks: int | None
    qty_lots: int
    time_in_force: str
    reduce_only: bool
    created_ms: int
    status: str = OrderStatus.NEW
    filled_lots: int = 0
    exec_value: Decimal = Decimal(0)
    exec_fee: Decimal = Decimal(0)
    reject_reason: str = "EC_NoError"
    cancel_type: str = "UNKNOWN"
    updated_ms: int = 0
    trigger_price_ticks: int | None = None
    trigger_direction: int = 0
    trigger_by: str = ""
    stop_order_type: str = ""
    take_profit: str = ""
    stop_loss: str = ""
    quote_qty: bool = False  # a spot market buy sized in the quote coin

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN_STATUSES

    @property
    def leaves_lots(self) -> int:
        return self.qty_lots - self.filled_lots if self.is_open else 0


@dataclass(slots=True)
class _Book:
    """Per listing: its engine, our bookkeeping of what it has paid us."""

    listing: Listing
    engine: MatchingEngine
    booked_pnl_quote: Decimal = Decimal(0)  # realized - fees already in the wallet
    take_profit: str = ""
    stop_loss: str = ""
    tpsl_engine_ids: list[str] = field(default_factory=list)
    position_updated_ms: int = 0


def _decimal(params: dict[str, Any], key: str) -> Decimal | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise BybitError(10001, f"params error: {key} {value!r} is not a number") from None
    if not result.is_finite():
        raise BybitError(10001, f"params error: {key} {value!r} is not a number")
    return result


def _flag(params: dict[str, Any], key: str) -> bool:
    value = params.get(key)
    return value is True or str(value).lower() == "true"


class Exchange:
    """The account and its matching engines.

    :param listings: what is traded, by (category, symbol).
    :param balances: initial wallet per coin (``{"USDT": Decimal(100000)}``).
    :param clock_ms: the replay clock in ms (market time; stamps orders and fills).
    :param fee_rates: (maker, taker) per category; Bybit VIP 0 by default.
    :param leverage: linear initial margin = notional / leverage.
    """

    def __init__(
        self,
        listings: dict[tuple[str, str], Listing],
        balances: dict[str, Decimal],
        clock_ms: Callable[[], int],
        *,
        fee_rates: dict[str, tuple[Decimal, Decimal]] | None = None,
        leverage: Decimal = Decimal(10),
    ) -> None:
        fee_rates = fee_rates or {
            "linear": (Decimal("0.0002"), Decimal("0.00055")),
            "spot": (Decimal("0.001"), Decimal("0.001")),
        }
        self.listings = listings
        self.clock_ms = clock_ms
        self.leverage = leverage
        self.fee_rates = fee_rates
        self.cash: dict[str, Decimal] = {coin: Decimal(value) for coin, value in balances.items()}
        self.cash.setdefault("USDT", Decimal(0))
        self._books: dict[tuple[str, str], _Book] = {
            key: _Book(
                listing,
                MatchingEngine(
                    "bybit",
                    listing.instrument,
                    maker_fee_rate=fee_rates[listing.category][0],
                    taker_fee_rate=fee_rates[listing.category][1],
                    balance_quote=None,
                ),
            )
            for key, listing in listings.items()
        }
        self.orders: dict[str, OrderRecord] = {}  # by orderId, oldest first
        self._by_link_id: dict[str, OrderRecord] = {}
        self._by_engine_id: dict[tuple[tuple[str, str], str], OrderRecord] = {}
        self.executions: deque[dict[str, Any]] = deque(maxlen=_MAX_EXECUTIONS)
        self._sequence = itertools.count(1)
        self.dcp_window_s: int | None = None
        # Set by the server: pushes to the private streams.
        self.publish_private: Callable[[str, list[dict[str, Any]]], None] = _publish_nowhere

    # ------------------------------------------------------------ lookups

    def listing(self, params: dict[str, Any]) -> Listing:
        category = params.get("category")
        symbol = str(params.get("symbol") or "").upper()
        if not category:
            raise BybitError(10001, "params error: category is required")
        if category not in ("linear", "spot", "inverse", "option"):
            raise BybitError(10001, f"params error: category {category!r} is invalid")
        listing = self.listings.get((category, symbol))
        if listing is None:
            raise BybitError(10001, "params error: symbol invalid")
        return listing

    def engine(self, listing: Listing) -> MatchingEngine:
        return self._books[listing.key].engine

    def find_order(self, params: dict[str, Any]) -> OrderRecord:
        order_id = params.get("orderId") or ""
        order_link_id = params.get("orderLinkId") or ""
        if not order_id and not order_link_id:
            raise BybitError(10001, "params error: orderId or orderLinkId is required")
        record = self.orders.get(order_id) if order_id else self._by_link_id.get(order_link_id)
        if record is None:
            raise BybitError(110001, "order not exists or too late to cancel")
        return record

    # ------------------------------------------------------------- market

    def on_market(self, key: tuple[str, str], event: BookMessage | Trade, ts_ns: int) -> None:
        """Feed one market event to the listing's engine; publish what it caused."""
        book = self._books[key]
        if isinstance(event, Trade):
            events = book.engine.on_trade(event, ts_ns)
        else:
            events = book.engine.on_book(event, ts_ns)
        if events:
            self._absorb(book, events)

    # ------------------------------------------------------------- orders

    def create_order(self, params: dict[str, Any]) -> OrderRecord:
        """Place one order (Bybit ``order/create`` semantics); raises BybitError."""
        listing = self.listing(params)
        book = self._books[listing.key]
        instrument = listing.instrument
        side_text = params.get("side")
        if side_text not in ("Buy", "Sell"):
            raise BybitError(10001, f"params error: side {side_text!r} must be Buy or Sell")
        side = Side.parse(side_text)
        order_type = params.get("orderType")
        if order_type not in ("Limit", "Market"):
            raise BybitError(10001, f"params error: orderType {order_type!r} is invalid")
        order_link_id = str(params.get("orderLinkId") or "")
        if len(order_link_id) > 36:
            raise BybitError(10001, "params error: orderLinkId is longer than 36 characters")
        if order_link_id and order_link_id in self._by_link_id:
            raise BybitError(110072, "OrderLinkedID is duplicate")
        reduce_only = _flag(params, "reduceOnly")
        if reduce_only and listing.category == "spot":
            raise BybitError(10001, "params error: reduceOnly is not supported for spot")
        time_in_force = str(
            params.get("timeInForce") or ("GTC" if order_type == "Limit" else "IOC")
        )
        if time_in_force not in ("GTC", "IOC", "FOK", "PostOnly"):
            raise BybitError(10001, f"params error: timeInForce {time_in_force!r} is invalid")
        price = _decimal(params, "price")
        price_ticks: int | None = None
        if order_type == "Limit":
            if price is None or price <= 0:
                raise BybitError(10001, "params error: price is required for a Limit order")
            try:
                price_ticks = instrument.price_to_ticks(price)
            except OffGridError:
                raise BybitError(10001, "Order price has too many decimals.") from None
        qty = _decimal(params, "qty")
        if qty is None or qty <= 0:
            raise BybitError(10001, "params error: qty must be positive")
        quote_qty = (
            listing.category == "spot"
            and order_type == "Market"
            and side is Side.BUY
            and params.get("marketUnit", "quoteCoin") != "baseCoin"
        )
        engine = book.engine
        if quote_qty:
            # Bybit sizes spot market buys in the quote coin unless told otherwise.
            best_ask = engine.best_ask_ticks
            if best_ask is None:
                raise BybitError(170136, "no liquidity for a market order")
            qty_lots = int(qty / (instrument.tick_size * best_ask) / instrument.lot_size)
        else:
            try:
                qty_lots = instrument.qty_to_lots(qty)
            except OffGridError:
                raise BybitError(10001, "Qty invalid: not a multiple of the qty step") from None
        if qty_lots < instrument.min_qty_lots:
            raise BybitError(
                10001 if listing.category == "linear" else 170136,
                "The number of contracts is below the minimum order quantity",
            )
        trigger_price = _decimal(params, "triggerPrice")
        now_ms = self.clock_ms()
        order_id = str(uuid.uuid4())
        engine_id = order_link_id or f"~{order_id}"
        record = OrderRecord(
            listing=listing,
            order_id=order_id,
            order_link_id=order_link_id,
            engine_id=engine_id,
            side=side,
            order_type=order_type,
            price_ticks=price_ticks,
            qty_lots=qty_lots,
            time_in_force=time_in_force,
            reduce_only=reduce_only,
            created_ms=now_ms,
            updated_ms=now_ms,
            take_profit=str(params.get("takeProfit") or ""),
            stop_loss=str(params.get("stopLoss") or ""),
            quote_qty=quote_qty,
        )
        new_order = NewOrder(
            order_link_id=engine_id,
            symbol=listing.symbol,
            side=side,
            size_lots=qty_lots,
            price_ticks=price_ticks,
            time_in_force=time_in_force,
            reduce_only=reduce_only,
        )
        if trigger_price is not None and trigger_price > 0:
            direction = int(params.get("triggerDirection") or 0)
            if direction not in (1, 2):
                raise BybitError(10001, "params error: triggerDirection must be 1 or 2")
            try:
                record.trigger_price_ticks = instrument.price_to_ticks(trigger_price)
            except OffGridError:
                raise BybitError(10001, "Trigger price has too many decimals.") from None
            record.trigger_direction = direction
            record.trigger_by = str(params.get("triggerBy") or TriggerBy.LAST_PRICE)
            record.stop_order_type = "Stop"
            record.status = UNTRIGGERED
            events: list[OrderUpdate | Fill] = list(
                engine.place_conditional(
                    ConditionalOrder(
                        order=new_order,
                        trigger_price_ticks=record.trigger_price_ticks,
                        trigger_direction=TriggerDirection(direction),
                        trigger_by=record.trigger_by,
                    ),
                    self.clock_ms() * 1_000_000,
                )
            )
        else:
            if not reduce_only:
                self._check_balance(book, side, qty_lots, price_ticks, time_in_force)
            events = engine.place(new_order, now_ms * 1_000_000)
        first = events[0] if events else None
        if isinstance(first, OrderUpdate) and first.status == OrderStatus.REJECTED:
            raise BybitError(int(first.reject_code or 10001), first.reject_reason)
        self._register(record)
        self._absorb(book, events, created=record)
        return record

    def amend_order(self, params: dict[str, Any]) -> OrderRecord:
        listing = self.listing(params)
        record = self._find_open(params, listing, "replace")
        if record.trigger_price_ticks is not None and record.status == UNTRIGGERED:
            raise BybitError(10001, "amending an untriggered conditional order is not emulated")
        instrument = listing.instrument
        price = _decimal(params, "price")
        qty = _decimal(params, "qty")
        try:
            price_ticks = (
                instrument.price_to_ticks(price) if price is not None else record.price_ticks
            )
            qty_lots = instrument.qty_to_lots(qty) if qty is not None else record.qty_lots
        except OffGridError as error:
            raise BybitError(10001, f"params error: {error}") from None
        if price_ticks is None:
            raise BybitError(10001, "a Market order cannot be amended")
        if price_ticks == record.price_ticks and qty_lots == record.qty_lots:
            raise BybitError(
                10001,
                "The order remains unchanged as the parameters entered match the existing ones.",
            )
        book = self._books[listing.key]
        events = book.engine.amend(
            AmendOrder(
                order_link_id=record.engine_id,
                symbol=listing.symbol,
                price_ticks=price_ticks,
                size_lots=qty_lots,
            ),
            self.clock_ms() * 1_000_000,
        )
        first = events[0] if events else None
        if isinstance(first, OrderUpdate) and first.reject_code:
            raise BybitError(int(first.reject_code), first.reject_reason)
        record.price_ticks = price_ticks
        self._absorb(book, events)
        return record

    def cancel_order(self, params: dict[str, Any]) -> OrderRecord:
        listing = self.listing(params)
        record = self._find_open(params, listing, "cancel")
        book = self._books[listing.key]
        events = book.engine.cancel(record.engine_id, self.clock_ms() * 1_000_000)
        first = events[0] if events else None
        if isinstance(first, OrderUpdate) and first.reject_code:
            raise BybitError(int(first.reject_code), first.reject_reason)
        record.cancel_type = "CancelByUser"
        self._absorb(book, list(events))
        return record

    def cancel_all(
        self, params: dict[str, Any], *, cancel_type: str = "CancelByUser"
    ) -> list[OrderRecord]:
        """Cancel open orders of a category (optionally one symbol / base / settle coin)."""
        category = params.get("category")
        if category not in ("linear", "spot"):
            raise BybitError(10001, "params error: category is required")
        symbol = str(params.get("symbol") or "").upper()
        base_coin = params.get("baseCoin") or ""
        settle_coin = params.get("settleCoin") or ""
        cancelled: list[OrderRecord] = []
        for record in [r for r in self.orders.values() if r.is_open]:
            listing = record.listing
            if listing.category != category or (symbol and listing.symbol != symbol):
                continue
            if base_coin and listing.instrument.base != base_coin:
                continue
            if settle_coin and listing.instrument.quote != settle_coin:
                continue
            book = self._books[listing.key]
            events = book.engine.cancel(record.engine_id, self.clock_ms() * 1_000_000)
            if events and not events[0].reject_code:
                record.cancel_type = cancel_type
                self._absorb(book, list(events))
                cancelled.append(record)
        return cancelled

    def cancel_everything(self, cancel_type: str) -> list[OrderRecord]:
        """Every open order of the account (DCP, kill switch tests)."""
        return [
            record
            for category in ("linear", "spot")
            for record in self.cancel_all({"category": category}, cancel_type=cancel_type)
        ]

    def _find_open(self, params: dict[str, Any], listing: Listing, verb: str) -> OrderRecord:
        try:
            record = self.find_order(params)
        except BybitError:
            raise BybitError(110001, f"order not exists or too late to {verb}") from None
        if record.listing.key != listing.key or not record.is_open:
            raise BybitError(110001, f"order not exists or too late to {verb}")
        return record

    def _register(self, record: OrderRecord) -> None:
        self.orders[record.order_id] = record
        if record.order_link_id:
            self._by_link_id[record.order_link_id] = record
        self._by_engine_id[(record.listing.key, record.engine_id)] = record

    def _check_balance(
        self,
        book: _Book,
        side: Side,
        qty_lots: int,
        price_ticks: int | None,
        time_in_force: str,
    ) -> None:
        listing = book.listing
        instrument = listing.instrument
        engine = book.engine
        reference_ticks = price_ticks
        if reference_ticks is None:
            reference_ticks = engine.best_ask_ticks if side is Side.BUY else engine.best_bid_ticks
        if reference_ticks is None:
            return  # no book yet: nothing to price the order with; the engine decides
        notional = instrument.notional(reference_ticks, qty_lots)
        if listing.category == "linear":
            if notional / self.leverage > self.available_quote():
                raise BybitError(110007, "ab not enough for new order")
        elif side is Side.BUY:
            fee = notional * self.fee_rates["spot"][1]
            if notional + fee > self.available_quote():
                raise BybitError(170131, "Insufficient balance.")
        else:
            base = instrument.base
            locked = sum(
                (
                    instrument.lots_to_qty(r.leaves_lots)
                    for r in self.orders.values()
                    if r.listing.instrument.base == base
                    and r.listing.category == "spot"
                    and r.side is Side.SELL
                    and r.is_open
                ),
                Decimal(0),
            )
            if instrument.lots_to_qty(qty_lots) > self.cash.get(base, Decimal(0)) - locked:
                raise BybitError(170131, "Insufficient balance.")

    # ------------------------------------------------------------ TP / SL

    def set_trading_stop(self, params: dict[str, Any]) -> None:
        """Store TP/SL of a linear position and arm them as conditional market orders."""
        listing = self.listing(params)
        if listing.category != "linear":
            raise BybitError(10001, "params error: trading-stop is for linear positions")
        book = self._books[listing.key]
        engine = book.engine
        if engine.position_lots == 0:
            raise BybitError(10001, "can not set tp/sl/ts for zero position")
        take_profit = _decimal(params, "takeProfit")
        stop_loss = _decimal(params, "stopLoss")
        instrument = listing.instrument
        try:
            tp_ticks = instrument.price_to_ticks(take_profit) if take_profit else None
            sl_ticks = instrument.price_to_ticks(stop_loss) if stop_loss else None
        except OffGridError:
            raise BybitError(10001, "TP/SL price has too many decimals.") from None
        position_lots = engine.position_lots
        closing_side = Side.SELL if position_lots > 0 else Side.BUY
        long = position_lots > 0
        armed: list[tuple[str, int, TriggerDirection, str]] = []
        if take_profit is not None:
            book.take_profit = "" if take_profit == 0 else format(take_profit, "f")
            if tp_ticks:
                armed.append(
                    (
                        "TakeProfit",
                        tp_ticks,
                        TriggerDirection.RISING if long else TriggerDirection.FALLING,
                        str(params.get("tpTriggerBy") or TriggerBy.LAST_PRICE),
                    )
                )
        if stop_loss is not None:
            book.stop_loss = "" if stop_loss == 0 else format(stop_loss, "f")
            if sl_ticks:
                armed.append(
                    (
                        "StopLoss",
                        sl_ticks,
                        TriggerDirection.FALLING if long else TriggerDirection.RISING,
                        str(params.get("slTriggerBy") or TriggerBy.LAST_PRICE),
                    )
                )
        replaced = {kind for kind, *_ in armed}
        if take_profit is not None:
            replaced.add("TakeProfit")
        if stop_loss is not None:
            replaced.add("StopLoss")
        self._disarm(book, replaced)
        now_ms = self.clock_ms()
        for kind, trigger_ticks, direction, trigger_by in armed:
            order_id = str(uuid.uuid4())
            engine_id = f"~{kind}-{order_id}"
            events = engine.place_conditional(
                ConditionalOrder(
                    order=NewOrder(
                        order_link_id=engine_id,
                        symbol=listing.symbol,
                        side=closing_side,
                        size_lots=abs(position_lots),
                        price_ticks=None,
                        time_in_force="IOC",
                        reduce_only=True,
                    ),
                    trigger_price_ticks=trigger_ticks,
                    trigger_direction=direction,
                    trigger_by=trigger_by,
                ),
                now_ms * 1_000_000,
            )
            if events and events[0].status == OrderStatus.REJECTED:
                raise BybitError(int(events[0].reject_code or 10001), events[0].reject_reason)
            record = OrderRecord(
                listing=listing,
                order_id=order_id,
                order_link_id="",
                engine_id=engine_id,
                side=closing_side,
                order_type="Market",
                price_ticks=None,
                qty_lots=abs(position_lots),
                time_in_force="IOC",
                reduce_only=True,
                created_ms=now_ms,
                updated_ms=now_ms,
                status=UNTRIGGERED,
                trigger_price_ticks=trigger_ticks,
                trigger_direction=int(direction),
                trigger_by=trigger_by,
                stop_order_type=kind,
            )
            self._register(record)
            book.tpsl_engine_ids.append(engine_id)
            self._absorb(book, list(events))
        book.position_updated_ms = now_ms
        self.publish_private("position", [self.position_dict(book)])

    def _disarm(self, book: _Book, kinds: set[str]) -> None:
        keep: list[str] = []
        for engine_id in book.tpsl_engine_ids:
            record = self._by_engine_id.get((book.listing.key, engine_id))
            if record is None or not record.is_open:
                continue
            if record.stop_order_type in kinds:
                events = book.engine.cancel(engine_id, self.clock_ms() * 1_000_000)
                record.cancel_type = "CancelByUser"
                self._absorb(book, list(events))
            else:
                keep.append(engine_id)
        book.tpsl_engine_ids = keep

    # -------------------------------------------------------- engine news

    def _absorb(
        self,
        book: _Book,
        events: list[OrderUpdate | Fill],
        *,
        created: OrderRecord | None = None,
    ) -> None:
        """Apply engine events to the records; push order, execution, position, wallet."""
        listing = book.listing
        now_ms = self.clock_ms()
        changed: dict[str, OrderRecord] = {}
        executions: list[dict[str, Any]] = []
        for event in events:
            record = self._by_engine_id.get((listing.key, event.order_link_id))
            if record is None:
                continue
            if isinstance(event, Fill):
                executions.append(self._execute(book, record, event, now_ms))
            else:
                status = event.status
                if status == TRIGGERED:
                    record.status = TRIGGERED
                    record.updated_ms = now_ms
                    changed[record.order_id] = record
                    continue
                record.status = DEACTIVATED if status == DEACTIVATED else status
                record.qty_lots = event.size_lots or record.qty_lots
                if event.price_ticks is not None and record.order_type == "Limit":
                    record.price_ticks = event.price_ticks
                if event.reject_reason:
                    record.reject_reason = event.reject_reason
                    if record.cancel_type == "UNKNOWN" and status == OrderStatus.CANCELLED:
                        record.cancel_type = (
                            "CancelByReduceOnly"
                            if event.reject_reason == "EC_ReduceOnlyCancel"
                            else "UNKNOWN"
                        )
            record.updated_ms = now_ms
            changed[record.order_id] = record
        if created is not None:
            changed.setdefault(created.order_id, created)
        if changed:
            self.publish_private("order", [self.order_dict(r) for r in changed.values()])
        if executions:
            self.publish_private("execution", executions)
            if listing.category == "linear":
                self._settle_linear(book)
                book.position_updated_ms = now_ms
                if book.engine.position_lots == 0:
                    book.take_profit = book.stop_loss = ""
                    self._disarm(book, {"TakeProfit", "StopLoss"})
                self.publish_private("position", [self.position_dict(book)])
            self.publish_private("wallet", [self.wallet_dict()])

    def _execute(self, book: _Book, record: OrderRecord, fill: Fill, now_ms: int) -> dict[str, Any]:
        listing = book.listing
        instrument = listing.instrument
        value = instrument.notional(fill.price_ticks, fill.size_lots)
        record.filled_lots += fill.size_lots
        record.exec_value += value
        record.exec_fee += fill.fee
        if listing.category == "spot":
            signed = int(fill.side)
            base = instrument.base
            self.cash[base] = self.cash.get(base, Decimal(0)) + signed * instrument.lots_to_qty(
                fill.size_lots
            )
            self.cash[instrument.quote] = (
                self.cash.get(instrument.quote, Decimal(0)) - (signed * value) - fill.fee
            )
        fee_rate = self.fee_rates[listing.category][0 if fill.is_maker else 1]
        execution = {
            "category": listing.category,
            "symbol": listing.symbol,
            "orderId": record.order_id,
            "orderLinkId": record.order_link_id,
            "side": fill.side.venue_name,
            "orderPrice": listing.price(record.price_ticks) if record.price_ticks else "0",
            "orderQty": listing.qty(record.qty_lots),
            "leavesQty": listing.qty(max(record.qty_lots - record.filled_lots, 0)),
            "createType": "CreateByUser",
            "orderType": record.order_type,
            "stopOrderType": record.stop_order_type,
            "execFee": listing.money(fill.fee),
            "execId": str(uuid.uuid4()),
            "execPrice": listing.price(fill.price_ticks),
            "execQty": listing.qty(fill.size_lots),
            "execType": "Trade",
            "execValue": listing.money(value),
            "execTime": str(now_ms),
            "feeCurrency": instrument.quote,
            "isMaker": fill.is_maker,
            "feeRate": format(fee_rate, "f"),
            "tradeIv": "",
            "markIv": "",
            "markPrice": listing.price(fill.price_ticks),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": "",
            "seq": next(self._sequence),
            "extraFees": "",
        }
        self.executions.append(execution)
        return execution

    def _settle_linear(self, book: _Book) -> None:
        engine = book.engine
        earned = engine.realized_pnl_quote - engine.fees_quote
        quote = book.listing.instrument.quote
        self.cash[quote] = self.cash.get(quote, Decimal(0)) + earned - book.booked_pnl_quote
        book.booked_pnl_quote = earned

    # --------------------------------------------------------- money views

    def mark_ticks(self, book: _Book) -> int | None:
        engine = book.engine
        bid, ask = engine.best_bid_ticks, engine.best_ask_ticks
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        return engine.last_price_ticks or bid or ask

    def unrealised_pnl(self, book: _Book) -> Decimal:
        engine = book.engine
        mark = self.mark_ticks(book)
        if engine.position_lots == 0 or mark is None:
            return Decimal(0)
        value = book.listing.instrument.notional(mark, abs(engine.position_lots))
        return (value - engine.position_cost_quote) * (1 if engine.position_lots > 0 else -1)

    def _margins(self) -> tuple[Decimal, Decimal, Decimal]:
        """(position IM, open-order IM, unrealised PnL) of the account in USDT."""
        position_im = order_im = upl = Decimal(0)
        for book in self._books.values():
            if book.listing.category == "linear":
                position_im += book.engine.position_cost_quote / self.leverage
                upl += self.unrealised_pnl(book)
        for record in self.orders.values():
            if not record.is_open or record.reduce_only or record.price_ticks is None:
                continue
            notional = record.listing.instrument.notional(record.price_ticks, record.leaves_lots)
            if record.listing.category == "linear":
                order_im += notional / self.leverage
            elif record.side is Side.BUY:
                order_im += notional  # a spot buy locks its quote coin in full
        return position_im, order_im, upl

    def available_quote(self) -> Decimal:
        position_im, order_im, upl = self._margins()
        return self.cash.get("USDT", Decimal(0)) + min(upl, Decimal(0)) - position_im - order_im

    # ------------------------------------------------------------ dicts

    def order_dict(self, record: OrderRecord) -> dict[str, Any]:
        listing = record.listing
        filled = record.filled_lots
        average = (record.exec_value / listing.instrument.lots_to_qty(filled)) if filled else None
        leaves = record.leaves_lots
        return {
            "category": listing.category,
            "symbol": listing.symbol,
            "orderId": record.order_id,
            "orderLinkId": record.order_link_id,
            "blockTradeId": "",
            "price": listing.price(record.price_ticks) if record.price_ticks else "0",
            "qty": listing.qty(record.qty_lots),
            "side": record.side.venue_name,
            "isLeverage": "",
            "positionIdx": 0,
            "orderStatus": record.status,
            "cancelType": record.cancel_type,
            "rejectReason": record.reject_reason,
            "avgPrice": format(average.quantize(listing.instrument.tick_size / 100), "f")
            if average is not None
            else "",
            "leavesQty": listing.qty(leaves),
            "leavesValue": listing.money(listing.instrument.notional(record.price_ticks, leaves))
            if record.price_ticks
            else "0",
            "cumExecQty": listing.qty(filled),
            "cumExecValue": listing.money(record.exec_value),
            "cumExecFee": listing.money(record.exec_fee),
            "timeInForce": record.time_in_force,
            "orderType": record.order_type,
            "stopOrderType": record.stop_order_type,
            "orderIv": "",
            "triggerPrice": listing.price(record.trigger_price_ticks)
            if record.trigger_price_ticks
            else "",
            "takeProfit": record.take_profit,
            "stopLoss": record.stop_loss,
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": record.trigger_direction,
            "triggerBy": record.trigger_by,
            "lastPriceOnCreated": "",
            "reduceOnly": record.reduce_only,
            "closeOnTrigger": False,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "tpslMode": "",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "placeType": "",
            "marketUnit": "quoteCoin" if record.quote_qty else "",
            "createdTime": str(record.created_ms),
            "updatedTime": str(record.updated_ms),
        }

    def position_dict(self, book: _Book) -> dict[str, Any]:
        listing = book.listing
        engine = book.engine
        instrument = listing.instrument
        position_lots = engine.position_lots
        size_lots = abs(position_lots)
        cost = engine.position_cost_quote
        mark = self.mark_ticks(book)
        average = (cost / instrument.lots_to_qty(size_lots)) if size_lots else Decimal(0)
        return {
            "category": "linear",
            "symbol": listing.symbol,
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "side": "" if position_lots == 0 else ("Buy" if position_lots > 0 else "Sell"),
            "size": listing.qty(size_lots),
            "avgPrice": format(average.quantize(instrument.tick_size / 100), "f")
            if size_lots
            else "0",
            "positionValue": listing.money(cost),
            "tradeMode": 0,
            "autoAddMargin": 0,
            "positionStatus": "Normal",
            "leverage": format(self.leverage, "f"),
            "markPrice": listing.price(mark) if mark else "",
            "liqPrice": "",
            "bustPrice": "",
            "positionIM": listing.money(cost / self.leverage),
            "positionMM": listing.money(cost * Decimal("0.005")),
            "positionBalance": listing.money(cost / self.leverage),
            "takeProfit": book.take_profit or "0",
            "stopLoss": book.stop_loss or "0",
            "trailingStop": "0",
            "sessionAvgPrice": "",
            "unrealisedPnl": listing.money(self.unrealised_pnl(book)),
            "curRealisedPnl": listing.money(engine.realized_pnl_quote - engine.fees_quote),
            "cumRealisedPnl": listing.money(engine.realized_pnl_quote - engine.fees_quote),
            "adlRankIndicator": 0,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "tpslMode": "Full",
            "createdTime": str(book.position_updated_ms),
            "updatedTime": str(book.position_updated_ms),
            "seq": next(self._sequence),
        }

    def positions(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if params.get("category") != "linear":
            raise BybitError(10001, "params error: category must be linear")
        symbol = str(params.get("symbol") or "").upper()
        if not symbol and not params.get("settleCoin") and not params.get("baseCoin"):
            raise BybitError(10001, "params error: symbol or settleCoin is required")
        return [
            self.position_dict(book)
            for book in self._books.values()
            if book.listing.category == "linear" and (not symbol or book.listing.symbol == symbol)
        ]

    def wallet_dict(self, coins: set[str] | None = None) -> dict[str, Any]:
        position_im, order_im, upl = self._margins()
        usdt = self.cash.get("USDT", Decimal(0))
        prices = self._coin_prices()
        coin_items = []
        total_value = Decimal(0)
        for coin, balance in sorted(self.cash.items()):
            price = prices.get(coin, Decimal(0))
            coin_upl = upl if coin == "USDT" else Decimal(0)
            equity = balance + coin_upl
            total_value += equity * price
            if coins and coin not in coins:
                continue
            locked = order_im if coin == "USDT" else Decimal(0)
            coin_items.append(
                {
                    "coin": coin,
                    "equity": _money(equity),
                    "usdValue": _money(equity * price),
                    "walletBalance": _money(balance),
                    "free": "",
                    "locked": _money(locked),
                    "spotHedgingQty": "0",
                    "borrowAmount": "0",
                    "availableToWithdraw": "",
                    "availableToBorrow": "",
                    "accruedInterest": "0",
                    "totalOrderIM": _money(order_im if coin == "USDT" else Decimal(0)),
                    "totalPositionIM": _money(position_im if coin == "USDT" else Decimal(0)),
                    "totalPositionMM": _money(
                        position_im * Decimal("0.05") if coin == "USDT" else Decimal(0)
                    ),
                    "unrealisedPnl": _money(coin_upl),
                    "cumRealisedPnl": "0",
                    "bonus": "0",
                    "marginCollateral": True,
                    "collateralSwitch": True,
                }
            )
        im = position_im + order_im
        return {
            "accountType": "UNIFIED",
            "accountLTV": "0",
            "accountIMRate": _money(im / total_value) if total_value else "0",
            "accountMMRate": "0",
            "totalEquity": _money(total_value),
            "totalWalletBalance": _money(total_value - upl),
            "totalMarginBalance": _money(total_value),
            "totalPerpUPL": _money(upl),
            "totalAvailableBalance": _money(usdt + min(upl, Decimal(0)) - im),
            "totalInitialMargin": _money(im),
            "totalMaintenanceMargin": _money(position_im * Decimal("0.05")),
            "coin": coin_items,
        }

    def _coin_prices(self) -> dict[str, Decimal]:
        prices = {"USDT": Decimal(1), "USDC": Decimal(1)}
        for book in self._books.values():
            mark = self.mark_ticks(book)
            if mark is not None:
                prices.setdefault(
                    book.listing.instrument.base, book.listing.instrument.ticks_to_price(mark)
                )
        return prices

    def open_orders(self) -> list[OrderRecord]:
        return [record for record in self.orders.values() if record.is_open]

    def page(self, records: list[Any], params: dict[str, Any]) -> list[Any]:
        """Newest first, at most ``limit`` (default 20, Bybit's maximum 50)."""
        try:
            limit = int(params.get("limit") or 20)
        except ValueError:
            raise BybitError(10001, "params error: limit must be an integer") from None
        limit = max(1, min(limit, _MAX_PAGE))
        return list(reversed(records))[:limit]


def _publish_nowhere(topic: str, items: list[dict[str, Any]]) -> None:
    """The default sink before a server wires the private streams in."""


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN), "f")
