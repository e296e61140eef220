"""Circuit breakers, loss limits and the kill switch, tripped on real runs of the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.backtest.runner import run_replay
from host.cli import main
from host.models import BookMessage
from host.testing import PROJECT_ROOT, build_host, config_dict, replay, shipped_config_text


def quoting_config(**risk: object) -> dict:
    config = config_dict()
    config["strategies"][0]["params"] = {"spread_ticks": 1, "order_size_quote": 1000}
    config["risk"] = {"kill_file": None, **risk}
    return config


def events_of(runtime, kind: str) -> list:
    return [e for e in runtime.engine.risk_events if e.kind == kind]


def test_volatility_breaker_pauses_then_resumes_after_the_cooldown() -> None:
    config = quoting_config(max_mid_move_bps=1, mid_move_window_ms=1000, breaker_cooldown_s=2)
    runtime = replay(build_host(config), duration_s=300)
    trips = [e for e in events_of(runtime, "trip") if e.rule.startswith("volatility")]
    resets = [e for e in events_of(runtime, "reset") if e.rule.startswith("volatility")]
    assert trips and resets
    assert resets[0].ts_ns - trips[0].ts_ns >= 2_000_000_000
    # Quoting resumed: orders were sent after the first reset.
    assert runtime.engine.oms.orders_sent > 2


def test_spread_breaker_takes_quotes_down_and_keeps_them_down() -> None:
    config = quoting_config(max_spread_bps=0.001)  # every real spread is wider
    runtime = replay(build_host(config), duration_s=30)
    engine = runtime.engine
    (_trip,) = [e for e in events_of(runtime, "trip") if e.rule.startswith("spread")]
    assert not events_of(runtime, "reset")
    slot = engine.slots["static_spread"]
    assert "breaker spread sim:BTCUSDT" in slot.paused_reason
    # Orders sent before the trip (at most the first pair plus their cancels), none after.
    assert engine.oms.orders_sent <= 2


def test_stale_book_breaker_trips_on_a_silent_feed() -> None:
    config = quoting_config(stale_book_ms=150, breaker_cooldown_s=0)
    runtime = replay(build_host(config), duration_s=120)
    rules = {e.rule for e in events_of(runtime, "trip")}
    assert "stale sim:BTCUSDT" in rules
    assert any(e.rule == "stale sim:BTCUSDT" for e in events_of(runtime, "reset"))


def test_rejects_breaker_pauses_all_quoting() -> None:
    config = quoting_config(max_rejects=2, reject_window_s=60, breaker_cooldown_s=3600)
    config["venues"][0]["balance_quote"] = 1  # every order is refused: 110007
    runtime = replay(build_host(config), duration_s=60)
    engine = runtime.engine
    assert any(e.rule == "rejects" for e in events_of(runtime, "trip"))
    assert engine.oms.rejects <= 4  # stopped at the third reject, plus any already in flight
    assert engine.slots["static_spread"].paused


def test_max_drawdown_halts_and_flattens() -> None:
    config = quoting_config(max_drawdown_quote=0.05, flatten_on_halt=True)
    runtime = replay(build_host(config), duration_s=480)
    engine = runtime.engine
    halts = [e for e in events_of(runtime, "trip") if e.rule == "halt"]
    assert len(halts) == 1 and "max drawdown" in halts[0].reason
    assert engine.breakers.halted
    assert any(o.tag.startswith("flatten") for o in engine.oms.orders.values())
    assert engine.instruments[("sim", "BTCUSDT")].position.size_lots == 0
    # Nothing was quoted after the halt.
    halt_ns = halts[0].ts_ns
    assert all(
        f.ts_ns <= halt_ns + 1_000_000_000
        or f.order_link_id
        in {o.order_link_id for o in engine.oms.orders.values() if o.tag.startswith("flatten")}
        for f in engine.fills
    )


def test_a_sequence_gap_pauses_the_instrument_until_a_snapshot_resyncs_it() -> None:
    runtime = build_host(quoting_config())
    engine = runtime.engine
    real = list(next(iter(runtime.feeds)))
    book_messages = [e for e in real if isinstance(e, BookMessage)]
    snapshot = next(m for m in book_messages if m.is_snapshot)
    after = [e for e in real if e.ts_local_ns > snapshot.ts_local_ns]
    # Drop one delta 200 messages in: a gap. Re-send the snapshot 500 messages later
    # with an id the next delta bridges, as a fresh REST snapshot would have.
    deltas = [i for i, e in enumerate(after) if isinstance(e, BookMessage)]
    gap_at, resync_at, bridge = deltas[200], deltas[500], after[deltas[501]]
    resync = BookMessage(
        **{
            **{f: getattr(snapshot, f) for f in snapshot.__struct_fields__},
            "ts_local_ns": after[resync_at].ts_local_ns,
            "last_update_id": bridge.first_update_id,
        }
    )
    events = [e for e in real if e.ts_local_ns <= snapshot.ts_local_ns]
    events += after[:gap_at] + after[gap_at + 1 : resync_at + 1] + [resync] + after[resync_at + 1 :]
    run_replay(engine, iter(events), runtime.scheduler, runtime.sim_venues, duration_s=120)
    slot = engine.slots["static_spread"]
    assert engine.instruments[("sim", "BTCUSDT")].book.stats.gaps >= 1
    assert not slot.paused or slot.pause_reasons == {"stopped"}
    assert engine.oms.cancels_sent >= 1


def test_kill_takes_every_order_off_in_one_round_and_stops() -> None:
    runtime = build_host(quoting_config())
    engine = runtime.engine
    submitted: list[int] = []
    venue = runtime.sim_venues["sim"]
    original = venue.submit

    def counting_submit(actions):
        submitted.append(len(actions))
        original(actions)

    venue.submit = counting_submit  # type: ignore[method-assign]
    stop_after = {"events": 0}

    def kill_once_quoting() -> bool:
        stop_after["events"] += 1
        if engine.oms.live_orders("static_spread") and not engine.stop_requested:
            submitted.clear()
            engine.kill("test", flatten=False)
        return False

    run_replay(
        engine,
        iter(runtime.feeds[0]),
        runtime.scheduler,
        runtime.sim_venues,
        duration_s=60,
        progress_every=10,
        should_stop=kill_once_quoting,
    )
    assert engine.stop_requested
    assert submitted and submitted[0] >= 1  # all cancels of the kill went in one submit
    assert all(o.is_terminal for o in engine.oms.orders.values())


def test_kill_file_stops_a_running_host_and_blocks_the_next_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kill_file = tmp_path / "KILL"
    config = quoting_config(kill_file=str(kill_file))
    runtime = build_host(config)
    engine = runtime.engine
    count = {"n": 0}

    def create_kill_file() -> bool:
        count["n"] += 1
        if count["n"] == 50:
            kill_file.write_text("stop")
        return False

    run_replay(
        engine,
        iter(runtime.feeds[0]),
        runtime.scheduler,
        runtime.sim_venues,
        progress_every=10,
        should_stop=create_kill_file,
    )
    assert engine.stop_requested
    assert engine.stats.events < 19_000  # stopped long before the end of the recording
    assert all(o.is_terminal for o in engine.oms.orders.values())

    text = (
        shipped_config_text(absolute=False)
        .replace("[risk]\n", f'[risk]\nkill_file = "{kill_file}"\n')
        .replace(
            'strategy_dirs = ["strategies"]', f'strategy_dirs = ["{PROJECT_ROOT / "strategies"}"]'
        )
    )
    config_path = tmp_path / "config.toml"
    config_path.write_text(text)
    assert main(["run", "--config", str(config_path), "--no-log-file"]) == 2
    assert "kill switch is engaged" in capsys.readouterr().err
    kill_file.unlink()
    assert main(["kill", "--config", str(config_path)]) == 0
    assert kill_file.exists()


def test_disconnects_of_one_venue_pause_only_what_depends_on_it() -> None:
    import copy

    config = quoting_config(max_disconnects=2)
    second = copy.deepcopy(config["venues"][0])
    second["name"] = "b"
    config["venues"].append(second)
    first_strategy = config["strategies"][0]
    config["strategies"] = [
        {**first_strategy, "id": "on_sim"},
        {**first_strategy, "id": "on_b", "venue": "b"},
    ]
    runtime = build_host(config)
    engine = runtime.engine
    engine.start()
    for _ in range(3):
        engine.on_venue_status("b", "disconnected")
    assert engine.slots["on_b"].paused and "disconnects b" in engine.slots["on_b"].paused_reason
    assert not engine.slots["on_sim"].paused
    assert [e.rule for e in events_of(runtime, "trip")] == ["disconnects b"]
