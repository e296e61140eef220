"""Strategies side by side: one backtest per strategy and market, one table per market.

``run_comparison(CompareSpec(...), directory)`` backtests every strategy with
its default parameters (sizes in quote currency) on the recording and on a
synthetic market of each regime (``host.backtest.synthetic``, generated into
``directory`` with the spec's seed and duration), each through
``run_backtest`` exactly as ``mmhost backtest`` would. ``render_markdown``,
``render_html`` and ``comparison_document`` turn the result into
docs/strategies.md, the HTML report and the ``--json`` document.

Determinism: every input is fixed by the spec (seed, duration, files), the
backtests are deterministic, and the rendered files hold no wall time, no
date and no temporary path, so the same command gives the same bytes.

Each market is decoded once into an event cache (``host.backtest.eventcache``)
and replayed from it for every strategy: the same events as reading the
files, without paying the JSON decoding once per strategy.
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from host.backtest.eventcache import read_event_cache, write_event_cache
from host.backtest.report import STYLE
from host.backtest.session import (
    BacktestInputError,
    BacktestSpec,
    describe_data,
    open_market,
    resolve_instrument,
    run_backtest,
)
from host.backtest.synthetic import REGIMES, SynthSpec, write_synthetic
from host.marketdata.common import ReaderStats

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA: tuple[Path, ...] = (
    PROJECT_ROOT / "host/data/binance_usdm/btcusdt_20240718.gz",
    PROJECT_ROOT / "host/data/binance_usdm/btcusdt_20240719.gz",
)
DEFAULT_REGIMES: tuple[str, ...] = ("quiet", "trending", "volatile")
DEFAULT_DURATION_S = 300.0
DEFAULT_SEED = 0
DEFAULT_OUT = Path("docs/strategies.md")
QUOTE_CURRENCIES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "BTC", "ETH")

# What the JSON document keeps of each backtest summary: deterministic fields
# only (no ``timing``), money as the summary's decimal strings.
RESULT_KEYS: tuple[str, ...] = (
    "status",
    "error",
    "events",
    "orders",
    "cancels",
    "fills",
    "maker_fills",
    "taker_fills",
    "maker_share",
    "volume",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "net_pnl",
    "max_drawdown",
    "sharpe_1min_annualized",
    "sortino_1min_annualized",
    "spread_captured_bps",
    "markout_1s_bps",
    "markout_10s_bps",
    "markout_60s_bps",
    "markout_pending",
    "fill_ratio",
    "order_to_trade_ratio",
    "quote_uptime",
    "inventory_final",
)


@dataclass(frozen=True, slots=True)
class CompareSpec:
    """What to compare. ``data`` is one recording (its files are one stream)."""

    strategies: tuple[str, ...]
    data: tuple[Path, ...] = DEFAULT_DATA
    regimes: tuple[str, ...] = DEFAULT_REGIMES
    duration_s: float = DEFAULT_DURATION_S
    seed: int = DEFAULT_SEED


@dataclass(frozen=True, slots=True)
class Market:
    """One market the strategies run on: the recording or a synthetic regime."""

    name: str  # "recording" or "synthetic-<regime>"
    files: tuple[Path, ...]
    regime: str | None = None


@dataclass(slots=True)
class MarketResults:
    market: Market
    title: str = ""
    symbol: str = ""
    venue: str = ""
    events: int = 0
    market_s: float = 0.0
    # strategy name -> the kept fields of its backtest summary (RESULT_KEYS)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class Comparison:
    spec: CompareSpec
    markets: list[MarketResults]

    @property
    def ok(self) -> bool:
        return all(
            row.get("status") == "ok" for market in self.markets for row in market.results.values()
        )


# -- running -------------------------------------------------------------------------------


def display_path(path: Path) -> str:
    """A path as the docs show it: relative to the project when inside it."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(PROJECT_ROOT):
        return resolved.relative_to(PROJECT_ROOT).as_posix()
    return str(path)


def command_line(spec: CompareSpec, out: Path | None) -> str:
    """The canonical command that produces ``out`` (defaults spelled out)."""
    parts = ["mmhost", "compare", "--strategies", ",".join(spec.strategies)]
    if spec.data:
        parts += ["--data", *(display_path(path) for path in spec.data)]
    parts += ["--regimes", ",".join(spec.regimes)]
    parts += ["--duration", f"{spec.duration_s:g}", "--seed", str(spec.seed)]
    if out is not None:
        parts += ["--out", display_path(out)]
    return shlex.join(parts)


def prepare_markets(spec: CompareSpec, directory: Path) -> list[Market]:
    """The recording (if any) and one synthetic file per regime, written into ``directory``.

    :raises BacktestInputError: an unknown regime or a bad duration.
    """
    markets: list[Market] = []
    if spec.data:
        markets.append(Market("recording", tuple(spec.data)))
    for regime in spec.regimes:
        path = directory / f"synthetic-{regime}.gz"
        try:
            write_synthetic(
                path, SynthSpec(seed=spec.seed, duration_s=spec.duration_s, regime=regime)
            )
        except ValueError as error:
            raise BacktestInputError(f"--regimes {regime}: {error}") from None
        markets.append(Market(f"synthetic-{regime}", (path,), regime))
    return markets


def cache_market(market: Market, directory: Path) -> Path:
    """Decode the market's files once into an event cache in ``directory``.

    :raises BacktestInputError: missing file, unknown format or instrument.
    """
    files = list(market.files)
    info = describe_data(files, None)
    instrument = resolve_instrument(info, None, None)
    venue_instrument = replace(instrument, venue=info.market)
    path = directory / f"{market.name}.events"
    write_event_cache(open_market(files, info, venue_instrument, "raise", ReaderStats()), path)
    return path


def run_comparison(
    spec: CompareSpec,
    directory: Path,
    *,
    on_result: Callable[[Market, str, dict[str, Any]], None] | None = None,
) -> Comparison:
    """Backtest every strategy of ``spec`` on every market; files go into ``directory``.

    ``on_result(market, strategy, document)`` is called after each backtest
    (for progress). A strategy that fails keeps its row with its status.

    :raises BacktestInputError: missing file, unknown format, instrument or regime.
    :raises ConfigError: a strategy whose default parameters do not validate.
    """
    comparison = Comparison(spec, [])
    for market in prepare_markets(spec, directory):
        cache = cache_market(market, directory)
        results = MarketResults(market)
        for strategy in spec.strategies:
            result = run_backtest(
                BacktestSpec(strategy=strategy, data=list(market.files)),
                events=read_event_cache(cache),
            )
            document = result.document
            if not results.results:
                describe_market(results, document)
            results.results[strategy] = {
                key: document.get(key) for key in RESULT_KEYS if key in document
            }
            if on_result is not None:
                on_result(market, strategy, document)
        cache.unlink()
        comparison.markets.append(results)
    return comparison


def describe_market(results: MarketResults, document: dict[str, Any]) -> None:
    """Fill in symbol, venue, events and title from a backtest summary of the market."""
    info = document.get("backtest", {})
    market = results.market
    results.symbol = str(info.get("symbol", ""))
    results.venue = str(info.get("market", ""))
    results.events = int(document.get("events") or 0)
    first, last = document.get("first_event_ns"), document.get("last_event_ns")
    results.market_s = (last - first) / 1e9 if first is not None and last is not None else 0.0
    if market.regime is None:
        names = ", ".join(path.name for path in market.files)
        results.title = f"Recording: {results.symbol} on {results.venue} ({names})"
    else:
        results.title = f"Synthetic {market.regime}: {results.symbol} on {results.venue}"


def synth_command(regime: str, spec: CompareSpec) -> str:
    return shlex.join(
        [
            "mmhost",
            "synth",
            "--regime",
            regime,
            "--seed",
            str(spec.seed),
            "--duration",
            f"{spec.duration_s:g}",
            "--out",
            f"{regime}.gz",
        ]
    )


# -- the JSON document ---------------------------------------------------------------------


def comparison_document(comparison: Comparison, command: str) -> dict[str, Any]:
    """``--json``: the spec, the markets, and one flat row per strategy and market."""
    spec = comparison.spec
    return {
        "command": command,
        "strategies": list(spec.strategies),
        "seed": spec.seed,
        "duration_s": spec.duration_s,
        "markets": [
            {
                "name": market.market.name,
                "title": market.title,
                "kind": "recording" if market.market.regime is None else "synthetic",
                "regime": market.market.regime,
                "files": [path.name for path in market.market.files],
                "symbol": market.symbol,
                "venue": market.venue,
                "events": market.events,
                "market_s": round(market.market_s, 3),
            }
            for market in comparison.markets
        ],
        "results": [
            {"strategy": strategy, "market": market.market.name, **row}
            for market in comparison.markets
            for strategy, row in market.results.items()
        ],
    }


# -- tables --------------------------------------------------------------------------------

MISSING = "-"


def format_money(value: str | float | None) -> str:
    """Quote currency to the cent: ``-15.43``."""
    if value is None:
        return MISSING
    return f"{Decimal(str(value)):.2f}"


def format_number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return MISSING
    return f"{value:,.{digits}f}"


def format_count(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def format_share(value: float | None) -> str:
    """A share as a percentage with one decimal: ``87.5%``."""
    return MISSING if value is None else f"{value * 100:.1f}%"


def quote_currency(symbol: str) -> str:
    return next((c for c in QUOTE_CURRENCIES if symbol.endswith(c)), "quote")


def table_columns(currency: str) -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    """Header and cell formatter of each column after the strategy name."""
    return [
        (f"net PnL ({currency})", lambda row: format_money(row.get("net_pnl"))),
        (f"fees ({currency})", lambda row: format_money(row.get("fees"))),
        ("Sharpe", lambda row: format_number(row.get("sharpe_1min_annualized"))),
        (f"max drawdown ({currency})", lambda row: format_money(row.get("max_drawdown"))),
        ("fills", lambda row: format_count(row.get("fills"))),
        ("maker share", lambda row: format_share(row.get("maker_share"))),
        ("markout 1 s (bps)", lambda row: format_number(row.get("markout_1s_bps"))),
        ("markout 10 s (bps)", lambda row: format_number(row.get("markout_10s_bps"))),
        ("markout 60 s (bps)", lambda row: format_number(row.get("markout_60s_bps"))),
        ("quote uptime", lambda row: format_share(row.get("quote_uptime"))),
    ]


def table_rows(market: MarketResults) -> tuple[list[str], list[list[str]]]:
    """The header and the cells of one market's table, a row per strategy."""
    columns = table_columns(quote_currency(market.symbol))
    header = ["strategy", *(title for title, _ in columns)]
    rows = []
    for strategy, row in market.results.items():
        name = strategy if row.get("status") == "ok" else f"{strategy} ({row.get('status')})"
        rows.append([name, *(cell(row) for _, cell in columns)])
    return header, rows


def market_caption(market: MarketResults, spec: CompareSpec) -> str:
    text = f"{market.events:,} market events over {market.market_s:,.1f} s."
    if market.market.regime is not None:
        synth = synth_command(market.market.regime, spec)
        text += f" Seed {spec.seed}, {spec.duration_s:g} s; the same file: `{synth}`."
    return text


def markdown_tables(comparison: Comparison) -> str:
    """The results part of docs/strategies.md (what the command prints)."""
    out: list[str] = []
    for market in comparison.markets:
        header, rows = table_rows(market)
        out.append(f"## {market.title}\n\n{market_caption(market, comparison.spec)}\n\n")
        out.append("| " + " | ".join(header) + " |\n")
        out.append("| --- |" + " ---: |" * (len(header) - 1) + "\n")
        for cells in rows:
            out.append("| " + " | ".join(cells) + " |\n")
        failed = [
            f"- `{strategy}`: {row.get('status')}: {row.get('error', '')}"
            for strategy, row in market.results.items()
            if row.get("status") != "ok"
        ]
        if failed:
            out.append("\n" + "\n".join(failed) + "\n")
        out.append("\n")
    return "".join(out)


GENERATED_NOTE = (
    "<!-- Generated by `{command}` (seed {seed}); do not edit by hand: run the command again. -->\n"
)

INTRODUCTION = """\
Every strategy with its default parameters (sizes in quote currency), one
`mmhost backtest` per strategy and market: a recording and a
synthetic market per regime (`mmhost synth`). The simulation is the sim
venue's defaults (fees, latencies, queue model: see docs/backtest.md).

Columns: PnL in the quote currency, net of fees (fees negative = rebates);
Sharpe of 1-minute equity changes, annualised (few minutes: noisy, `-` below
two); max drawdown of the equity curve; fills counted at our side, maker share
of the exchange fills; markouts are the mean over fills of
`side * (mid(t + h) - price) / price` in bps, positive when the market moved
our way; quote uptime is the share of samples with both our bid and our ask
live. Default parameters are not tuned: read the tables to compare
behaviour across regimes, not as a ranking of the models.
"""


def render_markdown(comparison: Comparison, command: str, parameters: str = "") -> str:
    """docs/strategies.md: header note, introduction, a table per market, parameters."""
    spec = comparison.spec
    parts = [
        GENERATED_NOTE.format(command=command, seed=spec.seed),
        "\n# Strategies compared\n\n",
        f"*Generated by `{command}`; do not edit by hand.*\n\n",
        INTRODUCTION,
        "\n",
        markdown_tables(comparison),
    ]
    if parameters:
        parts.append(parameters)
    return "".join(parts).rstrip("\n") + "\n"


def render_document(comparison: Comparison, out: Path, strategy_classes: dict[str, type]) -> str:
    """The whole Markdown file ``out`` as the command writes it (header names ``out``)."""
    command = command_line(comparison.spec, out)
    return render_markdown(comparison, command, parameters_markdown(strategy_classes))


def parameters_markdown(strategy_classes: dict[str, type]) -> str:
    """Each strategy's parameters: type, default, allowed range, meaning (from its model)."""
    out = ["## Default parameters\n"]
    for name, cls in strategy_classes.items():
        params = getattr(cls, "Params", None)
        fields = getattr(params, "model_fields", {}) or {}
        out.append(f"\n### `{name}`\n\n")
        if not fields:
            out.append("No parameters.\n")
            continue
        out.append("| key | type | default | range | meaning |\n| --- | --- | --- | --- | --- |\n")
        for key, info in fields.items():
            default = "required" if info.is_required() else _default_text(info.default)
            meaning = (info.description or "").replace("|", "\\|")
            out.append(
                f"| `{key}` | `{_type_text(info.annotation)}` | `{default}` | "
                f"{_range_text(info.metadata)} | {meaning} |\n"
            )
    return "".join(out)


def _default_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _type_text(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    # A bare "|" would end the Markdown table cell, even inside a code span.
    return (
        text.replace("typing.", "")
        .replace("decimal.", "")
        .replace("pathlib.", "")
        .replace("|", "\\|")
    )


def _range_text(metadata: list[Any]) -> str:
    bounds = []
    for item in metadata:
        for attribute, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(item, attribute, None)
            if value is not None:
                bounds.append(f"{symbol} {value}")
    return ", ".join(bounds) if bounds else MISSING


# -- HTML ----------------------------------------------------------------------------------


def render_html(comparison: Comparison, command: str) -> str:
    """A self-contained page (inline styles, no script, no URL) with the same tables."""
    spec = comparison.spec
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>mmhost compare</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Strategies compared</h1>",
        f"<p>Generated by <code>{html.escape(command)}</code> (seed {spec.seed}).</p>",
        f"<p>{html.escape(' '.join(INTRODUCTION.split()))}</p>",
    ]
    for market in comparison.markets:
        header, rows = table_rows(market)
        parts.append(f"<h2>{html.escape(market.title)}</h2>")
        parts.append(f"<p>{html.escape(market_caption(market, spec).replace('`', ''))}</p>")
        parts.append(
            "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
        )
        for cells in rows:
            parts.append(
                f"<tr><th>{html.escape(cells[0])}</th>"
                + "".join(f"<td class='num'>{html.escape(c)}</td>" for c in cells[1:])
                + "</tr>"
            )
        parts.append("</table>")
        for strategy, row in market.results.items():
            if row.get("status") != "ok":
                status = html.escape(str(row.get("status")))
                parts.append(
                    f"<div class='failed'>{html.escape(strategy)}: {status}"
                    f"\n{html.escape(str(row.get('error', '')))}</div>"
                )
    parts.append("</body></html>\n")
    return "".join(parts)


__all__ = [
    "DEFAULT_DATA",
    "DEFAULT_DURATION_S",
    "DEFAULT_OUT",
    "DEFAULT_REGIMES",
    "DEFAULT_SEED",
    "REGIMES",
    "CompareSpec",
    "Comparison",
    "Market",
    "MarketResults",
    "command_line",
    "comparison_document",
    "markdown_tables",
    "parameters_markdown",
    "render_document",
    "render_html",
    "render_markdown",
    "run_comparison",
]
