"""``mmhost estimate``: volatility and order-arrival intensity of a recording.

Runs the estimators of ``host.estimators`` over recorded market data (the
formats ``mmhost replay`` reads, ``bundled:`` names included) and prints
sigma, A and k, and the Avellaneda-Stoikov and GLFT spreads they imply at
zero inventory: a way to see what the ``avellaneda_stoikov`` and ``glft``
strategies will quote, and to choose gamma, before trading.

Registered through ``mmhost_register_commands`` like any plugin's commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from host.book import OrderBook
from host.cli import ExitCode
from host.commands import add_json_option, print_json
from host.estimators import (
    EwmaVolatility,
    IntensityEstimator,
    MarketEstimates,
    avellaneda_stoikov_spread,
    glft_coefficients,
    glft_depths,
)
from host.hookspecs import hookimpl
from host.instruments import MARKETS, UnknownInstrumentError
from host.marketdata.common import MarketDataError
from host.marketdata.replay import open_events
from host.models import BookMessage, Trade
from host.runtime import BUNDLED_DATA_DIR, BUNDLED_PREFIX

__all__ = ["estimate_recording", "mmhost_register_commands"]


def resolve_data_path(text: str) -> Path:
    """``bundled:x`` is a file shipped in host/data; anything else a path."""
    if text.startswith(BUNDLED_PREFIX):
        return BUNDLED_DATA_DIR / text[len(BUNDLED_PREFIX) :]
    return Path(text).expanduser()


def estimate_recording(
    paths: Sequence[Path],
    *,
    market: str | None = None,
    symbol: str | None = None,
    gamma: float = 0.05,
    horizon_s: float = 30.0,
    volatility_time_constant_s: float = 60.0,
    volatility_step_ms: int = 1000,
    bucket_bps: float = 0.1,
    bucket_count: int = 20,
    half_life_s: float | None = None,
) -> dict[str, Any]:
    """Estimates over the whole of ``paths`` and the spreads they imply.

    The intensity uses every market order of the recording (``half_life_s``
    None: no forgetting) unless told otherwise; the volatility is the EWMA at
    the end of the data. Spreads are in bps of the last mid and in ticks.
    """
    estimates = MarketEstimates(
        EwmaVolatility(
            time_constant_s=volatility_time_constant_s,
            step_ms=volatility_step_ms,
            warmup_samples=1,
        ),
        IntensityEstimator(
            bucket_width=bucket_bps, bucket_count=bucket_count, half_life_s=half_life_s
        ),
    )
    books: dict[tuple[str, str], OrderBook] = {}
    book_messages = trades = 0
    first_ts_ns = last_ts_ns = 0
    for event in open_events(paths, market=market, symbol=symbol):
        if isinstance(event, BookMessage):
            key = (event.venue, event.symbol)
            book = books.get(key)
            if book is None:
                book = books[key] = OrderBook(event.venue, event.symbol)
            book.apply(event)
            book_messages += 1
            if book.is_valid:
                estimates.observe_book(event.ts_local_ns, book.mid_ticks())
        elif isinstance(event, Trade):
            trades += 1
            book = books.get((event.venue, event.symbol))
            if book is not None and book.is_valid:
                estimates.observe_trade(
                    event.ts_local_ns,
                    event.ts_exchange_ns,
                    event.aggressor,
                    event.price_ticks,
                    book.mid_ticks(),
                )
        else:
            continue
        first_ts_ns = first_ts_ns or event.ts_local_ns
        last_ts_ns = event.ts_local_ns
    intensity = estimates.intensity
    volatility = estimates.volatility
    intensity.flush()
    if len(books) != 1:
        raise ValueError(f"expected one instrument in the data, found {len(books)}")
    (book,) = books.values()
    mid_ticks = book.mid_ticks() or 0.0
    ticks_per_bps = mid_ticks / 10_000
    fit = intensity.fit(require_ready=False)
    sigma = volatility.sigma_bps_per_sqrt_s()
    document: dict[str, Any] = {
        "files": [str(path) for path in paths],
        "symbol": book.symbol,
        "book_messages": book_messages,
        "trades": trades,
        "market_orders": intensity.orders,
        "duration_s": round((last_ts_ns - first_ts_ns) / 1e9, 3),
        "mid_ticks": mid_ticks,
        "ticks_per_bps": round(ticks_per_bps, 3),
        "sigma_bps_per_sqrt_s": round(sigma, 6),
        "volatility_time_constant_s": volatility_time_constant_s,
        "intensity": None,
        "gamma": gamma,
        "horizon_s": horizon_s,
        "avellaneda_stoikov": None,
        "glft": None,
    }
    if fit is None:
        return document
    document["intensity"] = {
        "a_per_s": round(fit.a_per_s, 6),
        "k_per_bps": round(fit.k, 6),
        "k_per_tick": round(fit.k / ticks_per_bps, 6) if ticks_per_bps else None,
        "r_squared": round(fit.r_squared, 4),
        "buckets": fit.buckets,
        "bucket_bps": bucket_bps,
        "clamped": fit.clamped,
        "rates_per_s": [round(rate, 6) for rate in intensity.rates_per_s()],
    }
    as_spread_bps = avellaneda_stoikov_spread(gamma, sigma, horizon_s, fit.k)
    document["avellaneda_stoikov"] = {
        "spread_bps": round(as_spread_bps, 6),
        "spread_ticks": round(as_spread_bps * ticks_per_bps, 3),
        "reservation_shift_bps_per_order": round(gamma * sigma * sigma * horizon_s, 6),
    }
    c1, c2 = glft_coefficients(gamma, fit.a_per_s, fit.k)
    bid_depth_bps, ask_depth_bps = glft_depths(c1, c2, sigma, 0.0)
    document["glft"] = {
        "c1_bps": round(c1, 6),
        "c2": round(c2, 6),
        "half_spread_bps": round(bid_depth_bps, 6),
        "spread_ticks": round((bid_depth_bps + ask_depth_bps) * ticks_per_bps, 3),
        "skew_bps_per_order": round(sigma * c2, 6),
    }
    return document


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _estimate(args: argparse.Namespace) -> int:
    paths = [resolve_data_path(text) for text in args.data]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        print(f"estimate: no such file: {', '.join(missing)}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        document = estimate_recording(
            paths,
            market=args.market,
            symbol=args.symbol,
            gamma=args.gamma,
            horizon_s=args.horizon_s,
            volatility_time_constant_s=args.volatility_time_constant_s,
            bucket_bps=args.bucket_bps,
            bucket_count=args.bucket_count,
            half_life_s=args.half_life_s,
        )
    except (MarketDataError, UnknownInstrumentError, ValueError) as error:
        print(f"estimate: {error}", file=sys.stderr)
        return ExitCode.USAGE
    if args.json:
        print_json(document)
        return ExitCode.OK
    print(
        f"{document['symbol']}: {document['market_orders']} market orders "
        f"({document['trades']} prints) over {document['duration_s']} s, "
        f"mid {document['mid_ticks']} ticks ({document['ticks_per_bps']} ticks per bps)"
    )
    print(f"sigma  {document['sigma_bps_per_sqrt_s']} bps/sqrt(s)")
    intensity = document["intensity"]
    if intensity is None:
        print("intensity: not enough market orders beyond the touch to fit A and k")
        return ExitCode.OK
    print(
        f"A      {intensity['a_per_s']} market orders/s   "
        f"k  {intensity['k_per_bps']} 1/bps ({intensity['k_per_tick']} 1/tick)   "
        f"r2 {intensity['r_squared']}{'  (clamped)' if intensity['clamped'] else ''}"
    )
    avellaneda = document["avellaneda_stoikov"]
    glft = document["glft"]
    print(
        f"avellaneda_stoikov (gamma {document['gamma']}, horizon {document['horizon_s']} s): "
        f"spread {avellaneda['spread_bps']} bps = {avellaneda['spread_ticks']} ticks, "
        f"reservation shift {avellaneda['reservation_shift_bps_per_order']} bps per order held"
    )
    print(
        f"glft (gamma {document['gamma']}): half-spread {glft['half_spread_bps']} bps, "
        f"spread {glft['spread_ticks']} ticks, skew {glft['skew_bps_per_order']} bps per order held"
    )
    return ExitCode.OK


@hookimpl
def mmhost_register_commands(subparsers: argparse._SubParsersAction) -> None:
    estimate = subparsers.add_parser(
        "estimate",
        help="estimate volatility and order-arrival intensity (A, k) of recorded data",
        description="Run the strategies' estimators over recordings: sigma (EWMA of 1-s "
        "log-returns of the mid), and lambda(delta) = A exp(-k delta) fitted from market "
        "orders reaching each depth from the mid; print them and the Avellaneda-Stoikov and "
        "GLFT spreads they imply at zero inventory.",
    )
    estimate.add_argument(
        "--data",
        nargs="+",
        required=True,
        metavar="FILE",
        help="recording files, one stream ('bundled:binance_usdm/btcusdt_20240718.gz' names "
        "a bundled file)",
    )
    estimate.add_argument(
        "--market",
        choices=MARKETS,
        default=None,
        help="market of the data (default: detected; Bybit archives: bybit-linear)",
    )
    estimate.add_argument("--symbol", default=None, help="symbol (default: read from the data)")
    estimate.add_argument(
        "--gamma",
        type=_positive_float,
        default=0.05,
        help="risk aversion for the implied spreads, 1/(bps * order) (default 0.05)",
    )
    estimate.add_argument(
        "--horizon-s",
        type=_positive_float,
        default=30.0,
        help="Avellaneda-Stoikov time horizon T - t in seconds (default 30)",
    )
    estimate.add_argument(
        "--volatility-time-constant-s",
        type=_positive_float,
        default=60.0,
        help="EWMA time constant of the volatility, seconds (default 60)",
    )
    estimate.add_argument(
        "--bucket-bps",
        type=_positive_float,
        default=0.1,
        help="width of the depth buckets of the intensity fit, bps of mid (default 0.1)",
    )
    estimate.add_argument(
        "--bucket-count",
        type=int,
        default=20,
        help="number of depth buckets of the intensity fit (default 20)",
    )
    estimate.add_argument(
        "--half-life-s",
        type=_positive_float,
        default=None,
        help="forget market orders with this half-life (default: use the whole recording)",
    )
    add_json_option(estimate)
    estimate.set_defaults(handler=_estimate)
