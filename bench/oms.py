"""Benchmark: the OMS turning a Decision into order actions.

A ladder of 20 levels a side, requoted three ways: unchanged (everything
kept), moved by one tick (every level amended), and half the levels moved.
Each diff is timed on its own; p50 and p99 are reported in microseconds.

The reference, timed in the same run, is building the Decision itself (40
Quote structs and the tuple): what a strategy pays to say what it wants.
``ratio_p50`` is the diff's median over the reference's median.

Run: ``mmhost bench oms --json`` (or ``python -m bench.oms``).
"""

from __future__ import annotations

import gc
import json
import statistics
import time

from host.models import Decision, OrderStatus, OrderUpdate, Quote, Side
from host.oms import OrderManager

LEVELS = 20


def ladder(mid_ticks: int, shift_ticks: int, moved_levels: int = LEVELS) -> Decision:
    quotes = []
    for level in range(LEVELS):
        shift = shift_ticks if level < moved_levels else 0
        quotes.append(Quote(Side.BUY, mid_ticks - 1 - level + shift, 10, f"bid{level}"))
        quotes.append(Quote(Side.SELL, mid_ticks + 1 + level + shift, 10, f"ask{level}"))
    return Decision(quotes=tuple(quotes))


def acknowledge(oms: OrderManager, actions: list) -> None:
    """The venue's answer to every action, so the next diff is not blocked by in-flight orders."""
    for action in actions:
        order = oms.orders[action.order_link_id]
        status = (
            OrderStatus.CANCELLED if type(action).__name__ == "CancelOrder" else OrderStatus.NEW
        )
        price = getattr(action, "price_ticks", order.price_ticks)
        size = getattr(action, "size_lots", order.size_lots)
        oms.apply_update(
            OrderUpdate("sim", "BTCUSDT", action.order_link_id, status, 0, order.side, price, size)
        )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(quick: bool = False) -> dict:
    rounds = 300 if quick else 5_000
    oms = OrderManager("bench", run_token="b")
    acknowledge(oms, oms.diff("s", "sim", "BTCUSDT", ladder(600_000, 0), amend_venues={"sim"}))

    cases = {"unchanged": (0, LEVELS), "all_moved": (1, LEVELS), "half_moved": (1, LEVELS // 2)}
    timings_us: dict[str, list[float]] = {name: [] for name in cases}
    reference_us: list[float] = []
    actions_per_diff: dict[str, int] = {}
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for round_index in range(rounds):
            base = 600_000 + (round_index % 2)
            acknowledge(oms, oms.diff("s", "sim", "BTCUSDT", ladder(base, 0), amend_venues={"sim"}))
            for name, (shift, moved) in cases.items():
                started = clock()
                decision = ladder(base, shift, moved)
                built = clock()
                actions = oms.diff("s", "sim", "BTCUSDT", decision, amend_venues={"sim"})
                done = clock()
                reference_us.append((built - started) / 1000)
                timings_us[name].append((done - built) / 1000)
                actions_per_diff[name] = len(actions)
                acknowledge(oms, actions)
                # Return to the base ladder for the next case.
                acknowledge(
                    oms,
                    oms.diff("s", "sim", "BTCUSDT", ladder(base, 0), amend_venues={"sim"}),
                )
    finally:
        gc.enable()

    reference_p50 = statistics.median(reference_us)
    result: dict = {
        "benchmark": "oms",
        "quick": quick,
        "levels_per_side": LEVELS,
        "rounds": rounds,
        "reference": "building the 40-quote Decision",
        "reference_p50_us": round(reference_p50, 2),
    }
    for name, samples in timings_us.items():
        p50 = statistics.median(samples)
        result[f"{name}_p50_us"] = round(p50, 2)
        result[f"{name}_p99_us"] = round(percentile(samples, 0.99), 2)
        result[f"{name}_ratio_p50"] = round(p50 / reference_p50, 3)
        result[f"{name}_actions"] = actions_per_diff[name]
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
