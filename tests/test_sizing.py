"""Position sizing helpers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.models import Instrument
from host.sizing import fixed_fraction_lots, volatility_target_lots

BTC = Instrument("sim", "BTCUSDT", Decimal("0.1"), Decimal("0.001"), base="BTC")


def test_fixed_fraction_rounds_down_to_lots() -> None:
    assert fixed_fraction_lots(BTC, Decimal(10_000), Decimal("0.02"), 600_000) == 3
    assert fixed_fraction_lots(BTC, Decimal(0), Decimal("0.5"), 600_000) == 0
    with pytest.raises(ValueError, match="between 0 and 1"):
        fixed_fraction_lots(BTC, Decimal(1), Decimal("1.5"), 600_000)


def test_volatility_target_scales_inversely_and_caps() -> None:
    calm = volatility_target_lots(BTC, Decimal(10_000), 10, 20, 600_000)
    wild = volatility_target_lots(BTC, Decimal(10_000), 10, 40, 600_000)
    assert calm == 83 and wild == 41  # 5000 and 2500 USDT at 60,000
    capped = volatility_target_lots(BTC, Decimal(10_000), 10, 0, 600_000)
    assert capped == volatility_target_lots(BTC, Decimal(10_000), 10, 1, 600_000) == 166


@given(
    st.decimals(min_value=0, max_value=10**7, places=2),
    st.floats(min_value=0.1, max_value=500),
    st.floats(min_value=0.1, max_value=500),
    st.integers(min_value=1, max_value=10**7),
)
def test_volatility_target_never_exceeds_the_leverage_cap(
    equity: Decimal, target: float, realized: float, price_ticks: int
) -> None:
    lots = volatility_target_lots(BTC, equity, target, realized, price_ticks)
    assert lots >= 0
    assert BTC.notional(price_ticks, lots) <= equity
