"""The ``compare`` sub-command: every strategy on the same markets, one table per market.

``mmhost compare --strategies a,b`` backtests each strategy (default
parameters) on the bundled recording and on a synthetic market per regime,
writes docs/strategies.md (``--out``; generated, deterministic, never edited
by hand), optionally an HTML report, and prints the tables (``--json``: one
JSON document with every strategy's metrics on every market).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from host.cli import ExitCode
from host.hookspecs import hookimpl


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: a name appears twice")
    return names


def _regimes(text: str) -> tuple[str, ...]:
    from host.backtest.synthetic import REGIMES

    names = _names(text)
    unknown = [name for name in names if name not in REGIMES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown regime {', '.join(unknown)}; expected some of {', '.join(sorted(REGIMES))}"
        )
    return names


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds, e.g. 300") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of seconds")
    return value


def _compare(args: argparse.Namespace) -> int:
    from host.backtest.compare import (
        DEFAULT_DATA,
        CompareSpec,
        command_line,
        comparison_document,
        markdown_tables,
        render_document,
        render_html,
        run_comparison,
    )
    from host.backtest.session import BacktestInputError
    from host.commands import print_json
    from host.config import ConfigError
    from host.logs import setup_logging
    from host.marketdata.common import MarketDataError
    from host.plugins import build_plugin_host

    setup_logging(None, "ERROR")
    if not args.strategies:
        print("error: --strategies names no strategy (e.g. static_spread,glft)", file=sys.stderr)
        return ExitCode.USAGE
    # The backtests load strategies from ./strategies like `mmhost backtest`.
    available = build_plugin_host([], [Path("strategies")]).strategies()
    unknown = [name for name in args.strategies if name not in available]
    if unknown:
        print(
            f"error: --strategies: unknown strategy {', '.join(unknown)}; registered: "
            f"{', '.join(sorted(available))} (run from the project folder, or see "
            "`mmhost plugins`)",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    spec = CompareSpec(
        strategies=tuple(args.strategies),
        data=tuple(Path(p) for p in args.data) if args.data else DEFAULT_DATA,
        regimes=tuple(args.regimes),
        duration_s=args.duration,
        seed=args.seed,
    )
    out = Path(args.out)
    command = command_line(spec, out)

    def progress(market: Any, strategy: str, document: dict[str, Any]) -> None:
        print(
            f"compare: {strategy} on {market.name}: status {document.get('status')}, "
            f"fills {document.get('fills')}, net PnL {document.get('net_pnl')}",
            file=sys.stderr,
        )

    wall_start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="mmhost-compare-") as directory:
            comparison = run_comparison(spec, Path(directory), on_result=progress)
    except (BacktestInputError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except MarketDataError as error:  # a corrupt or out-of-order line: file and line
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    classes = {name: available[name] for name in spec.strategies}
    markdown = render_document(comparison, out, classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown, encoding="utf-8")
    if args.report:
        report = Path(args.report)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(render_html(comparison, command), encoding="utf-8")
    print(
        f"compare: {len(spec.strategies)} strategies x {len(comparison.markets)} markets "
        f"in {time.perf_counter() - wall_start:.1f} s; wrote {out}"
        + (f" and {args.report}" if args.report else ""),
        file=sys.stderr,
    )
    if args.json:
        print_json(comparison_document(comparison, command))
    else:
        print(markdown_tables(comparison), end="")
    return ExitCode.OK if comparison.ok else ExitCode.FAILURE


@hookimpl
def mmhost_register_commands(subparsers: argparse._SubParsersAction) -> None:
    from host.backtest.compare import (
        DEFAULT_DURATION_S,
        DEFAULT_OUT,
        DEFAULT_REGIMES,
        DEFAULT_SEED,
    )
    from host.backtest.synthetic import REGIMES
    from host.commands import add_json_option

    compare = subparsers.add_parser(
        "compare",
        help="backtest several strategies on the same markets and tabulate their metrics",
        description="Backtest each strategy with its default parameters (sizes in quote "
        "currency) on a recording and on a synthetic market per regime (fixed seed and "
        "duration), and write a Markdown table per market (PnL, fees, Sharpe, drawdown, "
        "fills, maker share, markouts, quote uptime). Deterministic: the same command "
        "writes the same file, byte for byte. Exit 1 if a backtest failed (its row says so).",
    )
    compare.add_argument(
        "--strategies",
        required=True,
        type=_names,
        metavar="A,B,...",
        help="comma-separated registered strategy names, e.g. static_spread,glft",
    )
    compare.add_argument(
        "--data",
        nargs="+",
        default=[],
        metavar="FILE",
        help="recording files, read in order as one stream (default: the bundled "
        "host/data/binance_usdm BTCUSDT recording, both files)",
    )
    compare.add_argument(
        "--regimes",
        type=_regimes,
        default=DEFAULT_REGIMES,
        metavar="R,R,...",
        help=f"synthetic regimes to generate, comma-separated, from {', '.join(sorted(REGIMES))} "
        f"(default {','.join(DEFAULT_REGIMES)}; '' for none)",
    )
    compare.add_argument(
        "--duration",
        type=_positive_seconds,
        default=DEFAULT_DURATION_S,
        metavar="S",
        help=f"market seconds of each synthetic market (default {DEFAULT_DURATION_S:g})",
    )
    compare.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"random seed of the synthetic markets (default {DEFAULT_SEED})",
    )
    compare.add_argument(
        "--out",
        default=str(DEFAULT_OUT),
        metavar="FILE.md",
        help=f"Markdown file to write (default {DEFAULT_OUT}); its first line records the "
        "command that made it",
    )
    compare.add_argument(
        "--report",
        default=None,
        metavar="OUT.html",
        help="also write a self-contained HTML report with the same tables",
    )
    add_json_option(compare)
    compare.set_defaults(handler=_compare)
