"""Risk verdicts and the built-in rules.

Every rule is an ``mmhost_check_decision`` implementation returning a Verdict
or None. Verdicts combine conservatively: any veto wins over a pass, and when
several rules shrink, the smallest size applies. A veto may name the quote
tags it refuses; the rest of the Decision goes ahead, and the refused tags'
live orders are cancelled (the safe reading of "not this order").

The built-in rules are a plugin object (``BuiltinRiskRules``) registered under
the name ``builtin-risk``; a desk may block it and register its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import msgspec

from host.hookspecs import hookimpl
from host.models import Decision, Instrument, Quote, Side, Stop, Take

if TYPE_CHECKING:
    from host.config import RiskSection
    from host.engine import Engine
    from host.strategy import Context, Strategy


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's judgement of one Decision.

    ``veto`` refuses the tags in ``tags`` (all of the Decision when empty);
    ``max_size_lots`` caps the size of every remaining order.
    """

    rule: str
    reason: str
    veto: bool = True
    tags: frozenset[str] = frozenset()
    max_size_lots: int | None = None


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """A veto, a shrink, or a breaker's trip or reset, for logs and the journal."""

    rule: str
    reason: str
    strategy_id: str
    ts_ns: int
    kind: str = "veto"  # veto | shrink | trip | reset


@dataclass(slots=True)
class Judgement:
    """Verdicts of all rules for one Decision, combined."""

    decision: Decision
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def vetoed_everything(self) -> bool:
        return any(v.veto and not v.tags for v in self.verdicts)


def combine(decision: Decision, verdicts: list[Verdict]) -> Decision:
    """Apply verdicts: drop vetoed tags (or everything), cap sizes at the smallest shrink."""
    if not verdicts:
        return decision
    if any(v.veto and not v.tags for v in verdicts):
        return Decision()
    vetoed_tags = frozenset().union(*(v.tags for v in verdicts if v.veto))
    caps = [v.max_size_lots for v in verdicts if not v.veto and v.max_size_lots is not None]
    cap = min(caps) if caps else None
    quotes: list[Quote] = []
    for quote in decision.quotes:
        if quote.tag in vetoed_tags:
            continue
        if cap is not None and quote.size_lots > cap:
            if cap <= 0:
                continue
            quote = msgspec.structs.replace(quote, size_lots=cap)
        quotes.append(quote)
    takes: list[Take] = []
    for take in decision.takes:
        if take.tag in vetoed_tags:
            continue
        if cap is not None and take.size_lots > cap:
            if cap <= 0:
                continue
            take = msgspec.structs.replace(take, size_lots=cap)
        takes.append(take)
    # Stops are not shrunk: a stop-loss smaller than the position protects less.
    stops = tuple(stop for stop in decision.stops if stop.tag not in vetoed_tags)
    return Decision(tuple(quotes), tuple(takes), stops)


@dataclass(frozen=True, slots=True)
class _TickLimits:
    """[risk] limits of one instrument in ticks x lots, for the quick pass.

    ``notional(p, s) <= limit`` is ``p * s <= floor(limit / (tick * lot))``
    exactly, as long as the Decimal product is exact: ``p * s`` below
    ``exact_below`` (28 significant digits with the unit's).
    """

    instrument: Instrument
    limits: RiskSection
    max_order_units: int
    max_position_units: int
    exact_below: int
    # price_band_bps less a margin far above float error: a quote under it is
    # inside the band whatever the rounding; one above is judged exactly.
    band_bps_inside: float

    @classmethod
    def of(cls, instrument: Instrument, limits: RiskSection) -> _TickLimits:
        unit = instrument.tick_size * instrument.lot_size
        unit_digits = len(unit.as_tuple().digits)
        return cls(
            instrument,
            limits,
            _whole_units(limits.max_order_quote, unit),
            _whole_units(limits.max_position_quote, unit),
            10 ** max(0, 26 - unit_digits),
            float(limits.price_band_bps) * (1.0 - 1e-9),
        )


_BUY = Side.BUY
_SELL = Side.SELL


def _whole_units(limit_quote: Decimal, unit_quote: Decimal) -> int:
    """floor(limit / unit), exact; -1 (nothing clearly allowed) if not finite."""
    if not (limit_quote.is_finite() and unit_quote.is_finite()) or unit_quote <= 0:
        return -1
    return int(Fraction(limit_quote) // Fraction(unit_quote))


class BuiltinRiskRules:
    """Order size, price band, position, self-trade and open-order limits from [risk]."""

    def __init__(self, limits: RiskSection) -> None:
        self.limits = limits
        self.engine: Engine | None = None
        self._tick_limits: dict[tuple[str, str], _TickLimits] = {}

    @hookimpl
    def mmhost_startup(self, engine: Engine) -> None:
        self.engine = engine

    @hookimpl
    def mmhost_check_decision(
        self, decision: Decision, ctx: Context, strategy: Strategy
    ) -> Verdict | None:
        limits = self.limits
        crossing_ours = self._self_trade_tags(decision, ctx)
        refused: dict[str, list[str]] = {}
        for stop in decision.stops:
            # A stop closes a position: only its size is judged (its trigger may
            # rightly sit far from mid).
            instrument = self._market(stop, ctx)[0]
            notional = instrument.notional(stop.trigger_price_ticks, stop.size_lots)
            if (
                stop.size_lots <= 0
                or stop.trigger_price_ticks <= 0
                or notional > limits.max_order_quote
            ):
                refused.setdefault("max_order", []).append(stop.tag)
        quick = limits.max_position_asset_quote is None
        own_market: tuple[Instrument, float | None, int] | None = None
        own_key = (ctx.venue, ctx.symbol)
        for order in (*decision.quotes, *decision.takes):
            if order.venue or order.symbol:
                instrument, mid, position_lots = self._market(order, ctx)
                key = (order.venue or ctx.venue, order.symbol or ctx.symbol)
            else:  # the strategy's own instrument: looked up once per Decision
                if own_market is None:
                    own_market = self._market(order, ctx)
                instrument, mid, position_lots = own_market
                key = own_key
            if quick and self._clearly_allowed(order, mid, instrument, position_lots, key):
                rule = None
            else:
                asset_quote = self._asset_position_quote(instrument.base)
                rule = self._refusal(order, mid, instrument, position_lots, asset_quote)
            if rule is None and order.tag in crossing_ours:
                rule = "self_trade"
            if rule is not None:
                refused.setdefault(rule, []).append(order.tag)
        if refused:
            return Verdict(
                rule=",".join(refused),
                reason="; ".join(
                    f"{REASONS[rule]} ({', '.join(tags)})" for rule, tags in refused.items()
                ),
                tags=frozenset(tag for tags in refused.values() for tag in tags),
            )
        if len(decision.quotes) > limits.max_open_orders:
            return Verdict("max_open_orders", REASONS["max_open_orders"])
        return None

    def _clearly_allowed(
        self,
        order: Quote | Take,
        mid: float | None,
        instrument: Instrument,
        position_lots: int,
        key: tuple[str, str],
    ) -> bool:
        """True only when ``_refusal`` would pass ``order``: integer ticks x lots
        against precomputed limits instead of Decimal arithmetic (the common
        case: a quote inside band and size). False means "judge it exactly"."""
        price_ticks = order.price_ticks
        size_lots = order.size_lots
        if price_ticks is None or price_ticks <= 0 or size_lots <= 0:
            return False
        tick_limits = self._tick_limits.get(key)
        if (
            tick_limits is None
            or tick_limits.instrument is not instrument
            or tick_limits.limits is not self.limits
        ):
            tick_limits = self._tick_limits[key] = _TickLimits.of(instrument, self.limits)
        units = price_ticks * size_lots
        if units > tick_limits.max_order_units or units >= tick_limits.exact_below:
            return False
        if mid is not None and abs(price_ticks - mid) / mid * 10_000 > tick_limits.band_bps_inside:
            return False
        if order.reduce_only:
            return True
        after_lots = abs(position_lots + int(order.side) * size_lots)
        if after_lots <= abs(position_lots):
            return True
        units = price_ticks * after_lots
        return units <= tick_limits.max_position_units and units < tick_limits.exact_below

    def _refusal(
        self,
        order: Quote | Take,
        mid: float | None,
        instrument: Instrument,
        position_lots: int,
        asset_quote: Decimal,
    ) -> str | None:
        limits = self.limits
        price_ticks = order.price_ticks if order.price_ticks is not None else mid
        if order.size_lots <= 0 or (price_ticks is not None and price_ticks <= 0):
            return "max_order"
        if price_ticks is None:
            return None  # a market order with no book to price it: nothing to measure yet
        price_ticks = int(price_ticks)
        if instrument.notional(price_ticks, order.size_lots) > limits.max_order_quote:
            return "max_order"
        if mid is not None and order.price_ticks is not None:
            distance_bps = Decimal(abs(order.price_ticks - mid)) / Decimal(mid) * 10_000
            if distance_bps > limits.price_band_bps:
                return "price_band"
        if order.reduce_only:
            return None
        signed_lots = int(order.side) * order.size_lots
        after_lots = position_lots + signed_lots
        if abs(after_lots) > abs(position_lots) and (
            instrument.notional(price_ticks, abs(after_lots)) > limits.max_position_quote
        ):
            return "max_position"
        if limits.max_position_asset_quote is not None:
            after_asset = asset_quote + instrument.notional(price_ticks, 1) * signed_lots
            if (
                abs(after_asset) > abs(asset_quote)
                and abs(after_asset) > limits.max_position_asset_quote
            ):
                return "max_position_asset"
        return None

    def _market(
        self, order: Quote | Take | Stop, ctx: Context
    ) -> tuple[Instrument, float | None, int]:
        """Instrument, mid and the account's position (all strategies) where
        ``order`` would trade: the strategy's own instrument or a watched one."""
        venue, symbol = order.venue or ctx.venue, order.symbol or ctx.symbol
        if self.engine is None:
            return ctx.instrument, ctx.book.mid_ticks(), ctx.position.size_lots
        state = self.engine.instruments[(venue, symbol)]
        return state.instrument, state.book.mid_ticks(), state.position.size_lots

    def _asset_position_quote(self, base: str) -> Decimal:
        """Signed position in this base asset across every venue, valued at each mid."""
        if self.engine is None or self.limits.max_position_asset_quote is None:
            return Decimal(0)
        total = Decimal(0)
        for state in self.engine.instruments.values():
            if state.instrument.base != base or state.position.size_lots == 0:
                continue
            mid = state.book.mid_ticks()
            if mid is not None:
                total += state.instrument.notional(1, state.position.size_lots) * Decimal(mid)
        return total

    def _self_trade_tags(self, decision: Decision, ctx: Context) -> set[str]:
        """Quotes that would trade against our own orders on this instrument.

        Checked against other strategies' live orders, and within the Decision
        (a bid at or above its own ask). The strategy's own live orders are
        about to be replaced by this Decision, so they do not count.
        """
        quotes = decision.quotes
        if not quotes:
            return set()
        for quote in quotes:
            if quote.venue or quote.symbol:
                break
        else:  # the common case: every quote on the strategy's own instrument
            return self._crossing_on(ctx.venue, ctx.symbol, quotes, ctx.strategy_id)
        crossing: set[str] = set()
        by_instrument: dict[tuple[str, str], list[Quote]] = {}
        for quote in quotes:
            key = (quote.venue or ctx.venue, quote.symbol or ctx.symbol)
            by_instrument.setdefault(key, []).append(quote)
        for (venue, symbol), same_instrument in by_instrument.items():
            crossing |= self._crossing_on(venue, symbol, same_instrument, ctx.strategy_id)
        return crossing

    def _crossing_on(
        self, venue: str, symbol: str, quotes: Sequence[Quote], strategy_id: str
    ) -> set[str]:
        best_ask: int | None = None
        for quote in quotes:
            if quote.side is _SELL and (best_ask is None or quote.price_ticks < best_ask):
                best_ask = quote.price_ticks
        crossing: set[str] = set()
        if best_ask is not None:
            for quote in quotes:  # a loop, not a set comprehension: no call per Decision
                if quote.side is _BUY and quote.price_ticks >= best_ask:
                    crossing.add(quote.tag)
        if self.engine is None:
            return crossing
        others = self.engine.oms.live_on(venue, symbol, exclude_strategy=strategy_id)
        if not others:  # one strategy on the instrument: the usual case
            return crossing
        for quote in quotes:
            for order in others:
                if order.side is quote.side or order.price_ticks is None:
                    continue
                if (quote.side is Side.BUY and quote.price_ticks >= order.price_ticks) or (
                    quote.side is Side.SELL and quote.price_ticks <= order.price_ticks
                ):
                    crossing.add(quote.tag)
        return crossing


REASONS = {
    "max_order": "size not positive or above max_order_quote",
    "price_band": "price further from mid than price_band_bps",
    "max_position": "a fill would pass max_position_quote",
    "max_position_asset": "a fill would pass max_position_asset_quote across venues",
    "self_trade": "would trade against our own order",
    "max_open_orders": "more quotes than max_open_orders",
}
