"""Position-sizing helpers for strategies: how many lots to quote.

Both round down to whole lots and never return a negative size; a result
below the instrument's minimum means "too small to trade" and the strategy
should not quote.
"""

from __future__ import annotations

from decimal import Decimal

from host.models import Instrument


def fixed_fraction_lots(
    instrument: Instrument, equity_quote: Decimal, fraction: Decimal, price_ticks: int
) -> int:
    """Lots worth ``fraction`` of ``equity_quote`` at ``price_ticks``.

    ``fixed_fraction_lots(btc, Decimal(10_000), Decimal("0.02"), 600_000)`` is
    200 USDT of BTC at 60,000: 3 lots of 0.001 BTC.
    """
    if not Decimal(0) <= fraction <= Decimal(1):
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    if equity_quote <= 0:
        return 0
    return instrument.lots_for_notional(equity_quote * fraction, price_ticks)


def volatility_target_lots(
    instrument: Instrument,
    equity_quote: Decimal,
    target_volatility_bps: float,
    realized_volatility_bps: float,
    price_ticks: int,
    *,
    max_leverage: Decimal = Decimal(1),
) -> int:
    """Lots such that the position's volatility is ``target_volatility_bps`` of equity.

    The notional is ``equity * target / realized`` (both volatilities over the
    same horizon), capped at ``max_leverage * equity``. A realized volatility
    of zero or less gives the cap, never a division by zero.
    """
    if target_volatility_bps < 0:
        raise ValueError(f"target volatility must be >= 0, got {target_volatility_bps}")
    if equity_quote <= 0:
        return 0
    cap = equity_quote * max_leverage
    if realized_volatility_bps <= 0:
        notional = cap
    else:
        ratio = Decimal(str(target_volatility_bps)) / Decimal(str(realized_volatility_bps))
        notional = min(cap, equity_quote * ratio)
    return instrument.lots_for_notional(notional, price_ticks)
