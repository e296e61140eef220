"""The emulator's WebSocket side: public, private and trade sockets.

Each connection has one bounded outgoing queue drained by one writer task, so
frames leave in the order they were queued and a slow reader slows the replay
(``await put``) instead of losing frames. Frames that do not come from the
replay (acks, snapshots, private pushes) use ``put_nowait``; a connection whose
queue is full there is closed, as Bybit closes a reader that cannot keep up.

Fidelity rules the clients taught us (see DESIGN "Known traps"):

* subscribe acks and first snapshots leave a few ms after the request
  (pybit 5.17 records the callback only after sending the subscribe);
* never a frame for a topic not subscribed, never a delta before the
  snapshot (a topic is "pending" until its snapshot is queued, and queued in
  the same loop step as it is built);
* ping answers in Bybit's shape per socket kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import WSMsgType, web
from loguru import logger

from host.emulator.auth import check_timestamp
from host.emulator.exchange import BATCH_LIMITS, BybitError
from host.emulator.public import DEPTHS, PublicMarket

if TYPE_CHECKING:
    from host.emulator.server import Hub

__all__ = ["Connection", "OrderRequest", "Streams", "run_order_op"]

_QUEUE_FRAMES = 10_000
_PRIVATE_TOPICS = ("order", "execution", "position", "wallet", "dcp")
_TRADE_OPS = (
    "order.create",
    "order.amend",
    "order.cancel",
    "order.create-batch",
    "order.amend-batch",
    "order.cancel-batch",
)

log = logger.bind(component="emulator-streams")
_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order request the exchange executed, and how it came: tests count
    these to tell the trade socket from REST and to prove nothing was resent."""

    channel: str  # rest | trade
    op: str  # order.create, order.cancel-batch, ...
    order_link_ids: tuple[str, ...]


@dataclass(eq=False, slots=True)
class Connection:
    """One client socket: its kind, subscriptions and outgoing queue."""

    kind: str  # public | private | trade
    category: str  # linear | spot for public sockets, "" otherwise
    request: web.Request
    socket: web.WebSocketResponse
    connection_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    queue: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=_QUEUE_FRAMES)
    )
    pending: set[str] = field(default_factory=set)  # subscribed, snapshot not yet queued
    active: set[str] = field(default_factory=set)
    authenticated: bool = False

    def offer(self, frame: bytes) -> None:
        """Queue a frame without waiting; a full queue means a dead reader: drop it."""
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("closing slow {kind} socket: outgoing queue full", kind=self.kind)
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, like a network failure."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class Streams:
    """All sockets of the emulator and what is published to them."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.connections: set[Connection] = set()
        self._dcp_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ handlers

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v5/public/linear", self._public_linear),
            web.get("/v5/public/spot", self._public_spot),
            web.get("/v5/private", self._private),
            web.get("/v5/trade", self._trade),
        ]

    async def _public_linear(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, "public", "linear")

    async def _public_spot(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, "public", "spot")

    async def _private(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, "private", "")

    async def _trade(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, "trade", "")

    async def _serve(self, request: web.Request, kind: str, category: str) -> web.StreamResponse:
        if self.hub.faults.refuses(kind):
            return web.Response(status=503, text=f"emulator: {kind} sockets refused (fault)")
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        connection = Connection(kind, category, request, socket)
        self.connections.add(connection)
        writer = asyncio.create_task(self._write(connection))
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = msgspec.json.decode(message.data)
                except msgspec.DecodeError:
                    connection.offer(
                        _encode(
                            {
                                "success": False,
                                "ret_msg": "invalid json",
                                "conn_id": connection.connection_id,
                            }
                        )
                    )
                    continue
                if isinstance(frame, dict):
                    await self._dispatch(connection, frame)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.connections.discard(connection)
            self._release_views(connection)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if kind != "public" and connection.authenticated:
                self._maybe_arm_dcp()
        return socket

    async def _write(self, connection: Connection) -> None:
        socket = connection.socket
        while True:
            frame = await connection.queue.get()
            if frame is None or socket.closed:
                return
            try:
                # Text frames: Bybit sends JSON as text, and pybit expects text.
                await socket.send_str(frame.decode())
            except (ConnectionResetError, RuntimeError):
                return

    async def _dispatch(self, connection: Connection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "ping":
            connection.offer(_encode(self._pong(connection, frame)))
        elif op == "auth" and connection.kind != "public":
            self._auth(connection, frame)
        elif op in ("subscribe", "unsubscribe") and connection.kind != "trade":
            self._subscribe(connection, frame, subscribe=op == "subscribe")
        elif op in _TRADE_OPS and connection.kind == "trade":
            await self._trade_request(connection, frame)
        else:
            connection.offer(
                _encode(
                    {
                        "success": False,
                        "ret_msg": f"error:unknown op {op!r}",
                        "conn_id": connection.connection_id,
                        "req_id": frame.get("req_id", ""),
                        "op": op,
                    }
                )
            )

    def _pong(self, connection: Connection, frame: dict[str, Any]) -> dict[str, Any]:
        now_ms = self.hub.wall_ms()
        if connection.kind == "public":
            return {
                "success": True,
                "ret_msg": "pong",
                "conn_id": connection.connection_id,
                "req_id": frame.get("req_id", ""),
                "op": "ping",
            }
        if connection.kind == "private":
            return {
                "req_id": frame.get("req_id", ""),
                "op": "pong",
                "args": [str(now_ms)],
                "conn_id": connection.connection_id,
            }
        return {
            "reqId": frame.get("reqId", ""),
            "retCode": 0,
            "retMsg": "OK",
            "op": "pong",
            "data": [str(now_ms)],
            "connId": connection.connection_id,
        }

    def _auth(self, connection: Connection, frame: dict[str, Any]) -> None:
        args = frame.get("args")
        error = self.hub.credentials.check_websocket(
            args if isinstance(args, list) else [], self.hub.wall_ms()
        )
        connection.authenticated = not error
        if not error:
            self._cancel_dcp()
        if connection.kind == "private":
            reply: dict[str, Any] = {
                "success": not error,
                "ret_msg": error,
                "op": "auth",
                "conn_id": connection.connection_id,
            }
            if frame.get("req_id"):
                reply["req_id"] = frame["req_id"]
        else:
            reply = {
                "retCode": 0 if not error else 10004,
                "retMsg": error or "OK",
                "op": "auth",
                "connId": connection.connection_id,
            }
            if frame.get("reqId"):
                reply["reqId"] = frame["reqId"]
        connection.offer(_encode(reply))

    # ----------------------------------------------------------- subscribe

    def _valid_topic(self, connection: Connection, topic: str) -> bool:
        if connection.kind == "private":
            name, _, category = topic.partition(".")
            return name in _PRIVATE_TOPICS and category in ("", "linear", "spot")
        parts = topic.split(".")
        if len(parts) == 3 and parts[0] == "orderbook":
            depth_ok = parts[1].isdigit() and int(parts[1]) in DEPTHS[connection.category]
            return depth_ok and (connection.category, parts[2]) in self.hub.markets
        if len(parts) == 2 and parts[0] in ("publicTrade", "tickers"):
            return (connection.category, parts[1]) in self.hub.markets
        return False

    def _subscribe(self, connection: Connection, frame: dict[str, Any], *, subscribe: bool) -> None:
        args = frame.get("args")
        topics = [str(topic) for topic in args] if isinstance(args, list) else []
        request_id = frame.get("req_id", "")
        op = "subscribe" if subscribe else "unsubscribe"

        def reply(success: bool, message: str) -> dict[str, Any]:
            body: dict[str, Any] = {
                "success": success,
                "ret_msg": message,
                "conn_id": connection.connection_id,
                "op": op,
            }
            if request_id:
                body["req_id"] = request_id
            return body

        if connection.kind == "private" and not connection.authenticated:
            connection.offer(_encode(reply(False, "Request not authorized")))
            return
        invalid = [topic for topic in topics if not self._valid_topic(connection, topic)]
        if invalid or not topics:
            connection.offer(_encode(reply(False, f"error:handler not found,topic:{invalid}")))
            return
        if not subscribe:
            for topic in topics:
                connection.pending.discard(topic)
                connection.active.discard(topic)
            self._release_views(connection)
            connection.offer(_encode(reply(True, "")))
            return
        already = [t for t in topics if t in connection.pending or t in connection.active]
        if already:
            connection.offer(_encode(reply(False, f"error:already subscribed,topic:{already}")))
            return
        connection.pending.update(topics)
        for topic in topics:
            if topic.startswith("orderbook."):
                _, depth, symbol = topic.split(".")
                self.hub.markets[(connection.category, symbol)].view(int(depth))
        success = reply(True, "subscribe" if connection.kind == "public" else "")
        asyncio.get_running_loop().create_task(self._confirm(connection, topics, success))

    async def _confirm(
        self, connection: Connection, topics: list[str], ack: dict[str, Any]
    ) -> None:
        """Ack, then first snapshots, each a few ms late (pybit's race, see module doc).

        Private topics are live when their ack leaves (as at Bybit): a client
        that waits for the ack before trading must not miss its first order's news.
        """
        config = self.hub.config
        await asyncio.sleep(config.subscribe_ack_delay_ms / 1000)
        if connection.kind == "private":
            for topic in topics:
                if topic in connection.pending:
                    connection.pending.discard(topic)
                    connection.active.add(topic)
        connection.offer(_encode(ack))
        await asyncio.sleep(config.first_snapshot_delay_ms / 1000)
        now_ms = self.hub.market_ms()
        for topic in topics:
            if topic not in connection.pending:
                continue  # unsubscribed meanwhile
            connection.pending.discard(topic)
            connection.active.add(topic)
            if connection.kind == "private":
                continue  # private topics have no snapshot
            kind, _, rest = topic.partition(".")
            if kind == "orderbook":
                depth_text, _, symbol = rest.partition(".")
                market = self.hub.markets[(connection.category, symbol)]
                view = market.view(int(depth_text))
                bids, asks = market.snapshot_levels(view)
                frame = market.orderbook_frame(view, "snapshot", bids, asks, now_ms)
                connection.offer(_encode(frame))
            elif kind == "tickers":
                market = self.hub.markets[(connection.category, rest)]
                connection.offer(
                    _encode(
                        {
                            "topic": topic,
                            "type": "snapshot",
                            "data": market.ticker(),
                            "cs": market.seq,
                            "ts": now_ms,
                        }
                    )
                )

    def _release_views(self, connection: Connection) -> None:
        """Forget depth views nobody subscribes to any more (they cost a diff per message)."""
        if connection.kind != "public":
            return
        wanted = {
            topic
            for other in self.connections
            if other.kind == "public"
            for topic in (other.pending | other.active)
        }
        for (category, symbol), market in self.hub.markets.items():
            for depth in list(market.views):
                if f"orderbook.{depth}.{symbol}" not in wanted or not any(
                    other.category == category
                    for other in self.connections
                    if f"orderbook.{depth}.{symbol}" in (other.pending | other.active)
                ):
                    market.drop_view(depth)

    # -------------------------------------------------------------- publish

    def _subscribers(self, category: str, topic: str) -> list[Connection]:
        return [
            c
            for c in self.connections
            if c.kind == "public" and c.category == category and topic in c.active
        ]

    async def publish_book(self, market: PublicMarket) -> None:
        """After a source book message: one delta per subscribed depth that changed."""
        listing = market.listing
        faults = self.hub.faults
        stale = faults.is_stale(listing.symbol)
        now_ms = self.hub.market_ms()
        deltas = [(view, market.advance(view)) for view in list(market.views.values())]
        changed = [(view, delta) for view, delta in deltas if delta is not None]
        # A skipped delta still advanced u (above): the client sees the gap. The
        # fault is taken only when there is a delta to lose.
        if changed and not stale and not faults.take_skip_delta(listing.symbol):
            for view, (bids, asks) in changed:
                frame = _encode(market.orderbook_frame(view, "delta", bids, asks, now_ms))
                topic = f"orderbook.{view.depth}.{listing.symbol}"
                for connection in self._subscribers(listing.category, topic):
                    await connection.queue.put(frame)
        ticker = market.ticker_update(now_ms)
        if ticker is not None and not stale:
            topic = f"tickers.{listing.symbol}"
            subscribers = self._subscribers(listing.category, topic)
            if subscribers:
                frame = _encode(
                    {
                        "topic": topic,
                        "type": ticker[0],
                        "data": ticker[1],
                        "cs": market.seq,
                        "ts": now_ms,
                    }
                )
                for connection in subscribers:
                    await connection.queue.put(frame)

    async def publish_trade(self, market: PublicMarket, entry: dict[str, Any]) -> None:
        listing = market.listing
        if self.hub.faults.is_stale(listing.symbol):
            return
        topic = f"publicTrade.{listing.symbol}"
        subscribers = self._subscribers(listing.category, topic)
        if subscribers:
            frame = _encode({"topic": topic, "type": "snapshot", "ts": entry["T"], "data": [entry]})
            for connection in subscribers:
                await connection.queue.put(frame)

    def publish_private(self, topic: str, items: list[dict[str, Any]]) -> None:
        """Push account news to private sockets subscribed to ``topic`` (or topic.category)."""
        created_ms = self.hub.market_ms()
        for connection in self.connections:
            if connection.kind != "private" or not connection.active:
                continue
            for subscribed in connection.active:
                name, _, category = subscribed.partition(".")
                if name != topic:
                    continue
                data = (
                    items
                    if not category
                    else [item for item in items if item.get("category", category) == category]
                )
                if data:
                    connection.offer(
                        _encode(
                            {
                                "id": str(uuid.uuid4()),
                                "topic": subscribed,
                                "creationTime": created_ms,
                                "data": data,
                            }
                        )
                    )

    def drop(self, kind: str) -> int:
        """Abort every socket of ``kind`` ("all" for every socket); how many."""
        dropped = [c for c in self.connections if kind == "all" or c.kind == kind]
        for connection in dropped:
            connection.abort()
        if dropped:
            log.info("dropped {count} {kind} sockets", count=len(dropped), kind=kind)
        return len(dropped)

    async def close_all(self) -> None:
        # A pending disconnect-cancel-all timer dies with the server, not after it.
        self._cancel_dcp()
        for connection in list(self.connections):
            with contextlib.suppress(Exception):
                await connection.socket.close()

    # ----------------------------------------------------------------- DCP

    def _maybe_arm_dcp(self) -> None:
        window_s = self.hub.exchange.dcp_window_s
        if not window_s:
            return
        if any(c.kind != "public" and c.authenticated for c in self.connections):
            return
        self._cancel_dcp()
        self._dcp_task = asyncio.get_running_loop().create_task(self._dcp_fire(window_s))

    def _cancel_dcp(self) -> None:
        if self._dcp_task is not None:
            self._dcp_task.cancel()
            self._dcp_task = None

    async def _dcp_fire(self, window_s: int) -> None:
        await asyncio.sleep(window_s)
        cancelled = self.hub.exchange.cancel_everything("CancelAllBeforeDisconnect")
        log.info("disconnect-cancel-all fired: {count} orders cancelled", count=len(cancelled))

    # --------------------------------------------------------------- trade

    async def _trade_request(self, connection: Connection, frame: dict[str, Any]) -> None:
        hub = self.hub
        op = str(frame.get("op"))
        request_id = frame.get("reqId", "")
        header = frame.get("header") if isinstance(frame.get("header"), dict) else {}
        api_key = hub.credentials.api_key
        limiter = hub.limiter
        path = "/v5/order/" + op.partition(".")[2]
        allowed, headers = limiter.take(api_key, path)
        reply: dict[str, Any] = {"reqId": request_id, "op": op, "connId": connection.connection_id}
        cut = hub.faults.take_trade_cut()
        if cut is False:
            log.info("trade socket cut before {op} reached the exchange (fault)", op=op)
            connection.abort()
            return
        try:
            if not connection.authenticated:
                raise BybitError(10003, "Request not authorized: send op auth first")
            if not allowed or hub.faults.take_trade_rate_limit():
                raise BybitError(10006, "Too many visits!")
            try:
                timestamp_ms = int(header.get("X-BAPI-TIMESTAMP", 0))
                recv_window_ms = int(header.get("X-BAPI-RECV-WINDOW") or 5000)
            except (TypeError, ValueError):
                raise BybitError(10001, "params error: X-BAPI-TIMESTAMP invalid") from None
            check_timestamp(timestamp_ms, recv_window_ms, hub.wall_ms())
            args = frame.get("args")
            if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
                raise BybitError(10001, "params error: args must hold one request object")
            data, ext = run_order_op(hub, op, args[0], channel="trade")
            reply.update({"retCode": 0, "retMsg": "OK", "data": data, "retExtInfo": ext})
        except BybitError as error:
            reply.update(
                {"retCode": error.code, "retMsg": error.message, "data": {}, "retExtInfo": {}}
            )
        if cut:
            log.info("trade socket cut after {op} ran, before its answer (fault)", op=op)
            connection.abort()
            return
        reply["header"] = {**headers, "Traceid": uuid.uuid4().hex, "Timenow": str(hub.wall_ms())}
        hold_ms = hub.faults.take_lost_ack()
        if hold_ms >= 0:
            log.info("trade ack held {hold_ms} ms (lost-ack fault)", hold_ms=hold_ms)
        else:
            # pybit's WebSocketTrading registers the reply's callback only after
            # sending the request; an instant loopback reply would be dropped.
            hold_ms = hub.config.trade_ack_delay_ms
        asyncio.get_running_loop().create_task(_offer_later(connection, _encode(reply), hold_ms))


async def _offer_later(connection: Connection, frame: bytes, hold_ms: int) -> None:
    await asyncio.sleep(hold_ms / 1000)
    connection.offer(frame)


def run_order_op(
    hub: Hub, op: str, params: dict[str, Any], *, channel: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Execute one order operation (shared by REST and the trade socket):
    (result, retExtInfo). Raises BybitError for a refused single request.

    ``channel`` (rest | trade) is recorded in ``hub.order_requests``."""
    batch = params.get("request")
    items = batch if isinstance(batch, list) else [params]
    link_ids = tuple(str(i.get("orderLinkId") or "") for i in items if isinstance(i, dict))
    hub.order_requests.append(OrderRequest(channel, op, link_ids))
    exchange = hub.exchange
    now_ms = hub.wall_ms()
    if op in ("order.create", "order.amend", "order.cancel"):
        action: Callable[[dict[str, Any]], Any] = {
            "order.create": exchange.create_order,
            "order.amend": exchange.amend_order,
            "order.cancel": exchange.cancel_order,
        }[op]
        record = action(params)
        return {"orderId": record.order_id, "orderLinkId": record.order_link_id}, {}
    if op == "order.cancel-all":
        cancelled = exchange.cancel_all(params)
        return {
            "list": [{"orderId": r.order_id, "orderLinkId": r.order_link_id} for r in cancelled],
            "success": "1",
        }, {}
    requests = params.get("request")
    category = params.get("category")
    if not isinstance(requests, list) or not requests:
        raise BybitError(10001, "params error: request must be a non-empty list")
    if category not in BATCH_LIMITS:
        raise BybitError(10001, "params error: category must be linear or spot")
    if len(requests) > BATCH_LIMITS[category]:
        raise BybitError(
            10001, f"params error: at most {BATCH_LIMITS[category]} orders per batch for {category}"
        )
    single = {
        "order.create-batch": exchange.create_order,
        "order.amend-batch": exchange.amend_order,
        "order.cancel-batch": exchange.cancel_order,
    }.get(op)
    if single is None:
        raise BybitError(10001, f"params error: unknown operation {op}")
    results: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    for item in requests:
        item = dict(item) if isinstance(item, dict) else {}
        item["category"] = category
        try:
            record = single(item)
            entry: dict[str, Any] = {
                "category": category,
                "symbol": record.listing.symbol,
                "orderId": record.order_id,
                "orderLinkId": record.order_link_id,
            }
            if op == "order.create-batch":
                entry["createAt"] = str(now_ms)
            results.append(entry)
            infos.append({"code": 0, "msg": "OK"})
        except BybitError as error:
            entry = {
                "category": category,
                "symbol": str(item.get("symbol", "")),
                "orderId": "",
                "orderLinkId": str(item.get("orderLinkId", "")),
            }
            if op == "order.create-batch":
                entry["createAt"] = ""
            results.append(entry)
            infos.append({"code": error.code, "msg": error.message})
    return {"list": results}, {"list": infos}
