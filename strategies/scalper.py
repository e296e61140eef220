"""Scalper: enter on order-book imbalance, leave fast with a take-profit and a stop-loss.

Signal, per book event, while flat:

- imbalance ``(B - A) / (B + A)`` over the best ``imbalance_levels`` levels:
  the ``imbalance_<N>`` signal of the imbalance analyzer when it is loaded,
  else computed from the book (same formula);
- microprice offset ``microprice - mid`` in ticks: the
  ``microprice_offset_ticks`` signal, else from the book's touch.

Long when ``imbalance >= entry_imbalance`` (and, with ``use_microprice``,
the microprice is above the mid); short on the mirror image. Entry:

- ``join``: a PostOnly quote at the touch of the favoured side (tag
  ``entry``), kept while the signal holds, cancelled when it fades;
- ``take``: an IOC order (``Take``) at the far touch plus
  ``max_slippage_ticks``.

Once in a position the strategy wants exactly two orders, both closing it:
a take-profit limit ``take_profit_bps`` beyond the average entry price
(reduce-only) and a stop-loss held by the venue as a conditional order
(``Stop``: a market order once the last price crosses ``stop_loss_bps``
against the entry). A position older than ``max_hold_s`` is closed at market
(``Take``, reduce-only), and so is one whose stop the venue refused (the
price was already through the trigger when the stop arrived). Flat again, it
cancels what is left and waits ``cooldown_s`` before the next entry. Prices
round away from the market (bids down, asks up; a stop's trigger rounds
toward protection).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from host import Decision, Fill, OrderUpdate, Quote, Side, Stop, Strategy, StrategyParams, Take
from host.models import OrderStatus

NS_PER_S = 1_000_000_000


class ScalperParams(StrategyParams):
    order_size_quote: Decimal = Field(
        Decimal("500"), gt=0, description="Size of each entry in quote currency (USDT)."
    )
    imbalance_levels: int = Field(
        5, ge=1, le=100, description="Book levels per side in the imbalance (imbalance_<N>)."
    )
    entry_imbalance: float = Field(
        0.4, gt=0, le=1, description="Enter when |imbalance| reaches this (0..1]."
    )
    use_microprice: bool = Field(
        True, description="Also require the microprice on the entry's side of the mid."
    )
    entry: Literal["join", "take"] = Field(
        "join", description="join: PostOnly at the near touch; take: IOC at the far touch."
    )
    max_slippage_ticks: int = Field(
        0, ge=0, description="A take entry may pay this many ticks beyond the far touch."
    )
    take_profit_bps: float = Field(
        1.0, gt=0, le=1000, description="Take-profit distance from the average entry price, bps."
    )
    stop_loss_bps: float = Field(
        2.0, gt=0, le=1000, description="Stop-loss trigger distance from the entry price, bps."
    )
    max_hold_s: float = Field(
        60.0, gt=0, le=86_400, description="Close at market after holding this long, seconds."
    )
    cooldown_s: float = Field(
        2.0, ge=0, le=86_400, description="Wait this long after an exit (or a take) to re-enter."
    )


class Scalper(Strategy):
    name = "scalper"
    Params = ScalperParams
    params: ScalperParams
    timer_interval_ms = 1000  # checks max_hold_s
    state_version = 1

    def __init__(self, ctx: Any, params: ScalperParams) -> None:
        super().__init__(ctx, params)
        self.imbalance_signal = f"imbalance_{params.imbalance_levels}"
        self.entry_ns = 0  # when the current position was opened; 0 when flat
        self.next_entry_ns = 0  # no entry before this (cooldown)
        self.entry_quote: Quote | None = None  # the resting join entry, if any
        self.exit_sent = False  # a time exit is in flight

    # -- signal ----------------------------------------------------------------------------------

    def imbalance(self, book: Any) -> float:
        value = self.ctx.signals.get(self.imbalance_signal)
        if value is not None:
            return value
        levels = self.params.imbalance_levels
        bid_lots = sum(level.size_lots for level in book.levels(Side.BUY, levels))
        ask_lots = sum(level.size_lots for level in book.levels(Side.SELL, levels))
        total = bid_lots + ask_lots
        return 0.0 if total == 0 else (bid_lots - ask_lots) / total

    def microprice_offset_ticks(self, book: Any) -> float:
        value = self.ctx.signals.get("microprice_offset_ticks")
        if value is not None:
            return value
        microprice = book.microprice_ticks()
        mid = book.mid_ticks()
        return 0.0 if microprice is None or mid is None else microprice - mid

    def signal_side(self, book: Any) -> Side | None:
        """The side the book leans to, or None."""
        imbalance = self.imbalance(book)
        threshold = self.params.entry_imbalance
        if imbalance >= threshold:
            side = Side.BUY
        elif imbalance <= -threshold:
            side = Side.SELL
        else:
            return None
        if self.params.use_microprice and self.microprice_offset_ticks(book) * int(side) <= 0:
            return None
        return side

    # -- orders ----------------------------------------------------------------------------------

    def entry_decision(self, book: Any, now_ns: int) -> Decision | None:
        side = self.signal_side(book)
        if side is None:
            if self.entry_quote is None:
                return None
            self.entry_quote = None
            return Decision()  # the signal faded: withdraw the resting entry
        instrument = self.ctx.instrument
        size_lots = instrument.lots_for_notional(self.params.order_size_quote, book.best_ask_ticks)
        if size_lots < instrument.min_qty_lots:
            return None
        if self.params.entry == "take":
            far_touch = book.best_ask_ticks if side is Side.BUY else book.best_bid_ticks
            limit_ticks = far_touch + int(side) * self.params.max_slippage_ticks
            # The IOC answers within a round trip; the cooldown stops a second
            # one going out on the next book event before it has.
            self.next_entry_ns = now_ns + int(self.params.cooldown_s * NS_PER_S)
            return Decision(takes=(Take(side, size_lots, "entry", price_ticks=limit_ticks),))
        near_touch = book.best_bid_ticks if side is Side.BUY else book.best_ask_ticks
        quote = Quote(side, near_touch, size_lots, "entry")
        if quote == self.entry_quote:
            return None
        self.entry_quote = quote
        return Decision(quotes=(quote,))

    def close_at_market(self, tag: str) -> Decision:
        """Close the whole position with a market order; the exits resting are cancelled."""
        position_lots = self.ctx.position.size_lots
        self.exit_sent = True
        side = Side.SELL if position_lots > 0 else Side.BUY
        return Decision(takes=(Take(side, abs(position_lots), tag, reduce_only=True),))

    def exit_decision(self) -> Decision:
        """A take-profit and a stop-loss for the whole position."""
        position = self.ctx.position
        size_lots = abs(position.size_lots)
        entry_ticks = float(position.open_cost / position.size_lots)
        profit_ticks = entry_ticks * self.params.take_profit_bps / 10_000
        loss_ticks = entry_ticks * self.params.stop_loss_bps / 10_000
        if position.size_lots > 0:
            # Long: sell higher (ask rounds up), stop when the price falls
            # (trigger rounds up: closer to the entry, never looser than asked).
            take_profit = Quote(
                Side.SELL,
                math.ceil(entry_ticks + profit_ticks),
                size_lots,
                "take_profit",
                post_only=False,
                reduce_only=True,
            )
            stop = Stop(
                Side.SELL, size_lots, math.ceil(entry_ticks - loss_ticks), False, "stop_loss"
            )
        else:
            take_profit = Quote(
                Side.BUY,
                math.floor(entry_ticks - profit_ticks),
                size_lots,
                "take_profit",
                post_only=False,
                reduce_only=True,
            )
            stop = Stop(
                Side.BUY, size_lots, math.floor(entry_ticks + loss_ticks), True, "stop_loss"
            )
        return Decision(quotes=(take_profit,), stops=(stop,))

    # -- handlers --------------------------------------------------------------------------------

    def on_book(self, book: Any) -> Decision | None:
        if self.ctx.position.size_lots != 0 or book.mid_ticks() is None:
            return None  # in a position the exits rest; nothing moves them
        now_ns = self.ctx.now_ns()
        if now_ns < self.next_entry_ns:
            return None
        return self.entry_decision(book, now_ns)

    def on_fill(self, fill: Fill) -> Decision | None:
        now_ns = self.ctx.now_ns()
        self.exit_sent = False
        if self.ctx.position.size_lots == 0:
            # Out: cancel whatever is left (the other exit) and cool down.
            self.entry_ns = 0
            self.entry_quote = None
            self.next_entry_ns = now_ns + int(self.params.cooldown_s * NS_PER_S)
            return Decision()
        if self.entry_ns == 0:
            self.entry_ns = now_ns
        self.entry_quote = None
        # Entered, added, or partly closed: exits sized to the position as it is now.
        return self.exit_decision()

    def on_timer(self, now_ns: int) -> Decision | None:
        position_lots = self.ctx.position.size_lots
        if position_lots == 0 or self.exit_sent or self.entry_ns == 0:
            return None
        if now_ns - self.entry_ns < self.params.max_hold_s * NS_PER_S:
            return None
        return self.close_at_market("time_exit")

    def on_order_update(self, update: OrderUpdate) -> Decision | None:
        # In a position, the only market orders (no price) are the stop-loss
        # and a market exit, which sets exit_sent first: a refused one here is
        # the stop, so the position is unprotected. Close it now.
        if (
            update.status == OrderStatus.REJECTED
            and update.price_ticks is None
            and self.ctx.position.size_lots != 0
            and not self.exit_sent
        ):
            return self.close_at_market("stop_exit")
        return None

    # -- hot reload ------------------------------------------------------------------------------

    def on_save(self) -> dict[str, Any]:
        entry = self.entry_quote
        return {
            "version": self.state_version,
            "entry_ns": self.entry_ns,
            "next_entry_ns": self.next_entry_ns,
            "exit_sent": self.exit_sent,
            "entry_quote": None
            if entry is None
            else [int(entry.side), entry.price_ticks, entry.size_lots],
        }

    def on_load(self, state: dict[str, Any]) -> None:
        self.entry_ns = int(state.get("entry_ns", 0))
        self.next_entry_ns = int(state.get("next_entry_ns", 0))
        self.exit_sent = bool(state.get("exit_sent", False))
        entry = state.get("entry_quote")
        self.entry_quote = (
            None if entry is None else Quote(Side(entry[0]), entry[1], entry[2], "entry")
        )
