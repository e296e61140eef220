"""Cross-exchange arbitrage: buy one asset where it is cheap, sell it where it is dear.

The strategy trades its own instrument and every instrument it watches
(config ``watch = ["venue:SYMBOL"]``): the same asset on other venues. Each
book event, for every ordered pair of venues (buy on one, sell on the other),
it looks for the sell venue's best bid above the buy venue's best ask. Such a
crossing is an *opportunity seen*; it is *taken* only when it pays:

1. Walk both books level by level, as far as each marginal unit still earns
   ``min_edge_bps`` after both taker fees (``taker_fee_bps`` per venue). The
   walk is the slippage estimate: the size it reaches is priced at the levels
   it eats, not at the touch. It takes at most ``depth_share`` of each level
   and at most ``max_order_quote`` in all, so size is bounded by the smaller
   visible depth.
2. Bound the size by the balances tracked per venue from fills (quote to buy
   with, base to sell; ``starting_balances``), round it down to a size both
   venues' lots can express, refuse it below ``min_order_quote``.
3. Send both legs at once as IOC Takes limited to the walked worst prices.

Leg risk. Both legs are IOC, so each ends filled, partly filled or empty
within one round trip. When both answers are in:

- equal fills: done;
- both empty: a miss, no exposure;
- unequal fills: a leg failure. The excess is unwound (``leg_failure =
  "unwind"``: sold or bought back on the venue where it filled) or the missing
  leg completed (``"complete"``: traded on the venue that failed), by an IOC
  whose limit is ``unwind_slippage_bps`` through the touch, retried up to
  ``unwind_attempts`` times. A failure starts a ``cooldown_ms`` pause; while
  the net position in the asset across venues is above
  ``max_net_exposure_quote``, no new pair is taken.

A leg that never gets an answer within ``leg_timeout_ms`` and has no live
order (a risk rule vetoed it, or quoting was paused) counts as unfilled.

Statistics (``stats()``, in ``on_save()`` and through ``mmhost_collect_metrics``
below): opportunities seen and taken, rejections by reason (``in_flight``,
``cooldown``, ``exposure_cap``, ``below_fees``, ``balance``, ``too_small``),
and per taken opportunity the expected edge (walk, fees included) against the
captured edge (fills, fees included), leg failures and their cost. Rebalancing
is reported, never automated: each tracked venue's balances against their
start and whether one more full-size pair still fits.

Spot semantics are assumed: balances never go below zero. The sim venue
models positions, not wallets, so the balance limits live here.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from host import Decision, Fill, OrderUpdate, Side, Strategy, StrategyParams, Take, hookimpl
from host.models import Instrument, OrderStatus

BPS = Decimal("0.0001")
REJECTION_REASONS = ("in_flight", "cooldown", "exposure_cap", "below_fees", "balance", "too_small")
MarketKey = tuple[str, str]  # (venue, symbol)


class VenueBalance(BaseModel):
    """Starting wallet of one venue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quote: Decimal = Field(ge=0, description="Quote currency (USDT) on the venue at start.")
    base: Decimal = Field(ge=0, description="Base asset (e.g. LINK) on the venue at start.")


class CrossArbitrageParams(StrategyParams):
    taker_fee_bps: dict[str, Decimal] = Field(
        {},
        description="Taker fee per venue name, bps (keep equal to the venues' fees); "
        "venues not listed pay default_taker_fee_bps.",
    )
    default_taker_fee_bps: Decimal = Field(
        Decimal("10"), ge=0, le=1000, description="Taker fee of a venue not in taker_fee_bps."
    )
    min_edge_bps: Decimal = Field(
        Decimal("2"),
        ge=0,
        le=1000,
        description="Edge every marginal unit must keep after both taker fees and the walk's "
        "slippage, bps of its buy price.",
    )
    max_order_quote: Decimal = Field(
        Decimal("500"), gt=0, description="Largest pair, quote currency (buy leg notional)."
    )
    min_order_quote: Decimal = Field(
        Decimal("10"),
        ge=0,
        description="Smaller pairs are not worth the leg risk (rejected as too_small).",
    )
    depth_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of each visible level the walk may take: the book may have "
        "changed by the time the IOC arrives.",
    )
    max_levels: int = Field(10, ge=1, le=200, description="Levels walked per side.")
    max_book_age_ms: int = Field(
        500,
        ge=0,
        description="Both books must have updated within this much clock time. With "
        "1-second snapshots keep it below 1000: a pair is judged when the second "
        "venue's row of the same second arrives, never against last second's book.",
    )
    starting_balances: dict[str, VenueBalance] = Field(
        {},
        description="Starting wallet per venue name; balances are tracked from fills. A "
        "venue not listed is unlimited (no balance check).",
    )
    leg_failure: Literal["unwind", "complete"] = Field(
        "unwind",
        description="After unequal fills: unwind the excess on the venue where it filled, or "
        "complete the missing leg on the venue that failed.",
    )
    unwind_slippage_bps: Decimal = Field(
        Decimal("30"),
        ge=0,
        le=1000,
        description="Limit of an unwind (or completion) IOC: this far through the touch.",
    )
    unwind_attempts: int = Field(
        3, ge=1, le=20, description="Unwind IOCs tried before the rest is left as exposure."
    )
    max_net_exposure_quote: Decimal = Field(
        Decimal("100"),
        gt=0,
        description="No new pair while the net position in the asset across the venues is "
        "worth more than this (quote currency).",
    )
    cooldown_ms: int = Field(
        5000, ge=0, description="No new pair for this long after a leg failure."
    )
    leg_timeout_ms: int = Field(
        5000,
        gt=0,
        description="A leg unanswered this long with no live order is taken as never sent.",
    )
    max_records: int = Field(
        1000, ge=0, description="Taken opportunities kept in detail (the oldest are dropped)."
    )


@dataclass(slots=True)
class Market:
    """One venue's instrument as this strategy uses it."""

    venue: str
    symbol: str
    instrument: Instrument
    book: Any
    position: Any
    taker_fee_rate: Decimal

    @property
    def key(self) -> MarketKey:
        return (self.venue, self.symbol)

    def price(self, price_ticks: int | float) -> Decimal:
        return self.instrument.tick_size * Decimal(price_ticks)

    def mid(self) -> Decimal | None:
        mid_ticks = self.book.mid_ticks()
        return None if mid_ticks is None else self.price(mid_ticks)


@dataclass(slots=True)
class LegOrder:
    """One IOC we sent and what came back."""

    tag: str
    venue: str
    symbol: str
    side: int  # Side value: 1 buy, -1 sell
    size_lots: int
    limit_price_ticks: int | None
    sent_ns: int
    kind: str  # buy | sell | unwind
    filled_lots: int = 0
    filled_qty: Decimal = Decimal(0)
    notional_quote: Decimal = Decimal(0)
    fees_quote: Decimal = Decimal(0)
    done: bool = False
    answered: bool = False


@dataclass(slots=True)
class Attempt:
    """A taken opportunity: its two legs, any unwinds, expected and captured edge."""

    number: int
    ts_ns: int
    buy_venue: str
    sell_venue: str
    qty: Decimal
    buy_price: Decimal  # walked VWAP
    sell_price: Decimal
    expected_edge_quote: Decimal  # fees and walk slippage included
    expected_fees_quote: Decimal
    slippage_quote: Decimal  # walk VWAP against the touch, both legs
    orders: list[LegOrder] = field(default_factory=list)
    phase: str = "legs"  # legs | unwind | done
    outcome: str = ""  # filled | missed | unwound | exposed
    unwind_tries: int = 0
    captured_edge_quote: Decimal = Decimal(0)
    fees_quote: Decimal = Decimal(0)
    leg_failure_cost_quote: Decimal = Decimal(0)
    residual_qty: Decimal = Decimal(0)


@dataclass(slots=True)
class Walk:
    """A priced pair from walking both books."""

    qty: Decimal
    buy_notional: Decimal
    sell_notional: Decimal
    buy_limit_ticks: int
    sell_limit_ticks: int
    slippage_quote: Decimal

    def edge_quote(self, buy: Market, sell: Market) -> Decimal:
        return self.sell_notional * (1 - sell.taker_fee_rate) - self.buy_notional * (
            1 + buy.taker_fee_rate
        )

    def fees_quote(self, buy: Market, sell: Market) -> Decimal:
        return self.sell_notional * sell.taker_fee_rate + self.buy_notional * buy.taker_fee_rate


def _new_stats() -> dict[str, Any]:
    return {
        "opportunities_seen": 0,
        "opportunities_taken": 0,
        "rejected": dict.fromkeys(REJECTION_REASONS, 0),
        "repeats_skipped": 0,  # same book states as a pair already taken
        "pairs_filled": 0,
        "pairs_missed": 0,
        "leg_failures": 0,
        "leg_failure_cost_quote": Decimal(0),
        "legs_unanswered": 0,
        "unwinds_sent": 0,
        "unwinds_incomplete": 0,
        "balance_limited": 0,  # pairs shrunk (not refused) to fit a balance
        "expected_edge_quote": Decimal(0),
        "captured_edge_quote": Decimal(0),
        "fees_quote": Decimal(0),
        "volume_quote": Decimal(0),
    }


def _plain(value: Any) -> Any:
    """Decimal -> str, recursively: on_save returns JSON-safe plain data."""
    if isinstance(value, Decimal):
        if value.as_tuple().exponent < -12:  # type: ignore[operator]
            value = value.quantize(Decimal("1e-12"))  # division tails, far below a cent
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


_DECIMAL_STATS = {key for key, value in _new_stats().items() if isinstance(value, Decimal)}


class CrossArbitrage(Strategy):
    name = "cross_arbitrage"
    Params = CrossArbitrageParams
    params: CrossArbitrageParams
    timer_interval_ms = 250  # leg timeouts are checked even when no book moves
    state_version = 1

    def __init__(self, ctx: Any, params: CrossArbitrageParams) -> None:
        super().__init__(ctx, params)
        self.markets: dict[MarketKey, Market] = {}
        self._add_market(ctx.venue, ctx.symbol, ctx.instrument, ctx.book, ctx.position)
        self.balances: dict[str, dict[str, Decimal]] = {
            venue: {"quote": balance.quote, "base": balance.base}
            for venue, balance in params.starting_balances.items()
        }
        self.counters = _new_stats()
        self.attempt: Attempt | None = None
        self.attempts_taken = 0
        self.records: deque[dict[str, Any]] = deque(maxlen=params.max_records)
        self.cooldown_until_ns = 0
        # (buy market, sell market) -> book times when that pair was last taken.
        self.taken_at: dict[tuple[MarketKey, MarketKey], tuple[int, int]] = {}

    # -- markets ----------------------------------------------------------------------------

    def _add_market(
        self, venue: str, symbol: str, instrument: Instrument, book: Any, position: Any
    ) -> Market:
        fee_bps = self.params.taker_fee_bps.get(venue, self.params.default_taker_fee_bps)
        market = Market(venue, symbol, instrument, book, position, fee_bps * BPS)
        self.markets[(venue, symbol)] = market
        return market

    def _market_of(self, venue: str, symbol: str) -> Market | None:
        """Own instrument or a watched one; watched ones are learnt from their events."""
        market = self.markets.get((venue, symbol))
        if market is None:
            try:
                leg = self.ctx.leg(venue, symbol)
            except KeyError:
                return None
            market = self._add_market(venue, symbol, leg.instrument, leg.book, leg.position)
        return market

    # -- handlers ---------------------------------------------------------------------------

    def on_start(self) -> Decision | None:
        return None

    def on_book(self, book: Any) -> Decision | None:
        if self._market_of(book.venue, book.symbol) is None:
            return None
        now_ns = self.ctx.clock.now_ns()
        if self.attempt is not None:
            decision = self._check_timeouts(now_ns)
            if decision is not None:
                return decision
        return self._scan(now_ns)

    def on_timer(self, now_ns: int) -> Decision | None:
        if self.attempt is None:
            return None
        return self._check_timeouts(now_ns)

    def on_fill(self, fill: Fill) -> Decision | None:
        market = self._market_of(fill.venue, fill.symbol)
        if market is None:
            return None
        qty = market.instrument.lots_to_qty(fill.size_lots)
        notional = market.instrument.notional(fill.price_ticks, fill.size_lots)
        self._book_balance(fill.venue, int(fill.side), qty, notional, fill.fee)
        self.counters["volume_quote"] += notional
        order = self._order_of(fill.venue, fill.symbol, int(fill.side))
        if order is not None:
            order.filled_lots += fill.size_lots
            order.filled_qty += qty
            order.notional_quote += notional
            order.fees_quote += fill.fee
        return None

    def on_order_update(self, update: OrderUpdate) -> Decision | None:
        if update.status not in OrderStatus.TERMINAL:
            return None
        order = self._order_of(update.venue, update.symbol, int(update.side))
        if order is None:
            return None
        order.done = order.answered = True
        return self._advance(self.ctx.clock.now_ns())

    # -- looking for opportunities --------------------------------------------------------------

    def _scan(self, now_ns: int) -> Decision | None:
        params = self.params
        oldest_ns = now_ns - params.max_book_age_ms * 1_000_000
        fresh = [
            market
            for market in self.markets.values()
            if market.book.is_valid
            and market.book.best_bid_ticks
            and market.book.best_ask_ticks
            and market.book.last_ts_local_ns >= oldest_ns
        ]
        best: tuple[Decimal, Market, Market, Walk] | None = None
        for buy in fresh:
            ask = buy.price(buy.book.best_ask_ticks)
            for sell in fresh:
                if sell is buy or sell.price(sell.book.best_bid_ticks) <= ask:
                    continue
                stamps = (buy.book.last_ts_local_ns, sell.book.last_ts_local_ns)
                taken = self.taken_at.get((buy.key, sell.key))
                if taken is not None and (stamps[0] <= taken[0] or stamps[1] <= taken[1]):
                    # We already traded against one of these two book states.
                    self.counters["repeats_skipped"] += 1
                    continue
                self.counters["opportunities_seen"] += 1
                reason, walk = self._judge(buy, sell, now_ns)
                if reason is not None:
                    self.counters["rejected"][reason] += 1
                    continue
                assert walk is not None
                edge = walk.edge_quote(buy, sell)
                if best is not None:
                    # One pair per event: the lesser one is refused as in flight.
                    self.counters["rejected"]["in_flight"] += 1
                    if edge <= best[0]:
                        continue
                best = (edge, buy, sell, walk)
        if best is None:
            return None
        _, buy, sell, walk = best
        return self._take(buy, sell, walk, now_ns)

    def _judge(self, buy: Market, sell: Market, now_ns: int) -> tuple[str | None, Walk | None]:
        """Why this crossing is not taken, or the walk to take it with."""
        if self.attempt is not None:
            return "in_flight", None
        if now_ns < self.cooldown_until_ns:
            return "cooldown", None
        if abs(self.net_exposure_quote()) > self.params.max_net_exposure_quote:
            return "exposure_cap", None
        max_qty = self._balance_limit(buy, sell)
        walk = self._walk(buy, sell, None)
        if walk is None:
            return "below_fees", None
        if max_qty is not None and walk.qty > max_qty:
            walk = self._walk(buy, sell, max_qty)
            if walk is None or walk.qty <= 0 or walk.buy_notional < self.params.min_order_quote:
                return "balance", None
            self.counters["balance_limited"] += 1
        if walk.qty <= 0 or walk.buy_notional < self.params.min_order_quote:
            return "too_small", None
        if (
            buy.instrument.qty_to_lots(walk.qty) < buy.instrument.min_qty_lots
            or sell.instrument.qty_to_lots(walk.qty) < sell.instrument.min_qty_lots
        ):
            return "too_small", None
        return None, walk

    def _walk(self, buy: Market, sell: Market, max_qty: Decimal | None) -> Walk | None:
        """Walk the buy venue's asks against the sell venue's bids while each
        marginal unit keeps ``min_edge_bps`` after fees; None if the first does not."""
        params = self.params
        share = Decimal(str(params.depth_share))
        asks = [
            (level.price_ticks, buy.instrument.lots_to_qty(level.size_lots) * share)
            for level in buy.book.levels(Side.SELL, params.max_levels)
        ]
        bids = [
            (level.price_ticks, sell.instrument.lots_to_qty(level.size_lots) * share)
            for level in sell.book.levels(Side.BUY, params.max_levels)
        ]
        buy_cost = 1 + buy.taker_fee_rate
        sell_keep = 1 - sell.taker_fee_rate
        min_edge = params.min_edge_bps * BPS
        qty_cap = params.max_order_quote  # spent in quote as we go
        total_qty = Decimal(0)
        ask_index = bid_index = 0
        ask_left = asks[0][1] if asks else Decimal(0)
        bid_left = bids[0][1] if bids else Decimal(0)
        while ask_index < len(asks) and bid_index < len(bids):
            ask_price = buy.price(asks[ask_index][0])
            bid_price = sell.price(bids[bid_index][0])
            marginal = bid_price * sell_keep - ask_price * buy_cost
            if marginal < ask_price * min_edge:
                break
            step = min(ask_left, bid_left, qty_cap / ask_price)
            if max_qty is not None:
                step = min(step, max_qty - total_qty)
            if step <= 0:
                break
            total_qty += step
            qty_cap -= step * ask_price
            ask_left -= step
            bid_left -= step
            if ask_left <= 0:
                ask_index += 1
                ask_left = asks[ask_index][1] if ask_index < len(asks) else Decimal(0)
            if bid_left <= 0:
                bid_index += 1
                bid_left = bids[bid_index][1] if bid_index < len(bids) else Decimal(0)
        if total_qty <= 0:
            return None
        qty = _round_down(total_qty, _common_lot(buy.instrument, sell.instrument))
        buy_notional, buy_limit = _price_walk(buy, asks, qty)
        sell_notional, sell_limit = _price_walk(sell, bids, qty)
        slippage = (buy_notional - qty * buy.price(asks[0][0])) + (
            qty * sell.price(bids[0][0]) - sell_notional
        )
        return Walk(qty, buy_notional, sell_notional, buy_limit, sell_limit, slippage)

    def _balance_limit(self, buy: Market, sell: Market) -> Decimal | None:
        """Most base the balances allow: quote on the buy venue (at its worst
        visible ask, fees included), base on the sell venue. None: unlimited."""
        limits: list[Decimal] = []
        buy_wallet = self.balances.get(buy.venue)
        if buy_wallet is not None:
            levels = buy.book.levels(Side.SELL, self.params.max_levels)
            worst_ask = buy.price(levels[-1].price_ticks)
            limits.append(
                max(buy_wallet["quote"], Decimal(0)) / (worst_ask * (1 + buy.taker_fee_rate))
            )
        sell_wallet = self.balances.get(sell.venue)
        if sell_wallet is not None:
            limits.append(max(sell_wallet["base"], Decimal(0)))
        return min(limits) if limits else None

    # -- taking ---------------------------------------------------------------------------------

    def _take(self, buy: Market, sell: Market, walk: Walk, now_ns: int) -> Decision:
        self.attempts_taken += 1
        number = self.attempts_taken
        self.counters["opportunities_taken"] += 1
        self.taken_at[(buy.key, sell.key)] = (
            buy.book.last_ts_local_ns,
            sell.book.last_ts_local_ns,
        )
        attempt = Attempt(
            number=number,
            ts_ns=now_ns,
            buy_venue=buy.venue,
            sell_venue=sell.venue,
            qty=walk.qty,
            buy_price=walk.buy_notional / walk.qty,
            sell_price=walk.sell_notional / walk.qty,
            expected_edge_quote=walk.edge_quote(buy, sell),
            expected_fees_quote=walk.fees_quote(buy, sell),
            slippage_quote=walk.slippage_quote,
        )
        legs = (
            LegOrder(
                f"arb{number}_buy",
                buy.venue,
                buy.symbol,
                int(Side.BUY),
                buy.instrument.qty_to_lots(walk.qty),
                walk.buy_limit_ticks,
                now_ns,
                "buy",
            ),
            LegOrder(
                f"arb{number}_sell",
                sell.venue,
                sell.symbol,
                int(Side.SELL),
                sell.instrument.qty_to_lots(walk.qty),
                walk.sell_limit_ticks,
                now_ns,
                "sell",
            ),
        )
        attempt.orders.extend(legs)
        self.attempt = attempt
        self.counters["expected_edge_quote"] += attempt.expected_edge_quote
        return Decision(takes=tuple(self._take_of(leg) for leg in legs))

    def _take_of(self, order: LegOrder) -> Take:
        return Take(
            Side(order.side),
            order.size_lots,
            order.tag,
            order.limit_price_ticks,
            venue=order.venue,
            symbol=order.symbol,
        )

    # -- leg results ------------------------------------------------------------------------------

    def _order_of(self, venue: str, symbol: str, side: int) -> LegOrder | None:
        """The open order of the current attempt on this venue and side: only one
        group of orders is ever in flight, so (venue, side) names it."""
        attempt = self.attempt
        if attempt is None:
            return None
        for order in attempt.orders:
            if (
                not order.done
                and order.venue == venue
                and order.symbol == symbol
                and order.side == side
            ):
                return order
        return None

    def _check_timeouts(self, now_ns: int) -> Decision | None:
        attempt = self.attempt
        assert attempt is not None
        timeout_ns = self.params.leg_timeout_ms * 1_000_000
        live_tags = {order.tag for order in self.ctx.open_orders}
        changed = False
        for order in attempt.orders:
            if order.done or now_ns - order.sent_ns < timeout_ns or order.tag in live_tags:
                continue
            # Never sent (a risk veto, a pause) or its answer is lost: counted as unfilled.
            order.done = True
            self.counters["legs_unanswered"] += 1
            changed = True
        return self._advance(now_ns) if changed else None

    def _advance(self, now_ns: int) -> Decision | None:
        """All orders of the current phase answered: settle it, or unwind."""
        attempt = self.attempt
        if attempt is None or any(not order.done for order in attempt.orders):
            return None
        excess = self._excess(attempt)
        if attempt.phase == "legs":
            if excess == 0:
                filled = attempt.orders[0].filled_qty
                attempt.outcome = "filled" if filled > 0 else "missed"
                self.counters["pairs_filled" if filled > 0 else "pairs_missed"] += 1
                return self._settle(attempt)
            self.counters["leg_failures"] += 1
            self.cooldown_until_ns = now_ns + self.params.cooldown_ms * 1_000_000
            attempt.phase = "unwind"
        if excess != 0 and attempt.unwind_tries < self.params.unwind_attempts:
            take = self._unwind(attempt, excess, now_ns)
            if take is not None:
                return Decision(takes=(take,))
        attempt.outcome = "unwound" if excess == 0 else "exposed"
        if excess != 0:
            self.counters["unwinds_incomplete"] += 1
        attempt.residual_qty = excess
        return self._settle(attempt)

    @staticmethod
    def _excess(attempt: Attempt) -> Decimal:
        """Net base the attempt's fills left us with (long > 0)."""
        return sum((order.filled_qty * order.side for order in attempt.orders), Decimal(0))

    def _unwind(self, attempt: Attempt, excess: Decimal, now_ns: int) -> Take | None:
        """An IOC that removes ``excess``: where it filled (unwind) or where the
        other leg failed (complete), limited ``unwind_slippage_bps`` through the touch."""
        long = excess > 0
        buy_leg, sell_leg = attempt.orders[0], attempt.orders[1]
        if self.params.leg_failure == "unwind":
            leg = buy_leg if long else sell_leg
        else:
            leg = sell_leg if long else buy_leg
        market = self.markets[(leg.venue, leg.symbol)]
        instrument = market.instrument
        size_lots = int((abs(excess) / instrument.lot_size).to_integral_value())
        if size_lots <= 0:
            return None  # less than one lot: left as residual exposure
        slip = self.params.unwind_slippage_bps * BPS
        book = market.book
        if long:
            side = Side.SELL
            touch = book.best_bid_ticks
            # A sell limit rounds up: never sell below the capped price.
            limit = math.ceil(Decimal(touch) * (1 - slip)) if touch else None
        else:
            side = Side.BUY
            touch = book.best_ask_ticks
            limit = math.floor(Decimal(touch) * (1 + slip)) if touch else None
        if limit is None:
            return None  # no book to cap the price against: do not trade blind
        attempt.unwind_tries += 1
        self.counters["unwinds_sent"] += 1
        order = LegOrder(
            f"arb{attempt.number}_unwind{attempt.unwind_tries}",
            market.venue,
            market.symbol,
            int(side),
            size_lots,
            limit,
            now_ns,
            "unwind",
        )
        attempt.orders.append(order)
        return self._take_of(order)

    def _settle(self, attempt: Attempt) -> None:
        """Captured edge (fills, fees included; residual marked at mid) and the
        cost of a leg failure: what the pair would have made on the matched
        size, less what it did make."""
        attempt.phase = "done"
        cash = Decimal(0)
        fees = Decimal(0)
        for order in attempt.orders:
            cash += -order.side * order.notional_quote
            fees += order.fees_quote
        residual = self._excess(attempt)
        if residual != 0:
            # Marked where the unwind would have sold or bought it back.
            leg = attempt.orders[-1]
            mid = self.markets[(leg.venue, leg.symbol)].mid()
            if mid is not None:
                cash += residual * mid
        attempt.captured_edge_quote = cash - fees
        attempt.fees_quote = fees
        buy_leg, sell_leg = attempt.orders[0], attempt.orders[1]
        matched = min(buy_leg.filled_qty, sell_leg.filled_qty)
        if buy_leg.filled_qty != sell_leg.filled_qty:
            matched_edge = Decimal(0)
            if matched > 0:
                matched_edge = (
                    matched * (sell_leg.notional_quote / sell_leg.filled_qty)
                    - matched * (buy_leg.notional_quote / buy_leg.filled_qty)
                    - buy_leg.fees_quote * matched / buy_leg.filled_qty
                    - sell_leg.fees_quote * matched / sell_leg.filled_qty
                )
            attempt.leg_failure_cost_quote = matched_edge - attempt.captured_edge_quote
            self.counters["leg_failure_cost_quote"] += attempt.leg_failure_cost_quote
        self.counters["captured_edge_quote"] += attempt.captured_edge_quote
        self.counters["fees_quote"] += fees
        self.records.append(self._record(attempt))
        self.attempt = None

    def _record(self, attempt: Attempt) -> dict[str, Any]:
        buy_leg, sell_leg = attempt.orders[0], attempt.orders[1]
        buy_notional = attempt.qty * attempt.buy_price
        return {
            "number": attempt.number,
            "ts_ns": attempt.ts_ns,
            "buy_venue": attempt.buy_venue,
            "sell_venue": attempt.sell_venue,
            "qty": attempt.qty,
            "buy_price": attempt.buy_price,
            "sell_price": attempt.sell_price,
            "expected_edge_quote": attempt.expected_edge_quote,
            "expected_edge_bps": (attempt.expected_edge_quote / buy_notional * 10_000).quantize(
                Decimal("0.01")
            ),
            "expected_fees_quote": attempt.expected_fees_quote,
            "slippage_quote": attempt.slippage_quote,
            "bought_qty": buy_leg.filled_qty,
            "sold_qty": sell_leg.filled_qty,
            "unwinds": attempt.unwind_tries,
            "outcome": attempt.outcome,
            "captured_edge_quote": attempt.captured_edge_quote,
            "fees_quote": attempt.fees_quote,
            "leg_failure_cost_quote": attempt.leg_failure_cost_quote,
            "residual_qty": attempt.residual_qty,
        }

    # -- balances and exposure ------------------------------------------------------------------

    def _book_balance(
        self, venue: str, side: int, qty: Decimal, notional: Decimal, fee: Decimal
    ) -> None:
        wallet = self.balances.get(venue)
        if wallet is None:
            return
        # Spot: a buy spends quote and fee, receives base; a sell the reverse.
        wallet["base"] += side * qty
        wallet["quote"] -= side * notional + fee

    def net_exposure_quote(self) -> Decimal:
        """Net position in the asset across every venue, valued at the own venue's mid."""
        qty = sum((market.position.qty for market in self.markets.values()), Decimal(0))
        if qty == 0:
            return Decimal(0)
        own = self.markets[(self.ctx.venue, self.ctx.symbol)]
        mid = own.mid()
        if mid is None:
            mid = next((m.mid() for m in self.markets.values() if m.mid() is not None), None)
        return qty * mid if mid is not None else Decimal(0)

    def rebalance(self) -> dict[str, dict[str, Any]]:
        """Per tracked venue: balance change since start, and what a full-size
        pair would lack there (base to sell, quote to buy). Reported, never acted on."""
        own_mid = self.markets[(self.ctx.venue, self.ctx.symbol)].mid() or Decimal(0)
        report: dict[str, dict[str, Any]] = {}
        for venue, wallet in self.balances.items():
            start = self.params.starting_balances[venue]
            full_qty = self.params.max_order_quote / own_mid if own_mid else Decimal(0)
            short_of = []
            if wallet["base"] < full_qty:
                short_of.append("base")
            if wallet["quote"] < self.params.max_order_quote:
                short_of.append("quote")
            report[venue] = {
                "quote": wallet["quote"],
                "base": wallet["base"],
                "quote_change": wallet["quote"] - start.quote,
                "base_change": wallet["base"] - start.base,
                "short_of": short_of,
            }
        return report

    # -- reporting ----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Every counter, the balances and the taken opportunities, as plain data."""
        return _plain(
            {
                **self.counters,
                "net_exposure_quote": self.net_exposure_quote(),
                "rebalance": self.rebalance(),
                "taken": list(self.records),
            }
        )

    def metrics(self) -> dict[str, float]:
        """Numbers for ``mmhost_collect_metrics`` (run summaries, Prometheus)."""
        counters = self.counters
        values: dict[str, float] = {
            key: float(value)
            for key, value in counters.items()
            if isinstance(value, int | Decimal) and not isinstance(value, bool)
        }
        for reason, count in counters["rejected"].items():
            values[f"rejected_{reason}"] = float(count)
        values["net_exposure_quote"] = float(self.net_exposure_quote())
        values["venues_needing_rebalance"] = float(
            sum(1 for venue in self.rebalance().values() if venue["short_of"])
        )
        return values

    def on_stop(self) -> None:
        stats = self.counters
        self.ctx.log.info(
            "arbitrage: {seen} seen, {taken} taken, {failures} leg failures, "
            "captured {captured} of expected {expected} (fees {fees})",
            seen=stats["opportunities_seen"],
            taken=stats["opportunities_taken"],
            failures=stats["leg_failures"],
            captured=str(stats["captured_edge_quote"]),
            expected=str(stats["expected_edge_quote"]),
            fees=str(stats["fees_quote"]),
        )

    # -- hot reload -------------------------------------------------------------------------------

    def on_save(self) -> dict[str, Any]:
        attempt = None
        if self.attempt is not None:
            attempt = _plain(asdict(self.attempt))
        return {
            "version": self.state_version,
            "stats": self.stats(),
            "counters": _plain(self.counters),
            "balances": _plain(self.balances),
            "attempt": attempt,
            "attempts_taken": self.attempts_taken,
            "cooldown_until_ns": self.cooldown_until_ns,
            "taken_at": [[*buy, *sell, *stamps] for (buy, sell), stamps in self.taken_at.items()],
            "markets": [list(key) for key in self.markets],
        }

    def on_load(self, state: dict[str, Any]) -> None:
        for venue, symbol in state.get("markets", []):
            self._market_of(venue, symbol)  # legs seen before the reload count at once
        counters = state.get("counters") or {}
        for key, value in counters.items():
            if key == "rejected":
                self.counters["rejected"].update(value)
            elif key in _DECIMAL_STATS:
                self.counters[key] = Decimal(value)
            elif key in self.counters:
                self.counters[key] = value
        for venue, wallet in (state.get("balances") or {}).items():
            self.balances[venue] = {name: Decimal(amount) for name, amount in wallet.items()}
        self.records.extend((state.get("stats") or {}).get("taken", []))
        self.attempts_taken = int(state.get("attempts_taken", 0))
        self.cooldown_until_ns = int(state.get("cooldown_until_ns", 0))
        for item in state.get("taken_at", []):
            buy_venue, buy_symbol, sell_venue, sell_symbol, buy_ts, sell_ts = item
            self.taken_at[((buy_venue, buy_symbol), (sell_venue, sell_symbol))] = (buy_ts, sell_ts)
        saved = state.get("attempt")
        if saved:
            self.attempt = _attempt_from_plain(saved)


def _attempt_from_plain(saved: dict[str, Any]) -> Attempt:
    decimals = {
        "qty",
        "buy_price",
        "sell_price",
        "expected_edge_quote",
        "expected_fees_quote",
        "slippage_quote",
        "captured_edge_quote",
        "fees_quote",
        "leg_failure_cost_quote",
        "residual_qty",
    }
    fields = {key: Decimal(value) if key in decimals else value for key, value in saved.items()}
    orders = [
        LegOrder(
            **{
                key: Decimal(value)
                if key in ("filled_qty", "notional_quote", "fees_quote")
                else value
                for key, value in order.items()
            }
        )
        for order in fields.pop("orders")
    ]
    return Attempt(**fields, orders=orders)


def _common_lot(first: Instrument, second: Instrument) -> Decimal:
    """The smallest size both lots divide (0.001 and 0.01 -> 0.01)."""
    exponent = min(
        first.lot_size.normalize().as_tuple().exponent,  # type: ignore[arg-type]
        second.lot_size.normalize().as_tuple().exponent,  # type: ignore[arg-type]
    )
    scale = Decimal(1).scaleb(exponent)
    first_units = int(first.lot_size / scale)
    second_units = int(second.lot_size / scale)
    return scale * math.lcm(first_units, second_units)


def _round_down(qty: Decimal, lot: Decimal) -> Decimal:
    return (qty / lot).to_integral_value(rounding=ROUND_DOWN) * lot


def _price_walk(
    market: Market, levels: list[tuple[int, Decimal]], qty: Decimal
) -> tuple[Decimal, int]:
    """Notional of ``qty`` along ``levels`` and the last price touched (the IOC limit)."""
    notional = Decimal(0)
    left = qty
    last_ticks = levels[0][0]
    for price_ticks, level_qty in levels:
        if left <= 0:
            break
        step = min(left, level_qty)
        notional += step * market.price(price_ticks)
        left -= step
        last_ticks = price_ticks
    return notional, last_ticks


@hookimpl
def mmhost_collect_metrics(engine: Any) -> dict[str, float] | None:
    """Arbitrage counters of every running instance, as ``<strategy id>.<name>``."""
    metrics: dict[str, float] = {}
    for strategy_id, slot in engine.slots.items():
        strategy = slot.strategy
        # By name, not isinstance: a hot-reloaded file defines a new class.
        if getattr(strategy, "name", "") != CrossArbitrage.name:
            continue
        for key, value in strategy.metrics().items():
            metrics[f"{strategy_id}.{key}"] = value
    return metrics or None
