"""Acceptance tests of hot reload on the live path: the host trading through the
real pybit client against the loopback Bybit emulator (127.0.0.1), a
HotReloader watching the strategy folder, the strategy file edited by an
atomic save (temp file + rename) and by an in-place write.

Issue covered: "Hot reload ..." -- the new code's decisions take over at the
venue, no order is orphaned, a fill that arrives during the swap reaches the
new version, state is carried through ``on_save`` / ``on_load``.

The host runs in a thread of the test (``run_live``) or as an ``mmhost run``
subprocess; waits poll with deadlines. The test strategy quotes 600 ticks
away from the touch, so nothing fills by chance: every fill is a probe the
test sends on the strategy's behalf, and the fill accounting is exact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

from host.emulator import EmulatorConfig, EmulatorServer
from host.journal import Journal
from host.live import run_live
from host.models import Fill, OrderStatus, Side
from host.reload import HotReloader, watched_folders
from host.runtime import Runtime
from host.testing import build_host

T = TypeVar("T")

# Test credentials, valid only against the emulator started here.
API_KEY = "reload-test-key-7c21e9"
API_SECRET = "reload-test-secret-0d4b8f3a"
SYMBOL = "BTCUSDT"
DESK = "rl"
STRATEGY = "prober"

STRATEGY_TEMPLATE = textwrap.dedent(
    '''
    """Quotes far from the touch; records which version saw each fill."""

    from host import Decision, Quote, Side, Strategy, Take


    class Prober(Strategy):
        name = "prober"
        VERSION = {version}
        SIZE_LOTS = {size_lots}
        OFFSET_TICKS = 600  # far from the touch: only the test's probes fill
        REQUOTE_TICKS = 200

        def __init__(self, ctx, params):
            super().__init__(ctx, params)
            self.quoted_mid_ticks = None
            self.books_seen = 0
            self.fills_seen = {{}}  # exec_id -> VERSION of the instance that saw it
            self.inherited = None

        def decision(self, probe_side=None):
            mid_ticks = int(self.quoted_mid_ticks)
            quotes = (
                Quote(Side.BUY, mid_ticks - self.OFFSET_TICKS, self.SIZE_LOTS, "bid"),
                Quote(Side.SELL, mid_ticks + self.OFFSET_TICKS, self.SIZE_LOTS, "ask"),
            )
            takes = () if probe_side is None else (Take(Side(probe_side), 1, "probe"),)
            return Decision(quotes=quotes, takes=takes)

        def on_start(self):
            # After a reload: quote at once, from the mid the old version quoted around.
            return None if self.quoted_mid_ticks is None else self.decision()

        def on_book(self, book):
            self.books_seen += 1
            mid_ticks = book.mid_ticks()
            if mid_ticks is None:
                return None
            quoted = self.quoted_mid_ticks
            if quoted is not None and abs(mid_ticks - quoted) <= self.REQUOTE_TICKS:
                return None
            self.quoted_mid_ticks = mid_ticks
            return self.decision()

        def on_fill(self, fill):
            self.fills_seen[fill.exec_id] = self.VERSION

        def on_save(self):
            return {{
                "version": self.VERSION,
                "books_seen": self.books_seen,
                "fills_seen": dict(self.fills_seen),
                "quoted_mid_ticks": self.quoted_mid_ticks,
            }}

        def on_load(self, state):
            self.inherited = state
            self.books_seen = state["books_seen"]
            self.fills_seen = dict(state["fills_seen"])
            self.quoted_mid_ticks = state["quoted_mid_ticks"]
    '''
)


def strategy_source(version: int, size_lots: int) -> str:
    return STRATEGY_TEMPLATE.format(version=version, size_lots=size_lots)


def save_atomically(path: Path, text: str) -> None:
    """What most editors do: write a temporary file, then rename it over the old one."""
    temporary = path.with_name(path.name + ".tmp")  # not *.py: the watcher ignores it
    temporary.write_text(text)
    os.replace(temporary, path)


def save_in_place(path: Path, text: str) -> None:
    with path.open("w") as handle:
        handle.write(text)


def wait_for(probe: Callable[[], T], timeout_s: float = 10.0, what: str = "it") -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


# ------------------------------------------------------------------ emulator


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(
        EmulatorConfig(speed=4.0, api_key=API_KEY, api_secret=API_SECRET, seed=11)
    )
    server.start()
    yield server
    server.stop()


def our_orders(emulator: EmulatorServer) -> dict[str, tuple[str, int]]:
    """orderLinkId -> (status, quantity in lots) of every order of our desk at the emulator."""
    return emulator.call(
        lambda hub: {
            r.order_link_id: (r.status, r.qty_lots)
            for r in hub.exchange.orders.values()
            if r.order_link_id.startswith(DESK + "-")
        }
    )


def resting_sizes(emulator: EmulatorServer) -> list[int]:
    """Quantities (lots) of our orders resting at the emulator."""
    return emulator.call(
        lambda hub: sorted(
            r.qty_lots for r in hub.exchange.open_orders() if r.order_link_id.startswith(DESK + "-")
        )
    )


def our_executions(emulator: EmulatorServer) -> dict[str, str]:
    """execId -> orderLinkId of every execution of our desk at the emulator."""
    return emulator.call(
        lambda hub: {
            e["execId"]: e["orderLinkId"]
            for e in hub.exchange.executions
            if e["orderLinkId"].startswith(DESK + "-")
        }
    )


def venue_position_lots(emulator: EmulatorServer) -> int:
    def read(hub: Any) -> int:
        (position,) = hub.exchange.positions({"category": "linear", "symbol": SYMBOL})
        lots = round(float(position["size"]) * 1000)  # lot 0.001 BTC
        return -lots if position["side"] == "Sell" else lots

    return emulator.call(read)


# ------------------------------------------------------------ in-process host


def host_config(emulator: EmulatorServer, tmp_path: Path, **host: Any) -> dict[str, Any]:
    assert emulator.urls is not None
    return {
        "host": {
            "mode": "live",
            "desk": DESK,
            "journal": "",
            "log_dir": str(tmp_path / "log"),
            "plugin_dirs": [],
            "strategy_dirs": [str(tmp_path / "strategies")],
            "hot_reload": False,  # the test runs its own HotReloader
            **host,
        },
        "venues": [
            {
                "name": "bybit",
                "kind": "bybit",
                "endpoint": emulator.urls.http,
                "market": "bybit-linear",
                "symbols": [SYMBOL],
                "request_timeout_ms": 1000,
            }
        ],
        "strategies": [{"name": STRATEGY, "venue": "bybit", "symbol": SYMBOL}],
        "risk": {"kill_file": ""},
    }


class ReloadingLiveHost:
    """``run_live`` on a thread of the test, with a HotReloader on the strategy folder.

    Test instrumentation (no venue is mocked): the fills the venue hands to the
    engine's queue, and the moment the watcher thread queues a reload, are
    recorded, so a test can line a fill up right behind a swap.
    """

    def __init__(self, config: dict[str, Any], folder: Path) -> None:
        self.runtime: Runtime = build_host(config, strategy_dirs=[folder])
        self.engine = self.runtime.engine
        self.reloader = HotReloader(self.engine, watched_folders([], [folder]))
        self.reload_queued = threading.Event()
        self.queued_fills: list[Fill] = []
        self._lock = threading.Lock()
        self._instrument()
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-host", daemon=True)

    def _instrument(self) -> None:
        engine = self.engine
        queue = engine.call_soon_threadsafe

        def call_soon_threadsafe(callback: Callable[[], Any]) -> None:
            queue(callback)
            # The reloader's watcher thread hands over nothing but reloads.
            if threading.current_thread().name == "mmhost-reload":
                self.reload_queued.set()

        engine.call_soon_threadsafe = call_soon_threadsafe  # type: ignore[method-assign]
        sink = engine.venues["bybit"].sink  # type: ignore[attr-defined]
        hand_over = sink.on_fill

        def on_fill(fill: Fill) -> None:
            hand_over(fill)
            with self._lock:
                self.queued_fills.append(fill)

        sink.on_fill = on_fill

    def fills_queued(self) -> list[Fill]:
        with self._lock:
            return list(self.queued_fills)

    def _run(self) -> None:
        try:
            run_live(self.engine, self.runtime.scheduler, should_stop=self._stop.is_set)
        except BaseException as error:  # reported by stop()
            self.error = error

    def start(self) -> ReloadingLiveHost:
        self.reloader.start()
        self._thread.start()
        return self

    def on_engine(self, function: Callable[[], T], timeout_s: float = 5.0) -> T:
        """Run ``function`` on the engine's loop (between two events); its result."""
        done: Future[T] = Future()

        def call() -> None:
            try:
                done.set_result(function())
            except BaseException as error:
                done.set_exception(error)

        self.engine.call_soon_threadsafe(call)
        return done.result(timeout_s)

    @property
    def strategy(self) -> Any:
        return self.engine.slots[STRATEGY].strategy

    def stop(self, timeout_s: float = 20.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self.reloader.stop()
        self.runtime.close()
        assert not self._thread.is_alive(), "run_live did not return"
        if self.error is not None:
            raise self.error


@pytest.fixture
def live_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_API_KEY", API_KEY)
    monkeypatch.setenv("BYBIT_API_SECRET", API_SECRET)


def probe(host: ReloadingLiveHost, side: Side) -> Callable[[], None]:
    """A callable for the engine thread: the strategy's own quotes plus a one-lot
    market order, decided in the strategy's name (the OMS files it under it)."""

    def send() -> None:
        slot = host.engine.slots[STRATEGY]
        host.engine.apply_decision(slot, slot.strategy.decision(probe_side=int(side)))

    return send


@pytest.mark.parametrize("save", [save_atomically, save_in_place])
def test_live_reload_takes_over_with_state_and_a_fill_queued_behind_the_swap(
    emulator: EmulatorServer,
    tmp_path: Path,
    live_env: None,
    save: Callable[[Path, str], None],
) -> None:
    folder = tmp_path / "strategies"
    folder.mkdir()
    path = folder / "prober.py"
    path.write_text(strategy_source(version=1, size_lots=1))
    host = ReloadingLiveHost(host_config(emulator, tmp_path), folder).start()
    try:
        wait_for(lambda: resting_sizes(emulator) == [1, 1], what="version 1 quoting 1 lot")

        # A fill before the swap: version 1 sees it.
        host.on_engine(probe(host, Side.BUY))
        first = wait_for(lambda: host.fills_queued(), what="the first probe's fill")[0]
        wait_for(lambda: first.exec_id in host.strategy.fills_seen, what="v1 to see its fill")

        # The swap, with a fill right behind it. The engine thread is held
        # between two events; meanwhile the file is saved and the watcher queues
        # the reload; then a probe goes out and its fill reaches the engine's
        # queue (behind the reload) while the old version is still installed.
        def hold_until_reload_queued_then_probe() -> None:
            if not host.reload_queued.wait(10):
                raise AssertionError("the watcher never queued the reload")
            probe(host, Side.SELL)()
            wait_for(lambda: len(host.fills_queued()) > 1, what="the second probe's fill")

        held: Future[None] = Future()

        def hold() -> None:
            try:
                hold_until_reload_queued_then_probe()
                held.set_result(None)
            except BaseException as error:
                held.set_exception(error)

        host.engine.call_soon_threadsafe(hold)
        save(path, strategy_source(version=2, size_lots=3))
        held.result(20)
        second = next(f for f in host.fills_queued() if f.exec_id != first.exec_id)

        wait_for(lambda: host.strategy.VERSION == 2, what="version 2 installed")
        (outcome,) = [o for o in host.reloader.outcomes if o.ok]
        assert outcome.swapped == (STRATEGY,)
        new = host.strategy
        # The fill that was queued behind the swap reached the new version.
        wait_for(lambda: second.exec_id in new.fills_seen, what="the fill to reach v2")
        assert new.fills_seen[second.exec_id] == 2
        # State came across through on_save / on_load.
        assert new.inherited["version"] == 1
        assert new.inherited["fills_seen"] == {first.exec_id: 1}
        assert new.fills_seen[first.exec_id] == 1
        assert new.books_seen >= new.inherited["books_seen"] > 0
        # The new code decides at the venue: its 3-lot quotes rest there.
        wait_for(lambda: resting_sizes(emulator) == [3, 3], what="version 2 quoting 3 lots")
        assert host.on_engine(lambda: not host.engine.slots[STRATEGY].buffered)
    finally:
        host.stop()

    # No orphan: every order of ours the emulator ever saw has ended.
    orders = our_orders(emulator)
    assert orders and all(status in OrderStatus.TERMINAL for status, _ in orders.values())
    assert all(order.is_terminal for order in host.engine.oms.orders.values())
    assert set(orders) == set(host.engine.oms.orders)
    # No fill lost or doubled: the emulator's executions of our orders are exactly
    # the fills the strategy saw, each by the version installed when it arrived.
    executions = our_executions(emulator)
    assert set(executions) == set(new.fills_seen) == {first.exec_id, second.exec_id}
    assert venue_position_lots(emulator) == 0  # one lot bought, one sold
    assert host.engine.strategy_positions[STRATEGY].size_lots == 0


# ------------------------------------------------------------- mmhost run


def write_config(config: dict[str, Any], path: Path) -> Path:
    """The config as TOML (flat tables and arrays of tables)."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return str(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(v) for v in item) + "]"
        return json.dumps(str(item))

    lines: list[str] = []
    for name, section in config.items():
        for entry in section if isinstance(section, list) else [section]:
            lines.append(f"[[{name}]]" if isinstance(section, list) else f"[{name}]")
            lines += [f"{key} = {value(item)}" for key, item in entry.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_live_reload_in_an_mmhost_run_process_atomic_then_in_place(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """``mmhost run`` with ``hot_reload = true``: two saves (atomic, then in
    place) each take over at the venue; SIGTERM leaves nothing resting; the
    journal holds the last version's state, which inherited the first's."""
    folder = tmp_path / "strategies"
    folder.mkdir()
    path = folder / "prober.py"
    path.write_text(strategy_source(version=1, size_lots=1))
    journal_path = tmp_path / "journal.sqlite"
    config = host_config(emulator, tmp_path, hot_reload=True, journal=str(journal_path))
    config_path = write_config(config, tmp_path / "host.toml")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_API")}
    environment.update(BYBIT_API_KEY=API_KEY, BYBIT_API_SECRET=API_SECRET)
    with open(tmp_path / "host.err", "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "host.cli", "run", "--config", str(config_path)],
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_for(lambda: resting_sizes(emulator) == [1, 1], 15, "version 1 quoting 1 lot")
        save_atomically(path, strategy_source(version=2, size_lots=2))
        wait_for(lambda: resting_sizes(emulator) == [2, 2], what="version 2 quoting 2 lots")
        save_in_place(path, strategy_source(version=3, size_lots=3))
        wait_for(lambda: resting_sizes(emulator) == [3, 3], what="version 3 quoting 3 lots")
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, (tmp_path / "host.err").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    orders = our_orders(emulator)
    assert orders and all(status in OrderStatus.TERMINAL for status, _ in orders.values())
    assert resting_sizes(emulator) == []
    journal = Journal(journal_path, readonly=True)
    try:
        state = journal.load_strategy_state(STRATEGY)
        unfinished = journal.open_orders(prefix=DESK + "-")
        journaled = {order.order_link_id for order in journal.orders()}
    finally:
        journal.close()
    assert unfinished == []
    assert set(orders) <= journaled
    assert state is not None and state["version"] == 3
    # Carried through both swaps: the count grew across the versions.
    assert state["books_seen"] > 0 and state["quoted_mid_ticks"] is not None
