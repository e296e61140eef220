"""Benchmark: Bybit V5 frame -> host events, msgspec structs vs stdlib json.

The stream is generated deterministically: orderbook.50 deltas of 1-4
levels per side, a 50-level snapshot every 200 book frames, and publicTrade
frames of 1-3 trades between them, formatted as Bybit does. Both paths end in
the same ``BookMessage`` / ``Trade`` values (checked once, untimed) and use the
same exact decimal-to-ticks conversion, so ``ratio`` (msgspec speed / json
speed) measures decoding and dispatch, not number parsing.

``ratio`` drops each frame's events after the call, as the live feed does once
they are applied. ``ratio_retaining_events`` keeps every event of a pass in
one list: the cyclic GC then re-walks that growing list, a cost of the same
size for both paths (same events) that is not decoding, so it pulls the ratio
towards 1. Both are reported, with their raw seconds.

Run: ``python bench/parse.py`` (prints one JSON object).
"""

from __future__ import annotations

import json
import random
import time
from functools import partial
from typing import Any

from host.instruments import lookup
from host.marketdata import bybit
from host.marketdata.bybit import BybitDecoder
from host.marketdata.common import UnitParser
from host.models import BookMessage, Instrument, Side, Trade

MARKET = "bybit-linear"
SYMBOL = "BTCUSDT"


def _price(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}0"  # linear BTCUSDT prints two decimals


def _size(lots: int) -> str:
    return f"{lots // 1000}.{lots % 1000:03d}"


def generate_frames(count: int, seed: int = 7) -> list[bytes]:
    """A realistic, deterministic orderbook.50 + publicTrade stream."""
    rng = random.Random(seed)
    mid_ticks = 600_000
    update_id = 1
    seq = 10_000
    ts_ms = 1_721_347_000_000
    frames: list[bytes] = []
    book_frames = 0
    while len(frames) < count:
        ts_ms += rng.randint(1, 30)
        if rng.random() < 0.25:
            trades = []
            for _ in range(rng.randint(1, 3)):
                side = rng.choice(("Buy", "Sell"))
                price_ticks = mid_ticks + (1 if side == "Buy" else 0)
                trades.append(
                    {
                        "T": ts_ms,
                        "s": SYMBOL,
                        "S": side,
                        "v": _size(rng.randint(1, 2000)),
                        "p": _price(price_ticks),
                        "L": "PlusTick",
                        "i": f"{rng.getrandbits(64):016x}-0000-0000",
                        "BT": False,
                    }
                )
            frame = {
                "topic": f"publicTrade.{SYMBOL}",
                "type": "snapshot",
                "ts": ts_ms,
                "data": trades,
            }
        else:
            is_snapshot = book_frames % 200 == 0
            book_frames += 1
            mid_ticks += rng.choice((-1, 0, 0, 1))
            if is_snapshot:
                bids = [[_price(mid_ticks - i), _size(rng.randint(1, 5000))] for i in range(50)]
                asks = [[_price(mid_ticks + 1 + i), _size(rng.randint(1, 5000))] for i in range(50)]
            else:

                def side_levels(sign: int, base: int) -> list[list[str]]:
                    levels = []
                    for _ in range(rng.randint(0, 4)):
                        offset = rng.randint(0, 49)
                        size_lots = 0 if rng.random() < 0.2 else rng.randint(1, 5000)
                        levels.append([_price(base + sign * offset), _size(size_lots)])
                    return levels

                bids = side_levels(-1, mid_ticks)
                asks = side_levels(1, mid_ticks + 1)
            update_id += 1
            seq += rng.randint(1, 20)
            frame = {
                "topic": f"orderbook.50.{SYMBOL}",
                "type": "snapshot" if is_snapshot else "delta",
                "ts": ts_ms,
                "data": {"s": SYMBOL, "b": bids, "a": asks, "u": update_id, "seq": seq},
                "cts": ts_ms - 2,
            }
        frames.append(json.dumps(frame, separators=(",", ":")).encode())
    return frames


class StdlibDecoder:
    """The reference: ``json.loads`` and walking the dicts, plainly."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.prices = UnitParser(instrument.tick_size)
        self.sizes = UnitParser(instrument.lot_size)

    def decode(self, frame: bytes, ts_local_ns: int) -> list[Any]:
        message = json.loads(frame)
        topic = message.get("topic", "")
        if topic.startswith("orderbook."):
            data = message["data"]
            prices = self.prices.parse
            sizes = self.sizes.parse
            return [
                BookMessage(
                    venue=self.instrument.venue,
                    symbol=data["s"],
                    ts_exchange_ns=message["ts"] * 1_000_000,
                    ts_local_ns=ts_local_ns,
                    is_snapshot=message["type"] == "snapshot",
                    bids=[(prices(price), sizes(size)) for price, size in data["b"]],
                    asks=[(prices(price), sizes(size)) for price, size in data["a"]],
                    first_update_id=data["u"],
                    last_update_id=data["u"],
                    seq=data.get("seq", -1),
                )
            ]
        if topic.startswith("publicTrade."):
            return [
                Trade(
                    venue=self.instrument.venue,
                    symbol=item["s"],
                    ts_exchange_ns=item["T"] * 1_000_000,
                    ts_local_ns=ts_local_ns,
                    price_ticks=self.prices.parse(item["p"]),
                    size_lots=self.sizes.parse(item["v"]),
                    aggressor=Side.parse(item["S"]),
                    trade_id=item.get("i", ""),
                )
                for item in message["data"]
            ]
        return []


def _time(decode: Any, frames: list[bytes]) -> float:
    """Seconds to decode every frame, each frame's events dropped after the
    call, as the live feed drops them once applied to the book."""
    start = time.perf_counter()
    for index, frame in enumerate(frames):
        decode(frame, index)
    return time.perf_counter() - start


def _time_retaining(decode: Any, frames: list[bytes]) -> tuple[float, list[Any]]:
    """Seconds to decode every frame keeping all events in one list, and the
    events. The cyclic GC then walks the growing list again and again: a cost
    of the retained output (identical for both paths), not of decoding."""
    out: list[Any] = []
    extend = out.extend
    start = time.perf_counter()
    for index, frame in enumerate(frames):
        extend(decode(frame, index))
    return time.perf_counter() - start, out


def _decode_only_ours(frames: list[bytes]) -> float:
    decode = bybit.PUBLIC_FRAME_DECODER.decode  # what BybitDecoder.decode calls
    start = time.perf_counter()
    for frame in frames:
        decode(frame)
    return time.perf_counter() - start


def _decode_only_reference(frames: list[bytes]) -> float:
    loads = json.loads
    start = time.perf_counter()
    for frame in frames:
        loads(frame)
    return time.perf_counter() - start


def run(quick: bool = False) -> dict[str, object]:
    """One JSON-able dict; ``ratio`` = msgspec frames/s over stdlib frames/s."""
    frames = generate_frames(2_000 if quick else 40_000)
    instrument = lookup(MARKET, SYMBOL)
    ours = BybitDecoder(partial(lookup, MARKET)).decode
    reference = StdlibDecoder(instrument).decode
    repeats = 1 if quick else 5
    # Same events from both paths, checked outside the timed loops; this also
    # warms our caches as the first frames of a live session would.
    ours_events = _time_retaining(ours, frames)[1]
    reference_events = _time_retaining(reference, frames)[1]
    same_result = ours_events == reference_events
    event_count = len(ours_events)
    del ours_events, reference_events
    ours_times: list[float] = []
    reference_times: list[float] = []
    for _ in range(repeats):  # interleaved: a noisy neighbour hits both alike
        ours_times.append(_time(ours, frames))
        reference_times.append(_time(reference, frames))
    ours_s = min(ours_times)
    reference_s = min(reference_times)
    ours_retaining: list[float] = []
    reference_retaining: list[float] = []
    for _ in range(repeats):
        ours_retaining.append(_time_retaining(ours, frames)[0])
        reference_retaining.append(_time_retaining(reference, frames)[0])
    ours_retaining_s = min(ours_retaining)
    reference_retaining_s = min(reference_retaining)
    decode_s = min(_decode_only_ours(frames) for _ in range(repeats))
    ref_decode_s = min(_decode_only_reference(frames) for _ in range(repeats))
    return {
        "benchmark": "parse",
        "quick": quick,
        "frames": len(frames),
        "bytes": sum(map(len, frames)),
        "events": event_count,
        "seconds": round(ours_s, 6),
        "ref_seconds": round(reference_s, 6),
        "frames_per_s": round(len(frames) / ours_s),
        "ref_frames_per_s": round(len(frames) / reference_s),
        "ratio": round(reference_s / ours_s, 3),
        "same_result_as_reference": same_result,
        "reference": "json.loads + dict walking, same tick conversion (uncached)",
        "retaining_seconds": round(ours_retaining_s, 6),
        "ref_retaining_seconds": round(reference_retaining_s, 6),
        "ratio_retaining_events": round(reference_retaining_s / ours_retaining_s, 3),
        "decode_only_seconds": round(decode_s, 6),
        "ref_decode_only_seconds": round(ref_decode_s, 6),
        "ratio_decode_only": round(ref_decode_s / decode_s, 3),
        "repeats_best_of": repeats,
    }


if __name__ == "__main__":
    print(json.dumps(run()))
