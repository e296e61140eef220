"""The ``backtest`` and ``synth`` sub-commands.

``mmhost backtest`` replays a recording of any symbol through a sim venue with
feed, order and response latency, queue position and fees, on a simulated
clock, and prints a summary with the metrics of ``host.backtest.metrics``
(``--json``: one JSON object) and optionally an HTML report.

``mmhost synth`` writes a reproducible synthetic market as an mmhost
recording, for tests and stress cases.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from host.cli import ExitCode
from host.hookspecs import hookimpl

PROGRESS_EVERY_EVENTS = 20_000


def parse_time_ns(text: str) -> int:
    """ISO 8601 (UTC unless it says otherwise) or epoch digits (unit from the count)."""
    text = text.strip()
    if text.isdigit():
        from host.marketdata.common import local_ts_to_ns

        return local_ts_to_ns(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected ISO 8601 (2024-07-19T00:01:00) or epoch digits"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1_000


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value``; the value is JSON when it parses (numbers, true, lists), else text."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected key=value")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")
    return value


def _backtest(args: argparse.Namespace) -> int:
    from host.backtest.multivenue import parse_venue_data
    from host.backtest.report import write_report
    from host.backtest.session import BacktestInputError, BacktestSpec, run_backtest
    from host.commands import print_json
    from host.config import ConfigError
    from host.logs import setup_logging

    setup_logging(None, "ERROR" if args.json else "WARNING")
    try:
        venue_data = parse_venue_data(list(args.data))
        if venue_data is not None:
            return _multi_venue_backtest(args, venue_data)
    except (BacktestInputError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    spec = BacktestSpec(
        strategy=args.strategy,
        data=[Path(p) for p in args.data],
        config=Path(args.config) if args.config else None,
        params=dict(args.param),
        market=args.market,
        tick_size=args.tick,
        lot_size=args.lot,
        from_ns=args.from_ns,
        to_ns=args.to_ns,
        on_bad_line=args.on_bad_line,
        feed_latency=args.feed_latency,
        feed_latency_ms=args.feed_latency_ms,
        journal=Path(args.journal) if args.journal else None,
    )
    if not spec.data and spec.config is not None:
        spec.data = _data_from_config(spec.config)
    show_progress = sys.stderr.isatty() and not args.no_progress
    try:
        result = run_backtest(
            spec,
            on_progress=_print_progress if show_progress else None,
            progress_every=PROGRESS_EVERY_EVENTS,
        )
    except (BacktestInputError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    if show_progress:
        print(file=sys.stderr)
    if args.report:
        assert result.recorder is not None
        write_report(Path(args.report), result.document, result.recorder)
    if result.error is not None:
        print(f"backtest failed ({result.document['status']}):", file=sys.stderr)
        print(result.error_text, file=sys.stderr)
        if args.report:
            print(f"partial report: {args.report}", file=sys.stderr)
    if args.json:
        print_json(result.document)
    else:
        _print_summary(result.document)
    return ExitCode.OK if result.ok else ExitCode.FAILURE


def _multi_venue_backtest(args: argparse.Namespace, venue_data: list[Any]) -> int:
    from host.backtest.multivenue import (
        multi_venue_config,
        run_multi_venue,
        write_multi_venue_report,
    )
    from host.commands import print_json

    config = multi_venue_config(
        args.strategy,
        venue_data,
        dict(args.param),
        Path(args.config) if args.config else None,
        {},
    )
    document, runtime, error_text = run_multi_venue(config)
    if args.report:
        write_multi_venue_report(Path(args.report), document, runtime)
    if error_text:
        print(f"backtest failed: {error_text}", file=sys.stderr)
    if args.json:
        print_json(document)
    else:
        _print_summary(document)
    return ExitCode.FAILURE if error_text else ExitCode.OK


def _data_from_config(config_path: Path) -> list[Path]:
    from host.config import load_config
    from host.runtime import resolve_path

    config = load_config(config_path)
    return [resolve_path(config, item) for venue in config.venues[:1] for item in venue.data]


def _print_progress(progress: Any, runtime: Any) -> None:
    market_s = (progress.market_time_ns - progress.first_event_ns) / 1e9
    print(
        f"\r{progress.events:>10,} events  {market_s:9.1f} s market time  "
        f"fills {runtime.engine.stats.fills:,}",
        end="",
        file=sys.stderr,
    )


def _print_summary(document: dict[str, Any]) -> None:
    info = document["backtest"]
    market_s = (document["last_event_ns"] - document["first_event_ns"]) / 1e9
    lines = [
        f"backtest {info['strategy']} on {info['market']}:{info['symbol']}: "
        f"{document['events']:,} events over {market_s:.1f} s, status {document['status']}",
        f"orders {document['orders']:,}  cancels {document['cancels']:,}  "
        f"fills {document['fills']:,} (maker {document['maker_fills']}, "
        f"taker {document['taker_fills']})  volume {document['volume']}",
        f"realized {document['realized_pnl']}  unrealized {document['unrealized_pnl']}  "
        f"fees {document['fees']}  net {document['net_pnl']}  "
        f"max drawdown {document['max_drawdown']}",
        f"markouts bps 1s {document['markout_1s_bps']}  10s {document['markout_10s_bps']}  "
        f"60s {document['markout_60s_bps']}  spread captured {document['spread_captured_bps']}",
        f"quote uptime {document['quote_uptime']}  fill ratio {document['fill_ratio']}  "
        f"order/trade {document['order_to_trade_ratio']}  "
        f"Sharpe {document['sharpe_1min_annualized']}  "
        f"Sortino {document['sortino_1min_annualized']}",
    ]
    print("\n".join(lines))


def _synth(args: argparse.Namespace) -> int:
    from host.backtest.synthetic import (
        REGIMES,
        SynthSpec,
        episode_counts_from_options,
        write_synthetic,
    )
    from host.commands import print_json

    if args.regime not in REGIMES:  # argparse choices already guard; kept for callers
        print(f"error: unknown regime {args.regime!r}", file=sys.stderr)
        return ExitCode.USAGE
    spec = SynthSpec(
        seed=args.seed,
        duration_s=args.duration,
        regime=args.regime,
        symbol=args.symbol.upper(),
        market=args.market,
        tick_size=args.tick,
        lot_size=args.lot,
        start_ns=args.start_ns,
    )
    try:
        spec.episode_counts = episode_counts_from_options(args)
        stats = write_synthetic(Path(args.out), spec)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    if args.json:
        print_json(stats)
    else:
        print(
            f"wrote {args.out}: {stats['frames']:,} frames ({stats['book_frames']:,} book, "
            f"{stats['trades']:,} trades) over {spec.duration_s:g} s, regime {spec.regime}, "
            f"seed {spec.seed}"
        )
    return ExitCode.OK


@hookimpl
def mmhost_register_commands(subparsers: argparse._SubParsersAction) -> None:
    from host.backtest.synthetic import REGIMES, add_episode_options
    from host.commands import add_json_option

    backtest = subparsers.add_parser(
        "backtest",
        help="backtest a strategy on a recording (simulated clock, sim venue only)",
        description="Replay recorded market data (any symbol: detected from the data) through "
        "a sim venue with feed/order/response latency, queue position and fees, and report "
        "PnL, fills, markouts and risk metrics. Never opens a socket. Deterministic: the same "
        "input gives the same fills and summary.",
    )
    backtest.add_argument(
        "--strategy", required=True, help="registered strategy name, e.g. static_spread"
    )
    backtest.add_argument(
        "--config",
        default=None,
        help="config file: fees, latencies, queue model (first venue), the strategy's params "
        "and risk limits; its venues' kind and data are ignored (a backtest is sim only)",
    )
    backtest.add_argument(
        "--data",
        nargs="+",
        action="extend",
        default=[],
        metavar="[VENUE=]FILE",
        help="recording files, read in order as one stream (default: the config's first "
        "venue's data); VENUE=FILE for one recording per venue (the strategy trades the "
        "first venue and watches the others)",
    )
    backtest.add_argument(
        "--from",
        dest="from_ns",
        type=parse_time_ns,
        default=None,
        metavar="T",
        help="start trading at exchange time T (ISO 8601 UTC or epoch digits); earlier "
        "events only build the books",
    )
    backtest.add_argument(
        "--to",
        dest="to_ns",
        type=parse_time_ns,
        default=None,
        metavar="T",
        help="stop at exchange time T (ISO 8601 UTC or epoch digits)",
    )
    backtest.add_argument(
        "--report", default=None, metavar="OUT.html", help="write a self-contained HTML report"
    )
    backtest.add_argument(
        "--tick", type=_decimal, default=None, help="tick size, for a symbol not in the table"
    )
    backtest.add_argument(
        "--lot", type=_decimal, default=None, help="lot size, for a symbol not in the table"
    )
    backtest.add_argument(
        "--market",
        default=None,
        help="instrument table market (binance-usdm, binance-spot, bybit-linear, bybit-spot); "
        "default: detected from the data",
    )
    backtest.add_argument(
        "--on-bad-line",
        choices=["raise", "skip"],
        default="raise",
        help="a corrupt or out-of-order line: stop with file and line (raise), or count "
        "and skip it (skip)",
    )
    backtest.add_argument(
        "--param",
        type=parse_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="strategy parameter (repeatable); the value is read as JSON when it parses",
    )
    backtest.add_argument(
        "--feed-latency",
        choices=["recorded", "constant"],
        default="recorded",
        help="recorded: each event's own recorded delay after removing the recorder's clock "
        "offset; constant: --feed-latency-ms after the exchange time",
    )
    backtest.add_argument(
        "--feed-latency-ms",
        type=float,
        default=1.0,
        help="recorded: assumed median one-way feed latency added back after removing the "
        "offset (default 1); constant: the whole feed latency",
    )
    backtest.add_argument(
        "--journal", default=None, metavar="FILE", help="write a journal (sqlite) of the run"
    )
    backtest.add_argument(
        "--no-progress", action="store_true", help="no progress line on stderr even on a tty"
    )
    add_json_option(backtest)
    backtest.set_defaults(handler=_backtest)

    synth = subparsers.add_parser(
        "synth",
        help="write a reproducible synthetic market as an mmhost recording",
        description="Generate a random L2 market (order arrivals, cancellations and trades "
        "from point processes, a volatility regime) in the mmhost recording format, "
        "reproducible by seed, replayable by every reader and by `mmhost backtest`.",
    )
    synth.add_argument("--out", required=True, help="output file (.gz recording)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument(
        "--duration", type=float, default=300.0, metavar="S", help="market seconds (default 300)"
    )
    synth.add_argument(
        "--regime", choices=sorted(REGIMES), default="quiet", help="volatility regime"
    )
    synth.add_argument("--symbol", default="BTCUSDT", help="symbol (default BTCUSDT)")
    synth.add_argument(
        "--market", default="bybit-linear", help="market written as the frames' source"
    )
    synth.add_argument("--tick", type=_decimal, default=None, help="tick size (default: table)")
    synth.add_argument("--lot", type=_decimal, default=None, help="lot size (default: table)")
    synth.add_argument(
        "--start-ns",
        type=int,
        default=1_700_000_000_000_000_000,
        help="exchange time of the first event, ns since the epoch",
    )
    add_episode_options(synth)
    add_json_option(synth)
    synth.set_defaults(handler=_synth)
