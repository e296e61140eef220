"""Every analyzer of a plugin folder replayed over a recording, and what each said.

``run_analyzers`` reads a recording of any supported format (the symbol, tick
and lot come from the data as in ``mmhost backtest``: ``describe_data``,
``resolve_instrument``, ``open_market``), loads the plugin files with the real
plugin loader into a bare ``Engine`` (no venue, no strategy, no socket) and
feeds it each book message and trade on a SimClock set to the event's receive
time, as ``host.backtest.detection`` does. No strategy trades, so analyzers of
our own fills (``toxic_flow``'s markouts) have nothing to measure.

What is kept, per signal, is every write to the instrument's signal board
(``SignalBoard.set``), attributed to the plugin whose code made it:

* ``updates`` (all writes), ``non_finite`` (NaN or infinite values; they are
  left out of the figures below), ``min``, ``max``, ``mean``, ``last``;
* ``p5``, ``p50``, ``p95``: percentiles of the values written (linear
  interpolation between order statistics). Exact up to ``SAMPLE_LIMIT`` finite
  writes; past that an evenly strided sample (every 2nd, then 4th ... write)
  of at most ``SAMPLE_LIMIT`` values, so memory stays bounded on long files.

The statistics are per update, not per unit of time: a signal written on
every book message weighs busy seconds more than quiet ones.

A plugin offering ``events(venue, symbol)`` (``spoofing``) has its events
counted by ``kind``; one offering ``walls(venue, symbol)``
(``liquidity_walls``) has the walls found at the end of the data listed.
A plugin implementing neither market-data hook (``mmhost_book_updated``,
``mmhost_trade``), such as the ``inventory_skew`` adjuster, is not an
analyzer: it is loaded but only named.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from host.strategy import SignalBoard

PROJECT_PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
SAMPLE_LIMIT = 100_000
# The hooks through which an analyzer sees the market.
MARKET_HOOKS = frozenset({"mmhost_book_updated", "mmhost_trade"})
NS_PER_HOUR = 3_600_000_000_000


class SignalSeries:
    """Running figures of one signal's writes (see the module docstring)."""

    __slots__ = (
        "finite",
        "last",
        "maximum",
        "minimum",
        "name",
        "non_finite",
        "sample",
        "stride",
        "total",
        "updates",
        "writer",
    )

    def __init__(self, name: str, writer: str) -> None:
        self.name = name
        self.writer = writer
        self.updates = 0
        self.non_finite = 0
        self.finite = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.last = math.nan
        self.sample = array("d")
        self.stride = 1  # every stride-th finite write is sampled

    def add(self, value: float) -> None:
        self.updates += 1
        self.last = value
        if not math.isfinite(value):
            self.non_finite += 1
            return
        self.finite += 1
        self.total += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        if self.finite % self.stride == 0:
            sample = self.sample
            sample.append(value)
            if len(sample) >= SAMPLE_LIMIT:
                # Keep writes stride*2, stride*4 ...: still evenly spread over the run.
                self.sample = sample[1::2]
                self.stride *= 2

    def summary(self) -> dict[str, Any]:
        """Figures as JSON-ready numbers; None where there is no finite value."""
        ordered = sorted(self.sample)
        finite = self.finite > 0
        return {
            "updates": self.updates,
            "non_finite": self.non_finite,
            "min": _short(self.minimum) if finite else None,
            "max": _short(self.maximum) if finite else None,
            "mean": _short(self.total / self.finite) if finite else None,
            "last": _short(self.last) if math.isfinite(self.last) else None,
            "p5": _short(percentile(ordered, 0.05)),
            "p50": _short(percentile(ordered, 0.50)),
            "p95": _short(percentile(ordered, 0.95)),
        }


def _short(value: float | None) -> float | None:
    """Ten significant digits: no float noise (3.8409775374999997) in the JSON."""
    return None if value is None else float(f"{value:.10g}")


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile of sorted values, interpolated linearly; None if empty."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class RecordingSignalBoard(SignalBoard):
    """A SignalBoard that also keeps a ``SignalSeries`` of each signal's writes.

    The writer of a signal is found once, at its first write, from the
    calling frame's module (every bundled analyzer calls ``set`` from its own
    code); ``writer_of`` maps a module's globals to a plugin name.
    """

    __slots__ = ("series", "writer_of")

    def __init__(self, writer_of: Callable[[Mapping[str, Any]], str]) -> None:
        super().__init__()
        self.series: dict[str, SignalSeries] = {}
        self.writer_of = writer_of

    def set(self, name: str, value: float, ts_ns: int) -> None:
        SignalBoard.set(self, name, value, ts_ns)
        series = self.series.get(name)
        if series is None:
            writer = self.writer_of(sys._getframe(1).f_globals)
            series = self.series[name] = SignalSeries(name, writer)
        series.add(value)


class AnalysisInputError(ValueError):
    """A missing, unreadable or unrecognised recording, or bad settings: exit 2."""


class AnalysisSettingsError(AnalysisInputError):
    """A plugin refused its ``[plugins.<name>]`` table."""


@dataclass(slots=True)
class AnalysisRun:
    """What the analyzers said about one recording."""

    files: list[Path]
    format: str
    market: str
    symbol: str
    book_messages: int
    book_rejected: int
    trades: int
    first_ts_local_ns: int
    last_ts_local_ns: int
    analyzers: dict[str, dict[str, Any]]  # name -> signals / events / walls
    other_plugins: list[str]
    plugin_failures: list[dict[str, str]]
    wall_s: float
    plugin_modules: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def duration_s(self) -> float:
        return max(0, self.last_ts_local_ns - self.first_ts_local_ns) / 1e9

    def as_dict(self) -> dict[str, Any]:
        """One JSON-ready document (``mmhost analyze --json``)."""
        return {
            "files": [str(path) for path in self.files],
            "format": self.format,
            "market": self.market,
            "symbol": self.symbol,
            "book_messages": self.book_messages,
            "book_rejected": self.book_rejected,
            "trades": self.trades,
            "first_ts_local_ns": self.first_ts_local_ns,
            "last_ts_local_ns": self.last_ts_local_ns,
            "duration_s": round(self.duration_s, 3),
            "analyzers": self.analyzers,
            "other_plugins": self.other_plugins,
            "plugin_failures": self.plugin_failures,
            "timing": {"wall_s": round(self.wall_s, 3)},
        }


def plugin_files(folder: Path) -> list[Path]:
    """The files ``PluginHost.load_folder`` would load, in its order."""
    return [path for path in sorted(folder.glob("*.py")) if not path.name.startswith("_")]


def run_analyzers(
    paths: Sequence[Path],
    *,
    plugins: Iterable[Path] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    market: str | None = None,
    tick_size: Decimal | None = None,
    lot_size: Decimal | None = None,
    on_bad_line: str = "raise",
) -> AnalysisRun:
    """Replay ``paths`` (one stream, one symbol) through the plugin files.

    :param plugins: plugin files (default: every file of the project's plugins/).
    :param settings: ``[plugins.<name>]`` tables by plugin name.
    :raises AnalysisInputError: a missing or unrecognised file, an unknown
        instrument, a corrupt line (``on_bad_line="raise"``);
        ``AnalysisSettingsError`` when a plugin refuses its settings.
    """
    from host.backtest.session import (
        BacktestInputError,
        describe_data,
        open_market,
        resolve_instrument,
    )
    from host.clock import Scheduler, SimClock
    from host.config import ConfigError, parse_config
    from host.engine import Engine
    from host.marketdata.common import MarketDataError, ReaderStats
    from host.plugins import PluginHost

    paths = [Path(path) for path in paths]
    if not paths:
        raise AnalysisInputError("no data: pass --data FILE (several files are one stream)")
    files = list(plugins) if plugins is not None else plugin_files(PROJECT_PLUGINS)
    try:
        info = describe_data(paths, market)
        instrument = resolve_instrument(info, tick_size, lot_size)
    except BacktestInputError as error:
        raise AnalysisInputError(str(error)) from None
    venue = info.market
    try:
        config = parse_config(
            {
                "host": {
                    "mode": "backtest",
                    "desk": "analyze",
                    "plugin_dirs": [],
                    "strategy_dirs": [],
                    "journal": "",
                },
                "venues": [
                    {
                        "name": venue,
                        "kind": "sim",
                        "market": venue,
                        "symbols": [info.symbol],
                        "data": [str(path) for path in paths],
                    }
                ],
                "strategies": [],
                "plugins": {name: dict(table) for name, table in (settings or {}).items()},
            },
            source=paths[0],
        )
    except ConfigError as error:
        raise AnalysisSettingsError(str(error)) from None
    host = PluginHost()
    for path in files:
        host.load_file(Path(path), strategies=False)
    modules = {
        record.name: host.pm.get_plugin(record.name) for record in host.records if not record.error
    }
    module_names = {id(vars(module)): name for name, module in modules.items()}

    def writer_of(module_globals: Mapping[str, Any]) -> str:
        name = module_names.get(id(module_globals))
        return name or str(module_globals.get("__name__", "?")).rpartition(".")[2]

    wall_start = time.perf_counter()
    clock = SimClock(0)
    engine = Engine(config, host, clock, Scheduler(clock))
    state = engine.add_instrument(instrument, venue_name=venue, symbol=info.symbol)
    # Before start: analyzers may keep a reference to the board from their first call.
    board = RecordingSignalBoard(writer_of)
    state.signals = board
    state.ctx.signals = board
    reader_stats = ReaderStats()
    try:
        try:
            engine.start()
        except (ConfigError, ValueError) as error:
            # A plugin refused its [plugins.<name>] table in mmhost_startup (the
            # bundled analyzers raise their own ValueError subclass, the host ConfigError).
            raise AnalysisSettingsError(str(error)) from None
        for event in open_market(paths, info, instrument, on_bad_line, reader_stats):  # type: ignore[arg-type]
            clock.advance_to(max(clock.now_ns(), event.ts_local_ns))
            engine.on_market(event)
    except MarketDataError as error:
        raise AnalysisInputError(str(error)) from None
    finally:
        # Start-up may freeze the collector's view of the host; shutdown thaws it.
        engine.stop()
        engine.shutdown()
    wall_s = time.perf_counter() - wall_start
    stats = engine.stats
    analyzers: dict[str, dict[str, Any]] = {}
    other: list[str] = []
    for record in host.records:
        if record.error:
            continue
        if not MARKET_HOOKS & set(record.hooks):
            other.append(record.name)
            continue
        analyzers[record.name] = {"signals": {}}
    for name in sorted(board.series):
        series = board.series[name]
        entry = analyzers.setdefault(series.writer, {"signals": {}})
        entry["signals"][name] = series.summary()
    hours = max(0, stats.last_event_ns - stats.first_event_ns) / NS_PER_HOUR
    for name, module in modules.items():
        if name not in analyzers:
            continue
        events = getattr(module, "events", None)
        if callable(events):
            found = list(events(venue, info.symbol))
            analyzers[name]["events"] = {
                "total": len(found),
                "by_kind": dict(sorted(Counter(str(e.kind) for e in found).items())),
                "per_hour": round(len(found) / hours, 3) if hours else None,
            }
        walls = getattr(module, "walls", None)
        if callable(walls):
            # Ages as of the last event, where the plugin can tell them.
            takes_time = "now_ns" in inspect.signature(walls).parameters
            found_walls = (
                walls(venue, info.symbol, now_ns=stats.last_event_ns)
                if takes_time
                else walls(venue, info.symbol)
            )
            analyzers[name]["walls"] = [wall_document(wall, instrument) for wall in found_walls]
    return AnalysisRun(
        files=paths,
        format=info.format,
        market=venue,
        symbol=info.symbol,
        book_messages=stats.book_messages,
        book_rejected=stats.book_rejected,
        trades=stats.trades,
        first_ts_local_ns=stats.first_event_ns,
        last_ts_local_ns=stats.last_event_ns,
        analyzers=analyzers,
        other_plugins=other,
        plugin_failures=[
            {"name": record.name, "location": record.location, "error": record.error or ""}
            for record in host.failures
        ],
        wall_s=wall_s,
        plugin_modules=modules,
    )


def wall_document(wall: Any, instrument: Any) -> dict[str, Any]:
    """A ``liquidity_walls.Wall`` as JSON; price and size also as decimals."""
    from host.models import Side

    return {
        "side": "Buy" if wall.side == Side.BUY else "Sell",
        "price": instrument.ticks_to_price(wall.price_ticks),
        "price_ticks": wall.price_ticks,
        "size": instrument.lots_to_qty(wall.size_lots),
        "size_lots": wall.size_lots,
        "distance_ticks": wall.distance_ticks,
        "size_to_median": round(float(wall.size_to_median), 3),
        "age_s": round(float(wall.age_s), 3),
    }
