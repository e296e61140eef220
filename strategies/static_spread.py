"""Static spread: a bid and an ask at a fixed distance around mid.

Requotes when mid has moved more than ``requote_threshold_bps`` since the last
quote. With ``take_profit`` on, a fill switches it to exiting: the other side
is cancelled and one order on the opposite side, ``take_profit_bps`` from the
average entry price, waits to close the position; when the position is flat
again it goes back to quoting both sides.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from host import Decision, Fill, OrderUpdate, Quote, Side, Strategy, StrategyParams
from host.models import OrderStatus


class StaticSpreadParams(StrategyParams):
    spread_bps: float | None = Field(
        None,
        gt=0,
        le=10_000,
        description="Distance from bid to ask in bps of mid (or spread_ticks).",
    )
    spread_ticks: int | None = Field(
        None, gt=0, description="Distance from bid to ask in ticks (instead of spread_bps)."
    )
    order_size_quote: Decimal = Field(
        Decimal("100"), gt=0, description="Size of each quote in quote currency (USDT)."
    )
    requote_threshold_bps: float = Field(
        0.5, ge=0, description="Requote when mid has moved more than this since the last quote."
    )
    take_profit: bool = Field(
        True, description="After a fill: cancel the other side and place a take-profit."
    )
    take_profit_bps: float = Field(
        2.0, gt=0, description="Take-profit distance from the average entry price, in bps."
    )
    post_only: bool = Field(True, description="Quotes are PostOnly (never take liquidity).")

    @model_validator(mode="before")
    @classmethod
    def _one_spread(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        has_bps = values.get("spread_bps") is not None
        has_ticks = values.get("spread_ticks") is not None
        if has_bps and has_ticks:
            raise ValueError("set one of spread_bps and spread_ticks, not both")
        if not has_bps and not has_ticks:
            return {**values, "spread_bps": 1.0}
        return values


class StaticSpread(Strategy):
    name = "static_spread"
    Params = StaticSpreadParams
    params: StaticSpreadParams

    def __init__(self, ctx: Any, params: StaticSpreadParams) -> None:
        super().__init__(ctx, params)
        self.quoted_mid_ticks: float | None = None
        self.exiting = False

    # -- quoting ----------------------------------------------------------------------------

    def quotes_around(self, mid_ticks: float) -> Decision | None:
        params = self.params
        if params.spread_ticks is not None:
            half_spread_ticks = params.spread_ticks / 2
        else:
            half_spread_ticks = mid_ticks * params.spread_bps / 20_000  # type: ignore[operator]
        bid_ticks = math.floor(mid_ticks - half_spread_ticks)
        ask_ticks = math.ceil(mid_ticks + half_spread_ticks)
        instrument = self.ctx.instrument
        size_lots = instrument.lots_for_notional(params.order_size_quote, ask_ticks)
        if size_lots < instrument.min_qty_lots:
            return None
        self.quoted_mid_ticks = mid_ticks
        return Decision(
            quotes=(
                Quote(Side.BUY, bid_ticks, size_lots, "bid", post_only=params.post_only),
                Quote(Side.SELL, ask_ticks, size_lots, "ask", post_only=params.post_only),
            )
        )

    def take_profit_order(self) -> Decision:
        position = self.ctx.position
        entry_ticks = float(position.open_cost / position.size_lots)
        distance_ticks = entry_ticks * self.params.take_profit_bps / 10_000
        if position.size_lots > 0:
            side, price_ticks = Side.SELL, math.ceil(entry_ticks + distance_ticks)
        else:
            side, price_ticks = Side.BUY, math.floor(entry_ticks - distance_ticks)
        return Decision(
            quotes=(
                Quote(side, price_ticks, abs(position.size_lots), "take_profit", post_only=False),
            )
        )

    # -- handlers ------------------------------------------------------------------------------

    def on_book(self, book: Any) -> Decision | None:
        if self.exiting:
            return None
        mid_ticks = book.mid_ticks()
        if mid_ticks is None:
            return None
        if self.quoted_mid_ticks is not None:
            moved_bps = abs(mid_ticks - self.quoted_mid_ticks) / self.quoted_mid_ticks * 10_000
            if moved_bps <= self.params.requote_threshold_bps:
                return None
        return self.quotes_around(mid_ticks)

    def on_fill(self, fill: Fill) -> Decision | None:
        if not self.params.take_profit:
            return None
        if self.ctx.position.size_lots != 0:
            self.exiting = True
            return self.take_profit_order()
        # Flat again: the take-profit (or the other side) closed the position.
        self.exiting = False
        mid_ticks = self.ctx.book.mid_ticks()
        return None if mid_ticks is None else self.quotes_around(mid_ticks)

    def on_order_update(self, update: OrderUpdate) -> Decision | None:
        if self.exiting or update.status not in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            return None
        live_tags = {order.tag for order in self.ctx.open_orders}
        if not {"bid", "ask"} <= live_tags:
            # A quote the venue took away (PostOnly would cross, a reject) and not
            # replaced yet: quote again on the next book event.
            self.quoted_mid_ticks = None
        return None

    # -- hot reload ----------------------------------------------------------------------------

    def on_save(self) -> dict[str, Any]:
        return {"version": 1, "quoted_mid_ticks": self.quoted_mid_ticks, "exiting": self.exiting}

    def on_load(self, state: dict[str, Any]) -> None:
        self.quoted_mid_ticks = state.get("quoted_mid_ticks")
        self.exiting = bool(state.get("exiting", False))
