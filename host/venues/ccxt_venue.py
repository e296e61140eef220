"""Any ccxt exchange as a venue: hedging and arbitrage legs on other venues.

One thread runs one asyncio loop with one ccxt client (``ccxt.pro`` when the
exchange has a websocket class, else ``ccxt.async_support``), so nothing here
touches the engine's loop. Market data: ``watch_order_book`` / ``watch_trades``
where the exchange supports them, REST polling of the book and trades
otherwise. ccxt keeps its own book and hands back the whole of it, so every
book message is a snapshot of the top ``orderbook_depth`` levels.

Orders go through ccxt's unified ``create_order`` / ``cancel_order`` with the
action's ``order_link_id`` as ``clientOrderId``; amounts and prices are
Decimal strings from the instrument (never floats). Each action is its own
task, so a cancel never waits for a slow create. A refusal is an
``OrderUpdate(Rejected)`` with the exchange's code where its message carries
one (Bybit's ``retCode``), else the ccxt error class. A timeout or network
error is ``Unknown`` until the open and recent orders are searched for the
client id. Fills and the end of our orders are polled (``fetch_my_trades``,
``fetch_open_orders``) while we have orders working. Amends are not offered
(``supports_amend = False``): the OMS cancels and replaces.

``config.exchange`` is the ccxt id; ``config.endpoint`` may be a loopback
``http://127.0.0.1:PORT`` address (the Bybit emulator, through ccxt's bybit
class); ``config.testnet`` selects the exchange's sandbox.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from host.config import Credentials, VenueSection
from host.hookspecs import hookimpl
from host.models import (
    AmendOrder,
    BookMessage,
    CancelOrder,
    Fill,
    Instrument,
    NewOrder,
    OffGridError,
    OrderAction,
    OrderStatus,
    OrderUpdate,
    Side,
    Trade,
)
from host.venues.bybit import VenueStartError

__all__ = ["CcxtVenue", "mmhost_register_venues"]

NS_PER_MS = 1_000_000
START_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 1.0
# Keep polling private state this long after the last working order ended:
# a fill can be reported a moment after the order left the open list.
PRIVATE_LINGER_S = 5.0
_STATUS = {
    "open": OrderStatus.NEW,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}
_CODE = re.compile(r'"(?:retCode|code|ret_code)"\s*:\s*"?(-?\d+)')
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(slots=True)
class _Tracked:
    """One of our orders while it works."""

    symbol: str
    side: Side
    price_ticks: int | None
    size_lots: int
    venue_order_id: str = ""
    status: str = OrderStatus.PENDING_NEW
    filled_lots: int = 0


class CcxtVenue:
    """A ccxt exchange on its own thread and event loop; see the module docstring."""

    supports_amend = False

    def __init__(
        self,
        config: VenueSection,
        instruments: dict[str, Instrument],
        scheduler: Any,
        sink: Any,
        *,
        credentials: Credentials | None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.instruments = instruments
        self.scheduler = scheduler
        self.sink = sink
        self.credentials = credentials
        self.exchange_id = (config.exchange or "").strip()
        self.poll_interval_s = POLL_INTERVAL_S
        self.log = logger.bind(component="ccxt-venue", venue=config.name, exchange=self.exchange_id)
        self.exchange: Any = None
        self.market_symbols: dict[str, str] = {}  # our symbol -> ccxt unified symbol
        self.malformed_messages = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._book_tasks: dict[str, asyncio.Task[Any]] = {}
        self._orders: dict[str, _Tracked] = {}
        self._by_venue_id: dict[str, str] = {}
        self._seen_trade_ids: set[str] = set()
        self._last_trade_ms: dict[str, int] = {}
        self._private_until_s = 0.0
        self._started = False
        self._feed_down = False

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Create the client, load markets, check keys, start the feeds. Blocking.

        :raises VenueStartError: the exchange is not in ccxt, a symbol is not
            listed, the keys are refused, or the exchange does not answer.
        """
        if self._started:
            return
        import ccxt

        if self.exchange_id not in ccxt.exchanges:
            close = difflib.get_close_matches(self.exchange_id, ccxt.exchanges, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise VenueStartError(
                f"venue {self.name!r}: exchange {self.exchange_id!r} is not in ccxt "
                f'{ccxt.__version__}{hint} (set exchange = "<ccxt id>" in [[venues]])'
            )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"ccxt-{self.name}", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._start(), START_TIMEOUT_S)
        except BaseException:
            self._shutdown_loop()
            raise
        self._started = True
        self._status("connected", self.exchange_id)

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        try:
            self._run(self._stop(), 10.0)
        except Exception:
            self.log.exception("ccxt venue did not stop cleanly")
        self._shutdown_loop()
        self.log.info("ccxt venue stopped")

    def _shutdown_loop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self.exchange is not None and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self.exchange.close(), loop).result(5)
            except Exception:
                pass
            self.exchange = None
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        loop.close()
        self._loop = None

    def _run(self, coroutine: Coroutine[Any, Any, Any], timeout_s: float) -> Any:
        """Run ``coroutine`` on the venue's loop from another thread; its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    async def _start(self) -> None:
        import ccxt
        import ccxt.async_support as ccxt_async

        try:
            import ccxt.pro as ccxt_pro
        except ImportError:  # pragma: no cover - ccxt 4 ships pro
            ccxt_pro = None
        exchange_class = getattr(ccxt_pro, self.exchange_id, None) if ccxt_pro else None
        if exchange_class is None:
            exchange_class = getattr(ccxt_async, self.exchange_id)
        options: dict[str, Any] = {"enableRateLimit": True}
        if self.credentials is not None:
            options["apiKey"] = self.credentials.api_key
            options["secret"] = self.credentials.api_secret
        exchange = exchange_class(options)
        self.exchange = exchange
        endpoint = self.config.endpoint.strip()
        parts = urlsplit(endpoint)
        if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
            from host.emulator.clients import point_ccxt_at

            point_ccxt_at(exchange, endpoint)
        elif self.config.testnet:
            exchange.set_sandbox_mode(True)
        try:
            markets = await exchange.load_markets()
        except ccxt.BaseError as error:
            raise VenueStartError(
                f"venue {self.name!r}: {self.exchange_id} markets did not load: "
                f"{type(error).__name__}: {_short(error)}"
            ) from None
        for symbol in list(self.instruments):
            unified = self._find_market(markets, symbol)
            self.market_symbols[symbol] = unified
            self.instruments[symbol] = self._venue_instrument(
                self.instruments[symbol], markets[unified]
            )
        if self.credentials is not None:
            try:
                await exchange.fetch_balance()
            except ccxt.AuthenticationError as error:
                code = _venue_code(error)
                raise VenueStartError(
                    f"venue {self.name!r}: {self.exchange_id} refused the API key "
                    f"({code or type(error).__name__}); check the venue's "
                    "MMHOST_<VENUE>_API_KEY / _API_SECRET",
                    code=code,
                ) from None
            except ccxt.BaseError as error:
                raise VenueStartError(
                    f"venue {self.name!r}: {self.exchange_id} balance check failed: "
                    f"{type(error).__name__}: {_short(error)}",
                    code=_venue_code(error),
                ) from None
        for symbol in self.instruments:
            self._book_tasks[symbol] = asyncio.create_task(self._book_feed(symbol))
            self._tasks.append(self._book_tasks[symbol])
            self._tasks.append(asyncio.create_task(self._trade_feed(symbol)))
        if self.credentials is not None:
            self._tasks.append(asyncio.create_task(self._private_poll()))
        self.log.info(
            "ccxt venue started ({count} symbols, websocket {websocket})",
            count=len(self.instruments),
            websocket=bool(exchange.has.get("watchOrderBook")),
        )

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.exchange is not None:
            await self.exchange.close()
            self.exchange = None

    def _find_market(self, markets: dict[str, Any], symbol: str) -> str:
        """The ccxt symbol of our ``symbol`` (an exchange id such as BTCUSDT, or a
        unified symbol) in this venue's category."""
        category = self.config.category
        candidates = []
        for unified, market in markets.items():
            if symbol not in (str(market.get("id", "")).upper(), unified.upper()):
                continue
            if category == "spot" and market.get("spot"):
                candidates.insert(0, unified)
            elif category == "linear" and market.get("linear"):
                candidates.insert(0 if market.get("swap") else len(candidates), unified)
            elif category == "inverse" and market.get("inverse"):
                candidates.append(unified)
        if candidates:
            return candidates[0]
        names = sorted({str(m.get("id", "")).upper() for m in markets.values()})
        close = difflib.get_close_matches(symbol, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise VenueStartError(
            f"venue {self.name!r}: symbol {symbol!r} is not listed as {category} on "
            f"{self.exchange_id}{hint}"
        )

    def _venue_instrument(self, ours: Instrument, market: dict[str, Any]) -> Instrument:
        precision = market.get("precision") or {}
        try:
            tick = _decimal(precision.get("price")) or ours.tick_size
            lot = _decimal(precision.get("amount")) or ours.lot_size
        except InvalidOperation:
            return ours
        if (tick, lot) == (ours.tick_size, ours.lot_size):
            return ours
        self.log.warning(
            "instrument spec of {symbol} differs from our table: tick {our_tick} -> {tick}, "
            "lot {our_lot} -> {lot}; using the venue's",
            symbol=ours.symbol,
            our_tick=str(ours.tick_size),
            tick=str(tick),
            our_lot=str(ours.lot_size),
            lot=str(lot),
        )
        return replace(ours, tick_size=tick, lot_size=lot)

    def resync(self, symbol: str) -> None:
        """The engine found the book broken (crossed). ccxt builds its book from the
        stream's deltas without checking their sequence, so after a gap its book
        stays wrong and every snapshot we take of it repeats the error:
        unsubscribe and subscribe again, and the venue's fresh snapshot resets it."""
        loop = self._loop
        if self._started and loop is not None and symbol in self._book_tasks:
            asyncio.run_coroutine_threadsafe(self._resubscribe_book(symbol), loop)

    async def _resubscribe_book(self, symbol: str) -> None:
        exchange = self.exchange
        unified = self.market_symbols[symbol]
        task = self._book_tasks[symbol]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if exchange.has.get("unWatchOrderBook"):
            try:
                await asyncio.wait_for(
                    exchange.un_watch_order_book(unified, {"limit": self.config.orderbook_depth}),
                    START_TIMEOUT_S,
                )
            except Exception as error:
                self.log.warning(
                    "unsubscribing the book of {symbol} failed: {error}",
                    symbol=symbol,
                    error=type(error).__name__,
                )
        getattr(exchange, "orderbooks", {}).pop(unified, None)
        self.log.info("book of {symbol} resubscribed after a broken book", symbol=symbol)
        if task in self._tasks:
            self._tasks.remove(task)
        self._book_tasks[symbol] = asyncio.create_task(self._book_feed(symbol))
        self._tasks.append(self._book_tasks[symbol])

    # ----------------------------------------------------------------- feeds

    async def _book_feed(self, symbol: str) -> None:
        exchange = self.exchange
        unified = self.market_symbols[symbol]
        depth = self.config.orderbook_depth
        watch = bool(exchange.has.get("watchOrderBook"))
        while True:
            try:
                if watch:
                    book = await exchange.watch_order_book(unified, depth)
                else:
                    book = await exchange.fetch_order_book(unified, depth)
                self._feed_ok()
                self._emit_book(symbol, book)
                if not watch:
                    await asyncio.sleep(self.poll_interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self._feed_failed("order book", symbol, error)

    async def _trade_feed(self, symbol: str) -> None:
        exchange = self.exchange
        unified = self.market_symbols[symbol]
        watch = bool(exchange.has.get("watchTrades"))
        last_ms = 0
        seen: set[str] = set()
        while True:
            try:
                if watch:
                    trades = await exchange.watch_trades(unified)
                else:
                    trades = await exchange.fetch_trades(unified, since=last_ms or None)
                self._feed_ok()
                for trade in trades:
                    trade_id = str(trade.get("id") or "")
                    ts_ms = int(trade.get("timestamp") or 0)
                    if ts_ms < last_ms or (trade_id and trade_id in seen):
                        continue
                    last_ms = max(last_ms, ts_ms)
                    if trade_id:
                        seen.add(trade_id)
                    self._emit_trade(symbol, trade)
                if len(seen) > 10_000:
                    seen.clear()
                if not watch:
                    await asyncio.sleep(self.poll_interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self._feed_failed("trades", symbol, error)

    def _feed_ok(self) -> None:
        if self._feed_down:
            self._feed_down = False
            self._status("reconnected", "market data")

    async def _feed_failed(self, what: str, symbol: str, error: Exception) -> None:
        if not self._feed_down:
            self._feed_down = True
            self.log.warning(
                "{what} feed of {symbol} failed: {error}",
                what=what,
                symbol=symbol,
                error=type(error).__name__,
            )
            self._status("disconnected", f"{what} {symbol}: {type(error).__name__}")
        await asyncio.sleep(self.poll_interval_s)

    def _emit_book(self, symbol: str, book: dict[str, Any]) -> None:
        instrument = self.instruments[symbol]
        depth = self.config.orderbook_depth
        try:
            bids = [_level(instrument, level) for level in book["bids"][:depth]]
            asks = [_level(instrument, level) for level in book["asks"][:depth]]
        except (OffGridError, InvalidOperation, ValueError, KeyError, IndexError, TypeError):
            self.malformed_messages += 1
            return
        ts_ms = int(book.get("timestamp") or 0)
        nonce = book.get("nonce")
        self.sink.on_book_message(
            BookMessage(
                venue=self.name,
                symbol=symbol,
                ts_exchange_ns=ts_ms * NS_PER_MS,
                ts_local_ns=time.time_ns(),
                is_snapshot=True,
                bids=bids,
                asks=asks,
                last_update_id=int(nonce) if isinstance(nonce, int) else -1,
            )
        )

    def _emit_trade(self, symbol: str, trade: dict[str, Any]) -> None:
        instrument = self.instruments[symbol]
        try:
            price_ticks = _ticks(instrument.tick_size, trade["price"])
            size_lots = _ticks(instrument.lot_size, trade["amount"])
            aggressor = Side.parse(str(trade.get("side") or ""))
        except (OffGridError, InvalidOperation, ValueError, KeyError, TypeError):
            self.malformed_messages += 1
            return
        self.sink.on_trade(
            Trade(
                venue=self.name,
                symbol=symbol,
                ts_exchange_ns=int(trade.get("timestamp") or 0) * NS_PER_MS,
                ts_local_ns=time.time_ns(),
                price_ticks=price_ticks,
                size_lots=size_lots,
                aggressor=aggressor,
                trade_id=str(trade.get("id") or ""),
            )
        )

    # ---------------------------------------------------------------- orders

    def submit(self, actions: Sequence[OrderAction]) -> None:
        """One task per action on the venue's loop; never blocks."""
        loop = self._loop
        if not self._started or loop is None or self.credentials is None:
            for action in actions:
                self._local_refusal(action, "NOT_CONNECTED", "venue not started or without keys")
            return
        for action in actions:
            if isinstance(action, NewOrder):
                self._orders.setdefault(
                    action.order_link_id,
                    _Tracked(action.symbol, action.side, action.price_ticks, action.size_lots),
                )
            loop.call_soon_threadsafe(self._spawn, action)

    def _spawn(self, action: OrderAction) -> None:
        if isinstance(action, NewOrder):
            coroutine = self._create(action)
        elif isinstance(action, CancelOrder):
            coroutine = self._cancel(action)
        else:
            self._local_refusal(action, "NOT_SUPPORTED", "amend is not offered by the ccxt venue")
            return
        task = asyncio.get_running_loop().create_task(coroutine)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.opt(exception=task.exception()).error("ccxt order task failed")

    async def _create(self, action: NewOrder) -> None:
        import ccxt

        instrument = self.instruments.get(action.symbol)
        if instrument is None:
            self._local_refusal(action, "UNKNOWN_SYMBOL", f"{action.symbol} not on {self.name}")
            return
        params: dict[str, Any] = {"clientOrderId": action.order_link_id}
        if action.time_in_force == "PostOnly":
            params["postOnly"] = True
        elif action.time_in_force in ("IOC", "FOK"):
            params["timeInForce"] = action.time_in_force
        if action.reduce_only:
            params["reduceOnly"] = True
        if action.trigger_price_ticks is not None:
            # A Stop: ccxt's unified conditional order (triggerPrice + direction).
            params["triggerPrice"] = instrument.format_price(action.trigger_price_ticks)
            params["triggerDirection"] = "above" if action.trigger_rising else "below"
        order_type = "market" if action.price_ticks is None else "limit"
        price = None if action.price_ticks is None else instrument.format_price(action.price_ticks)
        try:
            order = await self.exchange.create_order(
                self.market_symbols[action.symbol],
                order_type,
                "buy" if action.side is Side.BUY else "sell",
                instrument.format_qty(action.size_lots),
                price,
                params,
            )
        except ccxt.RateLimitExceeded as error:  # refused before it ran
            self._refused(action, error)
            return
        except ccxt.NetworkError as error:  # a timeout, a dropped connection, a 5xx
            await self._unknown(action.order_link_id, action.symbol, error)
            return
        except ccxt.BaseError as error:
            self._refused(action, error)
            return
        tracked = self._orders[action.order_link_id]
        tracked.venue_order_id = str(order.get("id") or "")
        self._by_venue_id[tracked.venue_order_id] = action.order_link_id
        self._private_until_s = float("inf")
        status = _STATUS.get(str(order.get("status") or "open"), OrderStatus.NEW)
        self._emit(
            action.order_link_id, status if status != OrderStatus.FILLED else OrderStatus.NEW
        )

    async def _cancel(self, action: CancelOrder) -> None:
        import ccxt

        tracked = self._orders.get(action.order_link_id)
        if tracked is None or not tracked.venue_order_id:
            self._emit(
                action.order_link_id,
                tracked.status if tracked else OrderStatus.UNKNOWN,
                "ORDER_NOT_FOUND",
                "no venue order id known for this order",
                symbol=action.symbol,
            )
            return
        try:
            await self.exchange.cancel_order(
                tracked.venue_order_id, self.market_symbols[action.symbol]
            )
        except ccxt.OrderNotFound as error:
            # Gone already: filled or cancelled; the poll tells which.
            self._emit(action.order_link_id, tracked.status, _code_of(error), _short(error))
            return
        except ccxt.RateLimitExceeded as error:
            self._emit(action.order_link_id, tracked.status, _code_of(error), _short(error))
            return
        except ccxt.NetworkError as error:
            await self._unknown(action.order_link_id, action.symbol, error)
            return
        except ccxt.BaseError as error:
            self._emit(action.order_link_id, tracked.status, _code_of(error), _short(error))
            return
        if tracked.status not in OrderStatus.TERMINAL:
            self._emit(action.order_link_id, OrderStatus.CANCELLED)

    def _refused(self, action: NewOrder, error: Exception) -> None:
        self._emit(action.order_link_id, OrderStatus.REJECTED, _code_of(error), _short(error))

    async def _unknown(self, order_link_id: str, symbol: str, error: Exception) -> None:
        """No answer: Unknown until the venue's open and recent orders are searched."""
        self.log.warning(
            "request for {order_link_id} unanswered ({error}); querying",
            order_link_id=order_link_id,
            error=type(error).__name__,
        )
        self._emit(order_link_id, OrderStatus.UNKNOWN)
        for attempt in range(4):
            await asyncio.sleep(0.25 * (attempt + 1))
            try:
                order = await self._find_order(order_link_id, symbol)
            except Exception:
                continue
            if order is not None:
                tracked = self._orders.get(order_link_id)
                if tracked is not None:
                    tracked.venue_order_id = str(order.get("id") or "")
                    self._by_venue_id[tracked.venue_order_id] = order_link_id
                self._emit(order_link_id, _STATUS.get(str(order.get("status")), OrderStatus.NEW))
                return
        self._emit(
            order_link_id, OrderStatus.REJECTED, "ORDER_NOT_FOUND", "unanswered; not at the venue"
        )

    async def _find_order(self, order_link_id: str, symbol: str) -> dict[str, Any] | None:
        exchange = self.exchange
        unified = self.market_symbols[symbol]
        searches = [exchange.fetch_open_orders]
        if exchange.has.get("fetchClosedOrders"):
            searches.append(exchange.fetch_closed_orders)
        for search in searches:
            for order in await search(unified):
                if order.get("clientOrderId") == order_link_id:
                    return order
        return None

    def _local_refusal(self, action: OrderAction, code: str, reason: str) -> None:
        tracked = self._orders.get(action.order_link_id)
        status = OrderStatus.REJECTED
        if isinstance(action, CancelOrder | AmendOrder):
            status = tracked.status if tracked is not None else OrderStatus.UNKNOWN
        self._emit(action.order_link_id, status, code, reason, symbol=action.symbol)

    def _emit(
        self,
        order_link_id: str,
        status: str,
        code: str = "",
        reason: str = "",
        *,
        symbol: str = "",
    ) -> None:
        tracked = self._orders.get(order_link_id)
        if tracked is not None and status != OrderStatus.UNKNOWN and not code:
            tracked.status = status
        if tracked is not None and status == OrderStatus.REJECTED:
            tracked.status = status
        self.sink.on_order_update(
            OrderUpdate(
                venue=self.name,
                symbol=tracked.symbol if tracked is not None else symbol,
                order_link_id=order_link_id,
                status=status,
                ts_ns=time.time_ns(),
                side=tracked.side if tracked is not None else Side.BUY,
                price_ticks=tracked.price_ticks if tracked is not None else None,
                size_lots=tracked.size_lots if tracked is not None else 0,
                filled_lots=tracked.filled_lots if tracked is not None else 0,
                reject_code=code,
                reject_reason=reason,
                venue_order_id=tracked.venue_order_id if tracked is not None else "",
            )
        )

    # -------------------------------------------------------- private polling

    def _working(self) -> dict[str, _Tracked]:
        return {
            link_id: tracked
            for link_id, tracked in self._orders.items()
            if tracked.venue_order_id and tracked.status not in OrderStatus.TERMINAL
        }

    async def _private_poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            working = self._working()
            now_s = time.monotonic()
            if working:
                self._private_until_s = float("inf")
            elif self._private_until_s == float("inf"):
                self._private_until_s = now_s + PRIVATE_LINGER_S
            if not working and now_s > self._private_until_s:
                continue
            try:
                await self._poll_private(working)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.log.warning("private poll failed: {error}", error=type(error).__name__)

    async def _poll_private(self, working: dict[str, _Tracked]) -> None:
        exchange = self.exchange
        symbols = {t.symbol for t in working.values()} or set(self.instruments)
        for symbol in symbols:
            for fill in await self._fills(symbol, self._last_trade_ms.get(symbol, 0)):
                tracked = self._orders.get(fill.order_link_id)
                if tracked is not None:
                    tracked.filled_lots += fill.size_lots
                self.sink.on_fill(fill)
            open_ids = {
                str(o.get("id"))
                for o in await exchange.fetch_open_orders(self.market_symbols[symbol])
            }
            for link_id, tracked in working.items():
                if tracked.symbol != symbol or tracked.venue_order_id in open_ids:
                    continue
                if tracked.filled_lots >= tracked.size_lots:
                    self._emit(link_id, OrderStatus.FILLED)
                else:
                    self._emit(link_id, OrderStatus.CANCELLED)

    async def _fills(self, symbol: str, since_ms: int) -> list[Fill]:
        exchange = self.exchange
        if not exchange.has.get("fetchMyTrades"):
            return []
        trades = await exchange.fetch_my_trades(self.market_symbols[symbol], since=since_ms or None)
        instrument = self.instruments[symbol]
        fills = []
        for trade in trades:
            trade_id = str(trade.get("id") or "")
            if not trade_id or trade_id in self._seen_trade_ids:
                continue
            link_id = str(trade.get("clientOrderId") or "") or self._by_venue_id.get(
                str(trade.get("order") or ""), ""
            )
            if not link_id:
                continue
            self._seen_trade_ids.add(trade_id)
            ts_ms = int(trade.get("timestamp") or 0)
            self._last_trade_ms[symbol] = max(self._last_trade_ms.get(symbol, 0), ts_ms)
            fee = trade.get("fee") or {}
            try:
                fills.append(
                    Fill(
                        venue=self.name,
                        symbol=symbol,
                        order_link_id=link_id,
                        exec_id=trade_id,
                        side=Side.parse(str(trade.get("side"))),
                        price_ticks=_ticks(instrument.tick_size, trade["price"]),
                        size_lots=_ticks(instrument.lot_size, trade["amount"]),
                        fee=_decimal(fee.get("cost")) or Decimal(0),
                        is_maker=trade.get("takerOrMaker") == "maker",
                        ts_ns=ts_ms * NS_PER_MS,
                    )
                )
            except (OffGridError, InvalidOperation, ValueError, KeyError, TypeError):
                self.malformed_messages += 1
        return fills

    # ------------------------------------------------- start-up reconciliation

    def fetch_open_orders(self) -> list[OrderUpdate]:
        """Open orders with a client id on our symbols. Blocking."""

        async def fetch() -> list[OrderUpdate]:
            updates = []
            for symbol, unified in self.market_symbols.items():
                instrument = self.instruments[symbol]
                for order in await self.exchange.fetch_open_orders(unified):
                    link_id = str(order.get("clientOrderId") or "")
                    if not link_id:
                        continue
                    price = order.get("price")
                    updates.append(
                        OrderUpdate(
                            venue=self.name,
                            symbol=symbol,
                            order_link_id=link_id,
                            status=OrderStatus.NEW
                            if not order.get("filled")
                            else OrderStatus.PARTIALLY_FILLED,
                            ts_ns=int(order.get("timestamp") or 0) * NS_PER_MS,
                            side=Side.parse(str(order.get("side"))),
                            price_ticks=_ticks(instrument.tick_size, price) if price else None,
                            size_lots=_ticks(instrument.lot_size, order.get("amount") or 0),
                            filled_lots=_ticks(instrument.lot_size, order.get("filled") or 0),
                            venue_order_id=str(order.get("id") or ""),
                        )
                    )
            return updates

        return self._run(fetch(), START_TIMEOUT_S)

    def fetch_positions(self) -> dict[str, int]:
        """Signed lots by symbol (derivatives: positions; spot: base coin held). Blocking."""

        async def fetch() -> dict[str, int]:
            exchange = self.exchange
            positions = {symbol: 0 for symbol in self.instruments}
            if self.config.category == "spot":
                balance = await exchange.fetch_balance()
                for symbol, instrument in self.instruments.items():
                    held = _decimal((balance.get(instrument.base) or {}).get("total")) or Decimal(0)
                    positions[symbol] = int(held / instrument.lot_size)
                return positions
            rows = await exchange.fetch_positions(list(self.market_symbols.values()))
            by_unified = {unified: symbol for symbol, unified in self.market_symbols.items()}
            for row in rows:
                symbol = by_unified.get(str(row.get("symbol")))
                if symbol is None:
                    continue
                lots = _ticks(self.instruments[symbol].lot_size, row.get("contracts") or 0)
                positions[symbol] += -lots if row.get("side") == "short" else lots
            return positions

        return self._run(fetch(), START_TIMEOUT_S)

    def fetch_executions(self, since_ns: int) -> list[Fill]:
        """Our fills since ``since_ns``, oldest first. Blocking."""

        async def fetch() -> list[Fill]:
            fills: list[Fill] = []
            for symbol in self.instruments:
                fills.extend(await self._fills(symbol, since_ns // NS_PER_MS))
            return sorted((f for f in fills if f.ts_ns >= since_ns), key=lambda f: f.ts_ns)

        return self._run(fetch(), START_TIMEOUT_S)

    def _status(self, status: str, detail: str) -> None:
        on_status = getattr(self.sink, "on_venue_status", None)
        if on_status is not None:
            on_status(self.name, status, detail)


def _decimal(value: Any) -> Decimal | None:
    """A ccxt number (often a float) as the Decimal it prints as; None for none."""
    if value is None or value == "":
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def _ticks(unit: Decimal, value: Any) -> int:
    """Units of ``unit`` in a ccxt number; floats are read by their shortest repr,
    and a float's last-digit noise is rounded away."""
    number = _decimal(value)
    if number is None:
        raise ValueError("missing number")
    units = number / unit
    rounded = units.to_integral_value()
    if abs(units - rounded) > Decimal("0.000001"):
        raise OffGridError(f"{number} is not a multiple of {unit}")
    return int(rounded)


def _level(instrument: Instrument, level: Sequence[Any]) -> tuple[int, int]:
    return _ticks(instrument.tick_size, level[0]), _ticks(instrument.lot_size, level[1])


def _venue_code(error: Exception) -> str:
    """The exchange's own error code inside a ccxt message (Bybit: retCode)."""
    match = _CODE.search(str(error))
    return match.group(1) if match else ""


def _code_of(error: Exception) -> str:
    """The venue's code, else the ccxt error class (``InsufficientFunds``)."""
    return _venue_code(error) or type(error).__name__


def _short(error: Exception) -> str:
    text = str(error)
    start = text.find("{")
    if start >= 0:
        try:
            body = json.loads(text[start:])
            return str(body.get("retMsg") or body.get("msg") or body.get("message") or text)[:200]
        except ValueError:
            pass
    return text[:200]


@hookimpl
def mmhost_register_venues() -> dict[str, type[CcxtVenue]]:
    return {"ccxt": CcxtVenue}
