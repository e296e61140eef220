"""Backtest metrics: what a run earned, how, and at what risk.

``BacktestRecorder`` is owned by the backtest, not by the hot path: it sees
each of our fills once at the exchange (``SimVenue.fill_observer``, with the
exchange-side book at that instant) and once at our side (the public
``mmhost_fill`` hook), and samples the market on a scheduler timer every
``sample_interval_ms`` of market time (100 ms by default), never per event.

Conventions (all tested in tests/backtest/test_metrics.py):

* PnL is in the quote currency. ``realized_pnl`` and ``unrealized_pnl`` are
  before fees; ``fees`` is separate (negative = rebates received);
  ``net_pnl = realized + unrealized - fees``. Unrealised PnL is marked at the
  exchange-side mid.
* Equity is ``net_pnl`` sampled every second of market time; ``max_drawdown``
  is the largest fall of that curve from a running peak (quote currency,
  >= 0).
* Sharpe and Sortino use 1-minute changes of equity. Equity changes rather
  than returns on capital: the ratio does not depend on the capital base as
  long as it is constant. Annualised with sqrt(minutes per year, 24/7
  markets). Sortino's denominator is the root mean square of the negative
  changes. Fewer than two minutes: null.
* Markout of a fill at horizon h, in bps:
  ``side * (mid(t + h) - price) / price * 10_000``, with ``side`` +1 for a
  buy, -1 for a sell, ``t`` the exchange time of the fill and ``mid`` the
  exchange-side mid (sampled, so up to one sample interval late). **Positive
  means the market moved our way after the fill; a fill that was run over
  (we bought and the price kept falling) has a negative markout.** Adverse
  selection is the negative of the markout. Fills whose horizon lies past the
  end of the data are left out (``markout_pending``).
* Spread captured of a fill: the same formula at h = 0 with the mid just
  before the fill (the book the fill came from): half the quoted spread for a
  maker fill at the touch, negative for a taker fill.
* ``fill_ratio``: orders with at least one fill / orders sent.
  ``order_to_trade_ratio``: (orders + amends + cancels sent) / fills.
* ``quote_uptime``: share of samples with a live bid and a live ask of ours;
  ``quote_uptime_bid`` / ``_ask`` per side.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from host.hookspecs import hookimpl
from host.models import Fill, Side

if TYPE_CHECKING:
    from host.clock import Scheduler
    from host.engine import Engine
    from host.venues.sim import SimVenue

MARKOUT_HORIZONS_S: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
SUMMARY_MARKOUTS_S: tuple[float, ...] = (1.0, 10.0, 60.0)
MINUTES_PER_YEAR = 365 * 24 * 60
SERIES_INTERVAL_NS = 1_000_000_000
_NO_MARKOUT_DUE = 1 << 62
# Report series are thinned (every other point dropped, stride doubled) past
# this length, so a long backtest keeps bounded memory.
MAX_SERIES_POINTS = 20_000
MAX_REPORT_FILLS = 20_000


@dataclass(slots=True)
class FillRecord:
    """One of our fills as the exchange made it, with the mid of that moment."""

    ts_ns: int
    side: int
    price_ticks: int
    size_lots: int
    is_maker: bool
    mid_ticks: float | None
    markouts_bps: dict[float, float] = field(default_factory=dict)


@dataclass(slots=True)
class Series:
    """Sampled time series for the report, thinned to a bounded length."""

    ts_ns: array = field(default_factory=lambda: array("q"))
    mid: array = field(default_factory=lambda: array("d"))
    bid_quote: array = field(default_factory=lambda: array("d"))  # NaN: no bid of ours
    ask_quote: array = field(default_factory=lambda: array("d"))
    inventory: array = field(default_factory=lambda: array("d"))  # base units, signed
    equity: array = field(default_factory=lambda: array("d"))  # quote currency
    stride: int = 1
    skipped: int = 0

    def append(
        self, ts_ns: int, mid: float, bid: float, ask: float, inventory: float, equity: float
    ) -> None:
        if self.skipped + 1 < self.stride:
            self.skipped += 1
            return
        self.skipped = 0
        self.ts_ns.append(ts_ns)
        self.mid.append(mid)
        self.bid_quote.append(bid)
        self.ask_quote.append(ask)
        self.inventory.append(inventory)
        self.equity.append(equity)
        if len(self.ts_ns) > MAX_SERIES_POINTS:
            for name in ("ts_ns", "mid", "bid_quote", "ask_quote", "inventory", "equity"):
                setattr(self, name, getattr(self, name)[::2])
            self.stride *= 2


class BacktestRecorder:
    """Collects the metrics of one backtest on one instrument.

    :param engine: the engine under test (its positions and OMS are read).
    :param venue: the sim venue whose fills and book are observed.
    :param symbol: the instrument recorded.
    :param sample_interval_ms: market-time sampling period of the mid.
    """

    def __init__(
        self,
        engine: Engine,
        scheduler: Scheduler,
        venue: SimVenue,
        symbol: str,
        *,
        sample_interval_ms: int = 100,
        horizons_s: tuple[float, ...] = MARKOUT_HORIZONS_S,
    ) -> None:
        self.engine = engine
        self.scheduler = scheduler
        self.venue = venue
        self.symbol = symbol
        self.matching = venue.engines[symbol]
        self.state = engine.instruments[(venue.name, symbol)]
        self.instrument = self.state.instrument
        self.sample_interval_ns = sample_interval_ms * 1_000_000
        self.horizons_s = horizons_s
        self.horizons_ns = [int(h * 1e9) for h in horizons_s]
        # One FIFO per horizon: fills come in time order, so each is due in order.
        self._due: list[deque[FillRecord]] = [deque() for _ in horizons_s]
        self._horizons = list(zip(self.horizons_s, self.horizons_ns, self._due, strict=True))
        # When the first queued markout falls due: most samples resolve none.
        self._next_markout_ns = _NO_MARKOUT_DUE
        self.fills: list[FillRecord] = []
        self.fills_seen = 0
        self.local_fills: list[Fill] = []
        self.filled_order_ids: set[str] = set()
        self.series = Series()
        self.samples = 0
        self.samples_bid = 0
        self.samples_ask = 0
        self.samples_both = 0
        self.minute_equity: list[float] = []
        self._next_series_ns = 0
        self._next_minute_ns = 0
        self.peak_equity = 0.0
        self.max_drawdown = 0.0
        self.max_inventory = 0.0
        self.min_inventory = 0.0
        self.last_mid_ticks: float | None = None
        self.last_sample_ns = 0
        self.maker_fills = 0
        self.taker_fills = 0

    # -- wiring ---------------------------------------------------------------------------

    def attach(self) -> BacktestRecorder:
        self.venue.fill_observer = self.on_exchange_fill
        self.engine.plugins.pm.register(self, name="backtest-recorder")
        self.scheduler.call_later(self.sample_interval_ns, self._tick)
        return self

    def detach(self) -> None:
        self.venue.fill_observer = None
        if self.engine.plugins.pm.is_registered(self):
            self.engine.plugins.pm.unregister(self)

    # -- observers ---------------------------------------------------------------------------

    def exchange_mid_ticks(self) -> float | None:
        return self.matching.mid_ticks()

    def on_exchange_fill(self, fill: Fill, mid_before_ticks: float | None) -> None:
        if fill.symbol != self.symbol:
            return
        record = FillRecord(
            fill.ts_ns,
            int(fill.side),
            fill.price_ticks,
            fill.size_lots,
            fill.is_maker,
            mid_before_ticks,
        )
        self.fills_seen += 1
        if fill.is_maker:
            self.maker_fills += 1
        else:
            self.taker_fills += 1
        if len(self.fills) < MAX_REPORT_FILLS:
            self.fills.append(record)
        for queue in self._due:
            queue.append(record)
        if self.horizons_ns:
            self._next_markout_ns = min(self._next_markout_ns, record.ts_ns + min(self.horizons_ns))

    @hookimpl
    def mmhost_fill(self, fill: Fill) -> None:
        self.filled_order_ids.add(fill.order_link_id)
        if len(self.local_fills) < MAX_REPORT_FILLS:
            self.local_fills.append(fill)

    # -- sampling ------------------------------------------------------------------------------

    def _tick(self) -> None:
        scheduler = self.scheduler
        now_ns = scheduler.clock.now_ns()
        self.sample(now_ns)
        scheduler.call_at(now_ns + self.sample_interval_ns, self._tick)

    def sample(self, now_ns: int) -> None:
        """One sample: resolve due markouts, count quote uptime, extend the series."""
        mid = self.exchange_mid_ticks()
        if mid is None:
            return
        self.last_mid_ticks = mid
        self.last_sample_ns = now_ns
        if now_ns >= self._next_markout_ns:
            next_due_ns = _NO_MARKOUT_DUE
            for horizon_s, horizon_ns, queue in self._horizons:
                while queue and queue[0].ts_ns + horizon_ns <= now_ns:
                    record = queue.popleft()
                    record.markouts_bps[horizon_s] = markout_bps(
                        record.side, record.price_ticks, mid
                    )
                if queue:
                    next_due_ns = min(next_due_ns, queue[0].ts_ns + horizon_ns)
            self._next_markout_ns = next_due_ns
        if not self.engine.running:
            return
        self.samples += 1
        bid_ticks, ask_ticks = self._our_quotes()
        has_bid = bid_ticks is not None
        has_ask = ask_ticks is not None
        self.samples_bid += has_bid
        self.samples_ask += has_ask
        self.samples_both += has_bid and has_ask
        if now_ns < self._next_series_ns:
            return
        self._next_series_ns = now_ns + SERIES_INTERVAL_NS
        position = self.state.position
        equity = float(position.net_pnl(mid))
        inventory = float(position.qty)
        self.max_inventory = max(self.max_inventory, inventory)
        self.min_inventory = min(self.min_inventory, inventory)
        if equity > self.peak_equity:
            self.peak_equity = equity
        self.max_drawdown = max(self.max_drawdown, self.peak_equity - equity)
        if now_ns >= self._next_minute_ns:
            self._next_minute_ns = now_ns + 60 * SERIES_INTERVAL_NS
            self.minute_equity.append(equity)
        tick = float(self.instrument.tick_size)
        self.series.append(
            now_ns,
            mid * tick,
            bid_ticks * tick if has_bid else math.nan,
            ask_ticks * tick if has_ask else math.nan,
            inventory,
            equity,
        )

    def _our_quotes(self) -> tuple[int | None, int | None]:
        best_bid: int | None = None
        best_ask: int | None = None
        for order in self.engine.oms.live_on(self.venue.name, self.symbol):
            price = order.price_ticks
            if price is None:
                continue
            if order.side is Side.BUY:
                if best_bid is None or price > best_bid:
                    best_bid = price
            elif best_ask is None or price < best_ask:
                best_ask = price
        return best_bid, best_ask

    # -- results --------------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Everything the summary adds to ``RunSummary.to_json()``."""
        engine = self.engine
        position = self.state.position
        fills = engine.stats.fills
        oms = engine.oms
        orders_sent = oms.orders_sent
        amends_sent = getattr(oms, "amends_sent", 0)
        exchange_fills = self.maker_fills + self.taker_fills
        markouts: dict[str, float | None] = {}
        markout_curve: list[dict[str, float | int | None]] = []
        pending = 0
        for horizon_s, queue in zip(self.horizons_s, self._due, strict=True):
            values = [r.markouts_bps[horizon_s] for r in self.fills if horizon_s in r.markouts_bps]
            mean = _mean(values)
            markout_curve.append({"horizon_s": horizon_s, "mean_bps": mean, "fills": len(values)})
            if horizon_s in SUMMARY_MARKOUTS_S:
                markouts[f"markout_{horizon_s:g}s_bps"] = mean
                pending = max(pending, len(queue))
        spreads = [
            markout_bps(r.side, r.price_ticks, r.mid_ticks)
            for r in self.fills
            if r.mid_ticks is not None
        ]
        minute_changes = [
            b - a for a, b in zip(self.minute_equity, self.minute_equity[1:], strict=False)
        ]
        # The last partial minute counts too: equity now minus at the last mark.
        mid = self.last_mid_ticks
        final_equity = float(position.net_pnl(mid)) if mid is not None else 0.0
        if self.minute_equity:
            minute_changes.append(final_equity - self.minute_equity[-1])
        sharpe, sortino = sharpe_sortino(minute_changes)
        result: dict[str, Any] = {
            "maker_fills": self.maker_fills,
            "taker_fills": self.taker_fills,
            "maker_share": round(self.maker_fills / exchange_fills, 6) if exchange_fills else None,
            "taker_share": round(self.taker_fills / exchange_fills, 6) if exchange_fills else None,
            "fill_ratio": round(len(self.filled_order_ids) / orders_sent, 6)
            if orders_sent
            else None,
            "order_to_trade_ratio": round((orders_sent + amends_sent + oms.cancels_sent) / fills, 6)
            if fills
            else None,
            "quote_uptime": _share(self.samples_both, self.samples),
            "quote_uptime_bid": _share(self.samples_bid, self.samples),
            "quote_uptime_ask": _share(self.samples_ask, self.samples),
            "sharpe_1min_annualized": sharpe,
            "sortino_1min_annualized": sortino,
            "max_drawdown": round(self.max_drawdown, 8),
            "inventory_final": float(position.qty),
            "inventory_max": self.max_inventory,
            "inventory_min": self.min_inventory,
            "spread_captured_bps": _mean(spreads),
            **markouts,
            "markout_pending": pending,
            "markout_curve": markout_curve,
            "samples": self.samples,
        }
        return result


def markout_bps(side: int, price_ticks: int, mid_ticks: float | None) -> float:
    """``side * (mid - price) / price`` in bps: positive = the market moved our way."""
    if mid_ticks is None:
        return math.nan
    return side * (mid_ticks - price_ticks) / price_ticks * 10_000


def sharpe_sortino(changes: list[float]) -> tuple[float | None, float | None]:
    """Annualised Sharpe and Sortino of per-minute equity changes (None if < 2)."""
    if len(changes) < 2:
        return None, None
    mean = sum(changes) / len(changes)
    variance = sum((c - mean) ** 2 for c in changes) / (len(changes) - 1)
    scale = math.sqrt(MINUTES_PER_YEAR)
    sharpe = None if variance <= 0 else round(mean / math.sqrt(variance) * scale, 6)
    downside = math.sqrt(sum(min(c, 0.0) ** 2 for c in changes) / len(changes))
    sortino = None if downside <= 0 else round(mean / downside * scale, 6)
    return sharpe, sortino


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if not math.isnan(v)]
    return round(sum(values) / len(values), 6) if values else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def money(value: Decimal) -> str:
    """Quote-currency amounts in JSON: decimal strings, 8 places at most."""
    return format(value.quantize(Decimal("0.00000001")).normalize(), "f")
