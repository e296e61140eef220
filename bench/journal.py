"""Benchmark: the journal's batched fill writes and its before-send order intents.

Fills: N fills (a few repeated exec ids among them, as venues resend) go
through ``Journal.record_fill`` and one ``flush()``: deduplication, decimal
formatting, exact positions, order fill totals, WAL commits every
``flush_rows``. The reference, timed in the same run on the same disk, is the
least any journal must do: a plain ``sqlite3`` ``executemany`` of the same rows
(already formatted) into an equally indexed table, in one transaction, WAL,
``synchronous=NORMAL``. ``ratio`` = ours / reference (below 1: we do more).

Intents: ``record_orders_sent`` of one order, which returns only once the
intent is committed (a thread round trip plus a WAL write), against a plain
insert + commit on the calling thread: ``intent_ratio`` = reference / ours
latency at the median.

Also reported: what the engine thread pays per ``record_fill`` (the enqueue).

Run: ``mmhost bench journal --json`` or ``python -m bench.journal``.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from host.journal import Journal, OrderIntent
from host.models import Fill, Instrument, Side

INSTRUMENT = Instrument("bench", "BTCUSDT", Decimal("0.1"), Decimal("0.001"), base="BTC")


def _fills(count: int) -> list[Fill]:
    fills = []
    for index in range(count):
        # Every 1000th fill repeats the previous exec id: the duplicate path is exercised.
        exec_id = f"exec-{index - 1 if index % 1000 == 999 else index}"
        fills.append(
            Fill(
                "bench",
                "BTCUSDT",
                f"bn-run-{index // 4}",
                exec_id,
                Side.BUY if index % 3 else Side.SELL,
                600_000 + index % 97,
                1 + index % 13,
                Decimal("0.0060012"),
                bool(index % 2),
                1_721_260_800_000_000_000 + index * 1_000_000,
                "bench",
            )
        )
    return fills


def _reference_rows(fills: list[Fill]) -> list[tuple[object, ...]]:
    seen: set[str] = set()
    rows = []
    for fill in fills:
        if fill.exec_id in seen:
            continue
        seen.add(fill.exec_id)
        rows.append(
            (
                fill.exec_id,
                fill.order_link_id,
                fill.strategy,
                fill.venue,
                fill.symbol,
                fill.side.venue_name,
                format(INSTRUMENT.ticks_to_price(fill.price_ticks), "f"),
                format(INSTRUMENT.lots_to_qty(fill.size_lots), "f"),
                fill.price_ticks,
                fill.size_lots,
                format(fill.fee, "f"),
                int(fill.is_maker),
                fill.ts_ns,
            )
        )
    return rows


def _time_reference(path: Path, rows: list[tuple[object, ...]]) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(
        "CREATE TABLE fills (exec_id TEXT PRIMARY KEY, order_link_id TEXT, strategy TEXT, "
        "venue TEXT, symbol TEXT, side TEXT, price TEXT, qty TEXT, price_ticks INTEGER, "
        "size_lots INTEGER, fee TEXT, is_maker INTEGER, ts_ns INTEGER)"
    )
    connection.execute("CREATE INDEX fills_ts ON fills (ts_ns)")
    connection.execute("CREATE INDEX fills_order ON fills (order_link_id)")
    start = time.perf_counter()
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def _time_journal(path: Path, fills: list[Fill]) -> tuple[float, float, int]:
    with Journal(path, instruments=[INSTRUMENT]) as journal:
        record = journal.record_fill
        start = time.perf_counter()
        for fill in fills:
            record(fill)
        enqueued = time.perf_counter()
        journal.flush()
        elapsed = time.perf_counter() - start
        stored = journal.counts()["fills"]
    return elapsed, enqueued - start, stored


def _intent_latencies_us(path: Path, count: int) -> list[float]:
    latencies = []
    with Journal(path, instruments=[INSTRUMENT]) as journal:
        for index in range(count):
            intent = OrderIntent(
                f"bn-intent-{index}",
                "bench",
                "bench",
                "BTCUSDT",
                Side.BUY,
                600_000,
                10,
                "bid",
                "PostOnly",
                index,
            )
            start = time.perf_counter()
            journal.record_orders_sent((intent,))
            latencies.append((time.perf_counter() - start) * 1e6)
    return latencies


def _reference_intent_latencies_us(path: Path, count: int) -> list[float]:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("CREATE TABLE orders (order_link_id TEXT PRIMARY KEY, payload TEXT)")
    latencies = []
    for index in range(count):
        start = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute("INSERT INTO orders VALUES (?, ?)", (f"ref-{index}", "bid"))
        connection.execute("COMMIT")
        latencies.append((time.perf_counter() - start) * 1e6)
    connection.close()
    return latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(quick: bool = False) -> dict[str, object]:
    fill_count = 20_000 if quick else 200_000
    intent_count = 200 if quick else 2_000
    fills = _fills(fill_count)
    rows = _reference_rows(fills)
    with tempfile.TemporaryDirectory(prefix="mmhost-bench-journal-") as folder:
        root = Path(folder)
        reference_s = _time_reference(root / "reference.db", rows)
        journal_s, enqueue_s, stored = _time_journal(root / "journal.db", fills)
        intents = _intent_latencies_us(root / "intents.db", intent_count)
        reference_intents = _reference_intent_latencies_us(
            root / "reference_intents.db", intent_count
        )
    if stored != len(rows):
        raise AssertionError(f"journal stored {stored} fills, expected {len(rows)} unique")
    fills_per_s = len(fills) / journal_s
    reference_fills_per_s = len(rows) / reference_s
    intent_p50_us = statistics.median(intents)
    reference_intent_p50_us = statistics.median(reference_intents)
    return {
        "quick": quick,
        "fills": len(fills),
        "unique_fills": len(rows),
        "fills_per_s": round(fills_per_s),
        "ref_fills_per_s": round(reference_fills_per_s),
        "ratio": round(fills_per_s / reference_fills_per_s, 3),
        "journal_s": round(journal_s, 4),
        "ref_s": round(reference_s, 4),
        "enqueue_ns_per_fill": round(enqueue_s / len(fills) * 1e9),
        "intent_p50_us": round(intent_p50_us, 1),
        "intent_p99_us": round(_percentile(intents, 0.99), 1),
        "ref_intent_p50_us": round(reference_intent_p50_us, 1),
        "ref_intent_p99_us": round(_percentile(reference_intents, 0.99), 1),
        "intent_ratio": round(reference_intent_p50_us / intent_p50_us, 3),
        "reference": "sqlite3 executemany of the same pre-formatted rows, one transaction, "
        "WAL, synchronous=NORMAL; intents: insert+commit on the calling thread",
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
