"""The engine: one event in, decisions out, orders sent.

For each market event: apply it to the book, let analyzers observe it
(one hook call per message), ask each strategy on that instrument, adjust and
risk-check its Decision, diff it against live orders, send the actions. Venue
answers (acks, rejects, fills) come back through ``on_order_update`` /
``on_fill``. The engine is synchronous and single-threaded: live adapters hand
it events on its own loop, the replay driver calls it directly.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from loguru import logger

from host.book import BookEvent, OrderBook
from host.breakers import HOUSEKEEPING_MS, CircuitBreakers
from host.clock import Clock, Scheduler
from host.journal import Journal, JournalError, OrderIntent
from host.models import (
    BookMessage,
    CancelOrder,
    Decision,
    Fill,
    Funding,
    Instrument,
    NewOrder,
    OrderAction,
    OrderStatus,
    OrderUpdate,
    Side,
    Stop,
    Take,
    Trade,
)
from host.oms import OrderManager
from host.portfolio import Position
from host.risk import RiskEvent, Verdict, combine
from host.strategy import Context, Leg, SignalBoard, Strategy

try:  # pluggy's default caller; anything else (tracing, monitoring) is always used
    from pluggy._execution import _multicall as _PLUGGY_MULTICALL
except ImportError:  # another pluggy layout: every hook goes through pluggy
    _PLUGGY_MULTICALL = None

_JUDGE_ARGUMENTS = ("decision", "ctx", "strategy")
_BOOK_ARGUMENTS = ("book", "message", "ctx")
_TRADE_ARGUMENTS = ("trade", "ctx")

# A hook's implementations as plain calls: (function, positions of its
# arguments in the hook's argument tuple, or None when it takes them all in order).
PlainCalls = list[tuple[Callable[..., Any], tuple[int, ...] | None]]


def _argument_positions(
    argnames: Sequence[str], hook_arguments: Sequence[str]
) -> tuple[int, ...] | None:
    """Where an implementation's arguments are in the hook's; None: all, in order."""
    if tuple(argnames) == tuple(hook_arguments):
        return None
    return tuple(hook_arguments.index(name) for name in argnames)


def plain_calls(pm: Any, hook: Any, hook_arguments: Sequence[str]) -> PlainCalls | None:
    """A hot hook's implementations as plain calls in pluggy's order (last
    registered first): the same calls without pluggy's cost per call. None
    when pluggy would do more than call them: wrappers, tracing or
    monitoring, an argument the hook does not have."""
    impls = hook.get_hookimpls()
    plain = (
        _PLUGGY_MULTICALL is not None
        and getattr(pm, "_inner_hookexec", None) is _PLUGGY_MULTICALL
        and all(
            not impl.hookwrapper
            and not impl.wrapper
            and not impl.kwargnames
            and set(impl.argnames) <= set(hook_arguments)
            for impl in impls
        )
    )
    if not plain:
        return None
    return [
        (impl.function, _argument_positions(impl.argnames, hook_arguments))
        for impl in reversed(impls)
    ]


# The base class's market handlers return None; the engine skips calling them.
_BASE_ON_BOOK = Strategy.on_book
_BASE_ON_TRADE = Strategy.on_trade
# What OrderBook.apply returns when it applied a message (tested by identity:
# BookEvent's truthiness is a Python call, once per book message).
_APPLIED = BookEvent.APPLIED
_SNAPSHOT = BookEvent.SNAPSHOT

if TYPE_CHECKING:
    from host.config import Config
    from host.plugins import PluginHost
    from host.venues.base import Venue

InstrumentKey = tuple[str, str]  # (venue, symbol)


class StrategyError(RuntimeError):
    """A strategy raised; carries the strategy id. The cause holds the traceback."""


@dataclass(slots=True)
class StrategySlot:
    """One running strategy instance and what the engine keeps for it."""

    strategy_id: str
    strategy: Strategy
    ctx: Context
    params_raw: dict[str, Any] = field(default_factory=dict)
    # While any pause reason stands, market handlers are not called and
    # decisions are dropped; fills and order updates still reach the strategy
    # so it never loses track. Each breaker lifts only its own reason.
    pause_reasons: set[str] = field(default_factory=set)
    # During a hot swap, fills and order updates wait here for the new version.
    swapping: bool = False
    buffered: list[Fill | OrderUpdate] = field(default_factory=list)
    content_hash: str = ""  # of the strategy's source file, recorded with its fills
    # A Decision partly held back because some of its orders were in flight.
    unfinished: Decision | None = None
    errors: int = 0
    decisions: int = 0

    @property
    def paused(self) -> bool:
        return bool(self.pause_reasons)

    @property
    def paused_reason(self) -> str:
        return "; ".join(sorted(self.pause_reasons))


@dataclass(slots=True)
class EngineStats:
    book_messages: int = 0
    book_rejected: int = 0
    trades: int = 0
    order_updates: int = 0
    fills: int = 0
    duplicate_fills: int = 0
    strategy_errors: int = 0
    risk_vetoes: int = 0
    invalid_orders: int = 0
    funding_payments: int = 0
    first_event_ns: int = 0
    last_event_ns: int = 0

    @property
    def events(self) -> int:
        return self.book_messages + self.trades


@dataclass(slots=True)
class InstrumentState:
    instrument: Instrument
    book: OrderBook
    signals: SignalBoard
    position: Position
    ctx: Context
    strategies: list[StrategySlot] = field(default_factory=list)
    book_paused: bool = False


class Engine:
    """Books, strategies, OMS and venues of one host process."""

    def __init__(
        self,
        config: Config,
        plugins: PluginHost,
        clock: Clock,
        scheduler: Scheduler | None = None,
        *,
        raise_strategy_errors: bool = False,
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.hook = plugins.pm.hook
        self.clock = clock
        self.scheduler = scheduler
        self.raise_strategy_errors = raise_strategy_errors
        self.oms = OrderManager(
            config.host.desk,
            price_tolerance_ticks=config.oms.price_tolerance_ticks,
            size_tolerance_lots=config.oms.size_tolerance_lots,
        )
        self.venues: dict[str, Venue] = {}
        self.instruments: dict[InstrumentKey, InstrumentState] = {}
        self.slots: dict[str, StrategySlot] = {}
        self.strategy_positions: dict[str, Position] = {}
        # Per strategy and instrument: a strategy watching several venues has a
        # position on each; its primary one is also in strategy_positions.
        self.leg_positions: dict[tuple[str, str, str], Position] = {}
        self.stats = EngineStats()
        self.risk_events: list[RiskEvent] = []
        self.fills: list[Fill] = []
        self.running = False
        self.pending: deque[Callable[[], Any]] = deque()
        # The live driver sets this to wake its loop when another thread hands work over.
        self.wake: Callable[[], Any] | None = None
        # Set by kill(); the driver (replay loop or live loop) stops when it sees it.
        self.stop_requested = False
        self._hooks_generation = -1
        self._observe_books = self._observe_trades = self._adjusters = True
        self._book_observers: PlainCalls | None = None
        self._trade_observers: PlainCalls | None = None
        self.is_shut_down = False
        self.started = False
        # The journal, when configured: order intents are written before they are sent.
        self.journal: Journal | None = None
        self.plugin_fingerprint = plugins.fingerprint()
        self.breakers = CircuitBreakers(self, config.risk)
        self.log = logger.bind(component="engine")

    # -- building -------------------------------------------------------------------------

    def add_venue(self, name: str, venue: Venue) -> None:
        self.venues[name] = venue
        for symbol, instrument in venue.instruments.items():
            self.add_instrument(instrument, venue_name=name, symbol=symbol)

    def add_instrument(
        self, instrument: Instrument, *, venue_name: str, symbol: str
    ) -> InstrumentState:
        key = (venue_name, symbol)
        if key in self.instruments:
            return self.instruments[key]
        book = OrderBook(venue_name, symbol, stale_after_ms=self.config.risk.stale_book_ms)
        signals = SignalBoard()
        position = Position(instrument)
        ctx = Context(
            venue=venue_name,
            symbol=symbol,
            instrument=instrument,
            book=book,
            signals=signals,
            clock=self.clock,
            position=position,
            log=logger.bind(venue=venue_name, symbol=symbol),
        )
        state = InstrumentState(instrument, book, signals, position, ctx)
        self.instruments[key] = state
        return state

    def add_strategy(
        self,
        strategy_id: str,
        strategy_class: type[Strategy],
        venue: str,
        symbol: str,
        params: Any,
        params_raw: dict[str, Any] | None = None,
        watch: Iterable[tuple[str, str]] = (),
    ) -> StrategySlot:
        """Add a strategy trading (venue, symbol); ``watch`` lists other
        instruments it sees (its on_book/on_trade get their events too) and may
        trade through orders that name them."""
        state = self.instruments[(venue, symbol)]
        position = Position(state.instrument)
        self.strategy_positions[strategy_id] = position
        self.leg_positions[(strategy_id, venue, symbol)] = position
        ctx = Context(
            venue=venue,
            symbol=symbol,
            instrument=state.instrument,
            book=state.book,
            signals=state.signals,
            clock=self.clock,
            position=position,
            log=logger.bind(strategy=strategy_id, venue=venue, symbol=symbol),
            strategy_id=strategy_id,
            open_orders=self.oms.live_orders,
            legs=self.leg,
        )
        for key in watch:
            watched = self.instruments[key]
            self.leg_positions[(strategy_id, *key)] = Position(watched.instrument)
        slot = StrategySlot(strategy_id, strategy_class(ctx, params), ctx, dict(params_raw or {}))
        self.slots[strategy_id] = slot
        state.strategies.append(slot)
        for key in watch:
            self.instruments[key].strategies.append(slot)
        return slot

    def leg(self, strategy_id: str, venue: str, symbol: str) -> Leg:
        position = self.leg_positions.get((strategy_id, venue, symbol))
        if position is None:
            raise KeyError(f"strategy {strategy_id} does not watch {venue}:{symbol}")
        state = self.instruments[(venue, symbol)]
        return Leg(venue, symbol, state.instrument, state.book, state.signals, position)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start venues, fire ``mmhost_startup``, call every ``on_start``, arm timers."""
        if self.running:
            return
        self.running = self.started = True
        for venue in self.venues.values():
            venue.start()
        self.hook.mmhost_startup.call_historic(kwargs={"engine": self})
        for slot in self.slots.values():
            self._handle(slot, slot.strategy.on_start)
            interval_ms = slot.strategy.timer_interval_ms
            if interval_ms > 0 and self.scheduler is not None:
                self._arm_timer(slot, interval_ms * 1_000_000)
        if self.scheduler is not None:
            self._arm_housekeeping(HOUSEKEEPING_MS * 1_000_000)

    def stop(self) -> None:
        """Stop quoting: ``on_stop`` for each strategy, cancel all our orders.

        The venues' answers to those cancels still arrive after this; call
        ``shutdown`` once they have (the driver waits one round trip).
        """
        if not self.running:
            return
        for slot in self.slots.values():
            try:
                slot.strategy.on_stop()
            except Exception:
                self.log.exception(
                    "strategy {strategy_id} raised in on_stop", strategy_id=slot.strategy_id
                )
            slot.pause_reasons.add("stopped")
        self.cancel_all()
        self.running = False
        if self.journal is not None:
            for slot in self.slots.values():
                self.journal.save_strategy_state(slot.strategy_id, slot.strategy.on_save())

    def shutdown(self) -> None:
        """After ``stop`` and the last answers: fire ``mmhost_shutdown``, stop the venues."""
        if self.is_shut_down or not self.started:
            return
        self.is_shut_down = True
        self.hook.mmhost_shutdown(engine=self)
        for venue in self.venues.values():
            venue.stop()

    def cancel_all(self, strategy_id: str | None = None) -> int:
        """Cancel every live order of ours (of one strategy); returns how many."""
        actions = self.oms.cancel_all(strategy_id)
        self.send_by_venue(actions)
        return len(actions)

    @property
    def amend_venues(self) -> frozenset[str]:
        if not self.config.oms.amend:
            return frozenset()
        return frozenset(
            name for name, venue in self.venues.items() if getattr(venue, "supports_amend", False)
        )

    def send_by_venue(self, actions: Iterable[OrderAction]) -> None:
        """Send each action to the venue of its order (a Decision may span venues)."""
        by_venue: dict[str, list[OrderAction]] = defaultdict(list)
        for action in actions:
            by_venue[self.oms.orders[action.order_link_id].venue].append(action)
        for venue_name, venue_actions in by_venue.items():
            self.send(venue_name, venue_actions)

    def send(self, venue_name: str, actions: list[OrderAction]) -> bool:
        """Journal the new orders' ids, then hand the actions to the venue.

        An order whose id is not durable is never sent: if the journal fails,
        nothing goes out and quoting pauses (cancels still go: they only
        reduce risk).
        """
        if self.journal is not None:
            now_ns = self.clock.now_ns()
            intents = [
                OrderIntent.from_order(
                    self.oms.orders[a.order_link_id], now_ns, reduce_only=a.reduce_only
                )
                for a in actions
                if isinstance(a, NewOrder)
            ]
            if intents:
                try:
                    self.journal.record_orders_sent(intents)
                except JournalError:
                    self.log.exception("journal failed: new orders not sent, quoting paused")
                    cancels = [a for a in actions if isinstance(a, CancelOrder)]
                    for intent in intents:
                        self.oms.forget(intent.order_link_id)
                    if cancels:
                        self.venues[venue_name].submit(cancels)
                    self.pause("journal failed")
                    return False
        self.venues[venue_name].submit(actions)
        return True

    def _arm_timer(self, slot: StrategySlot, interval_ns: int) -> None:
        assert self.scheduler is not None

        def fire() -> None:
            if not self.running:
                return
            if not slot.paused:
                self._handle(slot, slot.strategy.on_timer, self.clock.now_ns())
            self.scheduler.call_later(interval_ns, fire)  # type: ignore[union-attr]

        self.scheduler.call_later(interval_ns, fire)

    def _arm_housekeeping(self, interval_ns: int) -> None:
        assert self.scheduler is not None

        def tick() -> None:
            if self.running:
                self.housekeeping()
                self.scheduler.call_later(interval_ns, tick)  # type: ignore[union-attr]

        self.scheduler.call_later(interval_ns, tick)

    def housekeeping(self) -> None:
        """Periodic safety checks: stale books, breakers, loss limits, the kill file."""
        self.breakers.check(self.clock.now_ns())

    # -- market events (hot path) -----------------------------------------------------------

    def on_book_message(self, message: BookMessage) -> None:
        state = self.instruments.get((message.venue, message.symbol))
        if state is None:
            return
        stats = self.stats
        stats.book_messages += 1
        if not stats.first_event_ns:
            stats.first_event_ns = message.ts_local_ns
        stats.last_event_ns = message.ts_local_ns
        book = state.book
        event = book.apply(message)
        if event is not _APPLIED and event is not _SNAPSHOT:
            stats.book_rejected += 1
            if not book.is_valid and state.strategies:
                self._book_broken(state, message)
            return
        if state.book_paused and book.is_valid:
            state.book_paused = False
            self.resume(f"book {message.venue}:{message.symbol} invalid", state.strategies)
        if self.plugins.pm.generation != self._hooks_generation:
            self._refresh_hook_flags()
        if self._observe_books:
            observers = self._book_observers
            # Tracing or monitoring switched on since: pluggy must see the call.
            if observers is None or self.plugins.pm._inner_hookexec is not _PLUGGY_MULTICALL:
                self.hook.mmhost_book_updated(book=book, message=message, ctx=state.ctx)
            else:
                arguments = (book, message, state.ctx)
                for observer, positions in observers:
                    if positions is None:
                        observer(book, message, state.ctx)
                    else:
                        observer(*[arguments[i] for i in positions])
        if not book.is_valid:
            return
        for slot in state.strategies:
            handler = slot.strategy.on_book
            # Strategy.on_book itself returns None: calling it would do nothing.
            if getattr(handler, "__func__", None) is not _BASE_ON_BOOK and not slot.paused:
                self._handle(slot, handler, state.book)

    def _refresh_hook_flags(self) -> None:
        """Which hot-path hooks have implementations (checked when plugins change)."""
        hook = self.hook
        self._observe_books = bool(hook.mmhost_book_updated.get_hookimpls())
        self._observe_trades = bool(hook.mmhost_trade.get_hookimpls())
        pm = self.plugins.pm
        self._book_observers = plain_calls(pm, hook.mmhost_book_updated, _BOOK_ARGUMENTS)
        self._trade_observers = plain_calls(pm, hook.mmhost_trade, _TRADE_ARGUMENTS)
        self._adjusters = bool(hook.mmhost_adjust_decision.get_hookimpls())
        self._hooks_generation = self.plugins.pm.generation

    def _book_broken(self, state: InstrumentState, message: BookMessage) -> None:
        """A gap or a crossed book: quotes priced off it come down until it is resynced."""
        if state.book_paused:
            return
        state.book_paused = True
        reason = f"book {message.venue}:{message.symbol} invalid"
        self.pause(reason, state.strategies)
        venue = self.venues.get(message.venue)
        resync = getattr(venue, "resync", None)
        if resync is not None:
            resync(message.symbol)

    def on_trade(self, trade: Trade) -> None:
        state = self.instruments.get((trade.venue, trade.symbol))
        if state is None:
            return
        stats = self.stats
        stats.trades += 1
        if not stats.first_event_ns:
            stats.first_event_ns = trade.ts_local_ns
        stats.last_event_ns = trade.ts_local_ns
        if self.plugins.pm.generation != self._hooks_generation:
            self._refresh_hook_flags()
        if self._observe_trades:
            observers = self._trade_observers
            if observers is None or self.plugins.pm._inner_hookexec is not _PLUGGY_MULTICALL:
                self.hook.mmhost_trade(trade=trade, ctx=state.ctx)
            else:
                arguments = (trade, state.ctx)
                for observer, positions in observers:
                    if positions is None:
                        observer(trade, state.ctx)
                    else:
                        observer(*[arguments[i] for i in positions])
        for slot in state.strategies:
            handler = slot.strategy.on_trade
            if getattr(handler, "__func__", None) is not _BASE_ON_TRADE and not slot.paused:
                self._handle(slot, handler, trade)

    def on_market(self, event: BookMessage | Trade) -> None:
        if isinstance(event, Trade):
            self.on_trade(event)
        else:
            self.on_book_message(event)

    # -- venue events -------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> None:
        self.stats.order_updates += 1
        self.breakers.on_order_update(update)
        order = self.oms.apply_update(update)
        if order is None:
            return
        if update.reject_code:
            # A cancel that lost the race against a fill is routine; anything else is news.
            level = "INFO" if order.is_terminal else "WARNING"
            self.log.log(
                level,
                "venue refused {order_link_id}: {reject_code} {reject_reason}",
                order_link_id=update.order_link_id,
                reject_code=update.reject_code,
                reject_reason=update.reject_reason,
                strategy_id=order.strategy_id,
            )
        if self.plugins.pm.generation != self._hot_generation:
            self._refresh_hot_calls()
        if self._observe_order_updates:
            self.hook.mmhost_order_updated(update=update)
        slot = self.slots.get(order.strategy_id)
        if slot is not None:
            self._deliver(slot, update)
            if slot.unfinished is not None and not order.in_flight:
                self._finish_decision(slot)

    def on_fill(self, fill: Fill) -> None:
        order = self.oms.apply_fill(fill)
        if order is None:
            self.stats.duplicate_fills += 1
            return
        if not fill.strategy:
            slot = self.slots.get(order.strategy_id)
            code_hash = slot.content_hash[:16] if slot is not None else ""
            fill = msgspec.structs.replace(
                fill,
                strategy=order.strategy_id,
                strategy_version=f"{code_hash};{self.plugin_fingerprint}",
            )
        self.stats.fills += 1
        self.fills.append(fill)
        state = self.instruments[(fill.venue, fill.symbol)]
        state.position.apply_fill(fill)
        leg_position = self.leg_positions.get((order.strategy_id, fill.venue, fill.symbol))
        if leg_position is not None:
            leg_position.apply_fill(fill)
        self.hook.mmhost_fill(fill=fill)
        slot = self.slots.get(order.strategy_id)
        if slot is not None:
            self._deliver(slot, fill)

    def on_funding(self, funding: Funding) -> None:
        """A funding payment on one of our perpetual positions (once per exec id)."""
        if not self.oms.first_sighting(funding.exec_id):
            return
        state = self.instruments.get((funding.venue, funding.symbol))
        if state is None:
            return
        state.position.funding += funding.amount
        self.stats.funding_payments += 1
        self.log.info(
            "funding {venue}:{symbol} {amount} (positive: paid)",
            venue=funding.venue,
            symbol=funding.symbol,
            amount=funding.amount,
        )

    def _deliver(self, slot: StrategySlot, event: Fill | OrderUpdate) -> None:
        """Fills and order updates always reach the strategy (after a swap, if one is on)."""
        if slot.swapping:
            slot.buffered.append(event)
        elif isinstance(event, Fill):
            self._handle(slot, slot.strategy.on_fill, event)
        else:
            self._handle(slot, slot.strategy.on_order_update, event)

    def flush_buffered(self, slot: StrategySlot) -> None:
        """Hand the strategy what arrived while it was being swapped."""
        buffered, slot.buffered = slot.buffered, []
        for event in buffered:
            self._deliver(slot, event)

    # -- work from other threads ------------------------------------------------------

    def call_soon_threadsafe(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the engine's thread between two events."""
        self.pending.append(callback)
        wake = self.wake
        if wake is not None:
            wake()

    def on_venue_status(self, venue: str, status: str, detail: str = "") -> None:
        """A venue connected, disconnected or resynced (live venues report these).

        Disconnects feed the breaker; after a reconnect the venue backfills the
        executions and order states it missed.
        """
        self.log.warning(
            "venue {venue}: {status} {detail}", venue=venue, status=status, detail=detail
        )
        self.breakers.on_venue_status(venue, status)

    def run_pending(self) -> None:
        pending = self.pending
        while pending:
            callback = pending.popleft()
            try:
                callback()
            except Exception:
                self.log.exception("work handed to the engine raised")

    def pause(self, reason: str, slots: Iterable[StrategySlot] | None = None) -> int:
        """Stop quoting (all strategies, or ``slots``) for ``reason`` and cancel their orders.

        Returns how many strategies were newly paused. Pausing twice for the
        same reason is harmless.
        """
        chosen = list(self.slots.values()) if slots is None else list(slots)
        newly = 0
        for slot in chosen:
            if reason not in slot.pause_reasons:
                newly += 1
                slot.pause_reasons.add(reason)
        for slot in chosen:
            self.cancel_all(slot.strategy_id)
        if newly:
            self.log.warning("quoting paused: {reason}", reason=reason)
        return newly

    def resume(self, reason: str, slots: Iterable[StrategySlot] | None = None) -> int:
        """Lift ``reason``; a strategy quotes again once no other reason stands."""
        chosen = list(self.slots.values()) if slots is None else list(slots)
        lifted = 0
        for slot in chosen:
            if reason in slot.pause_reasons:
                slot.pause_reasons.discard(reason)
                lifted += 1
        if lifted:
            self.log.info("quoting resumed: {reason}", reason=reason)
        return lifted

    def kill(self, reason: str, *, flatten: bool = False) -> None:
        """The kill switch: every order off in one round, optionally flatten, then stop."""
        self.log.warning("kill switch: {reason}", reason=reason)
        self.pause(f"kill switch: {reason}")
        if flatten:
            self.flatten()
        self.stop_requested = True

    def flatten(self) -> None:
        """Close every strategy's position with reduce-only market orders (no risk check:
        closing is what risk wants)."""
        takes: dict[str, list[Take]] = defaultdict(list)
        for (strategy_id, venue, symbol), position in self.leg_positions.items():
            if position.size_lots == 0:
                continue
            side = Side.SELL if position.size_lots > 0 else Side.BUY
            takes[strategy_id].append(
                Take(
                    side,
                    abs(position.size_lots),
                    f"flatten_{venue}_{symbol}",
                    None,
                    reduce_only=True,
                    venue=venue,
                    symbol=symbol,
                )
            )
        for strategy_id, strategy_takes in takes.items():
            ctx = self.slots[strategy_id].ctx
            actions = self.oms.diff(
                strategy_id, ctx.venue, ctx.symbol, Decision(takes=tuple(strategy_takes))
            )
            self.send_by_venue(actions)

    def net_pnl(self) -> Decimal:
        """Realised + unrealised - fees over every instrument, marked at mid."""
        total = Decimal(0)
        for key, state in self.instruments.items():
            total += state.position.net_pnl(self.mark_price_ticks(key))
        return total

    # -- decisions ------------------------------------------------------------------------------

    def _handle(self, slot: StrategySlot, handler: Any, *args: Any) -> None:
        try:
            decision = handler(*args)
        except Exception as error:
            slot.errors += 1
            self.stats.strategy_errors += 1
            if self.raise_strategy_errors:
                raise StrategyError(
                    f"strategy {slot.strategy_id} raised in {handler.__name__}"
                ) from error
            self.log.exception(
                "strategy {strategy_id} raised in {handler}; its decision is skipped",
                strategy_id=slot.strategy_id,
                handler=handler.__name__,
            )
            return
        if decision is not None and not slot.paused:
            self.apply_decision(slot, decision)

    def apply_decision(self, slot: StrategySlot, decision: Decision) -> None:
        """Adjust, risk-check, diff and send one Decision of one strategy."""
        slot.decisions += 1
        ctx = slot.ctx
        raw_decision = decision
        invalid = invalid_orders(
            decision, ctx.venue, ctx.symbol, self.instruments, slot.strategy_id, self.leg_positions
        )
        if invalid:
            decision = self._refuse_invalid(slot, decision, invalid)
        if self.plugins.pm.generation != self._hooks_generation:
            self._refresh_hook_flags()
        if self._adjusters:
            adjusted = self.hook.mmhost_adjust_decision(
                decision=decision, ctx=ctx, strategy=slot.strategy
            )
            if adjusted is not None:
                decision = adjusted
        verdicts = self._judge(decision, slot)
        if verdicts:
            decision = combine(decision, verdicts)
        actions = self.oms.diff(
            slot.strategy_id, ctx.venue, ctx.symbol, decision, amend_venues=self._amend_venues_now()
        )
        # A tag whose order was in flight was left as it is; once the venue
        # answers, this Decision is applied again (the strategy is not asked).
        # Its takes went out now: one-shot orders are never sent twice.
        slot.unfinished = (
            Decision(quotes=raw_decision.quotes, stops=raw_decision.stops)
            if self.oms.skipped_in_flight
            else None
        )
        if actions:
            self.send_by_venue(actions)

    def _finish_decision(self, slot: StrategySlot) -> None:
        """Re-apply a Decision that had to wait for an order in flight."""
        decision = slot.unfinished
        if decision is not None and not slot.paused and not slot.swapping:
            slot.unfinished = None
            self.apply_decision(slot, decision)

    def _refuse_invalid(
        self, slot: StrategySlot, decision: Decision, invalid: dict[str, str]
    ) -> Decision:
        """Drop malformed orders; the strategy is told why through on_order_update.

        The rest of the Decision goes ahead. A refused quote's tag is absent
        from what remains, so a live order under that tag is cancelled: the
        strategy asked for something else there, and we cannot place it.
        """
        self.stats.invalid_orders += len(invalid)
        for tag, reason in invalid.items():
            self.log.warning(
                "strategy {strategy_id}: order {tag} refused before risk: {reason}",
                strategy_id=slot.strategy_id,
                tag=tag,
                reason=reason,
            )
            update = OrderUpdate(
                slot.ctx.venue,
                slot.ctx.symbol,
                "",
                OrderStatus.REJECTED,
                self.clock.now_ns(),
                Side.BUY,
                None,
                0,
                reject_code=INVALID_DECISION,
                reject_reason=f"{tag}: {reason}",
            )
            self._handle_without_decision(slot, slot.strategy.on_order_update, update)
        return Decision(
            quotes=tuple(q for q in decision.quotes if q.tag not in invalid),
            takes=tuple(t for t in decision.takes if t.tag not in invalid),
            stops=tuple(t for t in decision.stops if t.tag not in invalid),
        )

    def _handle_without_decision(self, slot: StrategySlot, handler: Any, *args: Any) -> None:
        """Tell the strategy something; what it decides in answer waits for the next event
        (no recursion into the Decision being applied)."""
        try:
            handler(*args)
        except Exception:
            slot.errors += 1
            self.stats.strategy_errors += 1
            self.log.exception(
                "strategy {strategy_id} raised in {handler}",
                strategy_id=slot.strategy_id,
                handler=handler.__name__,
            )

    def _judge(self, decision: Decision, slot: StrategySlot) -> list[Verdict]:
        try:
            pm = self.plugins.pm
            if pm.generation != self._hot_generation:
                self._refresh_hot_calls()
            rules = self._risk_rules
            # Tracing or monitoring switched on since: pluggy must see the call.
            if rules is None or getattr(pm, "_inner_hookexec", None) is not _PLUGGY_MULTICALL:
                results = self.hook.mmhost_check_decision(
                    decision=decision, ctx=slot.ctx, strategy=slot.strategy
                )
            else:
                arguments = (decision, slot.ctx, slot.strategy)
                results = []
                for rule, positions in rules:
                    if positions is None:  # (decision, ctx, strategy), the usual
                        verdict = rule(*arguments)
                    else:
                        verdict = rule(*[arguments[i] for i in positions])
                    if verdict is not None:
                        results.append(verdict)
        except Exception as error:
            # A rule that raises counts as a veto of everything: never trade unchecked.
            self.log.exception("a risk rule raised; the decision is vetoed")
            results = [Verdict("risk_rule_error", f"{type(error).__name__}: {error}")]
        verdicts = [v for v in results if v is not None]
        for verdict in verdicts:
            self.stats.risk_vetoes += verdict.veto
            event = RiskEvent(
                verdict.rule,
                verdict.reason,
                slot.strategy_id,
                self.clock.now_ns(),
                "veto" if verdict.veto else "shrink",
            )
            self.risk_events.append(event)
            self.hook.mmhost_risk_event(event=event)
        return verdicts

    # What the hot path calls, refreshed when plugins change (generation).
    _hot_generation = -1
    # (implementation, positions of its arguments in (decision, ctx, strategy)
    # or None for all three in that order)
    _risk_rules: PlainCalls | None = None
    _observe_order_updates = True
    _amend_venues_key: tuple[Any, ...] = ()
    _amend_venues_cached: frozenset[str] = frozenset()

    def _refresh_hot_calls(self) -> None:
        """mmhost_check_decision's implementations as plain calls (``plain_calls``)."""
        pm = self.plugins.pm
        self._risk_rules = plain_calls(pm, self.hook.mmhost_check_decision, _JUDGE_ARGUMENTS)
        self._observe_order_updates = bool(self.hook.mmhost_order_updated.get_hookimpls())
        self._hot_generation = pm.generation

    def _amend_venues_now(self) -> frozenset[str]:
        """``amend_venues``, recomputed only when the config or the venues change."""
        key = (self.config, *self.venues.values())
        if key != self._amend_venues_key:
            self._amend_venues_cached = self.amend_venues
            self._amend_venues_key = key
        return self._amend_venues_cached

    # -- reporting -------------------------------------------------------------------

    def mark_price_ticks(self, key: InstrumentKey) -> float | None:
        return self.instruments[key].book.mid_ticks()

    def summary(self) -> RunSummary:
        positions = []
        for key, state in self.instruments.items():
            position = state.position
            mark = self.mark_price_ticks(key)
            positions.append(
                PositionSummary(
                    venue=key[0],
                    symbol=key[1],
                    qty=position.qty,
                    avg_price=position.avg_price(),
                    realized_pnl=position.realized_pnl(),
                    unrealized_pnl=position.unrealized_pnl(mark),
                    fees=position.fees,
                    fills=position.fill_count,
                    volume_quote=position.volume_quote,
                    funding=position.funding,
                    mark_price=None
                    if mark is None
                    else Decimal(str(mark)) * state.instrument.tick_size,
                )
            )
        metrics: dict[str, float] = {}
        for contribution in self.hook.mmhost_collect_metrics(engine=self):
            if contribution:
                metrics.update(contribution)
        stats = self.stats
        return RunSummary(
            events=stats.events,
            book_messages=stats.book_messages,
            trades=stats.trades,
            orders_sent=self.oms.orders_sent,
            cancels_sent=self.oms.cancels_sent,
            rejects=self.oms.rejects,
            fills=stats.fills,
            strategy_errors=stats.strategy_errors,
            risk_vetoes=stats.risk_vetoes,
            first_event_ns=stats.first_event_ns,
            last_event_ns=stats.last_event_ns,
            positions=positions,
            metrics=metrics,
        )


INVALID_DECISION = "INVALID_DECISION"


def invalid_orders(
    decision: Decision,
    venue: str,
    symbol: str,
    instruments: dict[InstrumentKey, Any],
    strategy_id: str,
    legs: dict[tuple[str, str, str], Any],
) -> dict[str, str]:
    """Orders of a Decision that cannot be sent, by tag, with the reason.

    Sizes must be positive whole lots and prices positive whole ticks (a float
    is off the grid even when it looks whole, and NaN or infinity never is);
    an order may only name an instrument the strategy trades or watches.
    """
    invalid: dict[str, str] = {}
    for order in (*decision.quotes, *decision.takes, *decision.stops):
        if order.venue or order.symbol:
            key = (order.venue or venue, order.symbol or symbol)
            if key not in instruments or (strategy_id, *key) not in legs:
                invalid[order.tag] = f"unknown instrument {key[0]}:{key[1]} for this strategy"
                continue
        size = order.size_lots
        if type(size) is not int or size <= 0:
            invalid[order.tag] = f"size {size!r} is not a positive whole number of lots"
            continue
        price = getattr(order, "price_ticks", None)
        if price is not None and (type(price) is not int or price <= 0):
            invalid[order.tag] = f"price {price!r} is not a positive whole number of ticks"
            continue
        if isinstance(order, Stop):
            for price in (order.trigger_price_ticks, order.limit_price_ticks):
                if price is not None and (type(price) is not int or price <= 0):
                    invalid[order.tag] = f"price {price!r} is not a positive whole number of ticks"
    return invalid


@dataclass(frozen=True, slots=True)
class PositionSummary:
    venue: str
    symbol: str
    qty: Decimal
    avg_price: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    fills: int
    volume_quote: Decimal
    mark_price: Decimal | None
    funding: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did; money as Decimal (printed as strings in JSON)."""

    events: int
    book_messages: int
    trades: int
    orders_sent: int
    cancels_sent: int
    rejects: int
    fills: int
    strategy_errors: int
    risk_vetoes: int
    first_event_ns: int
    last_event_ns: int
    positions: list[PositionSummary]
    metrics: dict[str, float]

    @property
    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions), Decimal(0))

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((p.unrealized_pnl for p in self.positions), Decimal(0))

    @property
    def fees(self) -> Decimal:
        return sum((p.fees for p in self.positions), Decimal(0))

    @property
    def funding(self) -> Decimal:
        """Funding paid on perpetuals (negative: received)."""
        return sum((p.funding for p in self.positions), Decimal(0))

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl - self.fees - self.funding

    def to_json(self) -> dict[str, Any]:
        def money(value: Decimal | None) -> str | None:
            return (
                None
                if value is None
                else format(value.quantize(Decimal("0.00000001")).normalize(), "f")
            )

        return {
            "events": self.events,
            "book_messages": self.book_messages,
            "trades": self.trades,
            "orders": self.orders_sent,
            "cancels": self.cancels_sent,
            "rejects": self.rejects,
            "fills": self.fills,
            "strategy_errors": self.strategy_errors,
            "risk_vetoes": self.risk_vetoes,
            "first_event_ns": self.first_event_ns,
            "last_event_ns": self.last_event_ns,
            "realized_pnl": money(self.realized_pnl),
            "unrealized_pnl": money(self.unrealized_pnl),
            "fees": money(self.fees),
            "funding": money(self.funding),
            "net_pnl": money(self.net_pnl),
            "volume": money(sum((p.volume_quote for p in self.positions), Decimal(0))),
            "positions": [
                {
                    "venue": p.venue,
                    "symbol": p.symbol,
                    "qty": format(p.qty.normalize(), "f"),
                    "avg_price": money(p.avg_price),
                    "mark_price": money(p.mark_price),
                    "realized_pnl": money(p.realized_pnl),
                    "unrealized_pnl": money(p.unrealized_pnl),
                    "fees": money(p.fees),
                    "funding": money(p.funding),
                    "fills": p.fills,
                }
                for p in self.positions
            ],
            "metrics": self.metrics,
        }
