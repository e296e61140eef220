"""plugins/inventory_skew.py: shift against the position, hard limits, settings, scope."""

from __future__ import annotations

from decimal import Decimal

import pytest
from strategy_harness import PLUGIN_DIR, FakeBook, make_harness

from host import ConfigError, Decision, Quote, Side, Stop, Take
from host.plugins import import_file
from host.testing import build_host, config_dict, replay

skew_module = import_file(PLUGIN_DIR / "inventory_skew.py", "inventory_skew_under_test")
InventorySkew = skew_module.InventorySkew
Settings = skew_module.InventorySkewSettings

BID, ASK = 640_000, 640_001
QUOTES = Decision(
    quotes=(Quote(Side.BUY, 639_990, 5, "bid"), Quote(Side.SELL, 640_011, 5, "ask")),
    stops=(Stop(Side.SELL, 5, 639_000, False, "stop_loss"),),
)


def context(position_lots: int):
    harness = make_harness("ladder", FakeBook(BID, ASK))
    harness.set_position(position_lots, BID)
    return harness.strategy.ctx


def test_quotes_shift_against_the_position_rounded_away_from_the_market() -> None:
    adjuster = InventorySkew(Settings(skew_ticks_per_lot=0.5))
    # Long 5 lots: -2.5 ticks; the bid rounds down (639987), the ask up (640009).
    adjusted = adjuster.adjust(QUOTES, context(5))
    assert [quote.price_ticks for quote in adjusted.quotes] == [639_987, 640_009]
    assert adjusted.stops == QUOTES.stops  # stops are never moved
    # Short 5: both up by 2.5 ticks.
    adjusted = adjuster.adjust(QUOTES, context(-5))
    assert [quote.price_ticks for quote in adjusted.quotes] == [639_992, 640_014]


def test_a_shifted_post_only_quote_stays_off_the_far_touch() -> None:
    adjuster = InventorySkew(Settings(skew_ticks_per_lot=10.0, max_skew_ticks=100))
    adjusted = adjuster.adjust(QUOTES, context(-5))  # +50 ticks: the bid would cross
    assert adjusted.quotes[0].price_ticks == ASK - 1
    assert adjusted.quotes[1].price_ticks == 640_061


def test_hard_limit_drops_or_shrinks_what_would_add() -> None:
    adjuster = InventorySkew(Settings(max_position_lots=10))
    at_limit = adjuster.adjust(QUOTES, context(10))
    assert [quote.tag for quote in at_limit.quotes] == ["ask"]
    near_limit = adjuster.adjust(QUOTES, context(-8))
    assert [(quote.tag, quote.size_lots) for quote in near_limit.quotes] == [
        ("bid", 5),
        ("ask", 2),
    ]
    takes = Decision(
        takes=(Take(Side.BUY, 3, "entry"), Take(Side.SELL, 12, "exit", reduce_only=True))
    )
    assert adjuster.adjust(takes, context(10)).takes == (
        Take(Side.SELL, 12, "exit", reduce_only=True),
    )


def test_limit_in_quote_currency() -> None:
    # 1000 USDT at ~640,000 ticks (64 USDT a lot) is 15 lots.
    adjuster = InventorySkew(Settings(max_position_quote=Decimal(1000)))
    assert adjuster.limit_lots(context(0)) == 15


def test_applies_only_to_the_strategies_listed() -> None:
    adjuster = InventorySkew(Settings(strategies=["ladder"]))
    assert adjuster.applies_to("my_ladder", "ladder")
    assert adjuster.applies_to("ladder", "anything")
    assert not adjuster.applies_to("mm1", "static_spread")
    assert InventorySkew().applies_to("mm1", "static_spread")  # default: all


def test_default_settings_change_nothing() -> None:
    assert InventorySkew().adjust(QUOTES, context(50)) == QUOTES


def test_bad_settings_name_the_key() -> None:
    config = config_dict(plugins={"inventory_skew": {"skew_ticks_per_lot": -1}})
    runtime = build_host(config, plugin_dirs=[PLUGIN_DIR])
    with pytest.raises(ConfigError, match=r"plugins\.inventory_skew\.skew_ticks_per_lot"):
        replay(runtime, duration_s=1)


def test_keeps_a_strategy_within_its_limit_on_the_bundled_recording() -> None:
    config = config_dict(
        plugins={"inventory_skew": {"skew_ticks_per_lot": 0.2, "max_position_lots": 20}}
    )
    config["strategies"][0]["params"] = {
        "spread_ticks": 2,
        "order_size_quote": 1000,
        "take_profit": False,
    }
    runtime = replay(build_host(config, plugin_dirs=[PLUGIN_DIR]), duration_s=90)
    engine = runtime.engine
    assert engine.fills
    position_lots = 0
    for fill in engine.fills:
        position_lots += int(fill.side) * fill.size_lots
        assert abs(position_lots) <= 20
