"""Position and PnL arithmetic, exact."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from host.models import Fill, Instrument, Side
from host.portfolio import Position

BTC = Instrument("sim", "BTCUSDT", Decimal("0.1"), Decimal("0.001"), base="BTC")


def fill(side: Side, price_ticks: int, size_lots: int, fee: str = "0") -> Fill:
    return Fill("sim", "BTCUSDT", "id", "x", side, price_ticks, size_lots, Decimal(fee), True, 0)


def test_round_trip_realises_the_difference() -> None:
    position = Position(BTC)
    position.apply_fill(fill(Side.BUY, 600_000, 10, "0.6"))  # 0.010 BTC at 60000.0
    position.apply_fill(fill(Side.SELL, 600_100, 10, "0.6"))  # at 60010.0
    assert position.size_lots == 0
    assert position.realized_pnl() == Decimal("0.1")  # 0.01 BTC * 10 USDT
    assert position.fees == Decimal("1.2")
    assert position.net_pnl(600_100) == Decimal("-1.1")


def test_average_cost_and_unrealised() -> None:
    position = Position(BTC)
    position.apply_fill(fill(Side.BUY, 600_000, 10))
    position.apply_fill(fill(Side.BUY, 600_300, 20))
    assert position.avg_price() == Decimal("60020.0")
    assert position.unrealized_pnl(600_500) == Decimal("0.9")  # 0.03 BTC * 30
    position.apply_fill(fill(Side.SELL, 600_400, 40))  # closes 30, opens 10 short
    assert position.size_lots == -10
    assert position.realized_pnl() == Decimal("0.6")  # 0.03 * 20
    assert position.avg_price() == Decimal("60040.0")


fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=1_000_000),
        st.integers(min_value=1, max_value=500),
    ),
    max_size=40,
)


@given(fills, st.integers(min_value=1, max_value=1_000_000))
def test_total_pnl_equals_cash_flow_plus_mark_value(
    trades: list[tuple[Side, int, int]], mark_ticks: int
) -> None:
    """Whatever the order of fills: realised + unrealised = -sum(signed cost) + position * mark."""
    position = Position(BTC)
    for side, price_ticks, size_lots in trades:
        position.apply_fill(fill(side, price_ticks, size_lots))
    signed_lots = sum(int(side) * size for side, _, size in trades)
    assert position.size_lots == signed_lots
    cash_flow = -sum(int(side) * size * price for side, price, size in trades)
    expected = (Fraction(cash_flow) + signed_lots * mark_ticks) * Fraction(
        BTC.tick_size * BTC.lot_size
    )
    total = position.realized_pnl() + position.unrealized_pnl(mark_ticks)
    # Each figure is one Decimal division of an exact Fraction: equal to 20 places.
    assert abs(total - Decimal(expected.numerator) / Decimal(expected.denominator)) < Decimal(
        "1e-15"
    )


def test_cost_basis_stays_small_on_a_position_that_never_goes_flat() -> None:
    """Average-cost division must not grow the numbers (an exact Fraction would)."""
    position = Position(BTC)
    position.apply_fill(fill(Side.BUY, 600_000, 1_000))
    for step in range(5_000):
        position.apply_fill(fill(Side.SELL, 600_000 + step % 7, 3))
        position.apply_fill(fill(Side.BUY, 600_000 - step % 11, 3))
    assert position.size_lots == 1_000
    assert len(str(position.open_cost)) < 80
    assert len(str(position.realized)) < 80
