"""``EmulatorServer``: the loopback Bybit V5 emulator in its own thread and loop.

The server owns one asyncio loop in a daemon thread (never the engine's loop,
and never a loop that blocking pybit calls could stall). ``start()`` returns
the URLs once the socket listens; ``stop()`` closes every socket and joins.

The replay task merges the market sources (a recording, synthetic walks) by
market time and, per event: moves the replay clock, feeds the listing's
matching engine (our fills happen here), then publishes the public frames.
``speed`` paces market time against the wall clock (``speed=10``: ten market
seconds per wall second); ``"max"`` never sleeps, and is still lossless,
because publishing waits for the subscribers' queues.

Auth timestamps are checked against the wall clock (plus injected skew),
never against the replay clock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from loguru import logger

from host.emulator.auth import Credentials, RateLimiter, wall_clock_ms
from host.emulator.exchange import Exchange
from host.emulator.faults import FaultConfig, Faults
from host.emulator.listings import DEFAULT_SYMBOLS, START_PRICES, build_listings
from host.emulator.market import MarketEvent, SyntheticMarket, recorded_market
from host.emulator.public import PublicMarket
from host.emulator.rest import RestApi
from host.emulator.streams import OrderRequest, Streams
from host.models import BookMessage, Trade

__all__ = ["EmulatorConfig", "EmulatorServer", "EmulatorUrls", "Hub"]

log = logger.bind(component="emulator")

T = TypeVar("T")

DEFAULT_API_KEY = "emulator-key"
DEFAULT_API_SECRET = "emulator-secret"  # a test credential, valid only against the emulator
# The replay hands the loop to sockets, REST handlers and pings at least this
# often, behind schedule or not: a replay that only yields when it is ahead of
# the wall clock starves them for seconds once it falls behind (a burst in the
# recording, a busy process), and clients see timeouts and dead pings.
_YIELD_AFTER_S = 0.002
_ORDER_REQUESTS_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How one emulator runs.

    :param data: recording files replayed into ``data_symbol`` (linear); the
        other listings get synthetic walks. Empty: every listing is synthetic.
    :param speed: market seconds per wall second, or ``"max"``.
    :param port: 0 picks a free port.
    :param balances: initial wallet by coin.
    :param seed: seed of the synthetic markets (each listing offsets it).
    """

    host: str = "127.0.0.1"
    port: int = 0
    data: tuple[Path, ...] = ()
    data_symbol: tuple[str, str] = ("linear", "BTCUSDT")
    symbols: tuple[tuple[str, str], ...] = DEFAULT_SYMBOLS
    speed: float | str = 1.0
    seed: int = 1
    synthetic_step_ms: int = 50
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    balances: dict[str, Decimal] = field(default_factory=lambda: {"USDT": Decimal(100_000)})
    leverage: Decimal = Decimal(10)
    subscribe_ack_delay_ms: int = 5
    first_snapshot_delay_ms: int = 10
    trade_ack_delay_ms: int = 5
    rate_limit_per_s: int = 50
    order_rate_limit_per_s: int = 10
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __repr__(self) -> str:  # the secret never reaches a log line
        return (
            f"EmulatorConfig(host={self.host!r}, port={self.port}, speed={self.speed!r}, "
            f"data={[str(p) for p in self.data]}, symbols={self.symbols})"
        )


@dataclass(frozen=True, slots=True)
class EmulatorUrls:
    """Where the clients connect."""

    http: str  # "http://127.0.0.1:PORT"
    websocket: str  # "ws://127.0.0.1:PORT"

    @property
    def public_linear(self) -> str:
        return f"{self.websocket}/v5/public/linear"

    @property
    def public_spot(self) -> str:
        return f"{self.websocket}/v5/public/spot"

    @property
    def private(self) -> str:
        return f"{self.websocket}/v5/private"

    @property
    def trade(self) -> str:
        return f"{self.websocket}/v5/trade"


class Hub:
    """What the REST and WebSocket sides share; lives on the emulator's loop."""

    def __init__(self, config: EmulatorConfig, faults: Faults) -> None:
        self.config = config
        self.faults = faults
        self.credentials = Credentials(config.api_key, config.api_secret)
        self.limiter = RateLimiter(
            config.rate_limit_per_s, config.order_rate_limit_per_s, clock_ms=self.wall_ms
        )
        listings = build_listings(config.symbols)
        self.market_clock_ns = time.time_ns()
        self.exchange = Exchange(
            listings, config.balances, self.market_ms, leverage=config.leverage
        )
        self.markets = {key: PublicMarket(listing) for key, listing in listings.items()}
        self.streams = Streams(self)
        self.exchange.publish_private = self.streams.publish_private
        self.release = asyncio.Event()  # set on stop: held (lost) acks give up
        # Every executed order request with its channel (rest | trade), newest last.
        self.order_requests: deque[OrderRequest] = deque(maxlen=_ORDER_REQUESTS_KEPT)

    def wall_ms(self) -> int:
        return wall_clock_ms(self.faults.clock_skew_ms)

    def market_ms(self) -> int:
        return self.market_clock_ns // 1_000_000

    async def hold(self, hold_ms: int) -> None:
        """Wait ``hold_ms`` or until the server stops, whichever is first."""
        try:
            await asyncio.wait_for(self.release.wait(), hold_ms / 1000)
        except TimeoutError:
            pass


class EmulatorServer:
    """The emulator in its own thread: ``start()`` -> URLs, ``stop()``.

    ``faults`` is the test's handle on fault injection; ``call(fn)`` runs
    ``fn(hub)`` on the emulator's loop and returns its result, for tests that
    inspect the exchange without racing it.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, *, faults: Faults | None = None
    ) -> None:
        self.config = config or EmulatorConfig()
        self.faults = faults or Faults(self.config.faults)
        self.urls: EmulatorUrls | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._hub: Hub | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # ------------------------------------------------------------- control

    def start(self, timeout_s: float = 10.0) -> EmulatorUrls:
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        self._thread = threading.Thread(target=self._run, name="bybit-emulator", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise RuntimeError(f"emulator did not start within {timeout_s} s")
        if self._error is not None:
            raise RuntimeError(f"emulator failed to start: {self._error}") from self._error
        assert self.urls is not None
        return self.urls

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def call(self, function: Callable[[Hub], T], timeout_s: float = 5.0) -> T:
        """Run ``function(hub)`` on the emulator's loop; its result."""
        loop, hub = self._loop, self._hub
        if loop is None or hub is None:
            raise RuntimeError("emulator is not running")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(function(hub))
            except BaseException as error:
                future.set_exception(error)

        loop.call_soon_threadsafe(run)
        return future.result(timeout_s)

    def run_forever(self) -> None:
        """Start (unless started) and block until interrupted (the CLI)."""
        if self._thread is None:
            self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # -------------------------------------------------------------- thread

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as error:  # surfaced to start(); logged for a running server
            self._error = error
            log.exception("emulator stopped on an error")
        finally:
            self._started.set()
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        hub = Hub(self.config, self.faults)
        self._hub = hub
        rest = RestApi(hub)
        app = web.Application()
        app.add_routes(hub.streams.routes())
        app.add_routes(rest.app_routes())
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        await site.start()
        port = runner.addresses[0][1]
        self.urls = EmulatorUrls(
            f"http://{self.config.host}:{port}", f"ws://{self.config.host}:{port}"
        )
        loop = asyncio.get_running_loop()
        self.faults._drop_sockets_callback = lambda kind: loop.call_soon_threadsafe(
            hub.streams.drop, kind
        )
        sources = self._sources(hub)
        replay = asyncio.create_task(self._replay(hub, sources))
        periodic = asyncio.create_task(self._periodic_faults(hub))
        log.info("emulator listening on {url}", url=self.urls.http)
        self._started.set()
        try:
            await self._stopping.wait()
        finally:
            hub.release.set()
            for task in (replay, periodic):
                task.cancel()
            await asyncio.gather(replay, periodic, return_exceptions=True)
            await hub.streams.close_all()
            await runner.cleanup()
            self.faults._drop_sockets_callback = None
            log.info("emulator stopped")

    def _sources(self, hub: Hub) -> list[tuple[tuple[str, str], Iterator[MarketEvent]]]:
        config = self.config
        sources: list[tuple[tuple[str, str], Iterator[MarketEvent]]] = []
        start_ts_ns = time.time_ns()
        if config.data:
            listing = hub.exchange.listings[config.data_symbol]
            recording = recorded_market(config.data, listing.instrument)
            first = next(recording, None)
            if first is not None:
                start_ts_ns = first.ts_exchange_ns
                sources.append((config.data_symbol, itertools.chain([first], recording)))
        hub.market_clock_ns = start_ts_ns
        for index, (key, listing) in enumerate(hub.exchange.listings.items()):
            if config.data and key == config.data_symbol:
                continue
            start_price = START_PRICES.get(listing.symbol, Decimal(100))
            sources.append(
                (
                    key,
                    iter(
                        SyntheticMarket(
                            listing.instrument,
                            seed=config.seed + index,
                            start_price=start_price,
                            start_ts_ns=start_ts_ns,
                            step_ms=config.synthetic_step_ms,
                            depth_levels=200,
                        )
                    ),
                )
            )
        return sources

    async def _replay(
        self, hub: Hub, sources: Sequence[tuple[tuple[str, str], Iterator[MarketEvent]]]
    ) -> None:
        speed = self.config.speed
        pace = None if speed == "max" else float(speed)
        heap: list[tuple[int, int, tuple[str, str], MarketEvent, Iterator[MarketEvent]]] = []
        for order, (key, events) in enumerate(sources):
            event = next(events, None)
            if event is not None:
                heap.append((event.ts_exchange_ns, order, key, event, events))
        heapq.heapify(heap)
        if not heap:
            return
        loop = asyncio.get_running_loop()
        start_wall_s = loop.time()
        start_market_ns = heap[0][0]
        last_yield_s = start_wall_s
        exchange, markets, streams = hub.exchange, hub.markets, hub.streams
        while heap:
            ts_ns, order, key, event, events = heapq.heappop(heap)
            now_s = loop.time()
            if pace is not None:
                delay_s = start_wall_s + (ts_ns - start_market_ns) / 1e9 / pace - now_s
                if delay_s > 0:
                    await asyncio.sleep(delay_s)
                    last_yield_s = loop.time()
            if now_s - last_yield_s >= _YIELD_AFTER_S:
                await asyncio.sleep(0)
                last_yield_s = loop.time()
            hub.market_clock_ns = max(hub.market_clock_ns, ts_ns)
            exchange.on_market(key, event, hub.market_clock_ns)
            market = markets[key]
            if isinstance(event, BookMessage):
                market.apply(event)
                await streams.publish_book(market)
            elif isinstance(event, Trade):
                await streams.publish_trade(market, market.trade(event))
            following = next(events, None)
            if following is None:
                log.info("market source ended for {symbol}", symbol=key[1])
            else:
                heapq.heappush(heap, (following.ts_exchange_ns, order, key, following, events))

    async def _periodic_faults(self, hub: Hub) -> None:
        config = self.faults.config
        tasks: list[tuple[float, Callable[[], Any]]] = []
        if config.drop_socket_every_s > 0:
            tasks.append((config.drop_socket_every_s, lambda: hub.streams.drop("public")))
        if config.skip_delta_every_s > 0:
            tasks.append((config.skip_delta_every_s, lambda: self.faults.skip_deltas(1)))
        if not tasks:
            return
        loop = asyncio.get_running_loop()
        next_due = [loop.time() + period for period, _ in tasks]
        while True:
            await asyncio.sleep(max(0.0, min(next_due) - loop.time()))
            now = loop.time()
            for index, (period, action) in enumerate(tasks):
                if now >= next_due[index]:
                    action()
                    next_due[index] = now + period
