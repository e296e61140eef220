"""A reproducible synthetic L2 market, written as an mmhost recording.

The market is a price-level book driven by three Poisson point processes
(one ``random.Random(seed)``, so a seed gives the same file byte for byte):

* limit-order arrivals: at a distance from the touch drawn from a geometric
  law (most near the touch; some improve the spread when it is wider than a
  tick), size exponential;
* cancellations: a random resting level shrinks or disappears;
* market orders: size exponential, they walk the opposite side (a trade frame
  per level taken, then the book delta), which is how the price moves.

A regime sets the rates, sizes and the aggressor bias:

* ``quiet``: balanced flow, deep book;
* ``trending``: buyers dominate (the price drifts up), new bids lean in;
* ``volatile``: more and larger market orders, thinner book;
* ``flash-crash``: quiet, then for a few seconds large sells sweep the book
  and liquidity withdraws, then it refills; labelled as an episode;
* ``one-sided``: nearly all aggression on one side (sells), asks refill faster.

Output: Bybit-V5-shaped public frames (``orderbook.50.<symbol>`` snapshot
then deltas with ``u`` +1 per frame, ``publicTrade.<symbol>``) behind the
mmhost recording header, so ``read_recording`` and ``mmhost backtest``
replay it like a real recording. Receive times are exchange time plus a
lognormal feed latency (median 3 ms), non-decreasing.

Episodes: the header's ``episodes`` list (and ``<out>.labels.json`` beside the
file) labels what was injected (``{"kind", "start_ns", "end_ns", "side"}``).
Manipulation episodes (spoofing, layering) plug in through
``EPISODE_INJECTORS``: a function called once per step while its episode is
active, which may add or remove resting size like any participant.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from host.instruments import UnknownInstrumentError, lookup
from host.marketdata.recording import RecordingWriter

BOOK_DEPTH = 50  # levels per side in the snapshot and the topic name


@dataclass(frozen=True, slots=True)
class RegimeParameters:
    """Rates per second, sizes in lots, aggression bias in [-1, 1] (+ = buyers)."""

    limit_rate_per_s: float
    cancel_rate_per_s: float
    market_rate_per_s: float
    limit_size_lots: float
    market_size_lots: float
    aggressor_bias: float = 0.0
    distance_decay: float = 0.35  # geometric parameter of the level distance
    # The latent fair price the flow follows: Brownian, in bps of the start price.
    volatility_bps_per_sqrt_s: float = 0.5
    drift_bps_per_s: float = 0.0


REGIMES: dict[str, RegimeParameters] = {
    "quiet": RegimeParameters(60, 45, 8, 20, 10),
    "trending": RegimeParameters(
        60, 45, 10, 20, 12, aggressor_bias=0.2, volatility_bps_per_sqrt_s=0.7, drift_bps_per_s=0.1
    ),
    "volatile": RegimeParameters(
        80, 70, 25, 12, 25, distance_decay=0.25, volatility_bps_per_sqrt_s=2.0
    ),
    "flash-crash": RegimeParameters(60, 45, 8, 20, 10),
    "one-sided": RegimeParameters(
        60, 45, 12, 20, 12, aggressor_bias=-0.6, volatility_bps_per_sqrt_s=0.7, drift_bps_per_s=-0.1
    ),
}
# During a flash crash the fair price falls this far, then recovers half of it.
CRASH_DEPTH_BPS = 150.0


@dataclass(frozen=True, slots=True)
class Episode:
    """A labelled stretch of the synthetic market."""

    kind: str
    start_ns: int
    end_ns: int
    side: str = ""  # "Buy" / "Sell" where it has one

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "side": self.side,
        }


@dataclass(slots=True)
class SynthSpec:
    seed: int = 0
    duration_s: float = 300.0
    regime: str = "quiet"
    symbol: str = "BTCUSDT"
    market: str = "bybit-linear"
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None
    start_price: Decimal | None = None
    start_ns: int = 1_700_000_000_000_000_000
    episodes: list[Episode] = field(default_factory=list)


class SyntheticBook:
    """The generator's own book: price_ticks -> size_lots per side."""

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def best_bid(self) -> int:
        return max(self.bids) if self.bids else 0

    def best_ask(self) -> int:
        return min(self.asks) if self.asks else 0


# An injector may change ``book`` (and must list what it changed in ``changes``).
EpisodeInjector = Callable[["SyntheticMarket", Episode, int], None]
EPISODE_INJECTORS: dict[str, EpisodeInjector] = {}


class SyntheticMarket:
    """Generates events step by step; ``write_synthetic`` drives it."""

    def __init__(self, spec: SynthSpec) -> None:
        if spec.regime not in REGIMES:
            raise ValueError(f"unknown regime {spec.regime!r}; expected one of {sorted(REGIMES)}")
        if spec.duration_s <= 0:
            raise ValueError(f"duration must be positive, got {spec.duration_s}")
        self.spec = spec
        self.params = REGIMES[spec.regime]
        self.random = random.Random(spec.seed)
        try:
            known = lookup(spec.market, spec.symbol)
            tick, lot = known.tick_size, known.lot_size
        except UnknownInstrumentError:
            tick, lot = Decimal("0.01"), Decimal("0.001")
        self.tick_size = spec.tick_size or tick
        self.lot_size = spec.lot_size or lot
        start_price = spec.start_price or _default_price(spec.symbol)
        self.start_ticks = int(start_price / self.tick_size)
        self.book = SyntheticBook()
        self.changes_bid: dict[int, int] = {}
        self.changes_ask: dict[int, int] = {}
        self.episodes = list(spec.episodes)
        if spec.regime == "flash-crash":
            crash_start = spec.start_ns + int(spec.duration_s * 0.5e9)
            self.episodes.append(
                Episode("flash_crash", crash_start, crash_start + 5_000_000_000, "Sell")
            )
        self._tick_digits = max(0, -self.tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]
        self._lot_digits = max(0, -self.lot_size.normalize().as_tuple().exponent)  # type: ignore[operator]
        self.trade_count = 0
        self.fair_ticks = float(self.start_ticks)
        self.bps_in_ticks = self.start_ticks / 10_000

    def move_fair(self, dt_s: float, now_ns: int) -> None:
        """The latent fair price: Brownian with drift; the crash episode pulls it down."""
        params = self.params
        self.fair_ticks += self.bps_in_ticks * (
            params.drift_bps_per_s * dt_s
            + params.volatility_bps_per_sqrt_s * math.sqrt(dt_s) * self.random.gauss(0.0, 1.0)
        )
        for episode in self.episodes:
            if episode.kind != "flash_crash":
                continue
            length_ns = episode.end_ns - episode.start_ns
            if episode.start_ns <= now_ns < episode.end_ns:
                self.fair_ticks -= self.bps_in_ticks * CRASH_DEPTH_BPS * dt_s * 1e9 / length_ns
            elif episode.end_ns <= now_ns < episode.end_ns + 4 * length_ns:
                self.fair_ticks += (
                    self.bps_in_ticks * CRASH_DEPTH_BPS / 2 * dt_s * 1e9 / (4 * length_ns)
                )

    def mid_ticks(self) -> float:
        best_bid, best_ask = self.book.best_bid(), self.book.best_ask()
        if best_bid and best_ask:
            return (best_bid + best_ask) / 2
        return self.fair_ticks

    # -- formatting --------------------------------------------------------------------

    def price_text(self, price_ticks: int) -> str:
        return _fixed(price_ticks * self.tick_size, self._tick_digits)

    def size_text(self, size_lots: int) -> str:
        return _fixed(size_lots * self.lot_size, self._lot_digits)

    # -- the book --------------------------------------------------------------------------

    def seed_book(self) -> None:
        rng = self.random
        mid = self.start_ticks
        for level in range(BOOK_DEPTH):
            self.book.bids[mid - 1 - level] = 1 + int(
                rng.expovariate(1 / self.params.limit_size_lots)
            )
            self.book.asks[mid + 1 + level] = 1 + int(
                rng.expovariate(1 / self.params.limit_size_lots)
            )

    def set_level(self, is_bid: bool, price_ticks: int, size_lots: int) -> None:
        side = self.book.bids if is_bid else self.book.asks
        changes = self.changes_bid if is_bid else self.changes_ask
        if size_lots <= 0:
            if price_ticks in side:
                del side[price_ticks]
                changes[price_ticks] = 0
            return
        side[price_ticks] = size_lots
        changes[price_ticks] = size_lots

    def trim(self) -> None:
        """Keep the book to BOOK_DEPTH levels a side, like the topic does."""
        for is_bid in (True, False):
            side = self.book.bids if is_bid else self.book.asks
            if len(side) > BOOK_DEPTH:
                ordered = sorted(side, reverse=is_bid)
                for price in ordered[BOOK_DEPTH:]:
                    self.set_level(is_bid, price, 0)

    def active(self, now_ns: int) -> list[Episode]:
        return [e for e in self.episodes if e.start_ns <= now_ns < e.end_ns]

    # -- point processes -----------------------------------------------------------------

    def limit_arrival(self, crash: bool) -> None:
        rng, params = self.random, self.params
        bias = params.aggressor_bias
        is_bid = rng.random() < 0.5 + bias / 4  # passive flow leans with the trend
        best_bid, best_ask = self.book.best_bid(), self.book.best_ask()
        if not best_bid or not best_ask:
            best_bid = best_bid or best_ask - 1
            best_ask = best_ask or best_bid + 1
        distance = _geometric(rng, params.distance_decay)
        fair = round(self.fair_ticks)
        # Passive orders sit around the fair price, never crossing the other side.
        if is_bid:
            price = min(fair - 1 - distance, best_ask - 1)
        else:
            price = max(fair + 1 + distance, best_bid + 1)
        if price <= 0:
            return
        size = 1 + int(rng.expovariate(1 / params.limit_size_lots))
        if crash:
            size = max(1, size // 8)  # liquidity withdraws during the crash
        side = self.book.bids if is_bid else self.book.asks
        self.set_level(is_bid, price, side.get(price, 0) + size)

    def cancellation(self, crash: bool) -> None:
        rng = self.random
        is_bid = rng.random() < 0.5
        if crash:
            is_bid = True  # bids pull out while it crashes
        side = self.book.bids if is_bid else self.book.asks
        if len(side) <= 3:
            return
        prices = sorted(side, reverse=is_bid)
        stale = prices[0] > self.fair_ticks if is_bid else prices[0] < self.fair_ticks
        if stale and rng.random() < 0.7:
            # Quotes left on the wrong side of the fair price get pulled first.
            self.set_level(is_bid, prices[0], 0)
            return
        # Otherwise cancels hit deeper levels more often than the touch.
        index = min(len(prices) - 1, int(rng.expovariate(1 / 8)))
        price = prices[index]
        remaining = side[price] - (1 + int(rng.expovariate(1 / self.params.limit_size_lots)))
        self.set_level(is_bid, price, remaining)

    def market_order(self, ts_ms: int, crash: bool, trades: list[dict[str, Any]]) -> None:
        rng, params = self.random, self.params
        # Takers chase the fair price: a mid below it draws buyers.
        pull = max(-0.4, min(0.4, (self.fair_ticks - self.mid_ticks()) / 8))
        buy = rng.random() < 0.5 + params.aggressor_bias / 2 + pull
        size = 1 + int(rng.expovariate(1 / params.market_size_lots))
        if crash:
            buy, size = False, size * 20
        side = self.book.asks if buy else self.book.bids
        while size > 0 and side:
            price = min(side) if buy else max(side)
            taken = min(size, side[price])
            size -= taken
            self.set_level(not buy, price, side[price] - taken)
            self.trade_count += 1
            trades.append(
                {
                    "T": ts_ms,
                    "s": self.spec.symbol,
                    "S": "Buy" if buy else "Sell",
                    "v": self.size_text(taken),
                    "p": self.price_text(price),
                    "L": "PlusTick" if buy else "MinusTick",
                    "i": f"syn-{self.spec.seed}-{self.trade_count}",
                    "BT": False,
                }
            )

    def refill(self) -> None:
        """An empty side gets a few levels back (a real book never stays empty long)."""
        best_bid, best_ask = self.book.best_bid(), self.book.best_ask()
        reference = best_bid or best_ask or round(self.fair_ticks)
        if not self.book.bids:
            top = (best_ask - 1) if best_ask else reference
            for level in range(5):
                self.set_level(True, top - level, 1 + int(self.random.expovariate(0.05)))
        if not self.book.asks:
            bottom = (best_bid + 1) if best_bid else reference + 1
            for level in range(5):
                self.set_level(False, bottom + level, 1 + int(self.random.expovariate(0.05)))


def write_synthetic(path: Path, spec: SynthSpec) -> dict[str, Any]:
    """Generate the market of ``spec`` into ``path``; returns counts and labels."""
    market = SyntheticMarket(spec)
    rng = market.random
    params = market.params
    rates = (params.limit_rate_per_s, params.cancel_rate_per_s, params.market_rate_per_s)
    total_rate = sum(rates)
    end_ns = spec.start_ns + int(spec.duration_s * 1e9)
    symbol = spec.symbol
    header = {
        "venue": spec.market,
        "symbols": [symbol],
        "topics": [f"orderbook.{BOOK_DEPTH}.{symbol}", f"publicTrade.{symbol}"],
        "synthetic": {
            "seed": spec.seed,
            "regime": spec.regime,
            "duration_s": spec.duration_s,
            "generator": "host.backtest.synthetic v1",
        },
        "tick_size": str(market.tick_size),
        "lot_size": str(market.lot_size),
        "episodes": [episode.as_dict() for episode in market.episodes],
        "started_ns": spec.start_ns,
    }
    update_id = 1
    book_frames = 0
    trade_frames = 0
    last_local_ns = 0
    now_ns = spec.start_ns
    path = Path(path)
    with RecordingWriter(path, header) as writer:

        def emit(ts_ns: int, frame: dict[str, Any]) -> None:
            nonlocal last_local_ns
            # Feed latency: lognormal, median 3 ms; receive order stays time order.
            latency_ns = int(3e6 * math.exp(0.4 * rng.gauss(0.0, 1.0)))
            local_ns = max(ts_ns + latency_ns, last_local_ns)
            last_local_ns = local_ns
            writer.write(local_ns, spec.market, json.dumps(frame, separators=(",", ":")))

        def book_frame(ts_ms: int, kind: str) -> dict[str, Any]:
            nonlocal update_id
            if kind == "snapshot":
                bids = sorted(market.book.bids.items(), reverse=True)
                asks = sorted(market.book.asks.items())
            else:
                bids = sorted(market.changes_bid.items(), reverse=True)
                asks = sorted(market.changes_ask.items())
            frame = {
                "topic": f"orderbook.{BOOK_DEPTH}.{symbol}",
                "type": kind,
                "ts": ts_ms,
                "cts": ts_ms,
                "data": {
                    "s": symbol,
                    "b": [[market.price_text(p), market.size_text(q)] for p, q in bids],
                    "a": [[market.price_text(p), market.size_text(q)] for p, q in asks],
                    "u": update_id,
                    "seq": update_id,
                },
            }
            update_id += 1
            market.changes_bid.clear()
            market.changes_ask.clear()
            return frame

        market.seed_book()
        emit(now_ns, book_frame(now_ns // 1_000_000, "snapshot"))
        book_frames += 1
        while True:
            step_ns = int(rng.expovariate(total_rate) * 1e9) + 1
            now_ns += step_ns
            if now_ns >= end_ns:
                break
            market.move_fair(step_ns / 1e9, now_ns)
            active = market.active(now_ns)
            crash = any(e.kind == "flash_crash" for e in active)
            for episode in active:
                injector = EPISODE_INJECTORS.get(episode.kind)
                if injector is not None:
                    injector(market, episode, now_ns)
            ts_ms = now_ns // 1_000_000
            draw = rng.random() * total_rate
            trades: list[dict[str, Any]] = []
            if draw < rates[0]:
                market.limit_arrival(crash)
            elif draw < rates[0] + rates[1]:
                market.cancellation(crash)
            else:
                market.market_order(ts_ms, crash, trades)
            if crash and rng.random() < 0.5:
                market.market_order(ts_ms, crash, trades)
            market.refill()
            market.trim()
            if trades:
                emit(
                    now_ns,
                    {
                        "topic": f"publicTrade.{symbol}",
                        "type": "snapshot",
                        "ts": ts_ms,
                        "data": trades,
                    },
                )
                trade_frames += 1
            if market.changes_bid or market.changes_ask:
                emit(now_ns, book_frame(ts_ms, "delta"))
                book_frames += 1
    labels_path = path.with_name(path.name + ".labels.json")
    labels_path.write_text(json.dumps({"episodes": header["episodes"]}, indent=2) + "\n")
    return {
        "out": str(path),
        "labels": str(labels_path),
        "frames": book_frames + trade_frames,
        "book_frames": book_frames,
        "trade_frames": trade_frames,
        "trades": market.trade_count,
        "episodes": header["episodes"],
        "symbol": symbol,
        "market": spec.market,
        "tick_size": str(market.tick_size),
        "lot_size": str(market.lot_size),
    }


def _geometric(rng: random.Random, decay: float) -> int:
    """0, 1, 2 ... with P(k) = decay * (1 - decay)^k."""
    return int(math.log(1.0 - rng.random()) / math.log(1.0 - decay))


def _fixed(value: Decimal, digits: int) -> str:
    return f"{value:.{digits}f}"


def _default_price(symbol: str) -> Decimal:
    if symbol.startswith("BTC"):
        return Decimal(60_000)
    if symbol.startswith("ETH"):
        return Decimal(3_000)
    return Decimal(100)
