"""The Bybit V5 venue on pybit: streams in, orders out, never blocking the engine.

Threads (pybit is synchronous; nothing here runs on the engine's loop):

- pybit's websocket-client threads, one per stream (public: order book and
  trades of every symbol; private: order, execution, position, wallet). Each
  raw frame goes through ``BybitDecoder`` into host events for the sink; pybit's
  own order book and message handler are bypassed (``_RawSocket``), so a bad
  frame, a raising sink or a subscribe ack arriving before pybit recorded the
  request cannot kill a stream. Malformed frames are counted.
- ``orders``: creates and amends; ``cancels``: its own worker, so a cancel
  never queues behind a slow create; ``queries``: resolves orders whose
  request timed out and backfills after a reconnect. Each has its own pybit
  ``HTTP`` (a requests session is not shared across threads).
- the trade socket (``order_entry = "websocket"``): pybit's
  ``WebSocketTrading`` for the connection, auth and pings. The ``orders`` and
  ``cancels`` workers send on it while it is ready and over REST while it is
  not (``stats.rest_fallbacks``); each request is registered by our own reqId
  before it leaves and answered on pybit's thread into the same
  ``_accepted`` / ``_refused`` paths as a REST answer. pybit's own callbacks
  are not used: it records them after sending and loses them on reconnect.
- ``watchdog``: recreates a stream that closed, died inside pybit or went
  quiet, resubscribes (the book snapshot comes again) and tells the sink
  ``disconnected`` / ``reconnected`` (the trade socket: ``trade_socket_lost``
  / ``trade_socket_restored``); gives up trade requests unanswered after
  ``request_timeout_ms`` or pending when the trade socket was lost.

Order requests: batch endpoints when a worker holds more than one action of a
kind (20 per batch linear, 10 spot), per-item results from
``retExtInfo.list``. A refusal becomes ``OrderUpdate(Rejected)`` with the
venue's ``retCode`` (a refused cancel or amend keeps the order's last known
status). A timeout, a dropped connection (REST or trade socket) or a 5xx is
not a refusal: the order is ``Unknown`` until ``order/realtime`` by
orderLinkId says what it is; nothing is ever resent blindly. Cancels race
creates and the order stream: a cancel of an order whose create is unanswered
is held until the venue reports the order (sent at once it would overtake the
create on its own worker and meet 110001); a 110001 on an order we believe
open is settled by a query (it ended: that is reported; still open: the
cancel goes again), never reported as "open, refused".

Rate limits: pybit's own retries are off (``retry_codes={-1}``, one attempt);
a budget per endpoint follows ``X-Bapi-Limit-Status`` and
``X-Bapi-Limit-Reset-Timestamp``. After a 10006 the endpoint waits for the
reset: creates and amends are refused to the OMS (it decides again), cancels
are kept and sent after the reset. Cancel endpoints have their own budget
and worker, so cancels spend what is left while creates wait.
"""

from __future__ import annotations

import collections
import difflib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import msgspec
import requests
from loguru import logger
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP, WebSocket, WebSocketTrading

from host.config import Credentials, VenueSection
from host.hookspecs import hookimpl
from host.marketdata.bybit import (
    FRAME_DECODER,
    BybitDecoder,
    ExecutionItem,
    OrderItem,
    PrivateUpdate,
)
from host.models import (
    AmendOrder,
    BookMessage,
    CancelOrder,
    Fill,
    Funding,
    Instrument,
    NewOrder,
    OffGridError,
    OrderAction,
    OrderStatus,
    OrderUpdate,
    Side,
    Trade,
)
from host.venues import bybit_endpoints
from host.venues.bybit_endpoints import EndpointConflictError, ResolvedEndpoint

__all__ = ["BybitVenue", "RateBudget", "VenueStartError", "mmhost_register_venues"]

NS_PER_MS = 1_000_000
BATCH_LIMITS = {"linear": 20, "inverse": 20, "option": 20, "spot": 10}
# retCodes meaning the key pair itself is unusable: one clear error at start.
AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 10009, 10010, 33004})
RATE_LIMIT_CODE = 10006
ORDER_NOT_FOUND_CODE = 110001
RECV_WINDOW_MS = 5000
WATCHDOG_INTERVAL_S = 0.1
# A public stream with no data frame for this long is recreated; the private
# stream is legitimately silent between orders, so there only pongs count.
PUBLIC_QUIET_S = 10.0
PING_INTERVAL_S = 10
PING_TIMEOUT_S = 5
RECONNECT_BACKOFF_MAX_S = 10.0
# Timeouts are resolved by querying; the order may reach the matching engine
# a little after our request gave up, so a miss is retried before it counts.
RESOLVE_ATTEMPTS = 4
RESOLVE_RETRY_S = 0.25
# A cancel the venue could not apply yet (its create had not landed, or a query
# found the order still open after the cancel) is sent again, this often at most.
CANCEL_RETRIES = 3
SEEN_EXEC_IDS = 20_000
_PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
# Bybit's rejectReason of orders that ended as asked (our cancel, an IOC's
# unfilled rest): not a refusal, so no reject code reaches the OMS.
_ROUTINE_REASONS = frozenset({"", "EC_NoError", "EC_PerCancelRequest", "EC_CancelForNoFullFill"})
# Venue states of an order that rests (or waits for its trigger): a cancel can act on it.
_OPEN_STATUSES = frozenset(
    {
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.UNTRIGGERED,
        OrderStatus.TRIGGERED,
    }
)


class VenueStartError(RuntimeError):
    """A venue that cannot start: wrong keys, unknown symbol, unreachable endpoint.

    ``code`` is the venue's own code where it gave one (e.g. ``"10004"``).
    The message never holds a secret.
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------- rate limits


class RateBudget:
    """Requests left per endpoint path until its window resets (from Bybit's headers).

    Thread-safe; the workers ask ``wait_s`` before a request and report every
    answer's headers with ``observe``.
    """

    def __init__(self, clock_ms: Callable[[], int] | None = None) -> None:
        self._clock_ms = clock_ms or (lambda: time.time_ns() // NS_PER_MS)
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}  # path -> (remaining, reset_ms)

    def wait_s(self, path: str) -> float:
        """Seconds to wait before ``path`` may be called again (0: go)."""
        with self._lock:
            window = self._windows.get(path)
        if window is None:
            return 0.0
        remaining, reset_ms = window
        now_ms = self._clock_ms()
        if remaining > 0 or now_ms >= reset_ms:
            return 0.0
        return (reset_ms - now_ms) / 1000

    def observe(self, path: str, headers: Mapping[str, str] | None, *, limited: bool) -> None:
        """Record an answer's ``X-Bapi-Limit-Status`` / ``-Reset-Timestamp``.

        ``limited``: the answer was a 10006; without a reset header the window
        is taken to end one second from now (Bybit's windows are one second).
        """
        status = _header_int(headers, "X-Bapi-Limit-Status")
        reset_ms = _header_int(headers, "X-Bapi-Limit-Reset-Timestamp")
        if limited:
            status = 0
            if reset_ms is None or reset_ms <= self._clock_ms():
                reset_ms = self._clock_ms() + 1000
        if status is None or reset_ms is None:
            return
        with self._lock:
            self._windows[path] = (status, reset_ms)

    def remaining(self, path: str) -> int | None:
        with self._lock:
            window = self._windows.get(path)
        return None if window is None else window[0]


def _header_int(headers: Mapping[str, str] | None, name: str) -> int | None:
    if not headers:
        return None
    text = headers.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


# --------------------------------------------------------------------- REST


@dataclass(slots=True)
class _Answer:
    """One REST answer: Bybit's envelope, or ``answered=False`` for a timeout,
    a dropped connection or a 5xx (the request's effect is unknown)."""

    answered: bool
    code: int = 0
    message: str = ""
    result: Any = None
    ext: Any = None
    detail: str = ""


class _Rest:
    """One pybit ``HTTP`` session for one thread, with the venue's budget."""

    def __init__(
        self,
        venue: BybitVenue,
        name: str,
    ) -> None:
        credentials = venue.credentials
        self.venue = venue
        self.name = name
        self.lock = threading.Lock()
        self.client = HTTP(
            api_key=credentials.api_key if credentials else None,
            api_secret=credentials.api_secret if credentials else None,
            timeout=venue.config.request_timeout_ms / 1000,
            recv_window=RECV_WINDOW_MS,
            # Retries are ours: pybit would sleep and resend 10006/10002 itself.
            retry_codes={-1},
            max_retries=1,
            force_retry=False,
            return_response_headers=True,
        )

    def call(self, path: str, method: str, params: dict[str, Any]) -> _Answer:
        """``self.client.<method>(**params)`` after the budget allows ``path``."""
        venue = self.venue
        if not venue._wait_for_budget(path):
            return _Answer(False, detail="venue stopping")
        venue.stats.requests += 1
        try:
            with self.lock:
                answer = getattr(self.client, method)(**params)
        except InvalidRequestError as error:
            code = int(error.status_code)
            venue.budget.observe(path, error.resp_headers, limited=code == RATE_LIMIT_CODE)
            if code == RATE_LIMIT_CODE:
                venue.stats.rate_limited += 1
            return _Answer(True, code, str(error.message))
        except FailedRequestError as error:
            # A non-200 or an unreadable body: the request may or may not have run.
            return _Answer(False, detail=f"HTTP {error.status_code}: {error.message}")
        except (requests.exceptions.RequestException, OSError) as error:
            return _Answer(False, detail=type(error).__name__)
        body, _elapsed, headers = answer
        venue.budget.observe(path, headers, limited=False)
        return _Answer(
            True,
            int(body.get("retCode", 0)),
            str(body.get("retMsg", "")),
            body.get("result") or {},
            body.get("retExtInfo") or {},
        )


# ------------------------------------------------------------------ streams


class _RawFrames:
    """Mixin for a pybit socket: its message handling replaced by ours.

    pybit parses every frame with ``json.loads`` and dies on any exception in
    that path; we take the raw text instead and never let an exception out.
    ``frame_handler`` is set before pybit connects, because frames can arrive
    before the constructor returns.
    """

    def __init__(
        self,
        frame_handler: Callable[[str], None],
        error_handler: Callable[[], None],
        **kwargs: Any,
    ) -> None:
        self.frame_handler = frame_handler
        self.error_handler = error_handler
        super().__init__(**kwargs)

    def _on_message(self, message: str) -> None:  # pybit's hook, called per frame
        try:
            self.frame_handler(message)
        except Exception:  # a stream must never die of one frame
            self.error_handler()


class _RawSocket(_RawFrames, WebSocket):
    """pybit's public or private stream; pybit's own order book is bypassed too."""


class _TradeSocket(_RawFrames, WebSocketTrading):
    """pybit's trade socket for its connection, auth and pings; the requests are ours.

    pybit's ``WebSocketTrading`` keys a reply's callback by a reqId it makes
    up and records it only after the frame left (a fast reply finds nothing
    and is dropped), keeps the callbacks in memory only (a reconnect loses
    every pending one, and their orders with them) and raises inside its
    handler on a refused auth, which ends the socket's thread. So replies come
    to us raw (``_RawFrames``) and ``send_operation`` frames a request as
    pybit's ``_send_order_operation`` does, with a reqId the venue registered
    before sending.
    """

    def send_operation(self, operation: str, request_id: str, request: dict[str, Any]) -> None:
        """Send ``order.create`` etc. with one argument object.

        :raises websocket.WebSocketException: the socket is closed.
        """
        header = {
            "X-BAPI-TIMESTAMP": str(time.time_ns() // NS_PER_MS),
            "X-BAPI-RECV-WINDOW": str(self.recv_window or RECV_WINDOW_MS),
        }
        frame = {"reqId": request_id, "header": header, "op": operation, "args": [request]}
        self.ws.send(json.dumps(frame))


class _TradeFrame(msgspec.Struct):
    """A frame of the trade socket: an answer to auth, ping or an order request."""

    op: str = ""
    reqId: str = ""
    retCode: int = 0
    retMsg: str = ""
    data: Any = None
    retExtInfo: Any = None
    header: dict[str, Any] | None = None


_TRADE_FRAME_DECODER = msgspec.json.Decoder(_TradeFrame, strict=False)


@dataclass(slots=True)
class _TradeRequest:
    """An order request sent on the trade socket and not yet answered."""

    kind: str  # create | amend | cancel
    path: str  # the REST path of the same operation: its rate-limit budget
    chunk: list[Any]  # the actions, in the order of the request's items
    deadline_s: float  # time.monotonic(); unanswered then, the orders are Unknown


@dataclass(eq=False)
class _Stream:
    """One logical stream and the pybit socket currently serving it."""

    venue: BybitVenue
    kind: str  # public | private | trade
    topics: list[str]
    socket: _RawSocket | _TradeSocket | None = None
    generation: int = 0
    opened_s: float = 0.0
    last_frame_s: float = 0.0
    last_data_s: float = 0.0
    down: bool = False
    down_since_s: float = 0.0
    next_attempt_s: float = 0.0
    backoff_s: float = 0.25
    auth_error: str = ""
    auth_reported: bool = False
    snapshotted: set[str] = field(default_factory=set)
    # Set when the venue acknowledges the current socket's subscription (the
    # trade socket: its auth).
    subscribed: threading.Event = field(default_factory=threading.Event)

    def on_frame(self, raw: str) -> None:
        self.venue._on_frame(self, raw)


@dataclass(slots=True)
class VenueStats:
    """Counters a dashboard or a test reads; never logged per event."""

    requests: int = 0
    rate_limited: int = 0
    backoff_waits: int = 0
    malformed_frames: int = 0
    handler_errors: int = 0
    dropped_deltas: int = 0
    reconnects: int = 0
    unknown_orders: int = 0
    resolved_orders: int = 0
    backfills: int = 0
    settled_refusals: int = 0  # 110001 on an order we thought open, settled by query
    held_cancels: int = 0  # cancels held until the venue knew the order
    cancels_resent: int = 0
    # Order entry over the trade socket (``requests`` above counts REST calls).
    trade_requests: int = 0
    trade_timeouts: int = 0  # unanswered within request_timeout_ms: Unknown, queried
    trade_lost: int = 0  # pending when the socket dropped or a send failed: Unknown, queried
    late_trade_replies: int = 0  # answers after their request was given up
    trade_reconnects: int = 0
    rest_fallbacks: int = 0  # requests sent over REST because the trade socket was down


@dataclass(slots=True)
class _OrderState:
    """What we last told the sink about one order (and what we sent)."""

    symbol: str
    side: Side
    price_ticks: int | None
    size_lots: int
    status: str = OrderStatus.PENDING_NEW
    filled_lots: int = 0
    venue_order_id: str = ""
    reported: bool = False  # the venue (stream or REST) has spoken about it
    # Our cancel waits for the venue to know the order: its create was still in
    # flight (a cancel sent then overtakes it and meets 110001, and the order
    # would rest on, unseen). Sent as soon as the venue reports the order open.
    cancel_wanted: bool = False
    cancels_sent: int = 0  # sent again by us (CANCEL_RETRIES), not by the OMS


class _Worker:
    """A thread draining a queue of items in groups; ``put`` never blocks."""

    def __init__(self, name: str, handle: Callable[[list[Any]], None], venue: BybitVenue) -> None:
        self.name = name
        self._handle = handle
        self._venue = venue
        self._items: collections.deque[Any] = collections.deque()
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"bybit-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, items: Iterable[Any]) -> None:
        with self._ready:
            self._items.extend(items)
            self._ready.notify()

    def put_front(self, items: Sequence[Any]) -> None:
        with self._ready:
            self._items.extendleft(reversed(items))
            self._ready.notify()

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._items and not self._stopped:
                    self._ready.wait()
                if self._stopped:
                    return
                items = list(self._items)
                self._items.clear()
            try:
                self._handle(items)
            except Exception:  # a worker must outlive any one request
                self._venue.log.exception("bybit {worker} worker failed", worker=self.name)


# -------------------------------------------------------------------- venue


class BybitVenue:
    """Bybit V5 (linear or spot) through pybit; see the module docstring."""

    supports_amend = True

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
        self.category = config.category
        self.batch_limit = BATCH_LIMITS.get(self.category, 10)
        # Disconnect-Cancel-All: on whenever we trade (the runtime may turn it
        # off before start, e.g. for a feed-only venue).
        self.dcp_enabled = credentials is not None
        self.public_quiet_s = PUBLIC_QUIET_S
        self.ping_interval_s = PING_INTERVAL_S
        self.private_quiet_s = 2 * PING_INTERVAL_S + PING_TIMEOUT_S
        self.log = logger.bind(component="bybit-venue", venue=config.name)
        self.stats = VenueStats()
        self.budget = RateBudget()
        self.clock_offset_ms = 0
        self.balances: dict[str, Decimal] = {}
        self.positions: dict[str, int] = {}
        # The venue's average entry price of each open position (linear), for
        # adopting a position at its cost rather than at the current mark.
        self.entry_prices: dict[str, Decimal] = {}
        self.endpoint: ResolvedEndpoint | None = None
        self._started = False
        self._stopping = threading.Event()
        self._orders: dict[str, _OrderState] = {}
        self._orders_lock = threading.Lock()
        self._seen_exec_ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._last_exec_ms = 0
        self._streams: dict[str, _Stream] = {}
        self._public: _Stream | None = None
        self._private: _Stream | None = None
        # Order entry: "websocket" (config) may become "rest" at start, on an
        # endpoint without a trade socket or for a venue without keys.
        self.order_entry: str = config.order_entry
        self._trade: _Stream | None = None
        self._trade_pending: dict[str, _TradeRequest] = {}  # by reqId
        self._trade_lock = threading.Lock()
        self._order_rest: _Rest | None = None
        self._cancel_rest: _Rest | None = None
        self._query_rest: _Rest | None = None
        self._order_worker: _Worker | None = None
        self._cancel_worker: _Worker | None = None
        self._query_worker: _Worker | None = None
        self._watchdog: threading.Thread | None = None
        self._public_decoder: BybitDecoder | None = None
        self._private_decoder: BybitDecoder | None = None
        self._handler_errors_logged = 0

    @property
    def settle_timeout_s(self) -> float:
        """How long the last answers of a stop can take: a request timing out,
        then the queries resolving it (their retry waits and one slow answer)."""
        timeout_s = self.config.request_timeout_ms / 1000
        retry_waits_s = sum(RESOLVE_RETRY_S * (n + 1) for n in range(RESOLVE_ATTEMPTS - 1))
        return 2 * timeout_s + retry_waits_s + 0.5

    @property
    def trade_socket_ready(self) -> bool:
        """True while a new order request would go on the trade socket (False:
        over REST, by config or as the fallback)."""
        return self._trade_socket() is not None

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Preflight (time, instruments, keys, balances, positions, DCP), then
        streams, workers and the watchdog. Blocking; idempotent.

        :raises VenueStartError: naming the venue, the problem and the venue's code.
        """
        if self._started:
            return
        self._stopping.clear()
        try:
            self.endpoint = bybit_endpoints.claim(self.config.endpoint)
        except (ValueError, EndpointConflictError) as error:
            raise VenueStartError(f"venue {self.name!r}: {error}") from None
        try:
            self._order_rest = _Rest(self, "orders")
            self._cancel_rest = _Rest(self, "cancels")
            self._query_rest = _Rest(self, "queries")
            self._preflight()
            self._public_decoder = BybitDecoder(self._instrument_for)
            self._private_decoder = BybitDecoder(self._instrument_for)
            self._open_streams()
            self._await_private_subscription()
            self._open_trade_socket()
        except BaseException:
            self._close_streams()
            bybit_endpoints.release(self.endpoint)
            self.endpoint = None
            raise
        self._order_worker = _Worker("orders", self._run_orders, self)
        self._cancel_worker = _Worker("cancels", self._run_cancels, self)
        self._query_worker = _Worker("queries", self._run_queries, self)
        for worker in (self._order_worker, self._cancel_worker, self._query_worker):
            worker.start()
        self._watchdog = threading.Thread(
            target=self._watch, name=f"bybit-watchdog-{self.name}", daemon=True
        )
        self._watchdog.start()
        self._started = True
        self.log.info(
            "bybit venue started on {endpoint} ({category}, {count} symbols, orders over "
            "{order_entry})",
            endpoint=self.endpoint.name,
            category=self.category,
            count=len(self.instruments),
            order_entry=self.order_entry,
        )
        self._status("connected", f"{self.endpoint.name} {self.category}")

    def stop(self) -> None:
        """Close streams and workers; give the pybit endpoint claim back."""
        if not self._started:
            return
        self._started = False
        self._stopping.set()
        for worker in (self._order_worker, self._cancel_worker, self._query_worker):
            if worker is not None:
                worker.stop()
        if self._watchdog is not None:
            self._watchdog.join(5.0)
        self._close_streams()
        if self.endpoint is not None:
            bybit_endpoints.release(self.endpoint)
        self.log.info("bybit venue stopped")

    # -------------------------------------------------------------- preflight

    def _preflight(self) -> None:
        rest = self._query_rest
        assert rest is not None
        sent_ns = time.time_ns()
        answer = rest.call("/v5/market/time", "get_server_time", {})
        received_ns = time.time_ns()
        result = self._preflight_result(answer, "server time")
        server_ms = (
            int(result.get("timeNano") or 0) // NS_PER_MS
            or int(result.get("timeSecond") or 0) * 1000
        )
        self.clock_offset_ms = server_ms - (sent_ns + received_ns) // 2 // NS_PER_MS
        self.log.info("clock offset to the venue {offset_ms} ms", offset_ms=self.clock_offset_ms)
        if abs(self.clock_offset_ms) > RECV_WINDOW_MS - 1000:
            raise VenueStartError(
                f"venue {self.name!r}: the local clock is {self.clock_offset_ms} ms off the "
                f"venue's; requests would be refused (10002). Synchronise the system clock (NTP)."
            )
        self._check_instruments(rest)
        if self.credentials is None:
            return
        answer = rest.call(
            "/v5/account/wallet-balance", "get_wallet_balance", {"accountType": "UNIFIED"}
        )
        result = self._preflight_result(answer, "wallet balance")
        for account in result.get("list") or []:
            for coin in account.get("coin") or []:
                try:
                    self.balances[str(coin.get("coin"))] = Decimal(coin.get("walletBalance") or 0)
                except InvalidOperation:
                    continue
        self.positions = self._query_positions(rest)
        if self.dcp_enabled:
            product = "SPOT" if self.category == "spot" else "DERIVATIVES"
            answer = rest.call(
                "/v5/order/disconnected-cancel-all",
                "set_dcp",
                {"timeWindow": self.config.dcp_window_s, "product": product},
            )
            if answer.answered and answer.code == 0:
                self.log.info(
                    "disconnect-cancel-all armed: {window_s} s", window_s=self.config.dcp_window_s
                )
            else:
                self.log.warning(
                    "disconnect-cancel-all refused: {code} {message}",
                    code=answer.code,
                    message=answer.message or answer.detail,
                )

    def _preflight_result(self, answer: _Answer, what: str) -> dict[str, Any]:
        assert self.endpoint is not None
        if not answer.answered:
            raise VenueStartError(
                f"venue {self.name!r}: no answer from {self.endpoint.http} for {what} "
                f"({answer.detail}); check the endpoint and the network"
            )
        if answer.code in AUTH_CODES:
            raise VenueStartError(
                f"venue {self.name!r}: {self.endpoint.name} refused the API key "
                f"(retCode {answer.code}: {answer.message}); check BYBIT_API_KEY / "
                "BYBIT_API_SECRET and the key's permissions and IP whitelist",
                code=str(answer.code),
            )
        if answer.code != 0:
            raise VenueStartError(
                f"venue {self.name!r}: {what} refused (retCode {answer.code}: {answer.message})",
                code=str(answer.code),
            )
        return answer.result if isinstance(answer.result, dict) else {}

    def _check_instruments(self, rest: _Rest) -> None:
        for symbol, ours in list(self.instruments.items()):
            answer = rest.call(
                "/v5/market/instruments-info",
                "get_instruments_info",
                {"category": self.category, "symbol": symbol},
            )
            listed = self._preflight_result(answer, f"instrument {symbol}").get("list") or []
            if not listed:
                everything = rest.call(
                    "/v5/market/instruments-info",
                    "get_instruments_info",
                    {"category": self.category, "limit": 1000},
                )
                names = [
                    str(item.get("symbol"))
                    for item in (
                        self._preflight_result(everything, "instruments").get("list") or []
                    )
                ]
                close = difflib.get_close_matches(symbol, names, n=3, cutoff=0.5)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise VenueStartError(
                    f"venue {self.name!r}: symbol {symbol!r} is not listed in Bybit "
                    f"{self.category} at {self.endpoint.name if self.endpoint else '?'}{hint}"
                )
            self.instruments[symbol] = self._venue_instrument(ours, listed[0])

    def _venue_instrument(self, ours: Instrument, info: Mapping[str, Any]) -> Instrument:
        """Our instrument with the venue's tick, lot and minimum where they differ."""
        price_filter = info.get("priceFilter") or {}
        lot_filter = info.get("lotSizeFilter") or {}
        try:
            tick = Decimal(price_filter.get("tickSize") or ours.tick_size)
            lot = Decimal(
                lot_filter.get("qtyStep") or lot_filter.get("basePrecision") or ours.lot_size
            )
            min_qty = Decimal(lot_filter.get("minOrderQty") or 0)
        except InvalidOperation:
            self.log.warning(
                "unreadable instrument spec for {symbol}; keeping ours", symbol=ours.symbol
            )
            return ours
        min_lots = int(min_qty / lot) if min_qty > 0 else ours.min_qty_lots
        if (tick, lot, min_lots) == (ours.tick_size, ours.lot_size, ours.min_qty_lots):
            return ours
        self.log.warning(
            "instrument spec of {symbol} differs from our table: tick {our_tick} -> {tick}, "
            "lot {our_lot} -> {lot}, min lots {our_min} -> {min_lots}; using the venue's",
            symbol=ours.symbol,
            our_tick=str(ours.tick_size),
            tick=str(tick),
            our_lot=str(ours.lot_size),
            lot=str(lot),
            our_min=ours.min_qty_lots,
            min_lots=min_lots,
        )
        return replace(ours, tick_size=tick, lot_size=lot, min_qty_lots=min_lots)

    def _instrument_for(self, symbol: str) -> Instrument:
        return self.instruments[symbol]

    # ----------------------------------------------------------------- streams

    def _open_streams(self) -> None:
        depth = self.config.orderbook_depth
        symbols = list(self.instruments)
        public_topics = [f"orderbook.{depth}.{s}" for s in symbols] + [
            f"publicTrade.{s}" for s in symbols
        ]
        self._public = _Stream(self, "public", public_topics)
        self._streams["public"] = self._public
        self._connect(self._public)
        if self.credentials is not None:
            self._private = _Stream(self, "private", list(_PRIVATE_TOPICS))
            self._streams["private"] = self._private
            self._connect(self._private)

    def _open_trade_socket(self) -> None:
        """Open the trade socket for order entry; a failure here is not fatal:
        orders go over REST and the watchdog keeps trying."""
        assert self.endpoint is not None
        if self.order_entry != "websocket":
            return
        if self.credentials is None:
            self.order_entry = "rest"  # nothing to send: submit refuses without keys
            return
        if self.endpoint.trade_websocket is None:
            self.order_entry = "rest"
            self.log.info(
                "{endpoint} has no trade socket: orders go over REST", endpoint=self.endpoint.name
            )
            return
        stream = _Stream(self, "trade", [])
        self._trade = stream
        self._streams["trade"] = stream
        try:
            self._connect(stream)
        except Exception as error:
            old, stream.socket = stream.socket, None
            if old is not None:
                _close_quietly(old)
            now_s = time.monotonic()
            stream.down, stream.down_since_s, stream.next_attempt_s = True, now_s, now_s
            self.log.warning(
                "trade socket did not connect ({error}): orders go over REST until it does",
                error=type(error).__name__,
            )
            return
        timeout_s = self.config.request_timeout_ms / 1000
        if not stream.subscribed.wait(timeout_s):
            self.log.warning(
                "trade socket auth not confirmed within {timeout_s} s: orders go over REST "
                "until it is",
                timeout_s=timeout_s,
            )

    def _await_private_subscription(self) -> None:
        """Return once the order/execution topics are live: an order placed
        before that would have its ack and fills only in REST answers and
        queries (the stream would never tell)."""
        stream = self._private
        if stream is None:
            return
        timeout_s = self.config.request_timeout_ms / 1000
        if stream.subscribed.wait(timeout_s):
            return
        if stream.auth_error:
            raise VenueStartError(
                f"venue {self.name!r}: the private stream refused the API key "
                f"({stream.auth_error}); check BYBIT_API_KEY / BYBIT_API_SECRET"
            )
        self.log.warning(
            "private stream subscription not confirmed within {timeout_s} s; "
            "the watchdog keeps trying",
            timeout_s=timeout_s,
        )

    def _connect(self, stream: _Stream) -> None:
        """Open a fresh pybit socket for ``stream`` and subscribe (raises on failure).

        The trade socket subscribes to nothing: pybit sends its auth, and the
        auth's answer marks it ready (``stream.subscribed``).
        """
        credentials = self.credentials
        kwargs: dict[str, Any] = {
            "testnet": False,
            "restart_on_error": False,  # the watchdog owns reconnection
            "ping_interval": self.ping_interval_s,
            "ping_timeout": PING_TIMEOUT_S,
            "retries": 2,
        }
        if stream.kind != "trade":
            kwargs["channel_type"] = self.category if stream.kind == "public" else "private"
        if stream.kind != "public" and credentials is not None:
            kwargs["api_key"] = credentials.api_key
            kwargs["api_secret"] = credentials.api_secret
        now_s = time.monotonic()
        stream.generation += 1
        stream.snapshotted = set()
        stream.subscribed.clear()
        stream.opened_s = stream.last_frame_s = stream.last_data_s = now_s
        if stream.kind == "trade":
            stream.socket = _TradeSocket(
                stream.on_frame, self._count_handler_error, recv_window=RECV_WINDOW_MS, **kwargs
            )
            return
        socket = _RawSocket(stream.on_frame, self._count_handler_error, **kwargs)
        stream.socket = socket
        self._send(stream, {"op": "subscribe", "req_id": uuid.uuid4().hex, "args": stream.topics})

    def _send(self, stream: _Stream, frame: dict[str, Any]) -> bool:
        socket = stream.socket
        if socket is None:
            return False
        try:
            socket.ws.send(json.dumps(frame))
            return True
        except Exception as error:  # a closed socket: the watchdog takes over
            self.log.debug("send on {kind} stream failed: {error}", kind=stream.kind, error=error)
            return False

    def _close_streams(self) -> None:
        for stream in self._streams.values():
            socket, stream.socket = stream.socket, None
            if socket is not None:
                _close_quietly(socket)
        self._streams.clear()

    def resync(self, symbol: str) -> None:
        """Resubscribe ``symbol``'s book: the venue sends a fresh snapshot.
        Deltas are dropped until it arrives."""
        stream = self._public
        if stream is None or symbol not in self.instruments:
            return
        topic = f"orderbook.{self.config.orderbook_depth}.{symbol}"
        stream.snapshotted.discard(symbol)
        self._send(stream, {"op": "unsubscribe", "req_id": uuid.uuid4().hex, "args": [topic]})
        self._send(stream, {"op": "subscribe", "req_id": uuid.uuid4().hex, "args": [topic]})
        self.log.info("book resync requested for {symbol}", symbol=symbol)

    # ---------------------------------------------------------------- frames

    def _count_handler_error(self) -> None:
        self.stats.handler_errors += 1
        # Log the first few and then every thousandth: never once per frame.
        count = self.stats.handler_errors
        if count <= 3 or count % 1000 == 0:
            self.log.opt(exception=True).error(
                "stream frame handler failed ({count} so far)", count=count
            )

    def _on_frame(self, stream: _Stream, raw: str) -> None:
        """Every frame of every stream, on pybit's thread. Never raises."""
        now_s = time.monotonic()
        stream.last_frame_s = now_s
        if stream.kind == "trade":
            self._on_trade_frame(stream, raw)
            return
        try:
            envelope = FRAME_DECODER.decode(raw)
        except msgspec.DecodeError:
            self.stats.malformed_frames += 1
            return
        if not envelope.topic:
            if envelope.op == "auth" and envelope.success is False:
                stream.auth_error = envelope.ret_msg or "auth refused"
            elif envelope.op == "subscribe" and envelope.success:
                stream.subscribed.set()
            elif envelope.op == "subscribe" and envelope.success is False:
                self.log.error(
                    "subscribe refused on {kind} stream: {message}",
                    kind=stream.kind,
                    message=envelope.ret_msg,
                )
            return
        stream.last_data_s = now_s
        decoder = self._public_decoder if stream.kind == "public" else self._private_decoder
        assert decoder is not None
        try:
            events = decoder.decode_envelope(envelope, time.time_ns())
        except (ValueError, KeyError):
            self.stats.malformed_frames += 1
            return
        sink = self.sink
        for event in events:
            if isinstance(event, BookMessage):
                if event.is_snapshot:
                    stream.snapshotted.add(event.symbol)
                elif event.symbol not in stream.snapshotted:
                    # After a reconnect or resync only a snapshot starts a book.
                    self.stats.dropped_deltas += 1
                    continue
                sink.on_book_message(event)
            elif isinstance(event, Trade):
                sink.on_trade(event)
            elif isinstance(event, PrivateUpdate):
                self._on_private(event)

    def _on_private(self, update: PrivateUpdate) -> None:
        topic = update.topic
        if topic == "order":
            for item in update.items:
                assert isinstance(item, OrderItem)
                self._apply_order_item(item)
        elif topic in ("execution", "execution.fast"):
            for item in update.items:
                assert isinstance(item, ExecutionItem)
                self._apply_execution(item)
        elif topic == "position":
            for item in update.items:
                instrument = self.instruments.get(getattr(item, "symbol", ""))
                if instrument is None or getattr(item, "category", "") != self.category:
                    continue
                try:
                    lots = instrument.qty_to_lots(item.size or "0")  # type: ignore[union-attr]
                except (OffGridError, InvalidOperation, ValueError):
                    continue
                self.positions[instrument.symbol] = -lots if item.side == "Sell" else lots  # type: ignore[union-attr]
        elif topic == "wallet":
            for account in update.items:
                for coin in getattr(account, "coin", []):
                    try:
                        self.balances[coin.coin] = Decimal(coin.walletBalance or 0)
                    except InvalidOperation:
                        continue

    # ---------------------------------------------------------- order events

    def _order_update_from_item(self, item: OrderItem) -> OrderUpdate | None:
        if not item.orderLinkId or item.category not in ("", self.category):
            return None
        instrument = self.instruments.get(item.symbol)
        if instrument is None:
            return None
        try:
            price = Decimal(item.price or 0)
            price_ticks = instrument.price_to_ticks(price) if price > 0 else None
            size_lots = instrument.qty_to_lots(item.qty or "0")
            filled_lots = instrument.qty_to_lots(item.cumExecQty or "0")
            side = Side.parse(item.side)
        except (OffGridError, InvalidOperation, ValueError):
            self.stats.malformed_frames += 1
            return None
        reason = item.rejectReason if item.rejectReason not in _ROUTINE_REASONS else ""
        updated_ms = int(item.updatedTime) if item.updatedTime.isdigit() else 0
        return OrderUpdate(
            venue=self.name,
            symbol=item.symbol,
            order_link_id=item.orderLinkId,
            status=item.orderStatus,
            ts_ns=updated_ms * NS_PER_MS or time.time_ns(),
            side=side,
            price_ticks=price_ticks,
            size_lots=size_lots,
            filled_lots=filled_lots,
            # A cancel Bybit made itself (PostOnly would take, DCP, ...) is not a
            # refusal: no code, the venue's reason in the text, as the simulator does.
            reject_reason=reason,
            venue_order_id=item.orderId,
        )

    def _apply_order_item(self, item: OrderItem) -> None:
        update = self._order_update_from_item(item)
        if update is not None:
            self._emit(update, from_venue=True)

    def _emit(self, update: OrderUpdate, *, from_venue: bool, only_if_silent: bool = False) -> None:
        """Tell the sink, keeping the per-order story monotonic.

        The stream, REST answers and queries race: a state older than what we
        already reported (a terminal state, more filled) is dropped. The lock
        also keeps the sink's order equal to the order of our decisions.
        """
        with self._orders_lock:
            state = self._orders.get(update.order_link_id)
            if state is not None:
                if only_if_silent and state.reported:
                    return
                if from_venue and update.status != OrderStatus.UNKNOWN:
                    stale = (
                        state.status in OrderStatus.TERMINAL
                        and update.status not in OrderStatus.TERMINAL
                    ) or update.filled_lots < state.filled_lots
                    if stale and state.reported:
                        return
            else:
                state = _OrderState(
                    update.symbol, update.side, update.price_ticks, update.size_lots
                )
                self._orders[update.order_link_id] = state
                if len(self._orders) > 50_000:
                    self._prune_orders()
            if update.status != OrderStatus.UNKNOWN and not (
                update.reject_code and update.status == state.status
            ):
                state.status = update.status
            if from_venue and update.status != OrderStatus.UNKNOWN:
                state.reported = True
                state.filled_lots = max(state.filled_lots, update.filled_lots)
                if update.price_ticks is not None:
                    state.price_ticks = update.price_ticks
                state.size_lots = update.size_lots
                state.venue_order_id = update.venue_order_id or state.venue_order_id
                if state.cancel_wanted and state.status not in _OPEN_STATUSES:
                    state.cancel_wanted = state.status not in OrderStatus.TERMINAL
                elif state.cancel_wanted:
                    # The venue knows the order now: the held cancel goes.
                    state.cancel_wanted = False
                    if not self._send_cancel_again(update.order_link_id, state):
                        # The OMS waits for its cancel's answer: this is it.
                        update = _with_refusal(
                            update, str(ORDER_NOT_FOUND_CODE), "cancel retries spent"
                        )
            try:
                self.sink.on_order_update(update)
            except Exception:
                self._count_handler_error()

    def _send_cancel_again(self, order_link_id: str, state: _OrderState) -> bool:
        """Queue a cancel the OMS asked for once more (or for the first time,
        when it was held); the caller holds ``_orders_lock``. False once
        ``CANCEL_RETRIES`` are spent: the OMS then hears the order is open."""
        if state.cancels_sent >= CANCEL_RETRIES or self._cancel_worker is None:
            self.log.warning(
                "order {order_link_id} still open after {count} cancels; left to the OMS",
                order_link_id=order_link_id,
                count=state.cancels_sent,
            )
            return False
        state.cancels_sent += 1
        self.stats.cancels_resent += 1
        self._cancel_worker.put([CancelOrder(order_link_id, state.symbol)])
        return True

    def _prune_orders(self) -> None:
        for link_id in [k for k, s in self._orders.items() if s.status in OrderStatus.TERMINAL]:
            del self._orders[link_id]

    def _apply_execution(self, item: ExecutionItem) -> None:
        if item.execType == "Funding":
            self._apply_funding(item)
            return
        fill = self._fill_from_item(item)
        if fill is None:
            return
        with self._orders_lock:
            if item.execId in self._seen_exec_ids:
                return
            self._seen_exec_ids[item.execId] = None
            if len(self._seen_exec_ids) > SEEN_EXEC_IDS:
                self._seen_exec_ids.popitem(last=False)
            self._last_exec_ms = max(self._last_exec_ms, fill.ts_ns // NS_PER_MS)
            try:
                self.sink.on_fill(fill)
            except Exception:
                self._count_handler_error()

    def _apply_funding(self, item: ExecutionItem) -> None:
        """Bybit reports funding as an execution: execFee is what we paid
        (negative when we received)."""
        on_funding = getattr(self.sink, "on_funding", None)
        if on_funding is None or item.symbol not in self.instruments:
            return
        try:
            funding = Funding(
                venue=self.name,
                symbol=item.symbol,
                exec_id=item.execId,
                amount=Decimal(item.execFee or 0),
                ts_ns=int(item.execTime or 0) * NS_PER_MS,
            )
        except (InvalidOperation, ValueError):
            self.stats.malformed_frames += 1
            return
        try:
            on_funding(funding)
        except Exception:
            self._count_handler_error()

    def _fill_from_item(self, item: ExecutionItem | Mapping[str, Any]) -> Fill | None:
        if isinstance(item, Mapping):
            item = msgspec.convert(item, ExecutionItem, strict=False)
        if item.execType not in ("Trade", "") or not item.orderLinkId:
            return None
        if item.category not in ("", self.category):
            return None
        instrument = self.instruments.get(item.symbol)
        if instrument is None:
            return None
        try:
            return Fill(
                venue=self.name,
                symbol=item.symbol,
                order_link_id=item.orderLinkId,
                exec_id=item.execId,
                side=Side.parse(item.side),
                price_ticks=instrument.price_to_ticks(item.execPrice),
                size_lots=instrument.qty_to_lots(item.execQty),
                fee=Decimal(item.execFee or 0),
                is_maker=bool(item.isMaker),
                ts_ns=int(item.execTime or 0) * NS_PER_MS,
            )
        except (OffGridError, InvalidOperation, ValueError):
            self.stats.malformed_frames += 1
            return None

    def _status(self, status: str, detail: str) -> None:
        on_status = getattr(self.sink, "on_venue_status", None)
        if on_status is None:
            return
        try:
            on_status(self.name, status, detail)
        except Exception:
            self._count_handler_error()

    # ------------------------------------------------------------------ submit

    def submit(self, actions: Sequence[OrderAction]) -> None:
        """Queue actions for the workers; answers reach the sink. Never blocks."""
        if not self._started or self.credentials is None:
            reason = "venue not started" if self.credentials else "venue has no API keys"
            for action in actions:
                self._refuse_locally(action, "NOT_CONNECTED", reason)
            return
        cancels: list[CancelOrder] = []
        others: list[NewOrder | AmendOrder] = []
        for action in actions:
            if isinstance(action, CancelOrder):
                with self._orders_lock:
                    state = self._orders.get(action.order_link_id)
                    if (
                        state is not None
                        and not state.reported
                        and state.status == OrderStatus.PENDING_NEW
                    ):
                        # Its create is not answered yet: a cancel now would
                        # overtake it (own worker) and meet 110001. It goes
                        # when the venue reports the order open.
                        state.cancel_wanted = True
                        self.stats.held_cancels += 1
                        continue
                cancels.append(action)
            else:
                if isinstance(action, NewOrder):
                    with self._orders_lock:
                        self._orders.setdefault(
                            action.order_link_id,
                            _OrderState(
                                action.symbol, action.side, action.price_ticks, action.size_lots
                            ),
                        )
                others.append(action)
        if cancels:
            assert self._cancel_worker is not None
            self._cancel_worker.put(cancels)
        if others:
            assert self._order_worker is not None
            self._order_worker.put(others)

    def _refuse_locally(self, action: OrderAction, code: str, reason: str) -> None:
        state = self._orders.get(action.order_link_id)
        if isinstance(action, NewOrder):
            self._emit(
                self._update_for(
                    action.order_link_id,
                    action.symbol,
                    OrderStatus.REJECTED,
                    code,
                    reason,
                    action=action,
                ),
                from_venue=False,
            )
        else:
            status = state.status if state is not None else OrderStatus.UNKNOWN
            self._emit(
                self._update_for(action.order_link_id, action.symbol, status, code, reason),
                from_venue=False,
            )

    def _update_for(
        self,
        order_link_id: str,
        symbol: str,
        status: str,
        code: str = "",
        reason: str = "",
        *,
        action: NewOrder | AmendOrder | None = None,
    ) -> OrderUpdate:
        """An update built from what we know (the action, the cache)."""
        state = self._orders.get(order_link_id)
        side = Side.BUY
        price_ticks: int | None = None
        size_lots = 0
        filled_lots = 0
        venue_order_id = ""
        if state is not None:
            side, price_ticks, size_lots = state.side, state.price_ticks, state.size_lots
            filled_lots, venue_order_id = state.filled_lots, state.venue_order_id
        if isinstance(action, NewOrder):
            side, price_ticks, size_lots = action.side, action.price_ticks, action.size_lots
        elif isinstance(action, AmendOrder):
            price_ticks, size_lots = action.price_ticks, action.size_lots
        return OrderUpdate(
            venue=self.name,
            symbol=symbol,
            order_link_id=order_link_id,
            status=status,
            ts_ns=time.time_ns(),
            side=side,
            price_ticks=price_ticks,
            size_lots=size_lots,
            filled_lots=filled_lots,
            reject_code=code,
            reject_reason=reason,
            venue_order_id=venue_order_id,
        )

    # ------------------------------------------------------- order requests

    def _order_params(self, action: NewOrder) -> dict[str, Any]:
        instrument = self.instruments[action.symbol]
        params: dict[str, Any] = {
            "symbol": action.symbol,
            "side": action.side.venue_name,
            "qty": instrument.format_qty(action.size_lots),
            "orderLinkId": action.order_link_id,
        }
        if action.price_ticks is None:
            params["orderType"] = "Market"
            if self.category == "spot":
                params["marketUnit"] = "baseCoin"  # our sizes are in the base coin
        else:
            params["orderType"] = "Limit"
            params["price"] = instrument.format_price(action.price_ticks)
            params["timeInForce"] = action.time_in_force
        if action.reduce_only:
            params["reduceOnly"] = True
        if action.trigger_price_ticks is not None:
            # A Stop: Bybit holds it as a conditional order until the trigger.
            params["triggerPrice"] = instrument.format_price(action.trigger_price_ticks)
            params["triggerDirection"] = 1 if action.trigger_rising else 2
            params["triggerBy"] = action.trigger_by
        return params

    def _amend_params(self, action: AmendOrder) -> dict[str, Any]:
        instrument = self.instruments[action.symbol]
        return {
            "symbol": action.symbol,
            "orderLinkId": action.order_link_id,
            "price": instrument.format_price(action.price_ticks),
            "qty": instrument.format_qty(action.size_lots),
        }

    def _cancel_params(self, action: CancelOrder) -> dict[str, Any]:
        return {"symbol": action.symbol, "orderLinkId": action.order_link_id}

    def _run_orders(self, actions: list[NewOrder | AmendOrder]) -> None:
        known = [a for a in actions if a.symbol in self.instruments]
        for action in actions:
            if action.symbol not in self.instruments:
                self._refuse_locally(
                    action, "UNKNOWN_SYMBOL", f"{action.symbol} is not traded on {self.name}"
                )
        amends = [a for a in known if isinstance(a, AmendOrder)]
        news = [a for a in known if isinstance(a, NewOrder)]
        assert self._order_rest is not None
        for chunk in _chunks(amends, self.batch_limit):
            self._send_kind(self._order_rest, "amend", chunk)
        for chunk in _chunks(news, self.batch_limit):
            self._send_kind(self._order_rest, "create", chunk)

    def _run_cancels(self, actions: list[CancelOrder]) -> None:
        known = [a for a in actions if a.symbol in self.instruments]
        assert self._cancel_rest is not None
        for index, chunk in enumerate(_chunks(known, self.batch_limit)):
            held = self._send_kind(self._cancel_rest, "cancel", chunk)
            if held:
                # Rate limited: the cancels wait for the reset (the worker's
                # next call waits on the budget), ahead of anything newer.
                rest = [a for later in _chunks(known, self.batch_limit)[index + 1 :] for a in later]
                assert self._cancel_worker is not None
                self._cancel_worker.put_front([*held, *rest])
                return

    _PATHS: ClassVar[dict[tuple[str, bool], tuple[str, str]]] = {
        ("create", False): ("/v5/order/create", "place_order"),
        ("create", True): ("/v5/order/create-batch", "place_batch_order"),
        ("amend", False): ("/v5/order/amend", "amend_order"),
        ("amend", True): ("/v5/order/amend-batch", "amend_batch_order"),
        ("cancel", False): ("/v5/order/cancel", "cancel_order"),
        ("cancel", True): ("/v5/order/cancel-batch", "cancel_batch_order"),
    }

    def _send_kind(self, rest: _Rest, kind: str, chunk: list[Any]) -> list[Any]:
        """Send one request of ``kind`` for ``chunk`` (on the trade socket when
        it is the order entry and ready, else over REST); emit the outcome of
        each item. Returns the cancels to send again after a rate limit."""
        if not chunk:
            return []
        batch = len(chunk) > 1
        path, method = self._PATHS[(kind, batch)]
        build = {
            "create": self._order_params,
            "amend": self._amend_params,
            "cancel": self._cancel_params,
        }[kind]
        items = [build(action) for action in chunk]
        if batch:
            params: dict[str, Any] = {"category": self.category, "request": items}
        else:
            params = {"category": self.category, **items[0]}
        if self._trade is not None:
            # The budget first: the socket's state is read after the wait.
            if not self._wait_for_budget(path):
                self._unknown(chunk, kind, "venue stopping")
                return []
            socket = self._trade_socket()
            if socket is not None:
                self._send_on_trade_socket(socket, kind, path, chunk, params)
                return []
            # Nothing left on the socket: REST is not a resend.
            self.stats.rest_fallbacks += 1
        return self._answered(kind, chunk, rest.call(path, method, params))

    def _answered(self, kind: str, chunk: list[Any], answer: _Answer) -> list[Any]:
        """Emit the outcome of a request of ``kind`` for ``chunk``, answered over
        REST or the trade socket. Returns the cancels to send again after a
        rate limit."""
        batch = len(chunk) > 1  # as _send_kind chose the endpoint
        if not answer.answered:
            self._unknown(chunk, kind, answer.detail)
            return []
        if answer.code != 0:
            if answer.code == RATE_LIMIT_CODE and kind == "cancel":
                return chunk
            for action in chunk:
                self._refused(action, kind, answer.code, answer.message)
            return []
        if batch:
            infos = (answer.ext or {}).get("list") or []
            for index, action in enumerate(chunk):
                info = infos[index] if index < len(infos) else {"code": 0, "msg": "OK"}
                code = int(info.get("code") or 0)
                if code == 0:
                    self._accepted(action, kind)
                elif code == RATE_LIMIT_CODE and kind == "cancel":
                    # Only these items were limited; their turn comes after the reset.
                    assert self._cancel_worker is not None
                    self._cancel_worker.put_front([action])
                else:
                    self._refused(action, kind, code, str(info.get("msg") or ""))
        else:
            self._accepted(chunk[0], kind)
        return []

    # ---------------------------------------------------------- trade socket

    def _wait_for_budget(self, path: str) -> bool:
        """Wait until ``path`` may be called again; False when the venue stops meanwhile."""
        wait_s = self.budget.wait_s(path)
        if wait_s > 0:
            self.stats.backoff_waits += 1
            if self._stopping.wait(wait_s):
                return False
        return True

    def _trade_socket(self) -> _TradeSocket | None:
        """The trade socket if a request can go on it now (connected, auth answered)."""
        stream = self._trade
        if stream is None or stream.down or not stream.subscribed.is_set():
            return None
        socket = stream.socket
        if not isinstance(socket, _TradeSocket) or socket.exited or not socket.is_connected():
            return None
        return socket

    def _send_on_trade_socket(
        self,
        socket: _TradeSocket,
        kind: str,
        path: str,
        chunk: list[Any],
        params: dict[str, Any],
    ) -> None:
        """Register the request by a fresh reqId, then send it; the answer comes
        to ``_on_trade_frame``. A send that fails leaves the request Unknown:
        part of it may have left, so it is queried, never sent again blindly."""
        request_id = uuid.uuid4().hex
        timeout_s = self.config.request_timeout_ms / 1000
        request = _TradeRequest(kind, path, chunk, time.monotonic() + timeout_s)
        with self._trade_lock:
            self._trade_pending[request_id] = request
        self.stats.trade_requests += 1
        try:
            socket.send_operation("order." + path.rsplit("/", 1)[1], request_id, params)
        except Exception as error:
            self._give_up_trade_requests(
                [request_id], f"trade socket send failed: {type(error).__name__}"
            )

    def _on_trade_frame(self, stream: _Stream, raw: str) -> None:
        """A frame of the trade socket, on pybit's thread. Never raises."""
        try:
            frame = _TRADE_FRAME_DECODER.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.stats.malformed_frames += 1
            return
        if frame.op == "auth":
            if frame.retCode == 0:
                stream.subscribed.set()
            else:
                stream.auth_error = f"{frame.retCode} {frame.retMsg}".strip()
            return
        if not frame.op.startswith("order."):
            return  # pong
        with self._trade_lock:
            request = self._trade_pending.pop(frame.reqId, None)
        if request is None:
            # Given up (timeout, drop): its orders were queried instead.
            self.stats.late_trade_replies += 1
            return
        limited = frame.retCode == RATE_LIMIT_CODE
        self.budget.observe(request.path, frame.header, limited=limited)
        if limited:
            self.stats.rate_limited += 1
        answer = _Answer(
            True, frame.retCode, frame.retMsg, frame.data or {}, frame.retExtInfo or {}
        )
        held = self._answered(request.kind, request.chunk, answer)
        if held:
            assert self._cancel_worker is not None
            self._cancel_worker.put_front(held)

    def _give_up_trade_requests(self, request_ids: Iterable[str], detail: str) -> None:
        """The requests will get no answer (socket lost, send failed): their
        orders are Unknown until queried. Whoever pops a request settles it,
        so a reply racing this is dropped as late."""
        with self._trade_lock:
            given_up = [
                request
                for request_id in request_ids
                if (request := self._trade_pending.pop(request_id, None)) is not None
            ]
        for request in given_up:
            self.stats.trade_lost += 1
            self._unknown(request.chunk, request.kind, detail)

    def _expire_trade_requests(self, now_s: float) -> None:
        """Requests unanswered past their deadline: Unknown, then queried."""
        with self._trade_lock:
            expired = [
                (request_id, request)
                for request_id, request in self._trade_pending.items()
                if request.deadline_s <= now_s
            ]
            for request_id, _ in expired:
                del self._trade_pending[request_id]
        for _, request in expired:
            self.stats.trade_timeouts += 1
            self._unknown(
                request.chunk,
                request.kind,
                f"no answer on the trade socket within {self.config.request_timeout_ms} ms",
            )

    # ---------------------------------------------------------------- answers

    def _accepted(self, action: OrderAction, kind: str) -> None:
        if kind == "create":
            # The order stream usually speaks first; report New only if it has not.
            assert isinstance(action, NewOrder)
            self._emit(
                self._update_for(
                    action.order_link_id, action.symbol, OrderStatus.NEW, action=action
                ),
                from_venue=True,
                only_if_silent=True,
            )
        elif kind == "amend":
            assert isinstance(action, AmendOrder)
            state = self._orders.get(action.order_link_id)
            status = state.status if state is not None and state.reported else OrderStatus.NEW
            if status in OrderStatus.TERMINAL:
                return
            self._emit(
                self._update_for(action.order_link_id, action.symbol, status, action=action),
                from_venue=True,
            )
        else:
            state = self._orders.get(action.order_link_id)
            if state is not None and state.status in OrderStatus.TERMINAL:
                return
            self._emit(
                self._update_for(action.order_link_id, action.symbol, OrderStatus.CANCELLED),
                from_venue=True,
            )

    def _refused(self, action: OrderAction, kind: str, code: int, message: str) -> None:
        if kind == "create":
            assert isinstance(action, NewOrder)
            self._emit(
                self._update_for(
                    action.order_link_id,
                    action.symbol,
                    OrderStatus.REJECTED,
                    str(code),
                    message,
                    action=action,
                ),
                from_venue=False,
            )
            return
        # A refused amend or cancel: the order stands as the venue last said.
        state = self._orders.get(action.order_link_id)
        if (
            code == ORDER_NOT_FOUND_CODE
            and state is not None
            and state.status not in OrderStatus.TERMINAL
        ):
            # One of our orders we believe open: it has just ended (its fill or
            # cancel is on its way on the order stream, which races this
            # answer) or its create has not landed yet. Telling the OMS "open,
            # refused" would be wrong either way: ask the venue first.
            assert self._query_worker is not None
            self._query_worker.put([("settle", action.order_link_id, action.symbol, kind, message)])
            return
        status = state.status if state is not None and state.reported else OrderStatus.UNKNOWN
        self._emit(
            self._update_for(action.order_link_id, action.symbol, status, str(code), message),
            from_venue=False,
        )
        if status == OrderStatus.UNKNOWN and code == ORDER_NOT_FOUND_CODE:
            assert self._query_worker is not None
            self._query_worker.put([("resolve", action.order_link_id, action.symbol, "refused")])

    def _unknown(self, chunk: list[OrderAction], kind: str, detail: str) -> None:
        """No answer: the orders are Unknown until the venue is asked."""
        self.log.warning(
            "{kind} request unanswered ({detail}): {count} orders unknown until queried",
            kind=kind,
            detail=detail,
            count=len(chunk),
        )
        assert self._query_worker is not None
        for action in chunk:
            self.stats.unknown_orders += 1
            self._emit(
                self._update_for(
                    action.order_link_id,
                    action.symbol,
                    OrderStatus.UNKNOWN,
                    action=action if isinstance(action, NewOrder) else None,
                ),
                from_venue=False,
            )
        self._query_worker.put([("resolve", a.order_link_id, a.symbol, kind) for a in chunk])

    # ------------------------------------------------------ queries, backfill

    def _run_queries(self, items: list[tuple[Any, ...]]) -> None:
        seen: set[tuple[Any, ...]] = set()
        for item in items:
            if item in seen:
                continue
            seen.add(item)
            if item[0] == "resolve":
                self._resolve(item[1], item[2], item[3])
            elif item[0] == "settle":
                self._settle(item[1], item[2], item[3], item[4])
            elif item[0] == "backfill":
                self._backfill()

    def _query_order(
        self, rest: _Rest, order_link_id: str, symbol: str
    ) -> dict[str, Any] | bool | None:
        """The venue's record of one order; None: no such order; False: no answer."""
        answer = rest.call(
            "/v5/order/realtime",
            "get_open_orders",
            {"category": self.category, "symbol": symbol, "orderLinkId": order_link_id},
        )
        if not answer.answered or answer.code != 0:
            return False
        for item in (answer.result or {}).get("list") or []:
            if item.get("orderLinkId") == order_link_id:
                return item
        return None

    def _resolve(self, order_link_id: str, symbol: str, kind: str) -> None:
        """Ask the venue for one order and report what it says.

        ``kind`` "refused": a cancel or amend the venue answered with 110001;
        one query, and silence if the venue has no such order (its create may
        still be on its way). Otherwise a request went unanswered: a few
        queries, then an order the venue never saw is reported Rejected.
        """
        rest = self._query_rest
        assert rest is not None
        attempts = 1 if kind == "refused" else RESOLVE_ATTEMPTS
        for attempt in range(attempts):
            found = self._query_order(rest, order_link_id, symbol)
            if isinstance(found, dict):
                item = msgspec.convert(found, OrderItem, strict=False)
                update = self._order_update_from_item(item)
                if update is not None:
                    self.stats.resolved_orders += 1
                    if kind == "cancel" and update.status in _OPEN_STATUSES:
                        # The cancel did not happen (a 5xx, a dropped request):
                        # it is still what we want, so it goes again.
                        with self._orders_lock:
                            state = self._orders.get(order_link_id)
                            if state is not None and self._send_cancel_again(order_link_id, state):
                                return
                    self._emit(update, from_venue=True)
                return
            if attempt + 1 < attempts and self._stopping.wait(RESOLVE_RETRY_S * (attempt + 1)):
                return
        if kind == "refused":
            return
        # Never seen by the venue: the create did not happen; an amend or a
        # cancel of an order the venue does not know has nothing to act on.
        self.stats.resolved_orders += 1
        self._emit(
            self._update_for(
                order_link_id,
                symbol,
                OrderStatus.REJECTED,
                "ORDER_NOT_FOUND",
                f"{kind} unanswered and the venue has no order {order_link_id}",
            ),
            from_venue=True,
        )

    def _settle(self, order_link_id: str, symbol: str, kind: str, message: str) -> None:
        """A cancel or amend of ours refused with 110001 while we thought the
        order open: the venue's record says which.

        Ended (filled, cancelled): that is reported, the refusal is moot. Open:
        a cancel goes again; an amend is reported refused with the order as it
        stands. Unknown to the venue: its create is still on the way; a cancel
        waits for it (``cancel_wanted``), an amend is reported refused.
        """
        rest = self._query_rest
        assert rest is not None
        self.stats.settled_refusals += 1
        found: dict[str, Any] | bool | None = False
        for attempt in range(RESOLVE_ATTEMPTS):
            found = self._query_order(rest, order_link_id, symbol)
            if found is not False:
                break
            if self._stopping.wait(RESOLVE_RETRY_S * (attempt + 1)):
                return
        code = str(ORDER_NOT_FOUND_CODE)
        if isinstance(found, dict):
            update = self._order_update_from_item(msgspec.convert(found, OrderItem, strict=False))
            if update is None:
                return
            if update.status not in _OPEN_STATUSES:
                self._emit(update, from_venue=True)
                return
            if kind == "cancel":
                with self._orders_lock:
                    state = self._orders.get(order_link_id)
                    if state is not None and self._send_cancel_again(order_link_id, state):
                        return
            self._emit(_with_refusal(update, code, message), from_venue=True)
            return
        if kind == "cancel":
            with self._orders_lock:
                state = self._orders.get(order_link_id)
                if state is None or state.status in OrderStatus.TERMINAL:
                    return
                if state.reported and state.status in _OPEN_STATUSES:
                    self._send_cancel_again(order_link_id, state)
                else:
                    state.cancel_wanted = True
            return
        with self._orders_lock:
            state = self._orders.get(order_link_id)
            status = state.status if state is not None and state.reported else OrderStatus.UNKNOWN
        self._emit(self._update_for(order_link_id, symbol, status, code, message), from_venue=False)

    def _backfill(self) -> None:
        """After a private reconnect: executions since the last seen, then order states."""
        rest = self._query_rest
        assert rest is not None
        self.stats.backfills += 1
        since_ms = max(self._last_exec_ms - 1000, 0)
        for item in self._execution_items(rest, since_ms * NS_PER_MS):
            self._apply_execution(msgspec.convert(item, ExecutionItem, strict=False))
        open_ids: set[str] = set()
        for item in self._open_order_items(rest):
            open_ids.add(str(item.get("orderLinkId")))
            self._apply_order_item(msgspec.convert(item, OrderItem, strict=False))
        with self._orders_lock:
            pending = [
                (link_id, state.symbol)
                for link_id, state in self._orders.items()
                if state.status not in OrderStatus.TERMINAL and link_id not in open_ids
            ]
        for link_id, symbol in pending:
            found = self._query_order(rest, link_id, symbol)
            if isinstance(found, dict):
                self._apply_order_item(msgspec.convert(found, OrderItem, strict=False))

    def _open_order_items(self, rest: _Rest) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for symbol in self.instruments:
            cursor = ""
            for _ in range(100):  # pages of 50; a bound, not an expectation
                params = {"category": self.category, "symbol": symbol, "openOnly": 0, "limit": 50}
                if cursor:
                    params["cursor"] = cursor
                answer = rest.call("/v5/order/realtime", "get_open_orders", params)
                if not answer.answered or answer.code != 0:
                    raise VenueStartError(
                        f"venue {self.name!r}: open orders of {symbol}: "
                        f"{answer.code or ''} {answer.message or answer.detail}".strip(),
                        code=str(answer.code or ""),
                    )
                result = answer.result or {}
                items.extend(result.get("list") or [])
                cursor = str(result.get("nextPageCursor") or "")
                if not cursor or not result.get("list"):
                    break
        return items

    def _execution_items(self, rest: _Rest, since_ns: int) -> list[dict[str, Any]]:
        since_ms = since_ns // NS_PER_MS
        items: list[dict[str, Any]] = []
        for symbol in self.instruments:
            cursor = ""
            for _ in range(100):
                params: dict[str, Any] = {"category": self.category, "symbol": symbol, "limit": 50}
                if since_ms > 0:
                    params["startTime"] = since_ms
                if cursor:
                    params["cursor"] = cursor
                answer = rest.call("/v5/execution/list", "get_executions", params)
                if not answer.answered or answer.code != 0:
                    raise VenueStartError(
                        f"venue {self.name!r}: executions of {symbol}: "
                        f"{answer.code or ''} {answer.message or answer.detail}".strip(),
                        code=str(answer.code or ""),
                    )
                result = answer.result or {}
                page = [
                    i for i in result.get("list") or [] if int(i.get("execTime") or 0) >= since_ms
                ]
                items.extend(page)
                cursor = str(result.get("nextPageCursor") or "")
                if not cursor or not result.get("list"):
                    break
        items.sort(key=lambda item: int(item.get("execTime") or 0))
        return items

    def _query_positions(self, rest: _Rest) -> dict[str, int]:
        positions: dict[str, int] = {}
        if self.category == "spot":
            # Spot has no positions: what we hold of each base coin is the position.
            for symbol, instrument in self.instruments.items():
                held = self.balances.get(instrument.base, Decimal(0))
                positions[symbol] = int(held / instrument.lot_size)
            return positions
        for symbol, instrument in self.instruments.items():
            answer = rest.call(
                "/v5/position/list", "get_positions", {"category": self.category, "symbol": symbol}
            )
            result = self._preflight_result(answer, f"positions of {symbol}")
            lots = 0
            self.entry_prices.pop(symbol, None)
            for item in result.get("list") or []:
                try:
                    size = instrument.qty_to_lots(item.get("size") or "0")
                    entry_price = Decimal(item.get("avgPrice") or 0)
                except (OffGridError, InvalidOperation, ValueError):
                    continue
                lots += -size if item.get("side") == "Sell" else size
                if size and entry_price > 0:
                    self.entry_prices[symbol] = entry_price
            positions[symbol] = lots
        return positions

    # ------------------------------------------------- start-up reconciliation

    def fetch_open_orders(self) -> list[OrderUpdate]:
        """Every open order of ours (with an orderLinkId) on the venue's symbols. Blocking."""
        rest = self._require_rest()
        updates: list[OrderUpdate] = []
        for item in self._open_order_items(rest):
            update = self._order_update_from_item(msgspec.convert(item, OrderItem, strict=False))
            if update is not None:
                updates.append(update)
        return updates

    def fetch_positions(self) -> dict[str, int]:
        """Signed position in lots by symbol (spot: the base coin held). Blocking."""
        rest = self._require_rest()
        if self.category == "spot":
            answer = rest.call(
                "/v5/account/wallet-balance", "get_wallet_balance", {"accountType": "UNIFIED"}
            )
            for account in self._preflight_result(answer, "wallet balance").get("list") or []:
                for coin in account.get("coin") or []:
                    self.balances[str(coin.get("coin"))] = Decimal(coin.get("walletBalance") or 0)
        self.positions = self._query_positions(rest)
        return dict(self.positions)

    def fetch_order(self, order_link_id: str, symbol: str) -> OrderUpdate | None:
        """The venue's record of one order in any state; None when it has no such
        order. Blocking.

        :raises VenueStartError: the venue did not answer.
        """
        found = self._query_order(self._require_rest(), order_link_id, symbol)
        if found is False:
            raise VenueStartError(f"venue {self.name!r}: no answer for order {order_link_id}")
        if not isinstance(found, dict):
            return None
        return self._order_update_from_item(msgspec.convert(found, OrderItem, strict=False))

    def fetch_executions(self, since_ns: int) -> list[Fill]:
        """Our fills (execType Trade) since ``since_ns``, oldest first. Blocking."""
        rest = self._require_rest()
        fills = []
        for item in self._execution_items(rest, since_ns):
            fill = self._fill_from_item(item)
            if fill is not None and fill.ts_ns >= since_ns:
                fills.append(fill)
        return fills

    def _require_rest(self) -> _Rest:
        if self._query_rest is None or self.credentials is None:
            raise VenueStartError(
                f"venue {self.name!r}: start() it with API keys before reconciliation"
            )
        return self._query_rest

    # ---------------------------------------------------------------- watchdog

    def _watch(self) -> None:
        while not self._stopping.wait(WATCHDOG_INTERVAL_S):
            for stream in list(self._streams.values()):
                try:
                    self._check(stream)
                except Exception:
                    self.log.exception(
                        "watchdog check of the {kind} stream failed", kind=stream.kind
                    )
            if self._trade is not None:
                try:
                    self._expire_trade_requests(time.monotonic())
                except Exception:
                    self.log.exception("watchdog expiry of trade requests failed")

    def _problem(self, stream: _Stream, now_s: float) -> str:
        socket = stream.socket
        if socket is None:
            return "no socket"
        if stream.auth_error:
            return "auth"
        if socket.exited:
            return "closed inside pybit"
        thread = getattr(socket, "wst", None)
        if thread is not None and not thread.is_alive():
            return "socket thread ended"
        if not socket.is_connected():
            return "not connected"
        if stream.kind == "public":
            quiet_s = now_s - stream.last_data_s
            if quiet_s > self.public_quiet_s:
                return f"no market data for {quiet_s:.1f} s"
        elif now_s - stream.last_frame_s > self.private_quiet_s:
            return f"silent for {now_s - stream.last_frame_s:.1f} s"
        return ""

    def _check(self, stream: _Stream) -> None:
        now_s = time.monotonic()
        if not stream.down:
            problem = self._problem(stream, now_s)
            if not problem:
                return
            if problem == "auth":
                if not stream.auth_reported:
                    stream.auth_reported = True
                    # Wrong keys do not get better by retrying: say it once, stop.
                    self.log.error(
                        "{kind} stream authentication refused: {message}",
                        kind=stream.kind,
                        message=stream.auth_error,
                    )
                    self._status("auth_failed", f"{stream.kind} stream: {stream.auth_error}")
                return
            stream.down = True
            stream.down_since_s = now_s
            stream.next_attempt_s = now_s
            stream.backoff_s = 0.25
            self.log.warning("{kind} stream lost: {problem}", kind=stream.kind, problem=problem)
            old, stream.socket = stream.socket, None
            if old is not None:
                threading.Thread(target=_close_quietly, args=(old,), daemon=True).start()
            if stream.kind == "trade":
                # Not a market-data disconnect (no breaker): orders go over
                # REST meanwhile. What was pending will never be answered.
                self._status("trade_socket_lost", f"{problem}; orders over REST until it is back")
                with self._trade_lock:
                    pending = list(self._trade_pending)
                self._give_up_trade_requests(pending, f"trade socket lost: {problem}")
            else:
                self._status("disconnected", f"{stream.kind} stream: {problem}")
        if now_s < stream.next_attempt_s or self._stopping.is_set():
            return
        try:
            self._connect(stream)
        except Exception as error:
            socket, stream.socket = stream.socket, None
            if socket is not None:
                threading.Thread(target=_close_quietly, args=(socket,), daemon=True).start()
            stream.next_attempt_s = now_s + stream.backoff_s
            stream.backoff_s = min(stream.backoff_s * 2, RECONNECT_BACKOFF_MAX_S)
            self.log.warning(
                "{kind} stream reconnect failed ({error}); next try in {delay_s} s",
                kind=stream.kind,
                error=type(error).__name__,
                delay_s=round(stream.backoff_s, 2),
            )
            return
        stream.down = False
        down_s = time.monotonic() - stream.down_since_s
        self.log.info(
            "{kind} stream reconnected after {down_s} s", kind=stream.kind, down_s=round(down_s, 3)
        )
        if stream.kind == "trade":
            self.stats.trade_reconnects += 1
            self._status("trade_socket_restored", f"after {down_s:.2f} s")
            return
        self.stats.reconnects += 1
        self._status("reconnected", f"{stream.kind} stream after {down_s:.2f} s")
        if stream.kind == "private" and self._query_worker is not None:
            self._query_worker.put([("backfill",)])


def _close_quietly(socket: _RawSocket | _TradeSocket) -> None:
    """Close a pybit socket that may be half dead; never raises."""
    try:
        socket.exited = True
        socket._stop_custom_ping_timer()
        socket.ws.close(timeout=1)
    except Exception:
        pass


def _with_refusal(update: OrderUpdate, code: str, reason: str) -> OrderUpdate:
    """``update`` carrying a refusal: the venue's state with its code and message."""
    return msgspec.structs.replace(update, reject_code=code, reject_reason=reason)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


@hookimpl
def mmhost_register_venues() -> dict[str, type[BybitVenue]]:
    return {"bybit": BybitVenue}
