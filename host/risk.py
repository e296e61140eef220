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

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from host.hookspecs import hookimpl
from host.models import Decision, Quote, Take

if TYPE_CHECKING:
    from host.config import RiskSection
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
            quote = Quote(
                quote.side, quote.price_ticks, cap, quote.tag, quote.post_only, quote.reduce_only
            )
        quotes.append(quote)
    takes: list[Take] = []
    for take in decision.takes:
        if take.tag in vetoed_tags:
            continue
        if cap is not None and take.size_lots > cap:
            if cap <= 0:
                continue
            take = Take(take.side, cap, take.tag, take.price_ticks, take.reduce_only)
        takes.append(take)
    return Decision(tuple(quotes), tuple(takes))


class BuiltinRiskRules:
    """Order size, price band, position and open-order limits from [risk]."""

    def __init__(self, limits: RiskSection) -> None:
        self.limits = limits

    @hookimpl
    def mmhost_check_decision(
        self, decision: Decision, ctx: Context, strategy: Strategy
    ) -> Verdict | None:
        limits = self.limits
        instrument = ctx.instrument
        book = ctx.book
        mid = book.mid_ticks() if book is not None else None
        bad_size: list[str] = []
        out_of_band: list[str] = []
        too_long: list[str] = []
        position_lots = ctx.position.size_lots
        position_limit = limits.max_position_quote
        for order in (*decision.quotes, *decision.takes):
            price_ticks = order.price_ticks if order.price_ticks is not None else mid
            if order.size_lots <= 0 or (price_ticks is not None and price_ticks <= 0):
                bad_size.append(order.tag)
                continue
            if price_ticks is None:
                continue
            notional = instrument.notional(int(price_ticks), order.size_lots)
            if notional > limits.max_order_quote:
                bad_size.append(order.tag)
                continue
            if mid is not None and order.price_ticks is not None:
                distance_bps = Decimal(abs(order.price_ticks - mid)) / Decimal(mid) * 10_000
                if distance_bps > limits.price_band_bps:
                    out_of_band.append(order.tag)
                    continue
            after_fill = position_lots + int(order.side) * order.size_lots
            increases = abs(after_fill) > abs(position_lots)
            if (
                increases
                and not getattr(order, "reduce_only", False)
                and instrument.notional(int(price_ticks), abs(after_fill)) > position_limit
            ):
                too_long.append(order.tag)
        refused = [
            (rule, reason, tags)
            for rule, reason, tags in (
                ("max_order", "size not positive or above max_order_quote", bad_size),
                ("price_band", "price further from mid than price_band_bps", out_of_band),
                ("max_position", "a fill would pass max_position_quote", too_long),
            )
            if tags
        ]
        if refused:
            return Verdict(
                rule=",".join(rule for rule, _, _ in refused),
                reason="; ".join(f"{reason} ({', '.join(tags)})" for _, reason, tags in refused),
                tags=frozenset(tag for _, _, tags in refused for tag in tags),
            )
        if len(decision.quotes) > limits.max_open_orders:
            return Verdict("max_open_orders", "more quotes than max_open_orders")
        return None
