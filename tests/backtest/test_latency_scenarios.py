"""Hand-built markets through the sim venue with feed, order and response latency."""

from __future__ import annotations

from decimal import Decimal

from backtest_helpers import MS, Scripted, ScriptedPlugin, book, scripted_config, trade

from host.backtest.latency import ConstantFeedLatency, FeedTimingStats, RecordedFeedLatency
from host.backtest.metrics import BacktestRecorder
from host.backtest.runner import run_replay
from host.models import Decision, Quote, Side
from host.testing import build_host

BID = 600_000  # 60,000.0 USDT in 0.1 ticks


def run_scripted(events, script, *, latency=None, recorder=False):
    Scripted.script = script
    runtime = build_host(scripted_config(), plugins=[ScriptedPlugin()])
    engine = runtime.engine
    engine.oms.run_token = "t"
    attached = None
    if recorder:
        attached = BacktestRecorder(
            engine, runtime.scheduler, runtime.sim_venues["sim"], "BTCUSDT"
        ).attach()
    stats = FeedTimingStats()
    run_replay(
        engine,
        iter(events),
        runtime.scheduler,
        runtime.sim_venues,
        feed_latency=latency or ConstantFeedLatency(2 * MS),
        timing_stats=stats,
    )
    strategy = engine.slots["scripted"].strategy
    return runtime, strategy, stats, attached


def test_cancel_that_arrives_after_the_fill_fails_with_110001_and_the_fill_stands() -> None:
    events = [
        book(0, 1, [(BID, 1)], [(BID + 10, 1)], snapshot=True),
        book(20, 2, [], [(BID + 20, 3)]),  # we see it at 22 ms and cancel: arrives at 27 ms
        trade(24, BID - 10, 5, Side.SELL),  # sweeps our bid at the exchange at 24 ms
        book(40, 3, [(BID - 10, 1)], []),
    ]
    script = {0: Decision(quotes=(Quote(Side.BUY, BID, 1, "bid"),)), 1: Decision()}
    runtime, strategy, _, _ = run_scripted(events, script)
    assert [f.price_ticks for f in strategy.fills] == [BID]
    assert strategy.fills[0].ts_ns == 24 * MS  # made at the exchange, before the cancel came
    refused = [u for u in strategy.updates if u.reject_code]
    assert [u.reject_code for u in refused] == ["110001"]
    assert refused[0].status == "Filled"  # a refused cancel never changes the status
    assert runtime.engine.stats.fills == 1
    assert runtime.engine.instruments[("sim", "BTCUSDT")].position.size_lots == 1


def test_the_same_cancel_sent_in_time_wins_the_race() -> None:
    events = [
        book(0, 1, [(BID, 1)], [(BID + 10, 1)], snapshot=True),
        book(10, 2, [], [(BID + 20, 3)]),  # seen at 12, cancel arrives at 17
        trade(24, BID - 10, 5, Side.SELL),
        book(40, 3, [(BID - 10, 1)], []),
    ]
    script = {0: Decision(quotes=(Quote(Side.BUY, BID, 1, "bid"),)), 1: Decision()}
    _, strategy, _, _ = run_scripted(events, script)
    assert strategy.fills == []
    assert not [u for u in strategy.updates if u.reject_code]


def test_our_side_sees_each_event_after_the_exchange_and_in_receive_order() -> None:
    events = [
        book(0, 1, [(BID, 1)], [(BID + 10, 1)], snapshot=True, local_ms=1),
        # The recorder's clock says this arrived before the exchange sent it: clamped.
        book(10, 2, [(BID, 2)], [], local_ms=5),
        book(20, 3, [(BID, 3)], [], local_ms=25),
    ]
    _, strategy, stats, _ = run_scripted(
        events, {}, latency=RecordedFeedLatency(clock_offset_ns=0, base_latency_ns=0)
    )
    assert strategy.seen_local_ns == [1 * MS, 10 * MS, 25 * MS]
    assert stats.clamped == 1


def test_markout_of_a_fill_that_was_run_over_is_negative() -> None:
    # We buy at 60,000.0; the market keeps falling: adverse selection.
    events = [
        book(0, 1, [(BID, 1)], [(BID + 10, 1)], snapshot=True),
        trade(50, BID - 10, 5, Side.SELL),
        book(60, 2, [(BID, 0), (BID - 100, 5)], [(BID + 10, 0), (BID - 90, 5)]),
        book(4_000, 3, [(BID - 200, 5)], [(BID - 190, 5)], snapshot=True),
        book(8_000, 4, [(BID - 200, 6)], [], snapshot=False),
        book(12_000, 5, [(BID - 200, 7)], [], snapshot=False),
    ]
    script = {0: Decision(quotes=(Quote(Side.BUY, BID, 1, "bid"),))}
    _, strategy, _, recorder = run_scripted(events, script, recorder=True)
    assert recorder is not None and len(strategy.fills) == 1
    metrics = recorder.metrics()
    assert metrics["markout_1s_bps"] < 0
    assert metrics["markout_10s_bps"] < metrics["markout_1s_bps"]  # fell further
    # 1 s after: mid 59,990.5 vs 60,000.0 bought: -95 ticks of 600,000 = -1.5833 bps.
    assert abs(metrics["markout_1s_bps"] - (-95 / BID * 10_000)) < 1e-6
    assert metrics["spread_captured_bps"] > 0  # bought below the mid of that moment


def test_fees_and_pnl_of_a_known_sequence() -> None:
    events = [
        book(0, 1, [(BID, 1)], [(BID + 100, 1)], snapshot=True),
        trade(30, BID - 10, 5, Side.SELL),  # our bid of 2 lots fills at 60,000.0
        book(50, 2, [(BID + 50, 1)], []),  # seen at 52: the ask of 2 lots goes out
        trade(100, BID + 110, 5, Side.BUY),  # sweeps our ask at 60,010.0
        book(120, 3, [(BID + 60, 1)], []),
    ]
    script = {
        0: Decision(quotes=(Quote(Side.BUY, BID, 2, "bid"),)),
        1: Decision(quotes=(Quote(Side.SELL, BID + 100, 2, "ask"),)),
    }
    runtime, strategy, _, _ = run_scripted(events, script)
    assert [(f.side, f.price_ticks, f.size_lots) for f in strategy.fills] == [
        (Side.BUY, BID, 2),
        (Side.SELL, BID + 100, 2),
    ]
    summary = runtime.engine.summary()
    # 2 lots x 0.001 BTC x 10 USDT = 0.02 realised; maker fees 1 bps of 120 + 120.02.
    assert summary.realized_pnl == Decimal("0.02")
    assert summary.fees == Decimal("0.024002")
    assert summary.unrealized_pnl == 0
    assert summary.net_pnl == Decimal("-0.004002")
