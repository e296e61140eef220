"""Assemble a runnable host from a Config: plugins, instruments, venues,
engine, strategies and the market feed.

Everything that can be wrong with a config is found here, before the first
event, and raised as ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from host.clock import Scheduler, SimClock
from host.config import Config, ConfigError, describe_validation_error
from host.engine import Engine
from host.instruments import UnknownInstrumentError, lookup
from host.journal import Journal, JournalPlugin
from host.models import BookMessage, Instrument, Trade
from host.plugins import PluginHost, build_plugin_host
from host.risk import BuiltinRiskRules
from host.venues.sim import SimVenue

BUNDLED_DATA_DIR = Path(__file__).parent / "data"
BUNDLED_PREFIX = "bundled:"


@dataclass(slots=True)
class Runtime:
    """A built host, ready to replay."""

    config: Config
    plugins: PluginHost
    engine: Engine
    scheduler: Scheduler
    sim_venues: dict[str, SimVenue]
    feeds: list[Iterator[BookMessage | Trade]]


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

    clock = SimClock()
    scheduler = Scheduler(clock)
    engine = Engine(config, plugins, clock, scheduler, raise_strategy_errors=raise_strategy_errors)
    if config.risk.kill_file is not None:
        kill_file = resolve_path(config, config.risk.kill_file)
        if kill_file.exists():
            raise ConfigError(
                f"{source}: risk.kill_file = {str(kill_file)!r} exists: the kill switch is "
                "engaged; delete the file to start"
            )
        engine.breakers.kill_file = kill_file
    plugins.pm.register(BuiltinRiskRules(config.risk), name="builtin-risk")

    sim_venues: dict[str, SimVenue] = {}
    feeds: list[Iterator[BookMessage | Trade]] = []
    for index, venue_config in enumerate(config.venues):
        key = f"venues[{index}]"
        if venue_config.kind not in venue_kinds:
            raise ConfigError(
                f"{source}: {key}.kind = {venue_config.kind!r}: unknown venue kind; "
                f"expected one of {sorted(venue_kinds)}"
            )
        if venue_config.kind != "sim":
            raise ConfigError(
                f"{source}: {key}.kind = {venue_config.kind!r}: this build replays recordings "
                "through sim venues only; live venues are not wired yet"
            )
        instruments: dict[str, Instrument] = {}
        for symbol_index, symbol in enumerate(venue_config.symbols):
            try:
                template = lookup(venue_config.market, symbol)
            except UnknownInstrumentError as error:
                raise ConfigError(f"{source}: {key}.symbols[{symbol_index}]: {error}") from None
            instruments[symbol] = replace(template, venue=venue_config.name)
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
    return Runtime(config, plugins, engine, scheduler, sim_venues, feeds)


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
