"""order_flow: Cont-Kukanov-Stoikov OFI over time windows."""

from __future__ import annotations

import pytest
from plugins_under_test import ofi_contribution
from scripted_market import ScriptedMarket


def test_ofi_windows_on_a_known_sequence() -> None:
    market = ScriptedMarket("order_flow", settings={"order_flow": {"windows_s": [1, 5]}})
    market.snapshot(0, bids={100: 10}, asks={102: 10})
    signals = market.signals
    assert signals["ofi_1s"] == 0.0
    # Bid size 10 -> 15 at the same price: e = 15 - 10 = +5.
    market.delta(100, bids={100: 15})
    assert signals["ofi_1s"] == 5.0
    # A better ask (102 -> 101) with 4 lots: e = -4.
    market.delta(600, asks={101: 4})
    assert signals["ofi_1s"] == 1.0
    assert signals["ofi_5s"] == 1.0
    # Bid size 15 -> 12: e = -3. The +5 at t=100 ms has left the 1 s window.
    market.delta(1200, bids={100: 12})
    assert signals["ofi_1s"] == -7.0
    assert signals["ofi_5s"] == -2.0
    # Per-depth: divided by the mean touch size (12 + 4) / 2.
    assert signals["ofi_5s_per_depth"] == pytest.approx(-2.0 / 8.0)


def test_contribution_formula_cases() -> None:
    # Bid price up: all new bid size is inflow; the ask did not move: +old - new.
    assert ofi_contribution(101, 7, 103, 5, 100, 9, 103, 8) == 7 + 8 - 5
    # Bid price down: the whole old bid left.
    assert ofi_contribution(99, 7, 103, 5, 100, 9, 103, 5) == -9
    # Ask price up: the whole old ask was lifted or pulled (buy pressure).
    assert ofi_contribution(100, 9, 104, 5, 100, 9, 103, 6) == 6
