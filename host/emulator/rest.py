"""The emulator's REST side: Bybit V5 paths, the envelope, auth and faults.

Every Bybit answer is HTTP 200 with ``retCode / retMsg / result / retExtInfo /
time``, errors included (a non-200 makes pybit raise the wrong exception);
only the injected 5xx fault and unknown paths (404, logged so that a
missing endpoint a client needs is easy to spot) leave that shape.

Order of checks for a request: injected 5xx, path known, auth (10003 key,
10002 timestamp, 10004 signature), injected 10006 then the real rate limit,
parameters, handler. Order-changing requests may then have their answer held
(lost-ack fault) after the order was executed.

``/emulator/...`` is a small control API for tools that are not in-process:
``POST /emulator/faults`` with a JSON body naming one Faults method and its
arguments, ``GET /emulator/state`` for a summary of the account.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web
from loguru import logger

from host.emulator.exchange import BybitError
from host.emulator.streams import run_order_op
from host.models import Side

if TYPE_CHECKING:
    from host.emulator.server import Hub

__all__ = ["RestApi"]

log = logger.bind(component="emulator-rest")

Handler = Callable[[dict[str, Any]], Any]
_ORDER_WRITES = frozenset(
    {
        "/v5/order/create",
        "/v5/order/amend",
        "/v5/order/cancel",
        "/v5/order/cancel-all",
        "/v5/order/create-batch",
        "/v5/order/amend-batch",
        "/v5/order/cancel-batch",
    }
)
_FAULT_METHODS = frozenset(
    {
        "skip_deltas",
        "lose_acks",
        "server_errors",
        "rate_limit",
        "stale",
        "set_clock_skew",
        "reset",
        "drop_sockets",
        "cut_trade_socket",
        "refuse_sockets",
    }
)


class RestApi:
    """Routes ``/v5/...`` to handlers over the hub's exchange and markets."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        # path -> (method, needs auth, handler)
        self.routes: dict[str, tuple[str, bool, Handler]] = {
            "/v5/market/time": ("GET", False, self._time),
            "/v5/market/instruments-info": ("GET", False, self._instruments),
            "/v5/market/orderbook": ("GET", False, self._orderbook),
            "/v5/market/tickers": ("GET", False, self._tickers),
            "/v5/market/recent-trade": ("GET", False, self._recent_trades),
            "/v5/order/realtime": ("GET", True, self._open_orders),
            "/v5/order/history": ("GET", True, self._order_history),
            "/v5/execution/list": ("GET", True, self._executions),
            "/v5/position/list": ("GET", True, self._positions),
            "/v5/position/trading-stop": ("POST", True, self._trading_stop),
            "/v5/position/set-leverage": ("POST", True, self._set_leverage),
            "/v5/account/wallet-balance": ("GET", True, self._wallet),
            "/v5/account/info": ("GET", True, self._account_info),
            "/v5/account/fee-rate": ("GET", True, self._fee_rates),
            "/v5/user/query-api": ("GET", True, self._api_key_info),
            "/v5/asset/coin/query-info": ("GET", True, self._coin_info),
            "/v5/order/disconnected-cancel-all": ("POST", True, self._dcp),
        }
        for path in _ORDER_WRITES:
            self.routes[path] = ("POST", True, self._order_write(path))

    def app_routes(self) -> list[web.RouteDef]:
        return [
            web.post("/emulator/faults", self._control_faults),
            web.get("/emulator/state", self._control_state),
            web.route("*", "/v5/{tail:.*}", self.handle),
        ]

    # ------------------------------------------------------------ envelope

    def _envelope(
        self,
        code: int,
        message: str,
        result: Any = None,
        ext: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        body = {
            "retCode": code,
            "retMsg": message,
            "result": result if result is not None else {},
            "retExtInfo": ext or {},
            "time": self.hub.wall_ms(),
        }
        return web.Response(
            body=msgspec.json.encode(body), content_type="application/json", headers=headers
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        hub = self.hub
        path = request.path
        route = self.routes.get(path)
        if route is None or route[0] != request.method:
            log.warning("unknown path {method} {path}", method=request.method, path=path)
            return web.Response(status=404, text=f"emulator: no route {request.method} {path}")
        _, needs_auth, handler = route
        body = await request.read()
        if needs_auth:
            fault = hub.faults.take_rest_fault()
            if fault is not None and fault[0] == "5xx":
                return web.Response(
                    status=fault[1],
                    text="<html>emulated server error</html>",
                    content_type="text/html",
                )
        raw_query = request.rel_url.raw_query_string
        headers: dict[str, str] = {}
        try:
            if needs_auth:
                payload = raw_query.encode() if request.method == "GET" else body
                hub.credentials.check_rest(dict(request.headers), payload, hub.wall_ms())
                allowed, headers = hub.limiter.take(hub.credentials.api_key, path)
                if fault is not None and fault[0] == "rate_limit":
                    headers["X-Bapi-Limit-Status"] = "0"
                    raise BybitError(10006, "Too many visits!")
                if not allowed:
                    raise BybitError(10006, "Too many visits!")
            params = self._params(request.method, raw_query, body)
            result = handler(params)
        except BybitError as error:
            return self._envelope(error.code, error.message, headers=headers)
        except Exception:
            log.exception("emulator handler failed for {path}", path=path)
            return self._envelope(10016, "Server error", headers=headers)
        ext: dict[str, Any] = {}
        if isinstance(result, tuple):
            result, ext = result
        if path in _ORDER_WRITES:
            hold_ms = hub.faults.take_lost_ack()
            if hold_ms >= 0:
                log.info("REST ack held {hold_ms} ms (lost-ack fault)", hold_ms=hold_ms)
                await hub.hold(hold_ms)
        return self._envelope(0, "OK", result, ext, headers)

    @staticmethod
    def _params(method: str, raw_query: str, body: bytes) -> dict[str, Any]:
        if method == "GET":
            return dict(parse_qsl(raw_query, keep_blank_values=True))
        if not body:
            return {}
        try:
            params = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise BybitError(10001, "params error: body is not valid JSON") from None
        if not isinstance(params, dict):
            raise BybitError(10001, "params error: body must be a JSON object")
        return params

    # -------------------------------------------------------------- market

    def _time(self, params: dict[str, Any]) -> dict[str, Any]:
        now_ms = self.hub.wall_ms()
        return {"timeSecond": str(now_ms // 1000), "timeNano": str(now_ms * 1_000_000)}

    def _instruments(self, params: dict[str, Any]) -> dict[str, Any]:
        category = params.get("category", "")
        symbol = str(params.get("symbol") or "").upper()
        if category not in ("linear", "spot", "inverse", "option"):
            raise BybitError(10001, "params error: category is invalid")
        items = [
            listing.info()
            for (listing_category, listing_symbol), listing in self.hub.exchange.listings.items()
            if listing_category == category and (not symbol or listing_symbol == symbol)
        ]
        return {"category": category, "list": items, "nextPageCursor": ""}

    def _market(self, params: dict[str, Any]) -> Any:
        key = (params.get("category", ""), str(params.get("symbol") or "").upper())
        market = self.hub.markets.get(key)
        if market is None:
            raise BybitError(10001, "params error: symbol invalid")
        return market

    def _orderbook(self, params: dict[str, Any]) -> dict[str, Any]:
        market = self._market(params)
        limit = int(params.get("limit") or (1 if market.listing.category == "spot" else 25))
        bids, asks = market.top(
            max(1, min(limit, 1000 if market.listing.category == "spot" else 500))
        )
        price, qty = market.listing.price, market.listing.qty
        return {
            "s": market.listing.symbol,
            "b": [[price(p), qty(bids[p])] for p in sorted(bids, reverse=True)],
            "a": [[price(p), qty(asks[p])] for p in sorted(asks)],
            "ts": self.hub.market_ms(),
            "u": market.seq,
            "seq": market.seq,
            "cts": market.cts_ms,
        }

    def _tickers(self, params: dict[str, Any]) -> dict[str, Any]:
        category = params.get("category", "")
        symbol = str(params.get("symbol") or "").upper()
        items = [
            market.ticker()
            for (market_category, market_symbol), market in self.hub.markets.items()
            if market_category == category and (not symbol or market_symbol == symbol)
        ]
        if symbol and not items:
            raise BybitError(10001, "params error: symbol invalid")
        return {"category": category, "list": items}

    def _recent_trades(self, params: dict[str, Any]) -> dict[str, Any]:
        market = self._market(params)
        try:
            limit = max(1, min(int(params.get("limit") or 60), 1000))
        except ValueError:
            raise BybitError(10001, "params error: limit must be an integer") from None
        trades = list(market.recent_trades)[-limit:][::-1]
        items = [
            {
                "execId": t["i"],
                "symbol": t["s"],
                "price": t["p"],
                "size": t["v"],
                "side": t["S"],
                "time": str(t["T"]),
                "isBlockTrade": False,
                "seq": t["seq"],
            }
            for t in trades
        ]
        return {"category": market.listing.category, "list": items}

    # -------------------------------------------------------------- orders

    def _order_write(self, path: str) -> Handler:
        op = "order." + path.rsplit("/", 1)[1]

        def handler(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            return run_order_op(self.hub, op, params, channel="rest")

        return handler

    def _select(self, params: dict[str, Any], records: list[Any]) -> list[Any]:
        category = params.get("category")
        if category not in ("linear", "spot"):
            raise BybitError(10001, "params error: category is required")
        symbol = str(params.get("symbol") or "").upper()
        order_id = params.get("orderId") or ""
        order_link_id = params.get("orderLinkId") or ""
        return [
            r
            for r in records
            if r.listing.category == category
            and (not symbol or r.listing.symbol == symbol)
            and (not order_id or r.order_id == order_id)
            and (not order_link_id or r.order_link_id == order_link_id)
        ]

    def _open_orders(self, params: dict[str, Any]) -> dict[str, Any]:
        exchange = self.hub.exchange
        records = list(exchange.orders.values())
        if params.get("orderId") or params.get("orderLinkId"):
            chosen = self._select(params, records)  # any status, as Bybit does for an id
        elif str(params.get("openOnly") or "0") == "0":
            chosen = self._select(params, [r for r in records if r.is_open])
        else:
            chosen = self._select(params, [r for r in records if not r.is_open])
        return {
            "category": params.get("category"),
            "nextPageCursor": "",
            "list": [exchange.order_dict(r) for r in exchange.page(chosen, params)],
        }

    def _order_history(self, params: dict[str, Any]) -> dict[str, Any]:
        exchange = self.hub.exchange
        chosen = self._select(params, list(exchange.orders.values()))
        status = params.get("orderStatus")
        if status:
            chosen = [r for r in chosen if r.status == status]
        return {
            "category": params.get("category"),
            "nextPageCursor": "",
            "list": [exchange.order_dict(r) for r in exchange.page(chosen, params)],
        }

    def _executions(self, params: dict[str, Any]) -> dict[str, Any]:
        exchange = self.hub.exchange
        category = params.get("category")
        symbol = str(params.get("symbol") or "").upper()
        order_id = params.get("orderId") or ""
        order_link_id = params.get("orderLinkId") or ""
        chosen = [
            e
            for e in exchange.executions
            if e["category"] == category
            and (not symbol or e["symbol"] == symbol)
            and (not order_id or e["orderId"] == order_id)
            and (not order_link_id or e["orderLinkId"] == order_link_id)
        ]
        return {"category": category, "nextPageCursor": "", "list": exchange.page(chosen, params)}

    def _positions(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "category": "linear",
            "nextPageCursor": "",
            "list": self.hub.exchange.positions(params),
        }

    def _trading_stop(self, params: dict[str, Any]) -> dict[str, Any]:
        self.hub.exchange.set_trading_stop(params)
        return {}

    def _set_leverage(self, params: dict[str, Any]) -> dict[str, Any]:
        exchange = self.hub.exchange
        exchange.listing(params)
        try:
            buy = float(params.get("buyLeverage") or 0)
            sell = float(params.get("sellLeverage") or 0)
        except ValueError:
            raise BybitError(10001, "params error: leverage must be a number") from None
        if buy != sell or not 1 <= buy <= 100:
            raise BybitError(10001, "params error: buyLeverage must equal sellLeverage, 1..100")
        new = Decimal(str(params["buyLeverage"]))
        if new == exchange.leverage:
            raise BybitError(110043, "Set leverage not modified")
        exchange.leverage = new
        return {}

    # ------------------------------------------------------------- account

    def _wallet(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("accountType") not in ("UNIFIED", "CONTRACT", "SPOT"):
            raise BybitError(10001, "params error: accountType must be UNIFIED")
        coin = params.get("coin")
        coins = set(str(coin).split(",")) if coin else None
        return {"list": [self.hub.exchange.wallet_dict(coins)]}

    def _account_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "unifiedMarginStatus": 5,
            "marginMode": "REGULAR_MARGIN",
            "isMasterTrader": False,
            "spotHedgingStatus": "OFF",
            "updatedTime": str(self.hub.wall_ms()),
            "dcpStatus": "ON" if self.hub.exchange.dcp_window_s else "OFF",
            "timeWindow": self.hub.exchange.dcp_window_s or 10,
            "smpGroup": 0,
        }

    def _fee_rates(self, params: dict[str, Any]) -> dict[str, Any]:
        exchange = self.hub.exchange
        category = params.get("category", "linear")
        rates = exchange.fee_rates.get(category)
        if rates is None:
            raise BybitError(10001, "params error: category is invalid")
        symbol = str(params.get("symbol") or "").upper()
        return {
            "category": category,
            "list": [
                {
                    "symbol": listing.symbol,
                    "baseCoin": listing.instrument.base,
                    "makerFeeRate": format(rates[0], "f"),
                    "takerFeeRate": format(rates[1], "f"),
                }
                for (listing_category, _), listing in exchange.listings.items()
                if listing_category == category and (not symbol or listing.symbol == symbol)
            ],
        }

    def _api_key_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "1",
            "note": "mmhost emulator",
            "apiKey": self.hub.credentials.api_key,
            "readOnly": 0,
            "secret": "",
            "permissions": {
                "ContractTrade": ["Order", "Position"],
                "Spot": ["SpotTrade"],
                "Wallet": ["AccountTransfer"],
                "Options": [],
                "Derivatives": [],
                "CopyTrading": [],
                "BlockTrade": [],
                "Exchange": [],
                "NFT": [],
            },
            "ips": ["*"],
            "type": 1,
            "deadlineDay": -1,
            "expiredAt": "",
            "createdAt": "2024-01-01T00:00:00Z",
            "unified": 0,
            "uta": 1,
            "userID": 1,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
            "parentUid": "0",
            "kycLevel": "LEVEL_DEFAULT",
            "kycRegion": "",
        }

    def _coin_info(self, params: dict[str, Any]) -> dict[str, Any]:
        coins = sorted(
            {
                coin
                for listing in self.hub.exchange.listings.values()
                for coin in (listing.instrument.base, listing.instrument.quote)
            }
        )
        wanted = params.get("coin")
        return {
            "rows": [
                {
                    "name": coin,
                    "coin": coin,
                    "remainAmount": "1000000",
                    "chains": [
                        {
                            "chainType": coin,
                            "confirmation": "6",
                            "withdrawFee": "0",
                            "depositMin": "0",
                            "withdrawMin": "0",
                            "chain": coin,
                            "chainDeposit": "1",
                            "chainWithdraw": "1",
                            "minAccuracy": "8",
                            "withdrawPercentageFee": "0",
                            "contractAddress": "",
                            "safeConfirmNumber": "6",
                        }
                    ],
                }
                for coin in coins
                if not wanted or coin == wanted
            ]
        }

    def _dcp(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            window_s = int(params.get("timeWindow") or 0)
        except ValueError:
            raise BybitError(10001, "params error: timeWindow must be an integer") from None
        if not 3 <= window_s <= 300:
            raise BybitError(10001, "params error: timeWindow must be 3..300 seconds")
        self.hub.exchange.dcp_window_s = window_s
        return {}

    # ------------------------------------------------------------- control

    async def _control_faults(self, request: web.Request) -> web.Response:
        try:
            body = msgspec.json.decode(await request.read())
            method = body.pop("method")
        except (msgspec.DecodeError, AttributeError, KeyError):
            return web.json_response(
                {"ok": False, "error": 'expected {"method": ..., ...}'}, status=400
            )
        if method not in _FAULT_METHODS:
            return web.json_response(
                {
                    "ok": False,
                    "error": f"unknown method {method!r}; expected one of {sorted(_FAULT_METHODS)}",
                },
                status=400,
            )
        try:
            getattr(self.hub.faults, method)(**body)
        except (TypeError, ValueError) as error:
            return web.json_response({"ok": False, "error": str(error)}, status=400)
        return web.json_response({"ok": True})

    async def _control_state(self, request: web.Request) -> web.Response:
        exchange = self.hub.exchange
        markets = {
            f"{category}:{symbol}": {
                "best_bid": market.listing.price(best[0])
                if (best := market.best(Side.BUY))
                else None,
                "best_ask": market.listing.price(best[0])
                if (best := market.best(Side.SELL))
                else None,
                "seq": market.seq,
            }
            for (category, symbol), market in self.hub.markets.items()
        }
        return web.json_response(
            {
                "market_time_ms": self.hub.market_ms(),
                "open_orders": len(exchange.open_orders()),
                "executions": len(exchange.executions),
                "markets": markets,
                "connections": len(self.hub.streams.connections),
                "id": uuid.uuid4().hex,
            }
        )
