"""``mmhost emulator``: run the loopback Bybit V5 emulator standalone.

Registered through ``mmhost_register_commands``. The test key and secret come
from ``--api-key`` / ``--api-secret`` or ``MMHOST_EMULATOR_API_KEY`` /
``MMHOST_EMULATOR_API_SECRET``; the secret is never printed or logged.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from host.cli import ExitCode
from host.hookspecs import hookimpl

BUNDLED_DATA = (
    Path(__file__).resolve().parents[1] / "data" / "binance_usdm" / "btcusdt_20240718.gz",
    Path(__file__).resolve().parents[1] / "data" / "binance_usdm" / "btcusdt_20240719.gz",
)


def _speed(text: str) -> float | str:
    if text == "max":
        return "max"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or 'max', got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or 'max', got {text!r}")
    return value


def _balance(text: str) -> tuple[str, Decimal]:
    coin, separator, amount = text.partition("=")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        value = Decimal(-1)
    if not separator or not coin or not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"expected COIN=AMOUNT such as USDT=100000, got {text!r}")
    return coin.upper(), value


@hookimpl
def mmhost_register_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="run the loopback Bybit V5 emulator (REST + WebSocket) for tests and demos",
        description=(
            "Serve the Bybit V5 API on 127.0.0.1 from the simulator's matching engine, fed by "
            "a recording (replayed into linear BTCUSDT) or by synthetic random walks. Point "
            "pybit or ccxt at the printed URL. Stop with Ctrl-C."
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="TCP port on 127.0.0.1 (0 picks a free one; default 8765)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="recording files replayed into linear BTCUSDT (default: the "
        "bundled Binance USD-M recording)",
    )
    source.add_argument(
        "--synthetic",
        action="store_true",
        help="synthetic random walks for every listing, no recording",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="periodic faults, e.g. 'drop_socket_every_s=30,skip_delta_every_s="
        "10,lose_ack_every=20,http_5xx_every=50,rate_limit_every=40,"
        "clock_skew_ms=0'",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="the emulator's API key (or MMHOST_EMULATOR_API_KEY; default emulator-key)",
    )
    parser.add_argument(
        "--api-secret",
        default=None,
        help="the emulator's API secret (or MMHOST_EMULATOR_API_SECRET; default "
        "emulator-secret); never printed",
    )
    parser.add_argument(
        "--balance",
        action="append",
        type=_balance,
        default=None,
        metavar="COIN=AMOUNT",
        help="initial wallet balance, repeatable (default USDT=100000)",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="X|max",
        help="market seconds replayed per wall second, or 'max' (default 1)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the synthetic markets (default 1)"
    )
    parser.set_defaults(handler=run_emulator)


def run_emulator(args: argparse.Namespace) -> int:
    from host.emulator.faults import FaultConfig, FaultSpecError
    from host.emulator.server import (
        DEFAULT_API_KEY,
        DEFAULT_API_SECRET,
        EmulatorConfig,
        EmulatorServer,
    )

    try:
        faults = FaultConfig.parse(args.faults)
    except FaultSpecError as error:
        print(f"usage error: --faults: {error}", file=sys.stderr)
        return ExitCode.USAGE
    data: tuple[Path, ...] = ()
    if not args.synthetic:
        data = tuple(args.data) if args.data else BUNDLED_DATA
        missing = [str(path) for path in data if not path.exists()]
        if missing:
            print(f"usage error: --data: no such file: {', '.join(missing)}", file=sys.stderr)
            return ExitCode.USAGE
    balances = dict(args.balance) if args.balance else {"USDT": Decimal(100_000)}
    config = EmulatorConfig(
        port=args.port,
        data=data,
        speed=args.speed,
        seed=args.seed,
        balances=balances,
        api_key=args.api_key or os.environ.get("MMHOST_EMULATOR_API_KEY", DEFAULT_API_KEY),
        api_secret=args.api_secret
        or os.environ.get("MMHOST_EMULATOR_API_SECRET", DEFAULT_API_SECRET),
        faults=faults,
    )
    server = EmulatorServer(config)
    urls = server.start()
    print(
        f"Bybit V5 emulator: REST {urls.http}  public {urls.public_linear} "
        f"{urls.public_spot}  private {urls.private}  trade {urls.trade}  "
        f"api key {config.api_key}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.run_forever()
    except KeyboardInterrupt:
        pass
    return ExitCode.OK
