"""Hot reload: a saved strategy takes over with its state and orders; a broken save never does."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from host import hookimpl
from host.backtest.runner import merge_feeds, run_replay
from host.models import Decision, Fill, Side
from host.reload import HotReloader, watched_folders
from host.runtime import Runtime
from host.testing import build_host, config_dict, shipped_config_text

STRATEGY_TEMPLATE = textwrap.dedent(
    """
    from host import Decision, Quote, Side, Strategy


    class Counter(Strategy):
        name = "counter"
        VERSION = {version}

        def __init__(self, ctx, params):
            super().__init__(ctx, params)
            self.books_seen = 0
            self.fills_seen = 0
            self.inherited = None

        def on_book(self, book):
            self.books_seen += 1
            mid = book.mid_ticks()
            if mid is None:
                return None
            offset = {offset}
            return Decision(quotes=(
                Quote(Side.BUY, int(mid) - offset, {size}, "bid"),
                Quote(Side.SELL, int(mid) + offset + 1, {size}, "ask"),
            ))

        def on_fill(self, fill):
            self.fills_seen += 1

        def on_start(self):
            {on_start}

        def on_save(self):
            return {{"version": self.VERSION, "books_seen": self.books_seen}}

        def on_load(self, state):
            self.inherited = state
            self.books_seen = state["books_seen"]
    """
)


def strategy_source(
    version: int, size: int, offset: int = 30, on_start: str = "return None"
) -> str:
    return STRATEGY_TEMPLATE.format(version=version, size=size, offset=offset, on_start=on_start)


def save_atomically(path: Path, text: str) -> None:
    """What most editors do: write a temporary file, then rename it over the old one."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def save_in_place(path: Path, text: str) -> None:
    with path.open("w") as handle:
        handle.write(text)


def eventually(condition: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll ``condition`` until it is truthy or the deadline passes (threads, no fixed sleeps)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout_s} s")


class RunningHost:
    """A host replaying the bundled recording at real-ish speed in a thread, with a reloader."""

    def __init__(self, folder: Path, plugin_folder: Path | None = None) -> None:
        config = config_dict()
        config["strategies"][0].update(name="counter", params={})
        self.runtime: Runtime = build_host(
            config,
            strategy_dirs=[folder],
            plugin_dirs=[plugin_folder] if plugin_folder else [],
        )
        self.reloader = HotReloader(
            self.runtime.engine,
            watched_folders([plugin_folder] if plugin_folder else [], [folder]),
        )
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        runtime = self.runtime
        try:
            run_replay(
                runtime.engine,
                merge_feeds(runtime.feeds),
                runtime.scheduler,
                runtime.sim_venues,
                speed=4,
                progress_every=20,
                should_stop=self._stop.is_set,
            )
        except BaseException as error:  # surfaced by the test in stop()
            self.error = error

    def __enter__(self) -> RunningHost:
        self.reloader.start()
        self.thread.start()
        eventually(lambda: self.runtime.engine.running and self.runtime.engine.oms.orders)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(timeout=30)
        self.reloader.stop()
        if self.error is not None:
            raise self.error

    @property
    def strategy(self) -> Any:
        return self.runtime.engine.slots["counter"].strategy


@pytest.mark.parametrize("save", [save_atomically, save_in_place])
def test_saved_strategy_takes_over_with_state_and_orders(
    tmp_path: Path, save: Callable[[Path, str], None]
) -> None:
    path = tmp_path / "counter.py"
    path.write_text(strategy_source(version=1, size=1))
    with RunningHost(tmp_path) as host:
        engine = host.runtime.engine
        eventually(lambda: host.strategy.books_seen > 5)
        save(path, strategy_source(version=2, size=3))
        eventually(lambda: host.strategy.VERSION == 2)
        # State came across: the new instance saw what the old one had counted.
        assert host.strategy.inherited["version"] == 1
        assert host.strategy.inherited["books_seen"] > 5
        # The new code decides: its size-3 quotes appear.
        eventually(lambda: any(o.size_lots == 3 for o in engine.oms.live_orders("counter")))
        (outcome,) = [o for o in host.reloader.outcomes if o.ok]
        assert outcome.swapped == ("counter",)
    # No orphan: after the stop every order the OMS sent has reached a final state.
    assert engine.oms.orders
    assert all(order.is_terminal for order in engine.oms.orders.values())


def test_a_broken_save_keeps_the_old_version_trading(tmp_path: Path) -> None:
    path = tmp_path / "counter.py"
    path.write_text(strategy_source(version=1, size=1))
    with RunningHost(tmp_path) as host:
        save_atomically(path, "class Counter(:\n")
        eventually(lambda: host.reloader.failures >= 1)
        assert host.strategy.VERSION == 1
        seen = host.strategy.books_seen
        eventually(lambda: host.strategy.books_seen > seen)  # still trading
        save_atomically(path, strategy_source(version=3, size=2))
        eventually(lambda: host.strategy.VERSION == 3)
    assert host.reloader.outcomes[0].ok is False
    assert "SyntaxError" in (host.reloader.outcomes[0].error or "")


def test_a_new_version_that_raises_at_start_is_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "counter.py"
    path.write_text(strategy_source(version=1, size=1))
    with RunningHost(tmp_path) as host:
        save_atomically(
            path, strategy_source(version=2, size=1, on_start="raise ValueError('bad')")
        )
        eventually(lambda: host.reloader.failures >= 1)
        assert host.strategy.VERSION == 1
        assert "ValueError: bad" in (host.reloader.outcomes[-1].error or "")


def test_fills_during_a_swap_reach_the_new_version(tmp_path: Path) -> None:
    """A fill that arrives while the swap is on is buffered and handed to the new instance."""
    path = tmp_path / "counter.py"
    path.write_text(strategy_source(version=1, size=1))
    config = config_dict()
    config["strategies"][0].update(name="counter", params={})
    runtime = build_host(config, strategy_dirs=[tmp_path])
    engine = runtime.engine
    reloader = HotReloader(engine, watched_folders([], [tmp_path]))
    engine.start()
    slot = engine.slots["counter"]
    order = engine.oms.diff("counter", "sim", "BTCUSDT", Decision(quotes=()))  # nothing live
    assert order == []
    # Put a live order in the OMS the way the engine does, then fill it mid-swap.
    from host.models import Quote

    (new_order,) = engine.oms.diff(
        "counter", "sim", "BTCUSDT", Decision(quotes=(Quote(Side.BUY, 600_000, 1, "bid"),))
    )
    slot.swapping = True
    engine.on_fill(
        Fill("sim", "BTCUSDT", new_order.order_link_id, "x1", Side.BUY, 600_000, 1, 0, True, 1)
    )
    assert slot.strategy.fills_seen == 0 and len(slot.buffered) == 1
    slot.swapping = False
    path.write_text(strategy_source(version=2, size=1))
    outcome = reloader.reload(path.resolve(), True, time.monotonic())
    assert outcome.ok
    assert slot.strategy.VERSION == 2
    assert slot.strategy.fills_seen == 1  # delivered after the swap, to the new instance
    assert engine.strategy_positions["counter"].size_lots == 1


RISK_PLUGIN = textwrap.dedent(
    """
    from host import hookimpl

    @hookimpl
    def mmhost_check_decision(decision):
        return None
    """
)


def test_a_risk_plugin_that_fails_to_reload_pauses_quoting_until_fixed(tmp_path: Path) -> None:
    strategies, plugins = tmp_path / "strategies", tmp_path / "plugins"
    strategies.mkdir()
    plugins.mkdir()
    (strategies / "counter.py").write_text(strategy_source(version=1, size=1))
    (plugins / "limits.py").write_text(RISK_PLUGIN)
    with RunningHost(strategies, plugins) as host:
        engine = host.runtime.engine
        save_atomically(
            plugins / "limits.py", RISK_PLUGIN + "\nraise RuntimeError('half-edited')\n"
        )
        eventually(lambda: host.reloader.failures >= 1)
        slot = engine.slots["counter"]
        assert slot.paused and "limits" in slot.paused_reason
        eventually(lambda: not engine.oms.live_orders("counter"))  # quotes taken off
        save_atomically(plugins / "limits.py", RISK_PLUGIN + "\n# fixed\n")
        eventually(lambda: not slot.paused)
        eventually(lambda: engine.oms.live_orders("counter"))  # quoting again


def test_hook_mmhost_plugin_reloaded(tmp_path: Path) -> None:
    seen: list[tuple[str, str, float]] = []

    class Listener:
        @hookimpl
        def mmhost_plugin_reloaded(self, name: str, content_hash: str, duration_ms: float) -> None:
            seen.append((name, content_hash, duration_ms))

    path = tmp_path / "counter.py"
    path.write_text(strategy_source(version=1, size=1))
    config = config_dict()
    config["strategies"][0].update(name="counter", params={})
    runtime = build_host(config, strategy_dirs=[tmp_path], plugins=[Listener()])
    reloader = HotReloader(runtime.engine, watched_folders([], [tmp_path]))
    runtime.engine.start()
    path.write_text(strategy_source(version=2, size=1))
    outcome = reloader.reload(path.resolve(), True, time.monotonic())
    assert outcome.ok
    assert seen == [("counter", outcome.content_hash, outcome.duration_ms)]
    # An unchanged file is not a reload.
    reloader.notice(path)
    runtime.engine.run_pending()
    assert len(seen) == 1


def test_config_reload_changes_params_and_risk_live_and_reports_the_rest(tmp_path: Path) -> None:
    import tomllib

    from host.config import load_config

    (tmp_path / "counter.py").write_text(strategy_source(version=1, size=1))
    static = (Path(__file__).parents[1] / "strategies" / "static_spread.py").read_text()
    (tmp_path / "static_spread.py").write_text(static)
    config_path = tmp_path / "config.toml"
    text = shipped_config_text(absolute=False)
    text = text.replace('strategy_dirs = ["strategies"]', f'strategy_dirs = ["{tmp_path}"]')
    config_path.write_text(text)
    config = load_config(config_path)
    runtime = build_host(tomllib.loads(text), strategy_dirs=[tmp_path], source=config_path)
    engine = runtime.engine
    reloader = HotReloader(engine, watched_folders([], [tmp_path]), config_path=config_path)
    engine.start()
    before = engine.slots["static_spread"].strategy
    assert before.params.order_size_quote == 1000

    changed = (
        text.replace("order_size_quote = 1000", "order_size_quote = 2000")
        .replace("max_open_orders = 20", "max_open_orders = 7")
        .replace('desk = "mm"', 'desk = "mm2"')
    )
    config_path.write_text(changed)
    outcome = reloader.reload_config(config_path.resolve(), time.monotonic())
    assert outcome.ok, outcome.error
    after = engine.slots["static_spread"].strategy
    assert after is not before and after.params.order_size_quote == 2000
    assert engine.config.risk.max_open_orders == 7
    assert engine.plugins.pm.get_plugin("builtin-risk").limits.max_open_orders == 7
    # The desk prefix cannot change under live orders: reported, not applied.
    assert outcome.not_applied == ("host changed (restart to apply)",)
    assert engine.config.host.desk == config.host.desk == "mm"

    # A bad value anywhere: nothing applied, the running config stays.
    config_path.write_text(changed.replace("order_size_quote = 2000", "order_size_quote = -1"))
    outcome = reloader.reload_config(config_path.resolve(), time.monotonic())
    assert not outcome.ok
    assert "strategies[0].params.order_size_quote" in (outcome.error or "")
    assert engine.slots["static_spread"].strategy is after


def test_a_save_made_before_the_watcher_runs_is_not_missed(tmp_path: Path) -> None:
    path = tmp_path / "counter.py"
    path.write_text(strategy_source(version=1, size=1))
    config = config_dict()
    config["strategies"][0].update(name="counter", params={})
    runtime = build_host(config, strategy_dirs=[tmp_path])
    engine = runtime.engine
    engine.start()
    reloader = HotReloader(engine, watched_folders([], [tmp_path]))
    # Saved after the host loaded the file but before anything watched the folder.
    path.write_text(strategy_source(version=2, size=1))
    reloader.start()
    try:
        eventually(lambda: engine.pending)
        engine.run_pending()
        assert engine.slots["counter"].strategy.VERSION == 2
    finally:
        reloader.stop()
