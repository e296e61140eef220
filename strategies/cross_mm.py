"""Cross-exchange market making: quote here, hedge there.

The strategy rests a bid and an ask on its own venue, priced off a hedge venue
it watches (``hedge_venue``, or the one watched instrument; config
``watch = ["hedge:SYMBOL"]``), and hedges
every fill at once on the hedge venue with an IOC Take:

- bid = hedge reference x (1 - hedge taker fee - own maker fee - edge), rounded
  down to the own venue's tick; ask = reference x (1 + ...), rounded up. With
  ``reference = "touch"`` the bid is priced off the hedge venue's best bid (where
  a bought lot will be sold) and the ask off its best ask; ``"mid"`` uses the
  hedge mid for both and leaves the hedge's half spread to ``edge_bps``.
- Quotes never cross the own book (they are PostOnly), are sized
  ``order_size_quote`` and at most ``hedge_depth_share`` of the hedge venue's
  depth within ``max_hedge_slippage_bps`` of its touch, and come down while the
  hedge book is older than ``max_book_age_ms``.
- A fill of ``q`` sends an IOC for ``q`` (in the hedge venue's lots) on the
  other side, limited ``max_hedge_slippage_bps`` through the hedge touch. What
  an IOC leaves unfilled is retried on the next event, up to
  ``hedge_attempts`` times per fill; while anything is unhedged the side that
  would add to it stops quoting.
- Inventory cap: the own venue's position (hedged, so it is the wallet
  imbalance between the venues a desk must rebalance) is kept within
  ``max_inventory_quote``; at the cap the side that would grow it is pulled.

Hedge slippage is the hedge's actual price against the hedge touch when our
fill arrived (execution cost, positive = cost; summed in quote currency and
per hedge in bps); reference drift is that touch against the reference the
filled quote was priced from (a stale quote picked off). With per-fill
captured spread (own fill against hedge fills, fees
included) it is in ``stats()``, ``on_save()`` and ``mmhost_collect_metrics``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from host import Decision, Fill, OrderUpdate, Quote, Side, Strategy, StrategyParams, Take, hookimpl
from host.models import OrderStatus

BPS = Decimal("0.0001")


class CrossMMParams(StrategyParams):
    hedge_venue: str = Field(
        "",
        description="Venue name of the watched instrument fills are hedged on; empty: the "
        "one watched instrument (the first whose book arrives).",
    )
    hedge_symbol: str | None = Field(
        None, description="Symbol on the hedge venue (default: the strategy's own symbol)."
    )
    reference: Literal["touch", "mid"] = Field(
        "touch",
        description="Price quotes off the hedge venue's touch (bid off its bid, ask off its "
        "ask) or off its mid.",
    )
    maker_fee_bps: Decimal = Field(
        Decimal("2"), ge=-100, le=1000, description="Own venue's maker fee (negative: rebate)."
    )
    hedge_taker_fee_bps: Decimal = Field(
        Decimal("10"), ge=0, le=1000, description="Hedge venue's taker fee."
    )
    edge_bps: Decimal = Field(
        Decimal("3"), ge=0, le=1000, description="Edge kept on each round trip after both fees."
    )
    order_size_quote: Decimal = Field(
        Decimal("200"), gt=0, description="Size of each quote, quote currency (USDT)."
    )
    hedge_depth_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Quote at most this share of the hedge venue's depth within "
        "max_hedge_slippage_bps of its touch.",
    )
    max_hedge_slippage_bps: Decimal = Field(
        Decimal("20"), ge=0, le=1000, description="Hedge IOC limit: this far through the touch."
    )
    hedge_attempts: int = Field(
        3, ge=1, le=20, description="IOCs tried per fill before the rest is left unhedged."
    )
    max_inventory_quote: Decimal = Field(
        Decimal("1000"),
        gt=0,
        description="Largest position on the quoting venue, quote currency; at the cap the "
        "side that would grow it is pulled.",
    )
    max_book_age_ms: int = Field(
        2000,
        ge=0,
        description="Quotes come down while the hedge book has not updated for this long.",
    )
    max_records: int = Field(1000, ge=0, description="Hedged fills kept in detail.")


@dataclass(slots=True)
class Hedge:
    """One own fill and the IOCs that hedge it."""

    number: int
    ts_ns: int
    own_side: int  # side of the own fill: the hedge trades the other way
    own_qty: Decimal
    own_notional: Decimal
    own_fee: Decimal
    expected_price: Decimal  # the hedge reference the filled quote was priced from
    touch_price: Decimal  # the hedge touch when the fill reached us
    hedged_qty: Decimal = Decimal(0)
    hedge_notional: Decimal = Decimal(0)
    hedge_fees: Decimal = Decimal(0)
    attempts: int = 0

    @property
    def remaining_qty(self) -> Decimal:
        return self.own_qty - self.hedged_qty


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        if value.as_tuple().exponent < -12:  # type: ignore[operator]
            value = value.quantize(Decimal("1e-12"))  # division tails, far below a cent
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class CrossMM(Strategy):
    name = "cross_mm"
    Params = CrossMMParams
    params: CrossMMParams
    timer_interval_ms = 0
    state_version = 1

    def __init__(self, ctx: Any, params: CrossMMParams) -> None:
        super().__init__(ctx, params)
        # (venue, symbol) of the hedge leg; learnt from the first watched book when not set.
        self.hedge_key: tuple[str, str] | None = (
            (params.hedge_venue, params.hedge_symbol or ctx.symbol) if params.hedge_venue else None
        )
        self.hedges: deque[Hedge] = deque()  # not yet fully hedged, oldest first
        self.in_flight: deque[tuple[Hedge, int]] = deque()  # (hedge, lots) per IOC sent
        self.records: deque[dict[str, Any]] = deque(maxlen=params.max_records)
        self.fills_seen = 0
        # (side, price_ticks) -> the hedge reference a quote at that price was priced from:
        # a fill may hit an older quote than the one just computed.
        self.quote_refs: dict[tuple[int, int], Decimal] = {}
        self.last_quotes: tuple[Quote, ...] | None = None
        self.counters: dict[str, Any] = {
            "own_fills": 0,
            "own_volume_quote": Decimal(0),
            "hedge_orders": 0,
            "hedge_fills": 0,
            "fills_hedged": 0,
            "hedge_retries": 0,
            "hedges_incomplete": 0,
            "residual_qty": Decimal(0),  # signed base left unhedged (below a lot, or given up)
            "hedge_slippage_quote": Decimal(0),  # hedge fills against the touch at our fill
            "reference_drift_quote": Decimal(0),  # that touch against the quote's reference
            "hedge_slippage_bps_total": Decimal(0),  # per hedged fill, summed (mean = / fills)
            "captured_quote": Decimal(0),
            "fees_quote": Decimal(0),
            "quotes_pulled_stale": 0,
            "quotes_pulled_inventory": 0,
        }

    # -- legs ------------------------------------------------------------------------------

    def hedge_leg(self) -> Any:
        assert self.hedge_key is not None
        return self.ctx.leg(*self.hedge_key)

    def _is_hedge(self, venue: str, symbol: str) -> bool:
        return (venue, symbol) == self.hedge_key

    def _is_own(self, venue: str, symbol: str) -> bool:
        return venue == self.ctx.venue and symbol == self.ctx.symbol

    # -- quoting ---------------------------------------------------------------------------

    def desired_quotes(self) -> tuple[Quote, ...]:
        """Bid and ask priced off the hedge venue, within the caps; () pulls both."""
        params = self.params
        ctx = self.ctx
        own_book = ctx.book
        if self.hedge_key is None:
            return ()  # no hedge venue seen yet: nothing to price from
        hedge = self.hedge_leg()
        hedge_book = hedge.book
        now_ns = ctx.clock.now_ns()
        if not (hedge_book.is_valid and own_book.is_valid):
            return ()
        if not (hedge_book.best_bid_ticks and hedge_book.best_ask_ticks):
            return ()
        if now_ns - hedge_book.last_ts_local_ns > params.max_book_age_ms * 1_000_000:
            self.counters["quotes_pulled_stale"] += 1
            return ()
        hedge_tick = hedge.instrument.tick_size
        own = ctx.instrument
        if params.reference == "touch":
            bid_ref = hedge_tick * hedge_book.best_bid_ticks
            ask_ref = hedge_tick * hedge_book.best_ask_ticks
        else:
            bid_ref = ask_ref = hedge_tick * Decimal(hedge_book.mid_ticks())
        margin = (params.hedge_taker_fee_bps + params.maker_fee_bps + params.edge_bps) * BPS
        # Bids round down and asks up: rounding never gives the edge away.
        bid_ticks = math.floor(bid_ref * (1 - margin) / own.tick_size)
        ask_ticks = math.ceil(ask_ref * (1 + margin) / own.tick_size)
        # PostOnly: never at or through the own book's other side.
        if own_book.best_ask_ticks:
            bid_ticks = min(bid_ticks, own_book.best_ask_ticks - 1)
        if own_book.best_bid_ticks:
            ask_ticks = max(ask_ticks, own_book.best_bid_ticks + 1)
        position_quote = own.notional(max(bid_ticks, 1), abs(ctx.position.size_lots))
        unhedged = self.unhedged_qty()
        quotes: list[Quote] = []
        for side, price_ticks, reference in (
            (Side.BUY, bid_ticks, bid_ref),
            (Side.SELL, ask_ticks, ask_ref),
        ):
            if price_ticks <= 0:
                continue
            grows = ctx.position.size_lots * int(side) > 0
            if grows and position_quote >= params.max_inventory_quote:
                self.counters["quotes_pulled_inventory"] += 1
                continue
            if unhedged * int(side) > 0:
                continue  # already long (short) and unhedged: do not add to it
            size_lots = self._quote_size(side, price_ticks)
            if size_lots < own.min_qty_lots:
                if grows:
                    self.counters["quotes_pulled_inventory"] += 1  # no room left under the cap
                continue
            tag = "bid" if side is Side.BUY else "ask"
            if len(self.quote_refs) > 64:
                self.quote_refs.clear()  # bounded; only the recent quotes can still fill
            self.quote_refs[(int(side), price_ticks)] = reference
            quotes.append(Quote(side, price_ticks, size_lots, tag, post_only=True))
        return tuple(quotes)

    def _quote_size(self, side: Side, price_ticks: int) -> int:
        """Own lots for one quote: order_size_quote, the hedge depth, the inventory cap."""
        params = self.params
        own = self.ctx.instrument
        hedge = self.hedge_leg()
        # Our bid is hedged by selling into the hedge bids, our ask by buying its asks.
        hedge_side = Side.BUY if side is Side.BUY else Side.SELL
        depth_lots = hedge.book.depth_within_bps(hedge_side, float(params.max_hedge_slippage_bps))
        hedge_qty = hedge.instrument.lots_to_qty(depth_lots) * Decimal(
            str(params.hedge_depth_share)
        )
        size_lots = own.lots_for_notional(params.order_size_quote, price_ticks)
        size_lots = min(size_lots, int(hedge_qty / own.lot_size))
        # Only what keeps the position inside the cap.
        room_quote = params.max_inventory_quote - own.notional(
            price_ticks, max(0, self.ctx.position.size_lots * int(side))
        )
        size_lots = min(size_lots, own.lots_for_notional(max(room_quote, Decimal(0)), price_ticks))
        # A size both lots express, so a full fill can be hedged exactly.
        lot = _common_lot(own.lot_size, hedge.instrument.lot_size)
        qty = own.lots_to_qty(max(size_lots, 0))
        return own.qty_to_lots(qty - qty % lot)

    def _decision(self, takes: tuple[Take, ...] = ()) -> Decision | None:
        quotes = self.desired_quotes()
        if not takes and quotes == self.last_quotes:
            return None
        self.last_quotes = quotes
        return Decision(quotes=quotes, takes=takes)

    # -- hedging ---------------------------------------------------------------------------

    def unhedged_qty(self) -> Decimal:
        """Base bought (> 0) or sold (< 0) here and not yet hedged or in flight."""
        return sum(
            (
                hedge.own_side * (hedge.remaining_qty - self._in_flight_qty(hedge))
                for hedge in self.hedges
            ),
            Decimal(0),
        )

    def _in_flight_qty(self, hedge: Hedge) -> Decimal:
        lot = self.hedge_leg().instrument.lot_size
        return sum((lots * lot for owner, lots in self.in_flight if owner is hedge), Decimal(0))

    def _hedge_takes(self) -> tuple[Take, ...]:
        """IOCs for every fill not yet hedged nor in flight."""
        params = self.params
        leg = self.hedge_leg()
        book = leg.book
        takes: list[Take] = []
        for hedge in list(self.hedges):
            in_flight = any(owner is hedge for owner, _ in self.in_flight)
            open_qty = hedge.remaining_qty - self._in_flight_qty(hedge)
            size_lots = int(open_qty / leg.instrument.lot_size)
            if size_lots <= 0 or hedge.attempts >= params.hedge_attempts:
                if not in_flight:
                    # Done, or what is left cannot be hedged: less than one hedge
                    # lot (a partial maker fill) or out of attempts.
                    if size_lots > 0:
                        self.counters["hedges_incomplete"] += 1
                    self.counters["residual_qty"] += hedge.own_side * hedge.remaining_qty
                    self._close(hedge)
                continue
            side = Side.SELL if hedge.own_side > 0 else Side.BUY
            slip = params.max_hedge_slippage_bps * BPS
            if side is Side.SELL:
                touch = book.best_bid_ticks
                limit = math.ceil(Decimal(touch) * (1 - slip)) if touch else None
            else:
                touch = book.best_ask_ticks
                limit = math.floor(Decimal(touch) * (1 + slip)) if touch else None
            if limit is None:
                continue  # no hedge book: wait for it rather than trade blind
            hedge.attempts += 1
            if hedge.attempts > 1:
                self.counters["hedge_retries"] += 1
            self.counters["hedge_orders"] += 1
            self.in_flight.append((hedge, size_lots))
            takes.append(
                Take(
                    side,
                    size_lots,
                    f"hedge{hedge.number}_{hedge.attempts}",
                    limit,
                    venue=leg.venue,
                    symbol=leg.symbol,
                )
            )
        return tuple(takes)

    def _close(self, hedge: Hedge) -> None:
        """A fill is done with: fully hedged, or given up on."""
        if hedge in self.hedges:
            self.hedges.remove(hedge)
        if hedge.remaining_qty == 0:
            self.counters["fills_hedged"] += 1
        captured = (
            hedge.own_side
            * (hedge.hedge_notional - hedge.own_notional * hedge.hedged_qty / hedge.own_qty)
            - hedge.own_fee
            - hedge.hedge_fees
        )
        slippage = drift = Decimal(0)
        if hedge.hedged_qty:
            vwap = hedge.hedge_notional / hedge.hedged_qty
            # Selling the hedge below the touch seen at the fill, or buying above it,
            # costs (execution); so does the touch having moved since the quote was
            # priced (the quote was stale: adverse selection).
            slippage = hedge.own_side * (hedge.touch_price - vwap) * hedge.hedged_qty
            drift = hedge.own_side * (hedge.expected_price - hedge.touch_price) * hedge.hedged_qty
        self.counters["captured_quote"] += captured
        self.counters["hedge_slippage_quote"] += slippage
        self.counters["reference_drift_quote"] += drift
        slippage_bps = None
        if hedge.hedged_qty:
            slippage_bps = (slippage / (hedge.touch_price * hedge.hedged_qty) * 10_000).quantize(
                Decimal("0.01")
            )
            self.counters["hedge_slippage_bps_total"] += slippage_bps
        self.counters["fees_quote"] += hedge.own_fee + hedge.hedge_fees
        self.records.append(
            {
                "number": hedge.number,
                "ts_ns": hedge.ts_ns,
                "side": "buy" if hedge.own_side > 0 else "sell",
                "qty": hedge.own_qty,
                "own_price": hedge.own_notional / hedge.own_qty,
                "expected_hedge_price": hedge.expected_price,
                "hedge_touch_at_fill": hedge.touch_price,
                "reference_drift_quote": drift,
                "hedged_qty": hedge.hedged_qty,
                "hedge_price": hedge.hedge_notional / hedge.hedged_qty
                if hedge.hedged_qty
                else None,
                "hedge_slippage_quote": slippage,
                "hedge_slippage_bps": slippage_bps,
                "fees_quote": hedge.own_fee + hedge.hedge_fees,
                "captured_quote": captured,
                "attempts": hedge.attempts,
            }
        )

    # -- handlers --------------------------------------------------------------------------

    def on_book(self, book: Any) -> Decision | None:
        if self.hedge_key is None and not self._is_own(book.venue, book.symbol):
            self.hedge_key = (book.venue, book.symbol)
        if self.hedges and not self.in_flight:
            takes = self._hedge_takes()
            if takes:
                return self._decision(takes)
        return self._decision()

    def on_fill(self, fill: Fill) -> Decision | None:
        if self._is_own(fill.venue, fill.symbol):
            return self._own_fill(fill)
        if self._is_hedge(fill.venue, fill.symbol):
            self._hedge_fill(fill)
        return None

    def _own_fill(self, fill: Fill) -> Decision | None:
        instrument = self.ctx.instrument
        qty = instrument.lots_to_qty(fill.size_lots)
        notional = instrument.notional(fill.price_ticks, fill.size_lots)
        self.fills_seen += 1
        self.counters["own_fills"] += 1
        self.counters["own_volume_quote"] += notional
        hedge_leg = self.hedge_leg()
        touch_ticks = (
            hedge_leg.book.best_bid_ticks
            if fill.side is Side.BUY
            else hedge_leg.book.best_ask_ticks
        )
        touch = hedge_leg.instrument.ticks_to_price(touch_ticks)
        expected = self.quote_refs.get((int(fill.side), fill.price_ticks), touch)
        self.hedges.append(
            Hedge(
                self.fills_seen,
                fill.ts_ns,
                int(fill.side),
                qty,
                notional,
                fill.fee,
                expected,
                touch,
            )
        )
        # Hedge now: the quotes stay as they are (or shrink with the inventory).
        return self._decision(self._hedge_takes())

    def _hedge_fill(self, fill: Fill) -> None:
        if not self.in_flight:
            return
        hedge, _ = self.in_flight[0]  # IOCs answer in the order they were sent
        instrument = self.hedge_leg().instrument
        qty = instrument.lots_to_qty(fill.size_lots)
        hedge.hedged_qty += qty
        hedge.hedge_notional += instrument.notional(fill.price_ticks, fill.size_lots)
        hedge.hedge_fees += fill.fee
        self.counters["hedge_fills"] += 1

    def on_order_update(self, update: OrderUpdate) -> Decision | None:
        if not self._is_hedge(update.venue, update.symbol):
            return None
        if update.status not in OrderStatus.TERMINAL or not self.in_flight:
            return None
        hedge, _ = self.in_flight.popleft()
        if hedge.remaining_qty <= 0 and not any(owner is hedge for owner, _ in self.in_flight):
            self._close(hedge)
            return None
        # Part of it is still open: try again with a fresh limit.
        takes = self._hedge_takes()
        return self._decision(takes) if takes else None

    # -- reporting and reload --------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        hedged_count = self.counters["fills_hedged"] + self.counters["hedges_incomplete"]
        mean_bps = (
            self.counters["hedge_slippage_bps_total"] / hedged_count if hedged_count else Decimal(0)
        )
        return _plain(
            {
                **self.counters,
                "hedge_slippage_bps_mean": mean_bps.quantize(Decimal("0.01")),
                "unhedged_qty": self.unhedged_qty(),
                "hedged_fills": list(self.records),
            }
        )

    def metrics(self) -> dict[str, float]:
        values = {
            key: float(value)
            for key, value in self.counters.items()
            if isinstance(value, int | Decimal) and not isinstance(value, bool)
        }
        values["unhedged_qty"] = float(self.unhedged_qty())
        return values

    def on_save(self) -> dict[str, Any]:
        return {
            "version": self.state_version,
            "counters": _plain(self.counters),
            "stats": self.stats(),
            "fills_seen": self.fills_seen,
            # Fills not yet hedged carry over with their IOCs in flight: the
            # answers are delivered to the new version, which matches them here.
            "open_hedges": [
                _plain(
                    {
                        "number": h.number,
                        "ts_ns": h.ts_ns,
                        "own_side": h.own_side,
                        "own_qty": h.own_qty,
                        "own_notional": h.own_notional,
                        "own_fee": h.own_fee,
                        "expected_price": h.expected_price,
                        "touch_price": h.touch_price,
                        "hedged_qty": h.hedged_qty,
                        "hedge_notional": h.hedge_notional,
                        "hedge_fees": h.hedge_fees,
                        "attempts": h.attempts,
                    }
                )
                for h in self.hedges
            ],
            "in_flight": [[hedge.number, lots] for hedge, lots in self.in_flight],
            "hedge_key": list(self.hedge_key) if self.hedge_key else None,
        }

    def on_load(self, state: dict[str, Any]) -> None:
        for key, value in (state.get("counters") or {}).items():
            if key in self.counters:
                current = self.counters[key]
                self.counters[key] = Decimal(value) if isinstance(current, Decimal) else value
        self.fills_seen = int(state.get("fills_seen", 0))
        if self.hedge_key is None and state.get("hedge_key"):
            venue, symbol = state["hedge_key"]
            self.hedge_key = (venue, symbol)
        self.records.extend((state.get("stats") or {}).get("hedged_fills", []))
        for saved in state.get("open_hedges", []):
            hedge = Hedge(
                number=saved["number"],
                ts_ns=saved["ts_ns"],
                own_side=saved["own_side"],
                own_qty=Decimal(saved["own_qty"]),
                own_notional=Decimal(saved["own_notional"]),
                own_fee=Decimal(saved["own_fee"]),
                expected_price=Decimal(saved["expected_price"]),
                touch_price=Decimal(saved["touch_price"]),
                hedged_qty=Decimal(saved["hedged_qty"]),
                hedge_notional=Decimal(saved["hedge_notional"]),
                hedge_fees=Decimal(saved["hedge_fees"]),
                attempts=saved["attempts"],
            )
            self.hedges.append(hedge)
        by_number = {hedge.number: hedge for hedge in self.hedges}
        for number, lots in state.get("in_flight", []):
            if number in by_number:
                self.in_flight.append((by_number[number], lots))


def _common_lot(first: Decimal, second: Decimal) -> Decimal:
    """The smallest size both lots divide (0.001 and 0.01 -> 0.01)."""
    exponent = min(first.normalize().as_tuple().exponent, second.normalize().as_tuple().exponent)
    scale = Decimal(1).scaleb(exponent)  # type: ignore[arg-type]
    return scale * math.lcm(int(first / scale), int(second / scale))


@hookimpl
def mmhost_collect_metrics(engine: Any) -> dict[str, float] | None:
    """Hedging counters of every running cross_mm instance, as ``<strategy id>.<name>``."""
    metrics: dict[str, float] = {}
    for strategy_id, slot in engine.slots.items():
        strategy = slot.strategy
        if getattr(strategy, "name", "") != CrossMM.name:
            continue
        for key, value in strategy.metrics().items():
            metrics[f"{strategy_id}.{key}"] = value
    return metrics or None
