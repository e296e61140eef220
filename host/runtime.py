"""Assemble a runnable host from a Config: plugins, instruments, venues,
engine, strategies and the market feed.

Everything that can be wrong with a config is found here, before the first
event, and raised as ConfigError naming the key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loguru import logger
from msgspec.structs import replace as replace_struct
from pydantic import ValidationError

from host.clock import LiveClock, Scheduler, SimClock
from host.config import (
    Config,
    ConfigError,
    Credentials,
    VenueSection,
    describe_validation_error,
    load_credentials,
)
from host.engine import Engine
from host.instruments import UnknownInstrumentError, lookup
from host.journal import Journal, JournalPlugin
from host.live import LiveScheduler, ThreadSafeSink
from host.models import BookMessage, CancelOrder, Instrument, OrderStatus, OrderUpdate, Trade
from host.plugins import PluginHost, build_plugin_host
from host.risk import BuiltinRiskRules
from host.venues.sim import SimVenue

BUNDLED_DATA_DIR = Path(__file__).parent / "data"
BUNDLED_PREFIX = "bundled:"


class StartupError(Exception):
    """A venue could not start (wrong keys, unknown symbol, unreachable endpoint)."""


@dataclass(slots=True)
class Runtime:
    """A built host: replayed (``feeds``) or live (venues on their own threads)."""

    config: Config
    plugins: PluginHost
    engine: Engine
    scheduler: Any
    sim_venues: dict[str, SimVenue]
    feeds: list[Iterator[BookMessage | Trade]]
    live: bool = False
    # Live only: market-data venues of paper trading, in-process emulators.
    feed_venues: list[Any] = field(default_factory=list)
    emulators: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Stop what the runtime started beside the engine (feeds, emulators)."""
        for venue in self.feed_venues:
            venue.stop()
        for emulator in self.emulators:
            emulator.stop()
        self.feed_venues.clear()
        self.emulators.clear()


def config_dir(config: Config) -> Path:
    return config.source.parent if config.source is not None else Path.cwd()


def resolve_path(config: Config, text: str | Path) -> Path:
    """``bundled:x`` is under host/data; a relative path is relative to the config file."""
    text = str(text)
    if text.startswith(BUNDLED_PREFIX):
        return BUNDLED_DATA_DIR / text[len(BUNDLED_PREFIX) :]
    path = Path(text).expanduser()
    return path if path.is_absolute() else config_dir(config) / path


def load_plugins(config: Config) -> PluginHost:
    plugins = build_plugin_host(
        [resolve_path(config, p) for p in config.host.plugin_dirs],
        [resolve_path(config, p) for p in config.host.strategy_dirs],
    )
    missing = plugins.missing(config.host.required_plugins)
    if missing:
        raise ConfigError(
            f"{config.source}: host.required_plugins: not loaded: {', '.join(missing)}"
            " (see `mmhost plugins` for what loaded and what failed)"
        )
    return plugins


def build_runtime(
    config: Config, plugins: PluginHost | None = None, *, raise_strategy_errors: bool = False
) -> Runtime:
    """Check every reference in ``config`` against the plugins and build the host."""
    source = config.source
    plugins = plugins or load_plugins(config)
    strategies = plugins.strategies()
    venue_kinds = plugins.venue_factories()

    live = any(venue.kind != "sim" for venue in config.venues)
    if live:
        _check_live_config(config)
        live_clock = LiveClock()
        clock: Any = live_clock
        scheduler: Any = LiveScheduler(live_clock)
    else:
        clock = SimClock()
        scheduler = Scheduler(clock)
    engine = Engine(config, plugins, clock, scheduler, raise_strategy_errors=raise_strategy_errors)
    runtime = Runtime(config, plugins, engine, scheduler, {}, [], live=live)
    sink: Any = ThreadSafeSink(engine) if live else engine
    if config.risk.kill_file is not None:
        kill_file = resolve_path(config, config.risk.kill_file)
        if kill_file.exists():
            raise ConfigError(
                f"{source}: risk.kill_file = {str(kill_file)!r} exists: the kill switch is "
                "engaged; delete the file to start"
            )
        engine.breakers.kill_file = kill_file
    plugins.pm.register(BuiltinRiskRules(config.risk), name="builtin-risk")

    sim_venues = runtime.sim_venues
    feeds = runtime.feeds
    for index, venue_config in enumerate(config.venues):
        key = f"venues[{index}]"
        if venue_config.kind not in venue_kinds:
            raise ConfigError(
                f"{source}: {key}.kind = {venue_config.kind!r}: unknown venue kind; "
                f"expected one of {sorted(venue_kinds)}"
            )
        instruments: dict[str, Instrument] = {}
        for symbol_index, symbol in enumerate(venue_config.symbols):
            try:
                template = lookup(venue_config.market, symbol)
            except UnknownInstrumentError as error:
                raise ConfigError(f"{source}: {key}.symbols[{symbol_index}]: {error}") from None
            instruments[symbol] = replace(template, venue=venue_config.name)
        if venue_config.kind != "sim":
            try:
                _add_live_venue(runtime, venue_config, instruments, venue_kinds, sink)
            except StartupError:
                runtime.close()
                raise
            continue
        venue = venue_kinds[venue_config.kind](venue_config, instruments, scheduler, engine)
        engine.add_venue(venue_config.name, venue)
        if isinstance(venue, SimVenue):
            sim_venues[venue_config.name] = venue
        if not venue_config.data:
            raise ConfigError(
                f"{source}: {key}.data: a sim venue needs a recording to replay (for example "
                "'bundled:binance_usdm/btcusdt_20240718.gz')"
            )
        paths = [resolve_path(config, item) for item in venue_config.data]
        for path_index, path in enumerate(paths):
            if not path.is_file():
                raise ConfigError(
                    f"{source}: {key}.data[{path_index}] = {str(path)!r}: no such file"
                )
        if len(instruments) != 1:
            raise ConfigError(
                f"{source}: {key}.symbols: a replayed recording holds one symbol; list exactly one"
            )
        (instrument,) = instruments.values()
        feeds.append(open_feed(paths, instrument))

    strategy_hashes = {
        name: record.content_hash or "" for record in plugins.records for name in record.strategies
    }
    for index, strategy_config in enumerate(config.strategies):
        key = f"strategies[{index}]"
        strategy_class = strategies.get(strategy_config.name)
        if strategy_class is None:
            raise ConfigError(
                f"{source}: {key}.name = {strategy_config.name!r}: no such strategy; "
                f"registered: {sorted(strategies)}"
            )
        try:
            params = strategy_class.Params.model_validate(strategy_config.params)
        except ValidationError as error:
            raise ConfigError(
                describe_validation_error(error, source or "<config>", (key, "params"))
            ) from None
        _check_quote_currencies(config, index, engine)
        slot = engine.add_strategy(
            strategy_config.instance_id,
            strategy_class,
            strategy_config.venue,
            strategy_config.symbol.upper(),
            params,
            strategy_config.params,
            watch=strategy_config.watched,
        )
        slot.content_hash = strategy_hashes.get(strategy_config.name, "")
    if config.host.journal is not None:
        open_journal(engine, resolve_path(config, config.host.journal))
    if live and config.host.mode == "live":
        for venue in engine.venues.values():
            reconcile(engine, venue)
    return runtime


def _check_quote_currencies(config: Config, index: int, engine: Engine) -> None:
    """Legs of one strategy must be priced in the same currency: comparing
    BTCUSDT with BTCUSDC (or USD) needs a conversion this host does not make."""
    strategy = config.strategies[index]
    own = engine.instruments[(strategy.venue, strategy.symbol.upper())].instrument
    for watch_index, (venue, symbol) in enumerate(strategy.watched):
        other = engine.instruments[(venue, symbol)].instrument
        if other.quote != own.quote:
            raise ConfigError(
                f"{config.source}: strategies[{index}].watch[{watch_index}] = "
                f"'{venue}:{symbol}': quoted in {other.quote}, while {strategy.venue}:"
                f"{strategy.symbol} is quoted in {own.quote}; no conversion is configured"
            )


def _check_live_config(config: Config) -> None:
    source = config.source
    for index, venue in enumerate(config.venues):
        if venue.kind == "sim":
            raise ConfigError(
                f"{source}: venues[{index}].kind = 'sim': a sim venue replays a recording on a "
                'simulated clock and cannot run beside live venues; use mode = "paper" on the '
                "live venues instead"
            )
    if config.host.mode == "backtest":
        raise ConfigError(
            f"{source}: host.mode = 'backtest': a backtest never opens a socket; use sim venues "
            '(or `mmhost backtest`), or mode = "paper" / "live"'
        )


def _add_live_venue(
    runtime: Runtime,
    venue_config: VenueSection,
    instruments: dict[str, Instrument],
    venue_kinds: dict[str, Any],
    sink: Any,
) -> None:
    """Start one venue of kind bybit/ccxt (or a plugin's): live, or as the market
    feed of a simulated venue in paper mode. ``endpoint = "emulator"`` starts a
    loopback emulator replaying the venue's data first."""
    config, engine = runtime.config, runtime.engine
    credentials = load_credentials(venue_config)
    if venue_config.endpoint == "emulator":
        server = start_emulator(config, venue_config)
        runtime.emulators.append(server)
        venue_config = venue_config.model_copy(update={"endpoint": server.urls.http})
        credentials = Credentials(server.config.api_key, server.config.api_secret)
    factory = venue_kinds[venue_config.kind]
    paper = config.host.mode == "paper"
    try:
        venue = factory(
            venue_config,
            instruments,
            runtime.scheduler,
            sink,
            credentials=None if paper else credentials,
        )
        venue.start()
    except ConfigError:
        raise
    except Exception as error:
        raise StartupError(f"venue {venue_config.name!r} did not start: {error}") from None
    if paper:
        # Market data from the venue, fills from the simulator.
        simulated = SimVenue(venue_config, venue.instruments, runtime.scheduler, engine)
        sink.paper_venues[venue_config.name] = simulated
        runtime.feed_venues.append(venue)
        runtime.sim_venues[venue_config.name] = simulated
        engine.add_venue(venue_config.name, simulated)
    else:
        engine.add_venue(venue_config.name, venue)


def start_emulator(config: Config, venue_config: VenueSection) -> Any:
    """An in-process Bybit V5 emulator replaying the venue's data on 127.0.0.1."""
    from host.emulator import EmulatorConfig, EmulatorServer

    speed = config.host.speed
    # Rate limits hold per market second: a replay at 20x allows 20x the orders.
    scale = 1000.0 if speed == "max" else max(1.0, float(speed))
    emulator = EmulatorServer(
        EmulatorConfig(
            data=tuple(resolve_path(config, item) for item in venue_config.data),
            data_symbol=(venue_config.category, venue_config.symbols[0]),
            speed=speed,
            rate_limit_per_s=int(50 * scale),
            order_rate_limit_per_s=int(10 * scale),
        )
    )
    emulator.start()
    return emulator


# A restart waits this long at most for the venue to confirm the cancels of
# the previous run's orders before it trades.
RECONCILE_CANCEL_TIMEOUT_S = 5.0
RECONCILE_POLL_S = 0.1
# Executions are backfilled from this long before the journal's last news.
BACKFILL_MARGIN_NS = 60 * 1_000_000_000


def reconcile(engine: Engine, venue: Any) -> None:
    """At a live start: our desk's orders the venue still holds are orphans of a
    previous run (a crash, a kill -9) and are cancelled, and the start waits
    until the venue confirms it; the journal learns how the previous run's
    orders ended and the executions it missed; the venue's positions are
    adopted at the venue's entry price. Every difference is logged; other
    desks' orders on a shared account are untouched."""
    fetch_orders = getattr(venue, "fetch_open_orders", None)
    fetch_positions = getattr(venue, "fetch_positions", None)
    log = logger.bind(venue=venue.name)
    if fetch_orders is not None:
        orphans = [u for u in fetch_orders() if engine.oms.owns(u.order_link_id)]
        if orphans:
            log.warning(
                "cancelling {count} orphan orders of this desk: {ids}",
                count=len(orphans),
                ids=[u.order_link_id for u in orphans],
            )
            venue.submit([CancelOrder(u.order_link_id, u.symbol) for u in orphans])
            left = _wait_cancelled(engine, venue, fetch_orders)
            if left:
                log.error(
                    "{count} orphan orders of this desk still open after {timeout_s} s: {ids}; "
                    "cancel them on the venue",
                    count=len(left),
                    timeout_s=RECONCILE_CANCEL_TIMEOUT_S,
                    ids=left,
                )
    if engine.journal is not None:
        _catch_up_journal(engine, engine.journal, venue, log)
    if fetch_positions is not None:
        entry_prices = getattr(venue, "entry_prices", {})
        for symbol, size_lots in fetch_positions().items():
            state = engine.instruments.get((venue.name, symbol))
            if state is None or size_lots == 0:
                continue
            entry_price = entry_prices.get(symbol)
            cost_ticks = (
                entry_price / state.instrument.tick_size
                if entry_price is not None
                else state.book.mid_ticks()
            )
            log.warning(
                "adopting the venue's position {symbol} {size_lots} lots at {entry_price}",
                symbol=symbol,
                size_lots=size_lots,
                entry_price=str(entry_price) if entry_price is not None else "mid",
            )
            state.position.adopt(size_lots, cost_ticks)  # type: ignore[arg-type]


def _wait_cancelled(engine: Engine, venue: Any, fetch_orders: Any) -> list[str]:
    """Poll the venue until none of our orders rests; the ids still open at the deadline."""
    deadline = time.monotonic() + RECONCILE_CANCEL_TIMEOUT_S
    while True:
        left = [u.order_link_id for u in fetch_orders() if engine.oms.owns(u.order_link_id)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(RECONCILE_POLL_S)


def _catch_up_journal(engine: Engine, journal: Journal, venue: Any, log: Any) -> None:
    """The previous run may have died between a venue's news and the journal:
    record how its open orders ended and the executions it never saw (the
    journal counts each execution id once)."""
    fetch_order = getattr(venue, "fetch_order", None)
    fetch_executions = getattr(venue, "fetch_executions", None)
    unfinished = [
        order
        for order in journal.open_orders(prefix=engine.oms.desk + "-")
        if order.venue == venue.name
    ]
    strategies = {order.order_link_id: order.strategy_id for order in unfinished}
    if fetch_order is not None:
        for order in unfinished:
            update = fetch_order(order.order_link_id, order.symbol)
            if update is None:
                # Journaled, then the run ended before the venue got it: it never
                # will now (its id is never sent again).
                update = OrderUpdate(
                    venue=order.venue,
                    symbol=order.symbol,
                    order_link_id=order.order_link_id,
                    status=OrderStatus.REJECTED,
                    ts_ns=time.time_ns(),
                    side=order.side,
                    price_ticks=order.price_ticks,
                    size_lots=order.size_lots,
                    filled_lots=order.filled_lots,
                    reject_code="ORDER_NOT_FOUND",
                    reject_reason="the previous run ended before the venue received it",
                )
            journal.record_order_update(update)
    if fetch_executions is None:
        return
    starts = [order.created_ts_ns for order in unfinished if order.created_ts_ns]
    last_fill_ts_ns = journal.last_fill_ts_ns()
    if last_fill_ts_ns:
        starts.append(last_fill_ts_ns)
    if not starts:
        return  # no history in the journal: nothing it could have missed
    fills = [
        fill
        for fill in fetch_executions(min(starts) - BACKFILL_MARGIN_NS)
        if engine.oms.owns(fill.order_link_id)
    ]
    for fill in fills:
        if not fill.strategy and fill.order_link_id in strategies:
            fill = replace_struct(fill, strategy=strategies[fill.order_link_id])
        journal.record_fill(fill)
    if fills or unfinished:
        log.info(
            "journal caught up: {orders} orders of the previous run settled, "
            "{fills} executions checked",
            orders=len(unfinished),
            fills=len(fills),
        )


def open_journal(engine: Engine, path: Path) -> Journal:
    """Open the journal and let the engine write through it.

    A corrupt or locked file raises JournalError naming the file: the host
    does not start without a working journal when one is configured.
    """
    journal = Journal(path, instruments=[state.instrument for state in engine.instruments.values()])
    engine.journal = journal
    engine.plugins.pm.register(JournalPlugin(journal), name="journal")
    return journal


def open_feed(paths: list[Path], instrument: Instrument) -> Iterator[BookMessage | Trade]:
    """Events of a recording (several files = one stream), for one instrument."""
    from host.marketdata.replay import open_events

    return open_events(paths, instrument=instrument, symbol=instrument.symbol)  # type: ignore[return-value]
