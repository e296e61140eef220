"""One backtest: a recording, a strategy, sim venues, a simulated clock, metrics.

``run_backtest(BacktestSpec(...))`` builds a host whose only venue is a sim
venue replaying the given files, runs it through the replay driver with feed
latency on, and returns a ``BacktestResult`` (summary JSON, recorder for the
report, the error if any). It never opens a socket: every venue is a sim
venue and the socket layer refuses connections for the duration of the run.

The symbol comes from the data (``detect``; the header of an mmhost
recording), tick and lot from ``host.instruments`` or ``--tick/--lot`` (or
the recording header, for synthetic files). Strategy sizes are in quote
currency, so one config fits any symbol.

Determinism: order ids use a fixed run token, the queue models are
expected-value (no random draws), the scheduler breaks ties by insertion
order; the same input gives the same fills and summary, byte for byte.
"""

from __future__ import annotations

import contextlib
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from host.backtest.latency import (
    ConstantFeedLatency,
    FeedTimingStats,
    RecordedFeedLatency,
    estimate_clock_offset_ns,
)
from host.backtest.metrics import BacktestRecorder
from host.backtest.runner import ReplayProgress, run_replay
from host.config import Config, ConfigError, load_config, parse_config
from host.engine import StrategyError
from host.instruments import UnknownInstrumentError, lookup, register
from host.marketdata.common import MarketDataError, OnBadLine, ReaderStats
from host.models import BookMessage, Instrument, Trade
from host.plugins import build_plugin_host
from host.runtime import Runtime, build_runtime

BACKTEST_RUN_TOKEN = "bt"  # fixed, so order ids (and so fills) repeat across runs


class BacktestInputError(ValueError):
    """Bad command-line input or data file: exit 2 with this message."""


class NetworkForbiddenError(RuntimeError):
    """Something tried to open a socket during a backtest."""


@dataclass(slots=True)
class BacktestSpec:
    """What to backtest. Paths are files of one recording (one stream)."""

    strategy: str
    data: list[Path]
    config: Path | None = None
    params: dict[str, Any] = field(default_factory=dict)
    market: str | None = None
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None
    from_ns: int | None = None
    to_ns: int | None = None
    on_bad_line: OnBadLine = "raise"
    feed_latency: str = "recorded"  # recorded | constant
    feed_latency_ms: float = 1.0  # base (recorded) or the whole latency (constant)
    journal: Path | None = None
    strategy_dirs: list[Path] | None = None
    plugin_dirs: list[Path] | None = None
    # Sim venue settings over the config's (maker_fee_bps, order_latency_ms ...).
    venue_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class BacktestResult:
    document: dict[str, Any]
    recorder: BacktestRecorder | None
    runtime: Runtime | None
    error: BaseException | None = None
    error_text: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class DataInfo:
    format: str
    market: str
    symbol: str
    tick_size: Decimal | None
    lot_size: Decimal | None


def describe_data(paths: list[Path], market: str | None) -> DataInfo:
    """Format, market and symbol of a recording (and tick/lot if it says)."""
    from host.marketdata.recording import recording_header
    from host.marketdata.replay import detect

    for path in paths:
        if not path.is_file():
            raise BacktestInputError(f"{path}: no such file")
    try:
        detected = detect(paths[0])
    except ValueError as error:
        raise BacktestInputError(str(error)) from None
    if detected.format == "mmhost":
        header = recording_header(paths[0]) or {}
        symbols = header.get("symbols") or []
        symbol = str(symbols[0]) if symbols else None
        if symbol is None:
            raise BacktestInputError(f"{paths[0]}: the recording header names no symbol")
        tick = header.get("tick_size")
        lot = header.get("lot_size")
        return DataInfo(
            "mmhost",
            market or str(header.get("venue") or "bybit-linear"),
            symbol.upper(),
            Decimal(str(tick)) if tick else None,
            Decimal(str(lot)) if lot else None,
        )
    if detected.symbol is None:
        raise BacktestInputError(f"{paths[0]}: cannot tell the symbol from the data")
    default_market = detected.market or "bybit-linear"
    return DataInfo(detected.format, market or default_market, detected.symbol, None, None)


def resolve_instrument(info: DataInfo, tick: Decimal | None, lot: Decimal | None) -> Instrument:
    """The table's instrument, or one made of --tick/--lot (or the header's)."""
    tick = tick or info.tick_size
    lot = lot or info.lot_size
    try:
        known: Instrument | None = lookup(info.market, info.symbol)
    except UnknownInstrumentError as error:
        known = None
        if tick is None or lot is None:
            raise BacktestInputError(f"{error} Or pass --tick and --lot.") from None
    if (
        known is not None
        and (tick is None or tick == known.tick_size)
        and (lot is None or lot == known.lot_size)
    ):
        return known
    base = info.symbol.removesuffix("USDT") if info.symbol.endswith("USDT") else ""
    instrument = Instrument(
        venue=info.market,
        symbol=info.symbol,
        tick_size=tick if tick is not None else known.tick_size,  # type: ignore[union-attr]
        lot_size=lot if lot is not None else known.lot_size,  # type: ignore[union-attr]
        base=base,
        category=info.market.partition("-")[2] or "linear",
    )
    # The runtime looks instruments up in the table; a backtest process owns it.
    register(instrument)
    return instrument


def backtest_config(spec: BacktestSpec, info: DataInfo) -> Config:
    """A config with one sim venue on the data, whatever ``spec.config`` says
    about venues: fees, latencies and queue model are taken from its first
    venue, the strategy's params from its entry of the same name."""
    base: Config | None = load_config(spec.config) if spec.config is not None else None
    venue: dict[str, Any] = {
        "name": info.market,
        "kind": "sim",
        "market": info.market,
        "symbols": [info.symbol],
        "data": [str(path.resolve()) for path in spec.data],
    }
    params: dict[str, Any] = {}
    host: dict[str, Any] = {"plugin_dirs": [], "strategy_dirs": ["strategies"]}
    risk: dict[str, Any] = {}
    if base is not None:
        if base.venues:
            first = base.venues[0]
            for key in (
                "maker_fee_bps",
                "taker_fee_bps",
                "order_latency_ms",
                "response_latency_ms",
                "queue_model",
                "balance_quote",
            ):
                venue[key] = getattr(first, key)
        for strategy in base.strategies:
            if strategy.name == spec.strategy:
                params = dict(strategy.params)
                break
        root = base.source.parent if base.source is not None else Path.cwd()
        host["plugin_dirs"] = [str(root / p) for p in base.host.plugin_dirs]
        host["strategy_dirs"] = [str(root / p) for p in base.host.strategy_dirs]
        host["desk"] = base.host.desk
        risk = base.risk.model_dump(exclude={"kill_file"})
    if spec.strategy_dirs is not None:
        host["strategy_dirs"] = [str(p) for p in spec.strategy_dirs]
    if spec.plugin_dirs is not None:
        host["plugin_dirs"] = [str(p) for p in spec.plugin_dirs]
    params.update(spec.params)
    venue.update(spec.venue_settings)
    document: dict[str, Any] = {
        "host": {
            **host,
            "mode": "backtest",
            "hot_reload": False,
            "journal": str(spec.journal) if spec.journal is not None else "",
        },
        "venues": [venue],
        "strategies": [
            {"name": spec.strategy, "venue": info.market, "symbol": info.symbol, "params": params}
        ],
    }
    if risk:
        document["risk"] = risk
    # Without a config file the values come from the command line; relative
    # paths then resolve against the working directory (the source's parent).
    source = spec.config if spec.config is not None else Path("(command line)")
    return parse_config(_jsonable(document), source=source)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def open_market(
    paths: list[Path],
    info: DataInfo,
    instrument: Instrument,
    on_bad_line: OnBadLine,
    stats: ReaderStats,
) -> Iterator[BookMessage | Trade]:
    """Book messages and trades of the recording, named for the sim venue."""
    if info.format == "mmhost":
        from host.marketdata.recording import read_recording

        raw: Iterator[object] = read_recording(
            paths,
            on_bad_line=on_bad_line,
            instrument_for=lambda _market, _symbol: instrument,
            stats=stats,
        )
    else:
        from host.marketdata.replay import open_events

        raw = open_events(
            paths,
            market=info.market,
            symbol=info.symbol,
            on_bad_line=on_bad_line,
            stats=stats,
            instrument=instrument,
        )
    # Tickers and other frames the sim venue does not match on stay out.
    return (event for event in raw if isinstance(event, BookMessage | Trade))  # type: ignore[misc]


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Refuse every outgoing connection while a backtest runs."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise NetworkForbiddenError("a backtest never opens a socket")

    saved = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection)
    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.create_connection = saved  # type: ignore[method-assign]


def run_backtest(
    spec: BacktestSpec,
    *,
    on_progress: Callable[[ReplayProgress, Runtime], None] | None = None,
    progress_every: int = 20_000,
    events: Iterator[BookMessage | Trade] | None = None,
    feed_latency_model: Any = None,
    plugins: list[object] | None = None,
) -> BacktestResult:
    """Run one backtest; errors in the data or the strategy end up in the result.

    ``events`` replaces reading ``spec.data`` (a pre-decoded cache of it);
    ``feed_latency_model`` replaces the one ``spec`` names; ``plugins`` are
    registered before the host is built (e.g. a plugin offering a strategy).

    :raises BacktestInputError: missing file, unknown format or instrument.
    :raises ConfigError: a bad config file or strategy parameter.
    """
    if not spec.data:
        raise BacktestInputError("no data: pass --data FILE (several files are one stream)")
    info = describe_data(spec.data, spec.market)
    instrument = resolve_instrument(info, spec.tick_size, spec.lot_size)
    config = backtest_config(spec, info)
    plugin_host = build_plugin_host(
        [Path(p) for p in config.host.plugin_dirs],
        [Path(p) for p in config.host.strategy_dirs],
    )
    for index, plugin in enumerate(plugins or ()):
        plugins_host_register(plugin_host, plugin, index)
    runtime = build_runtime(config, plugin_host, raise_strategy_errors=True)
    engine = runtime.engine
    engine.oms.run_token = BACKTEST_RUN_TOKEN
    venue = runtime.sim_venues[info.market]
    venue_instrument = replace(instrument, venue=info.market)
    reader_stats = ReaderStats()
    feed = (
        events
        if events is not None
        else open_market(spec.data, info, venue_instrument, spec.on_bad_line, reader_stats)
    )
    recorder = BacktestRecorder(engine, runtime.scheduler, venue, info.symbol).attach()
    timing = FeedTimingStats()
    error: BaseException | None = None
    error_text = ""
    status = "ok"
    wall_start = time.perf_counter()
    with no_network():
        try:
            model: Any = feed_latency_model
            market_events = feed
            if model is None:  # the offset estimate is needed only to build one
                offset_ns, market_events = estimate_clock_offset_ns(feed)
                if spec.feed_latency == "constant":
                    model = ConstantFeedLatency(int(spec.feed_latency_ms * 1e6), offset_ns)
                else:
                    model = RecordedFeedLatency(offset_ns, int(spec.feed_latency_ms * 1e6))
            run_replay(
                engine,
                market_events,
                runtime.scheduler,
                runtime.sim_venues,
                feed_latency=model,
                timing_stats=timing,
                start_trading_ns=spec.from_ns,
                end_ns=spec.to_ns,
                on_progress=(lambda p: on_progress(p, runtime)) if on_progress else None,
                progress_every=progress_every,
            )
        except StrategyError as strategy_error:
            error, status = strategy_error, "strategy_error"
            cause = strategy_error.__cause__ or strategy_error
            error_text = f"{strategy_error}\n" + "".join(
                traceback.format_exception(type(cause), cause, cause.__traceback__)
            )
        except MarketDataError as data_error:
            error, status = data_error, "data_error"
            error_text = str(data_error)
            _finish(runtime)
        finally:
            recorder.detach()
    wall_s = time.perf_counter() - wall_start
    if error is None and engine.stats.events == 0:
        status = "no_events"
        error = BacktestInputError(
            f"no market events for {info.symbol} in {', '.join(map(str, spec.data))}"
            + (" in the --from/--to window" if spec.from_ns or spec.to_ns else "")
        )
        error_text = str(error)
    document = summary_document(runtime, recorder, timing, reader_stats, info, spec)
    document["status"] = status
    if error_text:
        document["error"] = (
            error_text.strip().splitlines()[-1] if status == "strategy_error" else error_text
        )
    document["timing"] = {"wall_s": round(wall_s, 3)}
    return BacktestResult(document, recorder, runtime, error, error_text)


def plugins_host_register(plugin_host: Any, plugin: object, index: int) -> None:
    plugin_host.register(
        plugin, name=f"backtest-plugin-{index}", source="backtest", location="backtest"
    )


def _finish(runtime: Runtime) -> None:
    """After a data error mid-run: the driver's own clean-up already ran; make sure."""
    engine = runtime.engine
    if engine.running:
        engine.stop()
    engine.shutdown()


def summary_document(
    runtime: Runtime,
    recorder: BacktestRecorder,
    timing: FeedTimingStats,
    reader_stats: ReaderStats,
    info: DataInfo,
    spec: BacktestSpec,
) -> dict[str, Any]:
    engine = runtime.engine
    document = engine.summary().to_json()
    document.update(recorder.metrics())
    venue_config = runtime.config.venues[0]
    document["backtest"] = {
        "strategy": spec.strategy,
        "symbol": info.symbol,
        "market": info.market,
        "format": info.format,
        "files": [str(p) for p in spec.data],
        "tick_size": str(recorder.instrument.tick_size),
        "lot_size": str(recorder.instrument.lot_size),
        "maker_fee_bps": str(venue_config.maker_fee_bps),
        "taker_fee_bps": str(venue_config.taker_fee_bps),
        "order_latency_ms": venue_config.order_latency_ms,
        "response_latency_ms": venue_config.response_latency_ms,
        "queue_model": venue_config.queue_model,
        "feed_latency_model": timing.model,
        "feed_latency_ms": spec.feed_latency_ms,
        "from_ns": spec.from_ns,
        "to_ns": spec.to_ns,
    }
    document["feed_timing"] = timing.as_dict()
    document["reader"] = reader_stats.as_dict()
    return document


__all__ = [
    "BacktestInputError",
    "BacktestResult",
    "BacktestSpec",
    "ConfigError",
    "run_backtest",
]
