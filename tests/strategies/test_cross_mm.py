"""cross_mm: quotes on its own venue off the hedge venue, hedges every fill at once."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from host.marketdata.snapshot_csv import write_snapshot_csv
from host.testing import PROJECT_ROOT, build_host, config_dict, replay

TWO_VENUE_DATA = PROJECT_ROOT.parent / "shared" / "data" / "two-venue"

# Own venue "a" (Binance-like grid), hedge venue "b" (Huobi-like grid, constant book).
WIDE_A = ([("26.900", "100")], [("27.100", "100")])
HEDGE_B = ([("27.0000", "100"), ("26.9990", "100")], [("27.0100", "100"), ("27.0110", "100")])
# Our bid is 27.0000 x (1 - 15 bps) = 26.959 and our ask 27.0100 x (1 + 15 bps) = 27.051.
ASK_DROPS_THROUGH_OUR_BID = ([("26.900", "100")], [("26.950", "100")])
BID_RISES_THROUGH_OUR_ASK = ([("27.060", "100")], [("27.100", "100")])


def stamp(second: int) -> str:
    return f"2021-08-20 00:00:{second:02d}"


def mm_config(a_file: Path | str, b_file: Path | str, **params: Any) -> dict[str, Any]:
    def venue(name: str, market: str, path: Path | str, maker: float, taker: float) -> dict:
        return {
            "name": name,
            "kind": "sim",
            "market": market,
            "symbols": ["LINKUSDT"],
            "data": [str(path)],
            "maker_fee_bps": maker,
            "taker_fee_bps": taker,
        }

    strategy_params = {
        "hedge_venue": "b",
        "maker_fee_bps": 2,
        "hedge_taker_fee_bps": 10,
        "edge_bps": 3,
        "order_size_quote": 100,
    }
    strategy_params.update(params)
    return config_dict(
        venues=[
            venue("a", "binance-spot", a_file, 2, 10),
            venue("b", "huobi-spot", b_file, 2, 10),
        ],
        strategies=[
            {
                "name": "cross_mm",
                "venue": "a",
                "symbol": "LINKUSDT",
                "watch": ["b:LINKUSDT"],
                "params": strategy_params,
            }
        ],
    )


def test_every_fill_is_hedged_at_once_on_the_other_venue(tmp_path: Path) -> None:
    a_rows = {second: WIDE_A for second in range(8)}
    a_rows[2] = ASK_DROPS_THROUGH_OUR_BID
    a_rows[5] = BID_RISES_THROUGH_OUR_ASK
    a = write_snapshot_csv(
        tmp_path / "a.csv", "LINKUSDT.BNC", [(stamp(s), *book) for s, book in a_rows.items()]
    )
    b = write_snapshot_csv(
        tmp_path / "b.csv", "LINKUSDT.HB", [(stamp(s), *HEDGE_B) for s in range(8)]
    )
    runtime = replay(build_host(mm_config(a, b)))
    engine = runtime.engine
    strategy = engine.slots["cross_mm"].strategy
    stats = strategy.stats()
    assert stats["own_fills"] == 2 and stats["fills_hedged"] == 2
    assert stats["hedge_orders"] == 2 and stats["hedges_incomplete"] == 0
    own_fills = [f for f in engine.fills if f.venue == "a"]
    hedge_fills = [f for f in engine.fills if f.venue == "b"]
    assert [(f.side.name, f.price_ticks, f.is_maker) for f in own_fills] == [
        ("BUY", 26959, True),
        ("SELL", 27051, True),
    ]
    # Each hedge: the other side, same quantity, on b, right after the fill.
    assert [(f.side.name, f.price_ticks, f.is_maker) for f in hedge_fills] == [
        ("SELL", 270000, False),
        ("BUY", 270100, False),
    ]
    for own, hedge in zip(own_fills, hedge_fills, strict=True):
        assert engine.instruments[("a", "LINKUSDT")].instrument.lots_to_qty(own.size_lots) == (
            engine.instruments[("b", "LINKUSDT")].instrument.lots_to_qty(hedge.size_lots)
        )
        assert 0 < hedge.ts_ns - own.ts_ns < 100_000_000  # one round trip, not a second
    assert Decimal(stats["hedge_slippage_quote"]) == 0
    assert Decimal(stats["unhedged_qty"]) == 0
    # 100 USDT quotes in whole 0.01 LINK (b's lot): 3.70 bought at 26.959, 3.69 sold at
    # 27.051; hedged on b, so the 0.01 left on a is short on b.
    own_position = engine.instruments[("a", "LINKUSDT")].position.qty
    hedge_position = engine.instruments[("b", "LINKUSDT")].position.qty
    assert (own_position, hedge_position) == (Decimal("0.01"), Decimal("-0.01"))
    fees = sum((f.fee for f in engine.fills), Decimal(0))
    spread = Decimal("3.70") * (Decimal("27.0000") - Decimal("26.959")) + Decimal("3.69") * (
        Decimal("27.051") - Decimal("27.0100")
    )
    assert Decimal(stats["captured_quote"]) == spread - fees
    assert engine.summary().metrics["cross_mm.fills_hedged"] == 2.0


def test_the_inventory_cap_pulls_the_side_that_would_grow_it(tmp_path: Path) -> None:
    a_rows = {second: WIDE_A for second in range(6)}
    a_rows[2] = ASK_DROPS_THROUGH_OUR_BID
    a = write_snapshot_csv(
        tmp_path / "a.csv", "LINKUSDT.BNC", [(stamp(s), *book) for s, book in a_rows.items()]
    )
    b = write_snapshot_csv(
        tmp_path / "b.csv", "LINKUSDT.HB", [(stamp(s), *HEDGE_B) for s in range(6)]
    )
    runtime = replay(build_host(mm_config(a, b, max_inventory_quote=90)))
    strategy = runtime.engine.slots["cross_mm"].strategy
    # 90 USDT of room: the bid is sized to it, fills, and the long may not grow.
    assert strategy.ctx.position.qty == Decimal("3.33")
    assert strategy.stats()["quotes_pulled_inventory"] > 0
    assert {q.side.name for q in strategy.desired_quotes()} == {"SELL"}


@pytest.mark.skipif(not TWO_VENUE_DATA.is_dir(), reason="two-venue data not beside the repo")
def test_ten_minutes_of_real_data_every_fill_hedged() -> None:
    config = mm_config(
        "../shared/data/two-venue/orderbook_hb.csv",
        "../shared/data/two-venue/orderbook_bnc.csv",
        maker_fee_bps=1,
        hedge_taker_fee_bps=1,
        edge_bps=1,
        order_size_quote=200,
    )
    # Own venue Huobi, hedged on Binance.
    config["venues"][0]["market"], config["venues"][1]["market"] = "huobi-spot", "binance-spot"
    runtime = replay(build_host(config), duration_s=600)
    engine = runtime.engine
    stats = engine.slots["cross_mm"].strategy.stats()
    assert stats["own_fills"] > 0
    assert stats["fills_hedged"] == stats["own_fills"]
    own = engine.instruments[("a", "LINKUSDT")].position.qty
    hedge = engine.instruments[("b", "LINKUSDT")].position.qty
    assert own + hedge == 0
    assert len(stats["hedged_fills"]) == stats["own_fills"]


def test_state_with_hedged_fills_survives_a_reload(tmp_path: Path) -> None:
    a_rows = {second: WIDE_A for second in range(4)}
    a_rows[2] = ASK_DROPS_THROUGH_OUR_BID
    a = write_snapshot_csv(
        tmp_path / "a.csv", "LINKUSDT.BNC", [(stamp(s), *book) for s, book in a_rows.items()]
    )
    b = write_snapshot_csv(
        tmp_path / "b.csv", "LINKUSDT.HB", [(stamp(s), *HEDGE_B) for s in range(4)]
    )
    # No hedge_venue: the one watched instrument is the hedge leg.
    config = mm_config(a, b)
    del config["strategies"][0]["params"]["hedge_venue"]
    strategy = replay(build_host(config)).engine.slots["cross_mm"].strategy
    state = json.loads(json.dumps(strategy.on_save()))
    assert state["version"] == 1 and state["counters"]["fills_hedged"] == 1
    fresh = type(strategy)(strategy.ctx, strategy.params)
    fresh.on_load(state)
    assert fresh.on_save() == state
