"""static_spread: quotes around mid, requote threshold, fill -> cancel other side -> take-profit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from host.plugins import build_plugin_host
from host.testing import PROJECT_ROOT, build_host, config_dict, replay

StaticSpreadParams = (
    build_plugin_host([], [PROJECT_ROOT / "strategies"], entry_points=False)
    .strategies()["static_spread"]
    .Params
)


def run(params: dict, duration_s: float):
    config = config_dict()
    config["strategies"][0]["params"] = params
    return replay(build_host(config), duration_s=duration_s)


def test_params_take_one_spread_and_default_to_one_bps() -> None:
    assert StaticSpreadParams().spread_bps == 1.0
    with pytest.raises(ValidationError, match="not both"):
        StaticSpreadParams(spread_bps=1, spread_ticks=2)
    with pytest.raises(ValidationError):
        StaticSpreadParams(spread_bps=-1)


def test_quotes_sit_around_mid_at_the_configured_distance() -> None:
    runtime = run({"spread_ticks": 20, "order_size_quote": 1000}, duration_s=3)
    orders = list(runtime.engine.oms.orders.values())
    bid = next(o for o in orders if o.tag == "bid")
    ask = next(o for o in orders if o.tag == "ask")
    assert ask.price_ticks - bid.price_ticks in (20, 21)  # 21 when mid is a half tick
    # 1000 USDT at ~64,000 is 0.015 BTC: 15 lots of 0.001, rounded down.
    assert bid.size_lots == ask.size_lots == 15


def test_a_fill_cancels_the_other_side_and_places_a_take_profit() -> None:
    runtime = run(
        {"spread_ticks": 1, "order_size_quote": 1000, "take_profit_bps": 1.0}, duration_s=10
    )
    engine = runtime.engine
    first_fill = engine.fills[0]
    orders = list(engine.oms.orders.values())
    entry = next(o for o in orders if o.order_link_id == first_fill.order_link_id)
    other_side = "ask" if entry.tag == "bid" else "bid"
    placed_after = orders[orders.index(entry) + 1 :]
    take_profit = next(o for o in placed_after if o.tag == "take_profit")
    assert take_profit.side == -entry.side
    # 1 bps from the entry price, rounded away from it.
    distance = abs(take_profit.price_ticks - first_fill.price_ticks)
    assert distance == pytest.approx(first_fill.price_ticks / 10_000, abs=1)
    # The other side's order from before the fill was cancelled, not left resting.
    others = [o for o in orders[: orders.index(take_profit)] if o.tag == other_side]
    assert others and all(o.status in ("Cancelled", "Filled") for o in others)


def test_without_take_profit_it_keeps_quoting_both_sides() -> None:
    runtime = run(
        {"spread_ticks": 1, "order_size_quote": 1000, "take_profit": False}, duration_s=30
    )
    tags = {o.tag for o in runtime.engine.oms.orders.values()}
    assert tags == {"bid", "ask"}


def test_state_survives_save_and_load() -> None:
    runtime = run({"spread_ticks": 1, "order_size_quote": 1000}, duration_s=10)
    strategy = runtime.engine.slots["static_spread"].strategy
    state = strategy.on_save()
    assert state["version"] == 1
    fresh = type(strategy)(strategy.ctx, strategy.params)
    fresh.on_load(state)
    assert fresh.on_save() == state


def test_order_size_is_quote_currency() -> None:
    runtime = run({"spread_ticks": 10, "order_size_quote": "500"}, duration_s=3)
    order = next(iter(runtime.engine.oms.orders.values()))
    instrument = runtime.engine.instruments[("sim", "BTCUSDT")].instrument
    assert instrument.notional(order.price_ticks, order.size_lots) <= Decimal(500)
    assert instrument.notional(order.price_ticks, order.size_lots + 1) > Decimal(500)
