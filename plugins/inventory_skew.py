"""Inventory skew: a quote adjuster that leans any strategy's quotes against its position.

A wrapper on ``mmhost_adjust_decision``: it sees the Decision after the
inner adjusters and, for the strategies it applies to, returns it with

- every quote shifted by ``-skew_ticks_per_lot * position_lots`` ticks
  (clamped to ``max_skew_ticks``): long lowers both bid and ask, so the ask
  fills sooner and the bid later; bids round down and asks up, and a PostOnly
  quote is kept off the far touch (it would be refused for crossing);
- hard inventory limits (``max_position_lots`` and/or
  ``max_position_quote``): a quote or take that would add to the position is
  shrunk to the room left under the limit, and dropped when no lot is left
  (at the limit). Reduce-only orders and stops are never touched.

Settings (``[plugins.inventory_skew]``, read in ``mmhost_startup``): see
``InventorySkewSettings``. The defaults change nothing (no skew, no limit),
so loading the plugins folder never alters a strategy unasked; ``strategies``
limits it to some strategies (by instance id or strategy name; empty = all).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import Field

from host import Decision, PluginSettings, Quote, Side, Take, hookimpl, plugin_settings

if TYPE_CHECKING:
    from host import Context, Strategy

PLUGIN_NAME = "inventory_skew"


class InventorySkewSettings(PluginSettings):
    """``[plugins.inventory_skew]``."""

    skew_ticks_per_lot: float = Field(
        0.0, ge=0, description="Ticks both quotes move against the position, per lot held."
    )
    max_skew_ticks: int = Field(
        1000, ge=0, description="Clamp on the shift, ticks (a huge position never moves far)."
    )
    max_position_lots: int | None = Field(
        None, gt=0, description="Hard limit on the strategy's position, lots (none: no limit)."
    )
    max_position_quote: Decimal | None = Field(
        None,
        gt=0,
        description="Hard limit on the position's value at mid, quote currency (none: no limit).",
    )
    strategies: list[str] = Field(
        [], description="Strategy ids or names it applies to; empty: every strategy."
    )


class InventorySkew:
    """The adjuster; the module registers one instance's hooks."""

    def __init__(self, settings: InventorySkewSettings | None = None) -> None:
        self.settings = settings or InventorySkewSettings()

    @hookimpl
    def mmhost_startup(self, engine: Any) -> None:
        self.settings = plugin_settings(engine.config, PLUGIN_NAME, InventorySkewSettings)

    @hookimpl(wrapper=True)
    def mmhost_adjust_decision(
        self, decision: Decision, ctx: Context, strategy: Strategy
    ) -> Decision | None:
        inner = yield
        current = decision if inner is None else inner
        if not self.applies_to(ctx.strategy_id, strategy.name):
            return inner
        return self.adjust(current, ctx)

    def applies_to(self, strategy_id: str, strategy_name: str) -> bool:
        names = self.settings.strategies
        return not names or strategy_id in names or strategy_name in names

    # -- the adjustment (pure: a Decision and the context in, a Decision out) -------------------

    def limit_lots(self, ctx: Context) -> int | None:
        """The tighter of the two limits in lots, or None without a limit."""
        settings = self.settings
        limits: list[int] = []
        if settings.max_position_lots is not None:
            limits.append(settings.max_position_lots)
        if settings.max_position_quote is not None:
            mid_ticks = ctx.book.mid_ticks()
            if mid_ticks is None:
                return 0  # no price to value the position: add nothing
            limits.append(
                ctx.instrument.lots_for_notional(settings.max_position_quote, math.ceil(mid_ticks))
            )
        return min(limits) if limits else None

    def adjust(self, decision: Decision, ctx: Context) -> Decision:
        settings = self.settings
        position_lots = ctx.position.size_lots
        shift_ticks = -settings.skew_ticks_per_lot * position_lots
        shift_ticks = max(-settings.max_skew_ticks, min(settings.max_skew_ticks, shift_ticks))
        limit = self.limit_lots(ctx)
        book = ctx.book
        quotes: list[Quote] = []
        for quote in decision.quotes:
            size_lots = self.allowed_lots(
                quote.side, quote.size_lots, quote.reduce_only, limit, ctx
            )
            if size_lots <= 0:
                continue
            price_ticks = quote.price_ticks
            if shift_ticks and not quote.reduce_only:
                price_ticks = self.shifted(quote, shift_ticks, book)
            quotes.append(
                Quote(
                    quote.side,
                    price_ticks,
                    size_lots,
                    quote.tag,
                    quote.post_only,
                    quote.reduce_only,
                )
            )
        takes: list[Take] = []
        for take in decision.takes:
            size_lots = self.allowed_lots(take.side, take.size_lots, take.reduce_only, limit, ctx)
            if size_lots > 0:
                takes.append(
                    Take(take.side, size_lots, take.tag, take.price_ticks, take.reduce_only)
                )
        return Decision(tuple(quotes), tuple(takes), decision.stops)

    @staticmethod
    def shifted(quote: Quote, shift_ticks: float, book: Any) -> int:
        """The quote's price moved by ``shift_ticks``, rounded away from the market."""
        if quote.side is Side.BUY:
            price_ticks = math.floor(quote.price_ticks + shift_ticks)
            if quote.post_only and book.best_ask_ticks:
                price_ticks = min(price_ticks, book.best_ask_ticks - 1)
            return price_ticks
        price_ticks = math.ceil(quote.price_ticks + shift_ticks)
        if quote.post_only and book.best_bid_ticks:
            price_ticks = max(price_ticks, book.best_bid_ticks + 1)
        return price_ticks

    @staticmethod
    def allowed_lots(
        side: Side, size_lots: int, reduce_only: bool, limit: int | None, ctx: Context
    ) -> int:
        """``size_lots``, or less so a fill keeps ``|position|`` within ``limit``."""
        if limit is None or reduce_only:
            return size_lots
        # Lots this side may still add: up to +limit for buys, down to -limit for sells.
        room_lots = limit - int(side) * ctx.position.size_lots
        allowed = min(size_lots, room_lots)
        return allowed if allowed >= ctx.instrument.min_qty_lots else 0


adjuster = InventorySkew()
mmhost_startup = adjuster.mmhost_startup
mmhost_adjust_decision = adjuster.mmhost_adjust_decision
