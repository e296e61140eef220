"""Backtest loop speed and fidelity against hftbacktest, timed in the same run.

Both engines run the same quoting strategy ("join the touch": a PostOnly bid
at the best bid and ask at the best ask, ``ORDER_SIZE_LOTS`` each, no new bid
when long ``MAX_POSITION_LOTS`` and no new ask when short as much; a quote off
the touch is cancelled and replaced; a side with an order in flight waits for
the answer) on the development recording (host/data/binance_usdm, both files
as one stream) with the same settings:

* order latency 5 ms, response latency 5 ms (constant);
* feed latency: the recording's own receive times with the recorder's clock
  offset taken as the *minimum* of ``local - exchange`` (what hftbacktest's
  converter does, ``correct_local_timestamp`` with base latency 0);
* queue: probabilistic, f(x) = x**2 (ours ``ProbabilisticQueue.power(2)``,
  theirs ``power_prob_queue_model(2.0)``); partial fills on;
* fees: maker 1 bps, taker 5 bps of traded value.

Timed separately: hftbacktest's own converter (``binancefutures.convert``) and
our one-off conversion of the recording into a compact pre-decoded event file
(``host.backtest.eventcache``; cached across runs, so it is timed when built).
Loop times exclude conversions and numba's JIT compile (hftbacktest's loop is
compiled on a few events first). ``ratio_vs_hftbacktest`` = our loop seconds
/ theirs; goal <= 5.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from host import Decision, Quote, Side, Strategy, StrategyParams
from host.backtest.eventcache import read_event_cache, write_event_cache
from host.backtest.latency import RecordedFeedLatency
from host.backtest.session import BacktestSpec, run_backtest
from host.hookspecs import hookimpl
from host.instruments import lookup
from host.marketdata.binance import BinanceReader

ROOT = Path(__file__).resolve().parents[1]
DATA = [
    ROOT / "host/data/binance_usdm/btcusdt_20240718.gz",
    ROOT / "host/data/binance_usdm/btcusdt_20240719.gz",
]
ORDER_SIZE_LOTS = 10  # 0.010 BTC
MAX_POSITION_LOTS = 50
ORDER_LATENCY_MS = 5.0
RESPONSE_LATENCY_MS = 5.0
MAKER_FEE_BPS = Decimal(1)
TAKER_FEE_BPS = Decimal(5)
QUICK_EVENTS = 3_000
HFT_NOT_INSTALLED = "not installed — make bench installs it"


class JoinTouchParams(StrategyParams):
    order_size_lots: int = ORDER_SIZE_LOTS
    max_position_lots: int = MAX_POSITION_LOTS


class BenchJoinTouch(Strategy):
    """Quote the touch on both sides, within a position limit (the bench's strategy)."""

    name = "bench_join_touch"
    Params = JoinTouchParams
    params: JoinTouchParams

    def quotes(self) -> Decision | None:
        book = self.ctx.book
        bid_ticks, ask_ticks = book.best_bid_ticks, book.best_ask_ticks
        if not bid_ticks or not ask_ticks:
            return None
        size = self.params.order_size_lots
        position = self.ctx.position.size_lots
        quotes = []
        if position < self.params.max_position_lots:
            quotes.append(Quote(Side.BUY, bid_ticks, size, "bid"))
        if position > -self.params.max_position_lots:
            quotes.append(Quote(Side.SELL, ask_ticks, size, "ask"))
        return Decision(quotes=tuple(quotes))

    def on_book(self, book: Any) -> Decision | None:
        return self.quotes()

    def on_fill(self, fill: Any) -> Decision | None:
        return self.quotes()

    def on_order_update(self, update: Any) -> Decision | None:
        return self.quotes()


class BenchStrategies:
    @hookimpl
    def mmhost_register_strategies(self) -> list[type[Strategy]]:
        return [BenchJoinTouch]


def _cache_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "mmhost-bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _data_key(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def our_conversion(paths: list[Path], limit: int | None) -> tuple[Path, float | None, int]:
    """The pre-decoded event file (built once, cached); seconds if built now."""
    key = _data_key(paths) + (f"-{limit}" if limit else "")
    path = _cache_dir() / f"events-{key}.mmhev"
    if path.is_file():
        return path, None, 0
    instrument = lookup("binance-usdm", "BTCUSDT")
    started = time.perf_counter()
    events = iter(BinanceReader(paths, instrument))
    if limit:
        events = (event for _, event in zip(range(limit), events, strict=False))
    count = write_event_cache(events, path)
    return path, time.perf_counter() - started, count


def min_clock_offset_ns(cache: Path) -> int:
    """min(local - exchange): hftbacktest's correction, so both see the same times."""
    return min(
        event.ts_local_ns - event.ts_exchange_ns
        for event in read_event_cache(cache)
        if event.ts_exchange_ns > 0
    )


def run_ours(cache: Path, offset_ns: int) -> dict[str, Any]:
    spec = BacktestSpec(
        strategy="bench_join_touch",
        data=DATA,
        params={},
        strategy_dirs=[],
        plugin_dirs=[],
        venue_settings={
            "maker_fee_bps": MAKER_FEE_BPS,
            "taker_fee_bps": TAKER_FEE_BPS,
            "order_latency_ms": ORDER_LATENCY_MS,
            "response_latency_ms": RESPONSE_LATENCY_MS,
            "queue_model": "probabilistic",
        },
    )
    started = time.perf_counter()
    result = run_backtest(
        spec,
        events=read_event_cache(cache),
        feed_latency_model=RecordedFeedLatency(offset_ns, 0),
        plugins=[BenchStrategies()],
    )
    loop_s = time.perf_counter() - started
    document = result.document
    return {
        "loop_s": round(loop_s, 4),
        "events": document["events"],
        "orders": document["orders"],
        "fills": document["fills"],
        "maker_fills": document["maker_fills"],
        "volume_quote": document["volume"],
        "fees": document["fees"],
        "net_pnl": document["net_pnl"],
        "position_qty": document["positions"][0]["qty"] if document["positions"] else "0",
        "status": document["status"],
    }


def run_hftbacktest(paths: list[Path], quick: bool) -> dict[str, Any]:
    """Convert with hftbacktest's own converter, run the same strategy njit-compiled."""
    import numpy as np
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
    from hftbacktest.data.utils import binancefutures

    join_touch = _hft_join_touch()

    instrument = lookup("binance-usdm", "BTCUSDT")
    tick_size = float(instrument.tick_size)
    lot_size = float(instrument.lot_size)
    combined = _cache_dir() / "hft-input.gz"
    with open(combined, "wb") as out:
        for path in paths:  # gzip members concatenated: one stream, one clock correction
            with open(path, "rb") as source:
                shutil.copyfileobj(source, out)
    started = time.perf_counter()
    with _stdout_to_stderr():  # the converter prints progress; --json owns stdout
        data = binancefutures.convert(str(combined), buffer_size=5_000_000)
    conversion_s = time.perf_counter() - started

    def build(array: Any) -> Any:
        asset = (
            BacktestAsset()
            .data([array])
            .linear_asset(1.0)
            .constant_latency(int(ORDER_LATENCY_MS * 1e6), int(RESPONSE_LATENCY_MS * 1e6))
            .power_prob_queue_model(2.0)
            .partial_fill_exchange()
            .trading_value_fee_model(float(MAKER_FEE_BPS) / 1e4, float(TAKER_FEE_BPS) / 1e4)
            .tick_size(tick_size)
            .lot_size(lot_size)
        )
        return HashMapMarketDepthBacktest([asset])

    size_qty = ORDER_SIZE_LOTS * lot_size
    max_position_qty = MAX_POSITION_LOTS * lot_size
    warm = build(np.ascontiguousarray(data[:20_000]))
    join_touch(warm, size_qty, max_position_qty)  # JIT compile, not timed
    warm.close()
    hbt = build(data)
    started = time.perf_counter()
    result = join_touch(hbt, size_qty, max_position_qty)
    loop_s = time.perf_counter() - started
    state = hbt.state_values(0)
    mid = result[3]
    position = hbt.position(0)
    net_pnl = state.balance + position * mid - state.fee
    hbt.close()
    return {
        "conversion_s": round(conversion_s, 4),
        "loop_s": round(loop_s, 4),
        "rows": len(data),
        "orders": int(result[0]),
        "fills": int(state.num_trades),
        "volume_quote": round(float(state.trading_value), 4),
        "fees": round(float(state.fee), 8),
        "net_pnl": round(float(net_pnl), 8),
        "position_qty": round(float(position), 6),
    }


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """At the file-descriptor level: numba-compiled prints bypass sys.stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(quick: bool = False) -> dict[str, Any]:
    limit = QUICK_EVENTS if quick else None
    tracemalloc_on = not quick
    cache, conversion_s, converted = our_conversion(DATA, limit)
    offset_ns = min_clock_offset_ns(cache)
    if tracemalloc_on:
        tracemalloc.start()
    ours = run_ours(cache, offset_ns)
    if tracemalloc_on:
        _, peak_bytes = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        ours["peak_traced_mb"] = round(peak_bytes / 1e6, 1)
    result: dict[str, Any] = {
        "data": [str(p.relative_to(ROOT)) for p in DATA],
        "quick": quick,
        "strategy": "join the touch, 10 lots, |position| <= 50 lots",
        "settings": {
            "order_latency_ms": ORDER_LATENCY_MS,
            "response_latency_ms": RESPONSE_LATENCY_MS,
            "feed_latency": "recorded, clock offset = min(local - exchange)",
            "clock_offset_ns": offset_ns,
            "queue": "probabilistic power 2",
            "maker_fee_bps": str(MAKER_FEE_BPS),
            "taker_fee_bps": str(TAKER_FEE_BPS),
        },
        "our_loop_s": ours["loop_s"],
        "our_conversion_s": round(conversion_s, 4) if conversion_s is not None else None,
        "our_conversion_cached": conversion_s is None,
        "our_cache_events": converted or None,
        "ours": ours,
        "hftbacktest": None,
        "hftbacktest_loop_s": None,
        "hftbacktest_conversion_s": None,
        "ratio_vs_hftbacktest": None,
    }
    if quick:
        result["hftbacktest"] = "skipped in quick mode"
        return result
    try:
        import hftbacktest  # noqa: F401
    except ImportError:
        result["hftbacktest"] = HFT_NOT_INSTALLED
        return result
    theirs = run_hftbacktest(DATA, quick)
    result["hftbacktest"] = theirs
    result["hftbacktest_loop_s"] = theirs["loop_s"]
    result["hftbacktest_conversion_s"] = theirs["conversion_s"]
    result["ratio_vs_hftbacktest"] = round(ours["loop_s"] / theirs["loop_s"], 2)
    result["fills_side_by_side"] = {"ours": ours["fills"], "hftbacktest": theirs["fills"]}
    result["net_pnl_side_by_side"] = {"ours": ours["net_pnl"], "hftbacktest": theirs["net_pnl"]}
    return result


def _hft_join_touch() -> Any:
    """The bench strategy for hftbacktest, numba-compiled (imported only when used)."""
    from hftbacktest.order import BUY, GTX, LIMIT, NEW, PARTIALLY_FILLED
    from numba import njit

    @njit
    def join_touch(
        hbt: Any, size_qty: float, max_position_qty: float
    ) -> tuple[int, int, int, float]:
        next_order_id = 1
        orders_sent = 0
        feeds = 0
        mid = 0.0
        tick_size = hbt.depth(0).tick_size
        while True:
            code = hbt.wait_next_feed(True, 60_000_000_000)
            if code == 1:
                break
            if code == 2:
                feeds += 1
            depth = hbt.depth(0)
            best_bid = depth.best_bid_tick
            best_ask = depth.best_ask_tick
            if best_bid <= 0 or best_ask <= 0 or best_bid >= best_ask or best_ask > 1 << 40:
                continue
            mid = (best_bid + best_ask) * tick_size / 2.0
            hbt.clear_inactive_orders(0)
            position = hbt.position(0)
            want_bid = position < max_position_qty - 1e-9
            want_ask = position > -max_position_qty + 1e-9
            bid_live = False
            ask_live = False
            bid_blocked = False
            ask_blocked = False
            values = hbt.orders(0).values()
            while values.has_next():
                order = values.get()
                live = order.status == NEW or order.status == PARTIALLY_FILLED
                pending_new = order.req == NEW
                if order.side == BUY:
                    if pending_new:
                        bid_blocked = True
                    elif live:
                        if order.price_tick == best_bid and want_bid:
                            bid_live = True
                        elif order.cancellable:
                            hbt.cancel(0, order.order_id, False)
                else:
                    if pending_new:
                        ask_blocked = True
                    elif live:
                        if order.price_tick == best_ask and want_ask:
                            ask_live = True
                        elif order.cancellable:
                            hbt.cancel(0, order.order_id, False)
            if want_bid and not bid_live and not bid_blocked:
                hbt.submit_buy_order(
                    0, next_order_id, best_bid * tick_size, size_qty, GTX, LIMIT, False
                )
                next_order_id += 1
                orders_sent += 1
            if want_ask and not ask_live and not ask_blocked:
                hbt.submit_sell_order(
                    0, next_order_id, best_ask * tick_size, size_qty, GTX, LIMIT, False
                )
                next_order_id += 1
                orders_sent += 1
        return orders_sent, feeds, next_order_id, mid

    return join_touch
