"""cross_arbitrage on hand-built two-venue snapshots and on the real LINK/USDT data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from host.marketdata.snapshot_csv import write_snapshot_csv
from host.testing import PROJECT_ROOT, build_host, config_dict, replay

TWO_VENUE_DATA = PROJECT_ROOT.parent / "shared" / "data" / "two-venue"

# Venue "a" is Binance-like (tick 0.001, lot 0.001), "b" Huobi-like (tick 0.0001, lot 0.01).
CALM_A = ([("27.000", "100"), ("26.990", "100")], [("27.010", "100"), ("27.020", "100")])
CALM_B = ([("27.0000", "100"), ("26.9900", "100")], [("27.0100", "100"), ("27.0200", "100")])
# b's best bid 27.1000 sits 33 bps above a's best ask 27.010: a pair worth 13 bps after
# two 10 bps taker fees, 5 LINK deep at depth_share 0.5 (10 LINK shown at 27.1000).
GAP_B = ([("27.1000", "10"), ("27.0000", "100")], [("27.1100", "100"), ("27.1200", "100")])
# A gap smaller than the fees: 27.0150 against 27.010 is 1.9 bps.
SMALL_GAP_B = ([("27.0150", "10"), ("27.0000", "100")], [("27.0200", "100"), ("27.0300", "100")])


def stamp(second: int) -> str:
    return f"2021-08-20 00:00:{second:02d}"


def write_venues(
    tmp_path: Path, a_rows: dict[int, tuple], b_rows: dict[int, tuple]
) -> tuple[Path, Path]:
    a = write_snapshot_csv(
        tmp_path / "a.csv",
        "LINKUSDT.BNC",
        [(stamp(second), *book) for second, book in sorted(a_rows.items())],
    )
    b = write_snapshot_csv(
        tmp_path / "b.csv",
        "LINKUSDT.HB",
        [(stamp(second), *book) for second, book in sorted(b_rows.items())],
    )
    return a, b


def arbitrage_config(
    a_file: Path | str,
    b_file: Path | str,
    *,
    params: dict[str, Any] | None = None,
    fees_bps: tuple[float, float] = (10, 10),
    b_order_latency_ms: float = 5,
) -> dict[str, Any]:
    def venue(name: str, market: str, path: Path | str, fee: float) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "sim",
            "market": market,
            "symbols": ["LINKUSDT"],
            "data": [str(path)],
            "maker_fee_bps": 0,
            "taker_fee_bps": fee,
        }

    venues = [
        venue("a", "binance-spot", a_file, fees_bps[0]),
        venue("b", "huobi-spot", b_file, fees_bps[1]),
    ]
    venues[1]["order_latency_ms"] = b_order_latency_ms
    strategy_params = {"taker_fee_bps": {"a": fees_bps[0], "b": fees_bps[1]}}
    strategy_params.update(params or {})
    return config_dict(
        venues=venues,
        strategies=[
            {
                "name": "cross_arbitrage",
                "venue": "a",
                "symbol": "LINKUSDT",
                "watch": ["b:LINKUSDT"],
                "params": strategy_params,
            }
        ],
    )


def run(config: dict[str, Any], duration_s: float | None = None) -> tuple[Any, Any]:
    runtime = replay(build_host(config), duration_s=duration_s)
    return runtime.engine, runtime.engine.slots["cross_arbitrage"].strategy


def test_a_price_gap_is_taken_once_and_only_once(tmp_path: Path) -> None:
    # The gap stays visible to us for three seconds (b does not update again until
    # second 5, a repeats itself), but the liquidity behind it is the one b row:
    # a pair is never taken twice against the same book states.
    a_rows = {second: CALM_A for second in range(7)}
    b_rows = {0: CALM_B, 1: CALM_B, 2: GAP_B, 5: CALM_B, 6: CALM_B}
    engine, strategy = run(
        arbitrage_config(*write_venues(tmp_path, a_rows, b_rows), params={"max_book_age_ms": 5000})
    )
    stats = strategy.stats()
    assert stats["opportunities_taken"] == 1
    assert stats["opportunities_seen"] == 1
    assert stats["repeats_skipped"] >= 2  # seconds 3 and 4: a updated, b did not
    assert stats["pairs_filled"] == 1 and stats["leg_failures"] == 0
    buy, sell = (o for o in engine.oms.orders.values())
    assert (buy.venue, buy.side.name, buy.price_ticks) == ("a", "BUY", 27010)
    assert (sell.venue, sell.side.name, sell.price_ticks) == ("b", "SELL", 271000)
    assert engine.instruments[("a", "LINKUSDT")].position.qty == Decimal("5")
    assert engine.instruments[("b", "LINKUSDT")].position.qty == Decimal("-5")
    # 5 x (27.10 - 27.01) less 10 bps on each leg's notional.
    expected = Decimal("0.45") - Decimal("0.13505") - Decimal("0.1355")
    (record,) = stats["taken"]
    assert Decimal(record["expected_edge_quote"]) == expected
    assert Decimal(record["captured_edge_quote"]) == expected
    assert Decimal(record["fees_quote"]) == Decimal("0.27055")
    assert record["outcome"] == "filled"
    summary = engine.summary()
    assert summary.fees == Decimal("0.27055")
    assert summary.metrics["cross_arbitrage.opportunities_taken"] == 1.0
    # Spot wallets: a paid quote for base, b the reverse (rebalancing is reported only).
    assert stats["rebalance"] == {}


def test_a_gap_smaller_than_the_fees_is_not_taken(tmp_path: Path) -> None:
    a_rows = {second: CALM_A for second in range(4)}
    b_rows = {0: CALM_B, 1: SMALL_GAP_B, 2: CALM_B, 3: CALM_B}
    engine, strategy = run(arbitrage_config(*write_venues(tmp_path, a_rows, b_rows)))
    stats = strategy.stats()
    assert stats["opportunities_seen"] == 1
    assert stats["rejected"]["below_fees"] == 1
    assert stats["opportunities_taken"] == 0
    assert not engine.oms.orders


def test_a_failed_second_leg_is_unwound_and_its_loss_accounted(tmp_path: Path) -> None:
    # b's IOC needs 1.5 s to arrive; by then b's row of second 3 has taken the
    # 27.1000 bid away, so it finds nothing. The 5 LINK bought on a are sold back
    # there at its bid (27.000).
    a_rows = {second: CALM_A for second in range(8)}
    b_rows = {0: CALM_B, 1: CALM_B, 2: GAP_B, 3: CALM_B, 4: CALM_B, 5: CALM_B, 6: CALM_B}
    engine, strategy = run(
        arbitrage_config(*write_venues(tmp_path, a_rows, b_rows), b_order_latency_ms=1500)
    )
    stats = strategy.stats()
    assert stats["opportunities_taken"] == 1
    assert stats["leg_failures"] == 1 and stats["unwinds_sent"] == 1
    (record,) = stats["taken"]
    assert record["outcome"] == "unwound"
    assert (Decimal(record["bought_qty"]), Decimal(record["sold_qty"])) == (Decimal(5), 0)
    # Bought 5 at 27.010, sold 5 at 27.000, 10 bps taker fee on each.
    loss = Decimal("0.05") + Decimal("0.13505") + Decimal("0.135")
    assert Decimal(record["captured_edge_quote"]) == -loss
    assert Decimal(record["leg_failure_cost_quote"]) == loss
    assert Decimal(stats["leg_failure_cost_quote"]) == loss
    # The host's own books say the same: flat on both venues, the loss realised.
    summary = engine.summary()
    assert engine.instruments[("a", "LINKUSDT")].position.size_lots == 0
    assert engine.instruments[("b", "LINKUSDT")].position.size_lots == 0
    assert summary.net_pnl == -loss
    assert summary.metrics["cross_arbitrage.leg_failures"] == 1.0
    assert summary.metrics["cross_arbitrage.leg_failure_cost_quote"] == float(loss)
    # The failure started a cooldown; the unwind IOC was capped 30 bps under a's bid.
    unwind = list(engine.oms.orders.values())[-1]
    assert (unwind.venue, unwind.side.name, unwind.price_ticks) == ("a", "SELL", 26919)
    assert strategy.cooldown_until_ns > 0


def test_balances_limit_the_size_and_refuse_an_empty_wallet(tmp_path: Path) -> None:
    a_rows = {second: CALM_A for second in range(4)}
    b_rows = {0: CALM_B, 1: GAP_B, 2: CALM_B, 3: CALM_B}
    files = write_venues(tmp_path, a_rows, b_rows)
    wallets = {"a": {"quote": 1000, "base": 0}, "b": {"quote": 1000, "base": 2}}
    _, strategy = run(arbitrage_config(*files, params={"starting_balances": wallets}))
    stats = strategy.stats()
    (record,) = stats["taken"]
    assert Decimal(record["qty"]) == 2  # b holds only 2 LINK to sell
    assert stats["balance_limited"] == 1
    assert stats["rebalance"]["b"]["base"] == "0" and "base" in stats["rebalance"]["b"]["short_of"]
    assert Decimal(stats["rebalance"]["a"]["base_change"]) == 2
    empty = {"a": {"quote": 1000, "base": 0}, "b": {"quote": 1000, "base": 0}}
    _, strategy = run(arbitrage_config(*files, params={"starting_balances": empty}))
    assert strategy.stats()["rejected"]["balance"] == 1


def test_state_survives_a_reload(tmp_path: Path) -> None:
    a_rows = {second: CALM_A for second in range(4)}
    b_rows = {0: CALM_B, 1: GAP_B, 2: CALM_B, 3: CALM_B}
    _, strategy = run(arbitrage_config(*write_venues(tmp_path, a_rows, b_rows)))
    state = strategy.on_save()
    assert state["version"] == 1
    fresh = type(strategy)(strategy.ctx, strategy.params)
    fresh.on_load(state)
    assert fresh.stats() == strategy.stats()


@pytest.mark.skipif(not TWO_VENUE_DATA.is_dir(), reason="two-venue data not beside the repo")
def test_ten_minutes_of_real_two_venue_data_produce_the_statistics() -> None:
    # Fees of 1 bps a side (a high-volume tier): at retail fees nothing in this
    # data pays, which the below_fees count then shows.
    config = arbitrage_config(
        "../shared/data/two-venue/orderbook_bnc.csv",
        "../shared/data/two-venue/orderbook_hb.csv",
        fees_bps=(1, 1),
        params={
            "min_edge_bps": 0.5,
            "starting_balances": {
                "a": {"quote": 2000, "base": 75},
                "b": {"quote": 2000, "base": 75},
            },
        },
    )
    engine, strategy = run(config, duration_s=600)
    stats = strategy.stats()
    assert stats["opportunities_seen"] > 0
    assert stats["opportunities_taken"] == len(stats["taken"]) > 0
    assert stats["opportunities_seen"] == stats["opportunities_taken"] + sum(
        stats["rejected"].values()
    )
    for record in stats["taken"]:
        assert {"expected_edge_quote", "captured_edge_quote", "fees_quote"} <= set(record)
        assert Decimal(record["fees_quote"]) > 0
    captured = sum(Decimal(record["captured_edge_quote"]) for record in stats["taken"])
    assert captured == Decimal(stats["captured_edge_quote"])
    summary = engine.summary()
    assert summary.metrics["cross_arbitrage.opportunities_seen"] == stats["opportunities_seen"]
    assert summary.fees == Decimal(stats["fees_quote"])
