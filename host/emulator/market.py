"""Market sources for the emulator: a recording, or a small synthetic random walk.

Both yield ``BookMessage`` / ``Trade`` on the *target* instrument's grid (the
Bybit listing being emulated), ordered by ``ts_exchange_ns``, which is the
replay clock.

* ``recorded_market``: any recording the project's readers understand
  (Binance raw, Bybit archives, mmhost recordings), re-labelled to the target
  venue and, when the grids differ, moved onto the target's tick and lot.
* ``SyntheticMarket``: a seeded, endless, deliberately simple random walk:
  a book of ``depth_levels`` levels per side around a mid that moves one tick
  at a time; every step changes a few sizes, and trades happen at the touch,
  so the streams never go quiet. A real generator with regimes lives in
  ``host.backtest`` later; this one only keeps clients busy.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import msgspec

from host.instruments import lookup
from host.marketdata.replay import open_events
from host.models import BookMessage, Instrument, Side, Trade

__all__ = ["MarketEvent", "SyntheticMarket", "recorded_market"]

MarketEvent = BookMessage | Trade

_NS_PER_MS = 1_000_000


class SyntheticMarket:
    """An endless seeded random walk on ``instrument``'s grid.

    :param instrument: the emulated listing (tick and lot).
    :param seed: same seed, same market.
    :param start_price: initial mid, in the quote currency.
    :param start_ts_ns: market time of the first event.
    :param step_ms: market time between steps (each step is a book delta,
        sometimes preceded by trades).
    :param depth_levels: levels kept on each side.
    :param move_probability: chance per step that the touch moves one tick.
    """

    def __init__(
        self,
        instrument: Instrument,
        *,
        seed: int = 1,
        start_price: Decimal | str = "60000",
        start_ts_ns: int = 0,
        step_ms: int = 50,
        depth_levels: int = 200,
        move_probability: float = 0.3,
    ) -> None:
        self.instrument = instrument
        self._random = random.Random(seed)
        self._step_ns = step_ms * _NS_PER_MS
        self._depth_levels = depth_levels
        self._move_probability = move_probability
        self._ts_ns = start_ts_ns
        self._best_bid_ticks = int(Decimal(start_price) / instrument.tick_size)
        # Typical level size: about 10 000 quote-currency units, and at least a
        # few minimum orders, so a test's takers never empty the book.
        price_ticks = self._best_bid_ticks
        self._typical_lots = max(
            max(instrument.min_qty_lots, 1) * 5,
            instrument.lots_for_notional(Decimal(10_000), price_ticks),
        )
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._trade_id = 0
        self._update_id = 0

    def _size(self) -> int:
        return max(1, int(self._random.expovariate(1 / self._typical_lots)))

    def _refill(self) -> None:
        """Keep exactly ``depth_levels`` contiguous levels per side from the touch."""
        best_bid = self._best_bid_ticks
        wanted_bids = range(best_bid - self._depth_levels + 1, best_bid + 1)
        wanted_asks = range(best_bid + 1, best_bid + 1 + self._depth_levels)
        for book, wanted in ((self._bids, wanted_bids), (self._asks, wanted_asks)):
            for price_ticks in [p for p in book if p not in wanted]:
                del book[price_ticks]
            for price_ticks in wanted:
                if price_ticks not in book:
                    book[price_ticks] = self._size()

    def _message(
        self, before_bids: dict[int, int], before_asks: dict[int, int], is_snapshot: bool
    ) -> BookMessage:
        self._update_id += 1
        if is_snapshot:
            bids = sorted(self._bids.items(), reverse=True)
            asks = sorted(self._asks.items())
        else:
            bids = _diff(before_bids, self._bids)
            asks = _diff(before_asks, self._asks)
        return BookMessage(
            venue=self.instrument.venue,
            symbol=self.instrument.symbol,
            ts_exchange_ns=self._ts_ns,
            ts_local_ns=self._ts_ns,
            is_snapshot=is_snapshot,
            bids=bids,
            asks=asks,
            first_update_id=self._update_id,
            last_update_id=self._update_id,
        )

    def _trade(self, aggressor: Side, price_ticks: int, size_lots: int) -> Trade:
        self._trade_id += 1
        return Trade(
            venue=self.instrument.venue,
            symbol=self.instrument.symbol,
            ts_exchange_ns=self._ts_ns,
            ts_local_ns=self._ts_ns,
            price_ticks=price_ticks,
            size_lots=size_lots,
            aggressor=aggressor,
            trade_id=str(self._trade_id),
        )

    def __iter__(self) -> Iterator[MarketEvent]:
        rng = self._random
        self._refill()
        yield self._message({}, {}, is_snapshot=True)
        while True:
            self._ts_ns += self._step_ns
            before_bids, before_asks = dict(self._bids), dict(self._asks)
            roll = rng.random()
            if roll < self._move_probability:
                # The touch moves: a taker clears the best level on one side.
                if rng.random() < 0.5:
                    price_ticks = self._best_bid_ticks + 1
                    yield self._trade(Side.BUY, price_ticks, self._asks[price_ticks])
                    self._best_bid_ticks += 1
                else:
                    price_ticks = self._best_bid_ticks
                    yield self._trade(Side.SELL, price_ticks, self._bids[price_ticks])
                    self._best_bid_ticks -= 1
                # The cleared level becomes the other side's new touch, fresh size.
                self._bids.pop(self._best_bid_ticks + 1, None)
                self._asks.pop(self._best_bid_ticks, None)
            elif roll < self._move_probability + 0.4:
                # A small trade at the touch that leaves the level standing.
                side = Side.BUY if rng.random() < 0.5 else Side.SELL
                book = self._asks if side is Side.BUY else self._bids
                price_ticks = self._best_bid_ticks + 1 if side is Side.BUY else self._best_bid_ticks
                available_lots = book[price_ticks]
                if available_lots > 1:
                    size_lots = rng.randint(1, available_lots - 1)
                    book[price_ticks] = available_lots - size_lots
                    yield self._trade(side, price_ticks, size_lots)
            # Liquidity churn away from the touch.
            for _ in range(3):
                book = self._bids if rng.random() < 0.5 else self._asks
                if book:
                    price_ticks = rng.choice(list(book))
                    book[price_ticks] = self._size()
            self._refill()
            yield self._message(before_bids, before_asks, is_snapshot=False)


def _diff(before: dict[int, int], after: dict[int, int]) -> list[tuple[int, int]]:
    changes = [(price, size) for price, size in after.items() if before.get(price) != size]
    changes.extend((price, 0) for price in before if price not in after)
    return changes


def recorded_market(paths: Sequence[Path | str], target: Instrument) -> Iterator[MarketEvent]:
    """Events of a recording on ``target``'s venue, symbol and grid.

    The readers label events with the recording's own market; events of other
    symbols are skipped. The bundled Binance USD-M BTCUSDT shares Bybit
    linear's tick and lot, so its events are only re-labelled; otherwise
    values round half-even onto the target grid (a positive size stays > 0).
    """
    sources: dict[tuple[str, str], tuple[Instrument, bool]] = {}
    for event in open_events(list(paths)):
        if not isinstance(event, BookMessage | Trade) or event.symbol != target.symbol:
            continue
        key = (event.venue, event.symbol)
        known = sources.get(key)
        if known is None:
            source = lookup(event.venue, event.symbol)
            known = sources[key] = (
                source,
                source.tick_size == target.tick_size and source.lot_size == target.lot_size,
            )
        source, same_grid = known
        if same_grid:
            yield msgspec.structs.replace(event, venue=target.venue)
        elif isinstance(event, BookMessage):
            yield msgspec.structs.replace(
                event,
                venue=target.venue,
                bids=_regrid(event.bids, source, target),
                asks=_regrid(event.asks, source, target),
            )
        else:
            price_ticks, size_lots = _regrid(
                [(event.price_ticks, event.size_lots)], source, target
            )[0]
            yield msgspec.structs.replace(
                event,
                venue=target.venue,
                price_ticks=price_ticks,
                size_lots=max(size_lots, 1),
            )


def _regrid(
    levels: list[tuple[int, int]], source: Instrument, target: Instrument
) -> list[tuple[int, int]]:
    """Levels moved onto the target grid; levels merging onto one tick add up."""
    merged: dict[int, int] = {}
    for price_ticks, size_lots in levels:
        price = (source.tick_size * price_ticks / target.tick_size).to_integral_value(
            rounding=ROUND_HALF_EVEN
        )
        size = (source.lot_size * size_lots / target.lot_size).to_integral_value(
            rounding=ROUND_HALF_EVEN
        )
        target_size = int(size) if size > 0 or size_lots == 0 else 1
        merged[int(price)] = merged.get(int(price), 0) + target_size
    return list(merged.items())
