"""Positions and PnL from fills, exact.

Linear contracts and spot: PnL is in the quote currency, ``qty * (exit - entry)``.
Amounts are kept in tick*lot units. Opening a position adds integers; only
a partial close divides (average cost), and that division is done in a
60-digit Decimal context: the rounding sits some 40 digits below a cent,
and the numbers stay the same size however long the position stays open
(an exact Fraction would grow without bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal

from host.models import Fill, Instrument

WIDE = Context(prec=60)


@dataclass(slots=True)
class Position:
    """Signed position of one instrument, average-cost basis.

    ``realized`` and ``open_cost`` are in tick*lot units (multiply by
    ``tick_size * lot_size`` for quote currency).
    """

    instrument: Instrument
    size_lots: int = 0
    open_cost: Decimal = Decimal(0)  # signed, like size_lots
    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)  # paid (positive) or received, perpetuals only
    fill_count: int = 0
    volume_lots: int = 0
    volume_quote: Decimal = Decimal(0)
    maker_fill_count: int = 0

    def adopt(self, size_lots: int, mark_price_ticks: float | None) -> None:
        """Take over a position found at the venue, costed at the mark (its own
        entry price is the venue's business; PnL here counts from now)."""
        self.size_lots = size_lots
        self.open_cost = Decimal(mark_price_ticks or 0) * size_lots

    def apply_fill(self, fill: Fill) -> None:
        signed_lots = int(fill.side) * fill.size_lots
        price = fill.price_ticks
        wide = WIDE
        if self.size_lots == 0 or (self.size_lots > 0) == (signed_lots > 0):
            self.size_lots += signed_lots
            self.open_cost = wide.add(self.open_cost, signed_lots * price)
        else:
            closing = min(abs(signed_lots), abs(self.size_lots))
            direction = 1 if self.size_lots > 0 else -1
            # The part of the cost basis leaving with the closed lots.
            closed_cost = wide.divide(wide.multiply(self.open_cost, closing), abs(self.size_lots))
            # Long: sold closing lots at price; short: bought them back.
            self.realized = wide.add(
                self.realized, wide.subtract(direction * closing * price, closed_cost)
            )
            self.open_cost = wide.subtract(self.open_cost, closed_cost)
            self.size_lots -= closing * direction
            opening = abs(signed_lots) - closing
            if opening:
                # The fill went through zero: the rest opens the other way.
                self.size_lots = -direction * opening
                self.open_cost = Decimal(-direction * opening * price)
            elif self.size_lots == 0:
                self.open_cost = Decimal(0)
        self.fees += fill.fee
        self.fill_count += 1
        self.maker_fill_count += fill.is_maker
        self.volume_lots += fill.size_lots
        self.volume_quote += self.instrument.notional(price, fill.size_lots)

    @property
    def unit(self) -> Decimal:
        """Quote currency per tick-lot."""
        return self.instrument.tick_size * self.instrument.lot_size

    @property
    def qty(self) -> Decimal:
        """Signed size in base units."""
        return self.instrument.lots_to_qty(self.size_lots)

    def avg_price(self) -> Decimal | None:
        if self.size_lots == 0:
            return None
        return WIDE.divide(self.open_cost, self.size_lots) * self.instrument.tick_size

    def realized_pnl(self) -> Decimal:
        """Realised trading PnL in quote currency, before fees."""
        return self.realized * self.unit

    def unrealized_pnl(self, mark_price_ticks: float | int | None) -> Decimal:
        """Open PnL at ``mark_price_ticks`` (mid when it is a half tick)."""
        if self.size_lots == 0 or mark_price_ticks is None:
            return Decimal(0)
        # A float mark is a mid: an integer or a half tick, both exact in binary.
        mark = Decimal(mark_price_ticks)
        return WIDE.subtract(WIDE.multiply(mark, self.size_lots), self.open_cost) * self.unit

    def net_pnl(self, mark_price_ticks: float | int | None) -> Decimal:
        """Realised + unrealised - fees - funding paid."""
        return (
            self.realized_pnl() + self.unrealized_pnl(mark_price_ticks) - self.fees - self.funding
        )
