"""``mmhost replay`` and ``mmhost record``: the market-data room's commands.

Registered through ``mmhost_register_commands`` like any plugin's commands.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from host.cli import ExitCode
from host.commands import add_json_option, print_json
from host.hookspecs import hookimpl
from host.instruments import MARKETS, UnknownInstrumentError
from host.marketdata.common import MarketDataError
from host.marketdata.recording import record
from host.marketdata.replay import replay_stats

__all__ = ["DEFAULT_URLS", "mmhost_register_commands"]

# Bybit V5 public streams; --url overrides (emulator, testnet).
DEFAULT_URLS = {
    "bybit-linear": "wss://stream.bybit.com/v5/public/linear",
    "bybit-spot": "wss://stream.bybit.com/v5/public/spot",
}


def _replay(args: argparse.Namespace) -> int:
    paths = [Path(path) for path in args.data]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        print(f"replay: no such file: {', '.join(missing)}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        stats = replay_stats(
            paths, market=args.market, symbol=args.symbol, on_bad_line=args.on_bad_line
        )
    except MarketDataError as error:
        print(f"replay: bad input: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except (UnknownInstrumentError, ValueError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return ExitCode.USAGE
    document = stats.as_dict()
    if args.json:
        print_json(document)
        return ExitCode.OK
    books = document.pop("books")
    width = max(len(key) for key in document)
    for key, value in document.items():
        print(f"{key:<{width}}  {value}")
    for name, book in books.items():  # type: ignore[union-attr]
        print(
            f"{name}: bid {book['best_bid_price']} ask {book['best_ask_price']} "
            f"valid={book['valid']} levels={book['bid_levels']}/{book['ask_levels']}"
        )
    return ExitCode.OK


def _symbols(text: str) -> list[str]:
    symbols = [symbol.strip().upper() for symbol in text.split(",") if symbol.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("expected a comma-separated list such as BTCUSDT,ETHUSDT")
    return symbols


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _record(args: argparse.Namespace) -> int:
    url = args.url or DEFAULT_URLS.get(args.venue)
    if url is None:
        print(
            f"record: no default websocket URL for venue {args.venue!r}; pass --url "
            f"(defaults exist for {', '.join(DEFAULT_URLS)})",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    out = Path(args.out)
    if not out.parent.is_dir():
        print(f"record: output folder {out.parent} does not exist", file=sys.stderr)
        return ExitCode.USAGE
    try:
        stats = asyncio.run(
            record(
                url=url,
                venue=args.venue,
                symbols=args.symbols,
                out=out,
                duration_s=args.duration,
                depth=args.depth,
            )
        )
    except KeyboardInterrupt:
        print(f"record: interrupted; {out} is closed and readable", file=sys.stderr)
        return ExitCode.OK
    if args.json:
        print_json(stats.as_dict())
    else:
        print(f"recorded {stats.frames} frames ({stats.bytes_received} bytes) to {out}")
    if stats.frames == 0:
        print(f"record: no frame received from {url}: {stats.errors[-3:]}", file=sys.stderr)
        return ExitCode.FAILURE
    return ExitCode.OK


@hookimpl
def mmhost_register_commands(subparsers: argparse._SubParsersAction) -> None:
    replay = subparsers.add_parser(
        "replay",
        help="feed recorded market data through the order book and count what happened",
        description="Replay recordings (mmhost, Binance, Bybit archives; several files are one "
        "stream) through OrderBook and print counts: messages, level updates, trades, gaps, "
        "resyncs, crossed books, bad lines, time span, final best bid/ask.",
    )
    replay.add_argument("--data", nargs="+", required=True, metavar="FILE", help="input files")
    replay.add_argument(
        "--market",
        choices=MARKETS,
        default=None,
        help="market of the data (default: detected; Bybit archives: bybit-linear)",
    )
    replay.add_argument("--symbol", default=None, help="symbol (default: read from the data)")
    replay.add_argument(
        "--on-bad-line",
        choices=("raise", "skip"),
        default="raise",
        help="stop at the first bad line (exit 2) or count and skip bad lines",
    )
    add_json_option(replay)
    replay.set_defaults(handler=_replay)

    recorder = subparsers.add_parser(
        "record",
        help="record a Bybit V5 public websocket (order book + trades) to a file",
        description="Subscribe to orderbook.DEPTH.SYMBOL and publicTrade.SYMBOL and write raw "
        "frames with receive times to a gzip recording (format: docs/marketdata.md).",
    )
    recorder.add_argument("--venue", required=True, help="source name, e.g. bybit-linear")
    recorder.add_argument("--symbols", required=True, type=_symbols, help="e.g. BTCUSDT,ETHUSDT")
    recorder.add_argument("--out", required=True, help="output file (.gz)")
    recorder.add_argument(
        "--duration", type=_positive_float, default=None, help="seconds (default: until Ctrl-C)"
    )
    recorder.add_argument("--url", default=None, help="websocket URL (default: Bybit mainnet)")
    recorder.add_argument(
        "--depth",
        type=int,
        default=50,
        choices=(1, 50, 200, 1000),
        help="order-book depth to subscribe to (orderbook.N; default: 50)",
    )
    add_json_option(recorder)
    recorder.set_defaults(handler=_record)
