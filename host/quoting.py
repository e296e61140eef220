"""A strategy that says which quotes it wants and requotes with hysteresis.

Subclasses write ``wanted_quotes(book)``: the full set of quotes they want
resting now (None: no opinion yet, keep what rests; []: nothing). ``decide``
passes it through ``QuoteHysteresis``, so a resting quote is kept until its
wanted price moved more than ``requote_threshold_ticks`` or its size changed
more than ``requote_size_change_pct`` (both read from the strategy's params).
A fill or a venue cancel/reject makes the next decision resend everything,
and the quotes last sent survive a hot reload.
"""

from __future__ import annotations

from typing import Any

from host.estimators import QuoteHysteresis
from host.models import Decision, Fill, OrderStatus, OrderUpdate, Quote
from host.strategy import Strategy


class HysteresisQuoter(Strategy):
    """Quotes ``wanted_quotes`` through ``QuoteHysteresis``; see the module docstring."""

    state_version = 1

    def __init__(self, ctx: Any, params: Any) -> None:
        super().__init__(ctx, params)
        self.hysteresis = QuoteHysteresis(
            params.requote_threshold_ticks, params.requote_size_change_pct
        )

    def wanted_quotes(self, book: Any) -> list[Quote] | None:
        raise NotImplementedError

    def decide(self, book: Any) -> Decision | None:
        wanted = self.wanted_quotes(book)
        if wanted is None:
            return None
        quotes = self.hysteresis.filter(wanted)
        return None if quotes is None else Decision(quotes=quotes)

    def on_book(self, book: Any) -> Decision | None:
        return self.decide(book)

    def on_fill(self, fill: Fill) -> Decision | None:
        # The position moved (skew, limits), and a filled quote needs replacing.
        self.hysteresis.reset()
        return self.decide(self.ctx.book)

    def on_order_update(self, update: OrderUpdate) -> Decision | None:
        if update.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            # The venue no longer holds what was sent: send everything next time.
            self.hysteresis.reset()
        return None

    def on_save(self) -> dict[str, Any]:
        return {"version": self.state_version, "sent_quotes": self.hysteresis.to_state()}

    def on_load(self, state: dict[str, Any]) -> None:
        self.hysteresis.load_state(state.get("sent_quotes"))
