"""Benchmark: OrderBook.apply + best bid/ask read after every message.

Feeds the bundled Binance USD-M recording (both files, one stream, decoded once
before timing) through ``host.book.OrderBook`` and through a plainly written
``sortedcontainers.SortedDict`` book with the same interface, in the same run.
Speed figures are level updates per second; ``ratio`` is ours / reference.

Our book brings its sorted price lists up to date when they are read, so a
run that reads only the touch never pays for them. ``ratio_top10`` is the
same comparison with the best 10 levels of each side read after every message
(what a depth analyzer does), where ours pays for its lists every message.
Also measures the memory of a book holding 1000 levels per side.

Run: ``python -m bench.book`` (prints one JSON object).
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from pathlib import Path

from sortedcontainers import SortedDict

from host.book import OrderBook
from host.instruments import lookup
from host.marketdata.binance import BinanceReader
from host.models import BookMessage, Side

DATA_DIR = Path(__file__).resolve().parents[1] / "host" / "data" / "binance_usdm"


class SortedDictBook:
    """The reference: the obvious SortedDict book, same checks, same reads."""

    def __init__(self, venue: str, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.is_valid = False
        self.last_update_id = -1
        self.awaiting_bridge = False

    def apply(self, msg: BookMessage) -> bool:
        if msg.is_snapshot:
            self.bids = SortedDict({price: size for price, size in msg.bids if size > 0})
            self.asks = SortedDict({price: size for price, size in msg.asks if size > 0})
            self.last_update_id = msg.last_update_id
            self.awaiting_bridge = True
            self.is_valid = True
            return True
        if not self.is_valid:
            return False
        if self.awaiting_bridge:
            if msg.last_update_id < self.last_update_id:
                return False
            self.awaiting_bridge = False
        elif msg.prev_update_id != -1 and msg.prev_update_id != self.last_update_id:
            self.is_valid = False
            return False
        for side, levels in ((self.bids, msg.bids), (self.asks, msg.asks)):
            for price, size in levels:
                if size > 0:
                    side[price] = size
                else:
                    side.pop(price, None)
        self.last_update_id = msg.last_update_id
        if self.bids and self.asks and self.bids.peekitem(-1)[0] >= self.asks.peekitem(0)[0]:
            self.is_valid = False
            return False
        return True

    @property
    def best_bid_ticks(self) -> int:
        return self.bids.peekitem(-1)[0] if self.bids else 0

    @property
    def best_ask_ticks(self) -> int:
        return self.asks.peekitem(0)[0] if self.asks else 0

    def top_ten_lots(self) -> int:
        bids = self.bids
        asks = self.asks
        return sum(bids[price] for price in bids.islice(-10)) + sum(
            asks[price] for price in asks.islice(0, 10)
        )


def _messages(quick: bool) -> list[BookMessage]:
    paths = sorted(DATA_DIR.glob("btcusdt_*.gz"))
    if quick:
        paths = paths[:1]
    reader = BinanceReader(paths, lookup("binance-usdm", "BTCUSDT"))
    messages = [event for event in reader if isinstance(event, BookMessage)]
    if quick:
        messages = messages[:800]
    return messages


def _run_ours(messages: list[BookMessage]) -> tuple[float, int]:
    book = OrderBook("binance-usdm", "BTCUSDT")
    apply = book.apply
    checksum = 0
    start = time.perf_counter()
    for msg in messages:
        apply(msg)
        checksum += book.best_bid_ticks - book.best_ask_ticks
    return time.perf_counter() - start, checksum


def _run_ours_top10(messages: list[BookMessage]) -> tuple[float, int]:
    book = OrderBook("binance-usdm", "BTCUSDT")
    apply = book.apply
    top_of_book = book.top_of_book
    checksum = 0
    start = time.perf_counter()
    for msg in messages:
        if apply(msg):
            checksum += sum(top_of_book(Side.BUY, 10)[1]) + sum(top_of_book(Side.SELL, 10)[1])
    return time.perf_counter() - start, checksum


def _run_reference_top10(messages: list[BookMessage]) -> tuple[float, int]:
    book = SortedDictBook("binance-usdm", "BTCUSDT")
    apply = book.apply
    checksum = 0
    start = time.perf_counter()
    for msg in messages:
        if apply(msg):
            checksum += book.top_ten_lots()
    return time.perf_counter() - start, checksum


def _run_reference(messages: list[BookMessage]) -> tuple[float, int]:
    book = SortedDictBook("binance-usdm", "BTCUSDT")
    apply = book.apply
    checksum = 0
    start = time.perf_counter()
    for msg in messages:
        apply(msg)
        checksum += book.best_bid_ticks - book.best_ask_ticks
    return time.perf_counter() - start, checksum


def _memory_1000_levels() -> int:
    """Bytes allocated by a book built from a 1000-level-per-side snapshot
    (the message itself excluded)."""
    bids = [(1_000_000 - index, 1 + index % 997) for index in range(1000)]
    asks = [(1_000_001 + index, 1 + index % 991) for index in range(1000)]
    snapshot = BookMessage("bench", "X", 0, 1, True, bids, asks, last_update_id=1)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    book = OrderBook("bench", "X")
    book.apply(snapshot)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before


def run(quick: bool = False) -> dict[str, object]:
    """One JSON-able dict; ``ratio`` = ours / SortedDict reference, same run."""
    messages = _messages(quick)
    level_updates = sum(len(msg.bids) + len(msg.asks) for msg in messages)
    repeats = 1 if quick else 7
    ours_times: list[float] = []
    reference_times: list[float] = []
    for _ in range(repeats):  # interleaved, best of: a busy neighbour hurts both alike
        ours_times.append(_run_ours(messages)[0])
        reference_times.append(_run_reference(messages)[0])
    ours_s = min(ours_times)
    reference_s = min(reference_times)
    top10_times: list[float] = []
    ref_top10_times: list[float] = []
    for _ in range(repeats):
        top10_times.append(_run_ours_top10(messages)[0])
        ref_top10_times.append(_run_reference_top10(messages)[0])
    ours_checksum = _run_ours(messages)[1]
    reference_checksum = _run_reference(messages)[1]
    updates_per_s = level_updates / ours_s
    ref_updates_per_s = level_updates / reference_s
    return {
        "benchmark": "book",
        "quick": quick,
        "data": "host/data/binance_usdm btcusdt_2024071{8,9}.gz (one stream)",
        "messages": len(messages),
        "level_updates": level_updates,
        "seconds": round(ours_s, 6),
        "ref_seconds": round(reference_s, 6),
        "updates_per_s": round(updates_per_s),
        "ref_updates_per_s": round(ref_updates_per_s),
        "ratio": round(updates_per_s / ref_updates_per_s, 3),
        "same_result_as_reference": ours_checksum == reference_checksum,
        "seconds_top10": round(min(top10_times), 6),
        "ref_seconds_top10": round(min(ref_top10_times), 6),
        "ratio_top10": round(min(ref_top10_times) / min(top10_times), 3),
        "same_top10_as_reference": _run_ours_top10(messages)[1]
        == _run_reference_top10(messages)[1],
        "memory_bytes_1000_levels": _memory_1000_levels(),
        "repeats_best_of": repeats,
    }


if __name__ == "__main__":
    print(json.dumps(run()))
