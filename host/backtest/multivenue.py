"""Backtests on one recording per venue (``--data VENUE=FILE --data VENUE=FILE``).

Each venue is a sim venue replaying its own recording with its own fees and
latency; the strategy trades the first venue and watches the others (its
config ``watch``). The runs merge the recordings in receive order on one
simulated clock. The summary is the engine's, with the strategy's own
statistics (e.g. ``opportunities_seen``) lifted to the top level, and the
report lists what the strategy chose to expose in ``on_save()``.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.backtest.runner import merge_feeds, run_replay
from host.backtest.session import BacktestInputError, describe_data, no_network
from host.config import Config, load_config, parse_config
from host.engine import StrategyError
from host.plugins import build_plugin_host
from host.runtime import Runtime, build_runtime

MAX_REPORT_ROWS = 500


@dataclass(slots=True)
class VenueData:
    venue: str
    paths: list[Path]


def parse_venue_data(items: list[str]) -> list[VenueData] | None:
    """``["binance=a.csv", "huobi=b.csv", "binance=c.csv"]`` grouped by venue, in
    first-seen order; None when no item names a venue (the one-venue form)."""
    if not any("=" in item for item in items):
        return None
    grouped: dict[str, list[Path]] = {}
    for item in items:
        venue, separator, path = item.partition("=")
        if not separator or not venue or not path:
            raise BacktestInputError(
                f"--data {item!r}: name the venue of every file (VENUE=FILE) when one is named"
            )
        grouped.setdefault(venue, []).append(Path(path))
    if len(grouped) < 2:
        raise BacktestInputError("--data VENUE=FILE: a multi-venue backtest needs two venues")
    return [VenueData(venue, paths) for venue, paths in grouped.items()]


def multi_venue_config(
    strategy: str,
    venues: list[VenueData],
    params: dict[str, Any],
    config_path: Path | None,
    market: dict[str, str],
) -> Config:
    base = load_config(config_path) if config_path is not None else None
    venue_entries = []
    instruments = []
    for item in venues:
        for path in item.paths:
            if not path.is_file():
                raise BacktestInputError(f"--data {item.venue}={path}: no such file")
        info = describe_data(item.paths, market.get(item.venue))
        entry: dict[str, Any] = {
            "name": item.venue,
            "kind": "sim",
            "market": info.market,
            "symbols": [info.symbol],
            "data": [str(p.resolve()) for p in item.paths],
        }
        if base is not None:
            configured = next((v for v in base.venues if v.name == item.venue), None)
            if configured is not None:
                for key in (
                    "maker_fee_bps",
                    "taker_fee_bps",
                    "order_latency_ms",
                    "response_latency_ms",
                    "queue_model",
                    "balance_quote",
                ):
                    entry[key] = getattr(configured, key)
        venue_entries.append(entry)
        instruments.append((item.venue, info.symbol))
    strategy_params = dict(params)
    host: dict[str, Any] = {
        "mode": "backtest",
        "hot_reload": False,
        "journal": "",
        "plugin_dirs": [],
        "strategy_dirs": ["strategies"],
    }
    if base is not None:
        for entry in base.strategies:
            if entry.name == strategy:
                strategy_params = {**entry.params, **params}
                break
        root = base.source.parent if base.source is not None else Path.cwd()
        host["plugin_dirs"] = [str(root / p) for p in base.host.plugin_dirs]
        host["strategy_dirs"] = [str(root / p) for p in base.host.strategy_dirs]
    (own_venue, own_symbol), *watched = instruments
    document = {
        "host": host,
        "venues": venue_entries,
        "strategies": [
            {
                "name": strategy,
                "venue": own_venue,
                "symbol": own_symbol,
                "params": strategy_params,
                "watch": [f"{venue}:{symbol}" for venue, symbol in watched],
            }
        ],
        "risk": {"kill_file": "", "max_order_quote": "1000000", "max_position_quote": "10000000"},
    }
    if base is not None:
        document["risk"] = {**json.loads(base.risk.model_dump_json()), "kill_file": ""}
    return parse_config(document, source=config_path or Path("(command line)"))


def run_multi_venue(config: Config) -> tuple[dict[str, Any], Runtime, str]:
    """Run it; returns the summary document, the runtime and an error text."""
    plugins = build_plugin_host(
        [Path(p) for p in config.host.plugin_dirs], [Path(p) for p in config.host.strategy_dirs]
    )
    runtime = build_runtime(config, plugins, raise_strategy_errors=True)
    runtime.engine.oms.run_token = "bt"
    error_text = ""
    with no_network():
        try:
            run_replay(
                runtime.engine, merge_feeds(runtime.feeds), runtime.scheduler, runtime.sim_venues
            )
        except StrategyError as error:
            error_text = f"{error}: {error.__cause__!r}"
    document = runtime.engine.summary().to_json()
    strategy_id = config.strategies[0].instance_id
    prefix = f"{strategy_id}."
    for name, value in list(document["metrics"].items()):
        if name.startswith(prefix):
            document[name[len(prefix) :]] = value
    document["venues"] = [v.name for v in config.venues]
    document["status"] = "strategy_error" if error_text else "ok"
    if error_text:
        document["error"] = error_text
    return document, runtime, error_text


def write_multi_venue_report(path: Path, document: dict[str, Any], runtime: Runtime) -> None:
    """A self-contained HTML page: the summary and what the strategy recorded."""
    slot = next(iter(runtime.engine.slots.values()))
    state = slot.strategy.on_save()
    rows = []
    for key, value in document.items():
        if isinstance(value, str | int | float) or value is None:
            rows.append(f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td></tr>")
    sections = []
    for key, value in state.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            columns = list(value[0])
            head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
            body = "".join(
                "<tr>"
                + "".join(f"<td>{html.escape(str(item.get(c, '')))}</td>" for c in columns)
                + "</tr>"
                for item in value[:MAX_REPORT_ROWS]
            )
            sections.append(f"<h2>{html.escape(key)}</h2><table><tr>{head}</tr>{body}</table>")
        elif isinstance(value, dict):
            body = "".join(
                f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                for k, v in value.items()
            )
            sections.append(f"<h2>{html.escape(key)}</h2><table>{body}</table>")
    positions = "".join(
        f"<tr><td>{html.escape(p['venue'])}</td><td>{html.escape(p['symbol'])}</td>"
        f"<td>{p['qty']}</td><td>{p['realized_pnl']}</td><td>{p['fees']}</td></tr>"
        for p in document["positions"]
    )
    page = f"""<!doctype html><meta charset="utf-8"><title>mmhost multi-venue backtest</title>
<style>body{{font:14px sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}</style>
<h1>{html.escape(slot.strategy.name)} on {html.escape(", ".join(document["venues"]))}</h1>
<table>{"".join(rows)}</table>
<h2>positions per venue</h2><table><tr><th>venue</th><th>symbol</th><th>qty</th>
<th>realized</th><th>fees</th></tr>{positions}</table>
{"".join(sections)}
"""
    path.write_text(page, encoding="utf-8")
