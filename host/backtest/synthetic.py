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
Manipulation episodes plug in through ``EPISODE_INJECTORS``: a function called
once per step while its episode is active, which may add or remove resting
size like any participant. Bundled (``SynthSpec.episode_counts`` plans them,
``EpisodeSettings`` shapes them):

* ``spoofing``: a large order (``size_multiple`` x the local median level
  size) ``distance_ticks`` from its side's touch; the latent fair price is
  steered toward it (a spoof is pulled only when the price comes near), and
  it is cancelled, untraded, once the touch is within
  ``cancel_within_ticks`` (or after ``max_hold_s``); ``repetitions`` times;
* ``layering``: ``ladder_levels`` large levels ``ladder_gap_ticks`` apart on
  one side, added in one book frame and removed in one frame, untraded;
* ``genuine`` (the control): placed like a spoof, but when the touch comes
  within ``cancel_within_ticks`` a large seller (buyer, for an ask) sweeps
  down to it and trades it away; never a spoof.

Their labels add ``prices``, ``sizes`` (decimal text) and ``orders``: each
order's ``cycle``, ``price``/``price_ticks``, ``size``/``size_lots``,
``median_level_lots`` (at placement), ``placed_ns``/``removed_ns`` (exchange time),
distances from its touch at placement and removal, ``traded_lots`` and
``cancelled_lots``. ``side`` is the book side the orders rest on (``Buy`` =
bids); ``start_ns``/``end_ns`` span the first placement to the last removal.
Injected size is reserved: background cancels never take it, and market
orders reach it only after the level's other size (it queues last).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True, slots=True)
class EpisodeSettings:
    """The shape of the manipulation episodes (sizes x the local median level size:
    the median lots of the best ``MEDIAN_LEVELS`` levels of both sides)."""

    size_multiple: float = 60.0  # a spoof and a genuine order
    ladder_size_multiple: float = 30.0  # each level of a layering ladder
    distance_ticks: int = 10  # from the side's touch at placement (nearest ladder level)
    cancel_within_ticks: int = 3  # a spoof or ladder goes (a genuine order is swept) this near
    repetitions: int = 3  # spoof placements per spoofing episode
    ladder_repetitions: int = 1  # ladders per layering episode
    ladder_levels: int = 4
    ladder_gap_ticks: int = 2
    # While an order rests, the latent fair price relaxes toward it with this time
    # constant (a pull, not a drift: it must beat the Brownian noise, which on
    # BTCUSDT at 0.1 tick is ~30 ticks per sqrt(s) in the quiet regime).
    approach_time_constant_s: float = 1.0
    max_hold_s: float = 6.0  # a spoof is pulled (a genuine order swept) by then at the latest
    ladder_hold_s: tuple[float, float] = (1.0, 3.0)  # a ladder rests uniform(lo, hi) s
    pause_s: float = 1.0  # between the cycles of one episode
    gap_s: tuple[float, float] = (2.0, 4.0)  # quiet market between episodes
    warmup_s: float = 3.0  # no episode before (the book and the analyzers settle)


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
    # Manipulation episodes to plan, by kind ("spoofing": 10, ...), in random
    # order and non-overlapping windows after ``episode_settings.warmup_s``.
    episode_counts: dict[str, int] = field(default_factory=dict)
    episode_settings: EpisodeSettings = field(default_factory=EpisodeSettings)


MEDIAN_LEVELS = 20  # levels per side whose median size scales the injected orders
# An episode winds up (pulls or sweeps what rests) this long before its window ends.
FINISH_MARGIN_NS = 500_000_000


@dataclass(slots=True)
class InjectedOrder:
    """One order an episode placed; its size is reserved on the level while it rests."""

    cycle: int
    is_bid: bool
    price_ticks: int
    size_lots: int
    placed_ns: int
    distance_at_placement_ticks: int
    median_level_lots: float  # the local median level size when it was placed
    removed_ns: int = 0
    distance_at_removal_ticks: int = 0
    traded_lots: int = 0
    cancelled_lots: int = 0

    @property
    def remaining_lots(self) -> int:
        return self.size_lots - self.traded_lots - self.cancelled_lots


@dataclass(slots=True)
class EpisodeState:
    """What an injector remembers between steps."""

    is_bid: bool
    phase: str = "wait"  # wait -> hold -> (sweep ->) wait ... -> done
    cycle: int = 0
    next_ns: int = 0  # wait: the next cycle starts then; hold: the hold ends then
    last_ns: int = 0
    median_level_lots: float = 0.0
    live: list[InjectedOrder] = field(default_factory=list)
    orders: list[InjectedOrder] = field(default_factory=list)


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
        if spec.episode_counts:
            # A random stream of its own: the plan does not shift the market's draws.
            planner = random.Random(f"episodes-{spec.seed}")
            self.episodes.extend(plan_episodes(spec, planner, self.episodes))
            self.episodes.sort(key=lambda episode: episode.start_ns)
        self.episode_random = random.Random(f"injectors-{spec.seed}")
        self.episode_states: dict[Episode, EpisodeState] = {}
        # Injected orders resting, by (is_bid, price_ticks); trades take them last.
        self.reserved: dict[tuple[bool, int], InjectedOrder] = {}
        self.injected_trades: list[dict[str, Any]] = []
        self.now_ns = spec.start_ns
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
            self.cancel_level(is_bid, prices[0], 0)
            return
        # Otherwise cancels hit deeper levels more often than the touch.
        index = min(len(prices) - 1, int(rng.expovariate(1 / 8)))
        price = prices[index]
        remaining = side[price] - (1 + int(rng.expovariate(1 / self.params.limit_size_lots)))
        self.cancel_level(is_bid, price, remaining)

    def cancel_level(self, is_bid: bool, price_ticks: int, size_lots: int) -> None:
        """A background cancel: it never takes an injected order's reserved size."""
        if self.reserved:
            order = self.reserved.get((is_bid, price_ticks))
            if order is not None:
                size_lots = max(size_lots, order.remaining_lots)
                side = self.book.bids if is_bid else self.book.asks
                if size_lots == side.get(price_ticks, 0):
                    return
        self.set_level(is_bid, price_ticks, size_lots)

    def market_order(self, ts_ms: int, crash: bool, trades: list[dict[str, Any]]) -> None:
        rng, params = self.random, self.params
        # Takers chase the fair price: a mid below it draws buyers.
        pull = max(-0.4, min(0.4, (self.fair_ticks - self.mid_ticks()) / 8))
        buy = rng.random() < 0.5 + params.aggressor_bias / 2 + pull
        size = 1 + int(rng.expovariate(1 / params.market_size_lots))
        if crash:
            buy, size = False, size * 20
        self.walk(ts_ms, buy, size, trades)

    def walk(self, ts_ms: int, buy: bool, size: int, trades: list[dict[str, Any]]) -> None:
        """A market order of ``size`` lots walks the other side, a trade per level."""
        side = self.book.asks if buy else self.book.bids
        while size > 0 and side:
            price = min(side) if buy else max(side)
            level = side[price]
            taken = min(size, level)
            size -= taken
            if self.reserved:
                self.fill_reserved(not buy, price, level, taken)
            self.set_level(not buy, price, level - taken)
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

    def fill_reserved(self, is_bid: bool, price_ticks: int, level_lots: int, taken: int) -> None:
        """An injected order queues behind the rest of its level: it trades last."""
        order = self.reserved.get((is_bid, price_ticks))
        if order is None:
            return
        others = level_lots - order.remaining_lots
        order.traded_lots += max(0, taken - others)
        if order.remaining_lots <= 0:
            del self.reserved[(is_bid, price_ticks)]
            order.removed_ns = self.now_ns
            order.distance_at_removal_ticks = 0  # traded away at the touch

    # -- injected orders (episodes) ---------------------------------------------------------

    def touch_distance(self, is_bid: bool, price_ticks: int) -> int:
        """Ticks from the side's touch (0: at the touch)."""
        if is_bid:
            return self.book.best_bid() - price_ticks
        return price_ticks - self.book.best_ask()

    def median_level_lots(self) -> float:
        sizes = sorted(
            [self.book.bids[p] for p in sorted(self.book.bids, reverse=True)[:MEDIAN_LEVELS]]
            + [self.book.asks[p] for p in sorted(self.book.asks)[:MEDIAN_LEVELS]]
        )
        if not sizes:
            return float(self.params.limit_size_lots)
        middle = len(sizes) // 2
        return float(sizes[middle]) if len(sizes) % 2 else (sizes[middle - 1] + sizes[middle]) / 2

    def place_order(self, state: EpisodeState, price_ticks: int, size_lots: int) -> InjectedOrder:
        """Rest ``size_lots`` more at a price (reserved); the episode remembers it."""
        is_bid = state.is_bid
        side = self.book.bids if is_bid else self.book.asks
        order = InjectedOrder(
            state.cycle,
            is_bid,
            price_ticks,
            size_lots,
            self.now_ns,
            self.touch_distance(is_bid, price_ticks),
            state.median_level_lots,
        )
        self.set_level(is_bid, price_ticks, side.get(price_ticks, 0) + size_lots)
        self.reserved[(is_bid, price_ticks)] = order
        state.live.append(order)
        state.orders.append(order)
        return order

    def pull_order(self, order: InjectedOrder, distance_ticks: int | None = None) -> None:
        """Cancel what is left of an injected order; ``distance_ticks`` from the touch
        (default: now; a ladder measures all its levels before pulling the first)."""
        remaining = order.remaining_lots
        if remaining > 0:
            if distance_ticks is None:
                distance_ticks = self.touch_distance(order.is_bid, order.price_ticks)
            order.distance_at_removal_ticks = distance_ticks
            side = self.book.bids if order.is_bid else self.book.asks
            order.cancelled_lots += remaining
            self.set_level(
                order.is_bid, order.price_ticks, side.get(order.price_ticks, 0) - remaining
            )
            order.removed_ns = self.now_ns
        self.reserved.pop((order.is_bid, order.price_ticks), None)

    def free_price(self, is_bid: bool, price_ticks: int) -> int:
        """``price_ticks`` or the next price away from the touch not holding an injected order."""
        step = -1 if is_bid else 1
        while (is_bid, price_ticks) in self.reserved:
            price_ticks += step
        return price_ticks

    def steer(self, state: EpisodeState, target_ticks: float, now_ns: int) -> None:
        """Relax the latent fair price toward ``target_ticks`` (see ``EpisodeSettings``)."""
        dt_s = (now_ns - state.last_ns) / 1e9 if state.last_ns else 0.0
        time_constant_s = self.spec.episode_settings.approach_time_constant_s
        self.fair_ticks += (target_ticks - self.fair_ticks) * (
            1.0 - math.exp(-dt_s / time_constant_s)
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


# -- manipulation episodes ------------------------------------------------------------------


def _state(market: SyntheticMarket, episode: Episode) -> EpisodeState:
    state = market.episode_states.get(episode)
    if state is None:
        is_bid = episode.side != "Sell"
        state = EpisodeState(is_bid=is_bid, next_ns=episode.start_ns)
        market.episode_states[episode] = state
    return state


def _next_cycle(state: EpisodeState, cycles: int, now_ns: int, pause_s: float) -> None:
    state.live.clear()
    state.cycle += 1
    if state.cycle >= cycles:
        state.phase = "done"
    else:
        state.phase = "wait"
        state.next_ns = now_ns + int(pause_s * 1e9)


def _place_large(
    market: SyntheticMarket, state: EpisodeState, multiple: float, distance: int
) -> None:
    """One large order ``distance`` ticks from the touch (a spoof or a genuine order)."""
    settings = market.spec.episode_settings
    state.median_level_lots = market.median_level_lots()
    size = max(1, round(multiple * state.median_level_lots))
    touch = market.book.best_bid() if state.is_bid else market.book.best_ask()
    price = touch - distance if state.is_bid else touch + distance
    market.place_order(state, market.free_price(state.is_bid, price), size)
    state.phase = "hold"
    state.next_ns = market.now_ns + int(settings.max_hold_s * 1e9)


def inject_spoofing(market: SyntheticMarket, episode: Episode, now_ns: int) -> None:
    """A large order away from the touch, pulled untraded as the price comes near."""
    settings = market.spec.episode_settings
    state = _state(market, episode)
    winding_up = now_ns >= episode.end_ns - FINISH_MARGIN_NS
    if state.phase == "wait" and now_ns >= state.next_ns and not winding_up:
        _place_large(market, state, settings.size_multiple, settings.distance_ticks)
    elif state.phase == "hold":
        (order,) = state.live
        near = (
            market.touch_distance(order.is_bid, order.price_ticks) <= settings.cancel_within_ticks
        )
        if order.remaining_lots <= 0 or near or now_ns >= state.next_ns or winding_up:
            market.pull_order(order)
            _next_cycle(state, settings.repetitions, now_ns, settings.pause_s)
        else:
            market.steer(state, order.price_ticks, now_ns)
    state.last_ns = now_ns


def inject_layering(market: SyntheticMarket, episode: Episode, now_ns: int) -> None:
    """A ladder of large levels on one side, added in one frame, removed in one frame."""
    settings = market.spec.episode_settings
    state = _state(market, episode)
    winding_up = now_ns >= episode.end_ns - FINISH_MARGIN_NS
    if state.phase == "wait" and now_ns >= state.next_ns and not winding_up:
        state.median_level_lots = market.median_level_lots()
        size = max(1, round(settings.ladder_size_multiple * state.median_level_lots))
        touch = market.book.best_bid() if state.is_bid else market.book.best_ask()
        step = -1 if state.is_bid else 1
        for level in range(settings.ladder_levels):
            distance = settings.distance_ticks + level * settings.ladder_gap_ticks
            price = market.free_price(state.is_bid, touch + step * distance)
            market.place_order(state, price, size)
        low, high = settings.ladder_hold_s
        state.phase = "hold"
        state.next_ns = now_ns + int(market.episode_random.uniform(low, high) * 1e9)
    elif state.phase == "hold":
        distances = [market.touch_distance(o.is_bid, o.price_ticks) for o in state.live]
        if min(distances) <= settings.cancel_within_ticks or now_ns >= state.next_ns or winding_up:
            for order, distance in zip(state.live, distances, strict=True):
                market.pull_order(order, distance)
            _next_cycle(state, settings.ladder_repetitions, now_ns, settings.pause_s)
    state.last_ns = now_ns


def inject_genuine(market: SyntheticMarket, episode: Episode, now_ns: int) -> None:
    """The control: placed like a spoof, then a large taker sweeps down to it and
    trades it away (in chunks of about a third of it, one per step)."""
    settings = market.spec.episode_settings
    state = _state(market, episode)
    winding_up = now_ns >= episode.end_ns - FINISH_MARGIN_NS
    if state.phase == "wait" and now_ns >= state.next_ns and not winding_up:
        _place_large(market, state, settings.size_multiple, settings.distance_ticks)
    elif state.phase == "hold":
        (order,) = state.live
        near = (
            market.touch_distance(order.is_bid, order.price_ticks) <= settings.cancel_within_ticks
        )
        if near or now_ns >= state.next_ns or winding_up:
            state.phase = "sweep"
        else:
            market.steer(state, order.price_ticks, now_ns)
    if state.phase == "sweep":
        (order,) = state.live
        side = market.book.bids if order.is_bid else market.book.asks
        if order.is_bid:
            ahead = sum(lots for price, lots in side.items() if price >= order.price_ticks)
        else:
            ahead = sum(lots for price, lots in side.items() if price <= order.price_ticks)
        chunk = ahead if winding_up else max(1, math.ceil(order.size_lots / 3))
        market.walk(
            now_ns // 1_000_000, not order.is_bid, min(chunk, ahead), market.injected_trades
        )
        if order.remaining_lots <= 0:
            _next_cycle(state, 1, now_ns, settings.pause_s)
    state.last_ns = now_ns


EPISODE_INJECTORS.update(
    {"spoofing": inject_spoofing, "layering": inject_layering, "genuine": inject_genuine}
)
# The kinds ``SynthSpec.episode_counts`` (and ``mmhost synth --episodes``) can plan.
PLANNED_KINDS = ("spoofing", "layering", "genuine")


def episode_window_s(kind: str, settings: EpisodeSettings) -> float:
    """Market seconds reserved for one episode: its cycles at their longest, plus
    the wind-up margin."""
    margin_s = FINISH_MARGIN_NS / 1e9 + 0.5
    if kind == "spoofing":
        return settings.repetitions * (settings.max_hold_s + settings.pause_s) + margin_s
    if kind == "layering":
        hold_s = settings.ladder_hold_s[1]
        return settings.ladder_repetitions * (hold_s + settings.pause_s) + margin_s
    if kind == "genuine":
        return settings.max_hold_s + 1.0 + margin_s
    raise ValueError(f"unknown episode kind {kind!r}; expected one of {', '.join(PLANNED_KINDS)}")


def plan_episodes(
    spec: SynthSpec, planner: random.Random, existing: Sequence[Episode] = ()
) -> list[Episode]:
    """Windows for ``spec.episode_counts``: kinds in random order, random sides,
    random gaps, none overlapping another or an ``existing`` episode (its window
    plus four times its length, a flash crash's recovery).

    :raises ValueError: an unknown kind, a negative count, or a market too short.
    """
    settings = spec.episode_settings
    kinds: list[str] = []
    for kind, count in sorted(spec.episode_counts.items()):
        if kind not in PLANNED_KINDS:
            raise ValueError(
                f"unknown episode kind {kind!r}; expected one of {', '.join(PLANNED_KINDS)}"
            )
        if count < 0:
            raise ValueError(f"episode count of {kind!r} must be >= 0, got {count}")
        kinds += [kind] * count
    planner.shuffle(kinds)
    blocked = [(e.start_ns, e.end_ns + 4 * (e.end_ns - e.start_ns)) for e in existing]
    end_ns = spec.start_ns + int(spec.duration_s * 1e9)
    cursor_ns = spec.start_ns + int(settings.warmup_s * 1e9)
    planned: list[Episode] = []
    for kind in kinds:
        length_ns = int(episode_window_s(kind, settings) * 1e9)
        start_ns = cursor_ns
        for blocked_start, blocked_end in blocked:
            if start_ns < blocked_end and blocked_start < start_ns + length_ns:
                start_ns = blocked_end + int(settings.gap_s[0] * 1e9)
        side = "Buy" if planner.random() < 0.5 else "Sell"
        planned.append(Episode(kind, start_ns, start_ns + length_ns, side))
        cursor_ns = start_ns + length_ns + int(planner.uniform(*settings.gap_s) * 1e9)
    if planned and planned[-1].end_ns > end_ns:
        needed_s = (planned[-1].end_ns - spec.start_ns) / 1e9
        raise ValueError(
            f"{len(planned)} episodes need about {math.ceil(needed_s)} s of market, "
            f"the duration is {spec.duration_s:g} s: raise the duration or lower the counts"
        )
    return planned


def episode_label(market: SyntheticMarket, episode: Episode) -> dict[str, Any]:
    """The label of one episode: its window, and what it placed if it placed anything."""
    label = episode.as_dict()
    state = market.episode_states.get(episode)
    if state is None or not state.orders:
        return label
    orders = state.orders
    label["start_ns"] = min(order.placed_ns for order in orders)
    label["end_ns"] = max(order.removed_ns or market.now_ns for order in orders)
    label["prices"] = [market.price_text(p) for p in sorted({o.price_ticks for o in orders})]
    label["sizes"] = [market.size_text(o.size_lots) for o in orders]
    label["orders"] = [
        {
            "cycle": order.cycle,
            "price": market.price_text(order.price_ticks),
            "price_ticks": order.price_ticks,
            "size": market.size_text(order.size_lots),
            "size_lots": order.size_lots,
            "median_level_lots": order.median_level_lots,
            "placed_ns": order.placed_ns,
            "removed_ns": order.removed_ns,
            "distance_at_placement_ticks": order.distance_at_placement_ticks,
            "distance_at_removal_ticks": order.distance_at_removal_ticks,
            "traded_lots": order.traded_lots,
            "cancelled_lots": order.cancelled_lots,
        }
        for order in orders
    ]
    return label


# -- the command line (``mmhost synth``) ------------------------------------------------------


def add_episode_options(parser: argparse.ArgumentParser) -> None:
    """``--episodes`` and ``--episode-count`` for ``mmhost synth``."""
    parser.add_argument(
        "--episodes",
        default="",
        metavar="KINDS",
        help="labelled episodes to inject, comma-separated, from "
        f"{', '.join(PLANNED_KINDS)} (genuine: large orders that trade, a control)",
    )
    parser.add_argument(
        "--episode-count",
        type=int,
        default=3,
        metavar="N",
        help="episodes of each kind in --episodes (default 3); they need about "
        f"{episode_window_s('spoofing', EpisodeSettings()) + 3:.0f} s of market each for "
        "spoofing, less for the others",
    )


def episode_counts_from_options(args: argparse.Namespace) -> dict[str, int]:
    """``{kind: count}`` from ``--episodes`` / ``--episode-count``.

    :raises ValueError: an unknown kind or a negative count (usage errors).
    """
    kinds = [kind.strip() for kind in (args.episodes or "").split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in PLANNED_KINDS]
    if unknown:
        raise ValueError(
            f"--episodes: unknown kind {unknown[0]!r}; expected one of {', '.join(PLANNED_KINDS)}"
        )
    if args.episode_count < 0:
        raise ValueError(f"--episode-count must be >= 0, got {args.episode_count}")
    return {kind: args.episode_count for kind in kinds}


def write_synthetic(path: Path, spec: SynthSpec) -> dict[str, Any]:
    """Generate the market of ``spec`` into ``path``; returns counts and labels.

    Frames are spooled to a temporary file and written behind the header at
    the end: the labels (in the header) know the episodes' prices only then.
    """
    market = SyntheticMarket(spec)
    rng = market.random
    params = market.params
    rates = (params.limit_rate_per_s, params.cancel_rate_per_s, params.market_rate_per_s)
    total_rate = sum(rates)
    end_ns = spec.start_ns + int(spec.duration_s * 1e9)
    symbol = spec.symbol
    update_id = 1
    book_frames = 0
    trade_frames = 0
    last_local_ns = 0
    now_ns = spec.start_ns
    path = Path(path)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:

        def emit(ts_ns: int, frame: dict[str, Any]) -> None:
            nonlocal last_local_ns
            # Feed latency: lognormal, median 3 ms; receive order stays time order.
            latency_ns = int(3e6 * math.exp(0.4 * rng.gauss(0.0, 1.0)))
            local_ns = max(ts_ns + latency_ns, last_local_ns)
            last_local_ns = local_ns
            spool.write(f"{local_ns} {json.dumps(frame, separators=(',', ':'))}\n")

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
            market.now_ns = now_ns
            market.move_fair(step_ns / 1e9, now_ns)
            active = market.active(now_ns)
            crash = any(e.kind == "flash_crash" for e in active)
            for episode in active:
                injector = EPISODE_INJECTORS.get(episode.kind)
                if injector is not None:
                    injector(market, episode, now_ns)
            ts_ms = now_ns // 1_000_000
            draw = rng.random() * total_rate
            # Injected takers (a genuine order's sweep) trade first in the step.
            trades: list[dict[str, Any]] = market.injected_trades
            market.injected_trades = []
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
        market.now_ns = end_ns
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
            "episodes": [episode_label(market, episode) for episode in market.episodes],
            "started_ns": spec.start_ns,
        }
        spool.seek(0)
        with RecordingWriter(path, header) as writer:
            for line in spool:
                local_text, _, frame_text = line.rstrip("\n").partition(" ")
                writer.write(int(local_text), spec.market, frame_text)
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
