"""Acceptance tests of the live path: the host, the real pybit client and the
loopback Bybit emulator (127.0.0.1), nothing mocked.

Issues covered: "Order management, risk controls and crash-safe persistence"
(crash and restart, lost acks, a second desk on the account, the kill switch)
and "Bybit V5 connector" (dropped sockets, a wrong secret, no secret in any
output, order entry on the trade socket with REST fallback: the default here;
tests of REST-only faults set ``order_entry = "rest"``). The emulator runs in
the test process; the host runs either in a thread of the test process
(``LiveHost``) or as an ``mmhost run`` subprocess (crash, signals, start-up
errors, secrets). Waits poll with deadlines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pybit.unified_trading import HTTP

from host.config import Credentials, VenueSection
from host.emulator import EmulatorConfig, EmulatorServer
from host.hookspecs import hookimpl
from host.instruments import lookup
from host.journal import Journal
from host.live import run_live
from host.models import CancelOrder, NewOrder, OrderStatus, OrderUpdate, Side
from host.runtime import Runtime
from host.testing import PROJECT_ROOT, build_host
from host.venues.bybit import BybitVenue

T = TypeVar("T")

# Test credentials, valid only against the emulator started here.
API_KEY = "live-test-key-4f9a1c7e"
API_SECRET = "live-test-secret-b83d2e6f0a9c"
SYMBOL = "BTCUSDT"
DESK = "mm"
TICK = Decimal("0.10")


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
    """A fresh emulator per test (a fresh account): synthetic markets at 4x."""
    server = EmulatorServer(
        EmulatorConfig(speed=4.0, api_key=API_KEY, api_secret=API_SECRET, seed=7)
    )
    server.start()
    yield server
    server.stop()


def venue_orders(emulator: EmulatorServer, prefix: str = DESK + "-") -> list[tuple[str, str]]:
    """(orderLinkId, status) of every order the emulator holds with ``prefix``."""
    return emulator.call(
        lambda hub: [
            (record.order_link_id, record.status)
            for record in hub.exchange.orders.values()
            if record.order_link_id.startswith(prefix)
        ]
    )


def open_at_venue(emulator: EmulatorServer, prefix: str = DESK + "-") -> list[str]:
    return emulator.call(
        lambda hub: [
            record.order_link_id
            for record in hub.exchange.open_orders()
            if record.order_link_id.startswith(prefix)
        ]
    )


def venue_position(emulator: EmulatorServer) -> dict[str, Any]:
    return emulator.call(
        lambda hub: hub.exchange.positions({"category": "linear", "symbol": SYMBOL})[0]
    )


def signed_size(position: dict[str, Any]) -> Decimal:
    size = Decimal(position["size"])
    return -size if position["side"] == "Sell" else size


def assert_no_duplicates(emulator: EmulatorServer) -> list[str]:
    ids = [link_id for link_id, _ in venue_orders(emulator)]
    assert len(ids) == len(set(ids)), f"an orderLinkId reached the venue twice: {ids}"
    return ids


def other_desk_client(emulator: EmulatorServer) -> HTTP:
    """A pybit session of another desk on the same account (same keys)."""
    assert emulator.urls is not None
    client = HTTP(api_key=API_KEY, api_secret=API_SECRET, max_retries=1, timeout=5)
    client.endpoint = emulator.urls.http  # this session only; pybit's globals stay
    return client


def request_channels(emulator: EmulatorServer, op: str | None = None) -> list[str]:
    """The channel (rest | trade) of every executed order request of ours, oldest first."""
    return emulator.call(
        lambda hub: [
            r.channel
            for r in hub.order_requests
            if (op is None or r.op == op)
            and any(i.startswith(DESK + "-") for i in r.order_link_ids)
        ]
    )


def best_prices(emulator: EmulatorServer) -> tuple[Decimal, Decimal]:
    def read(hub: Any) -> tuple[int, int]:
        engine = hub.exchange.engine(hub.exchange.listings[("linear", SYMBOL)])
        return engine.best_bid_ticks, engine.best_ask_ticks

    bid_ticks, ask_ticks = emulator.call(read)
    return bid_ticks * TICK, ask_ticks * TICK


# ------------------------------------------------------------ configuration


def host_config(
    emulator: EmulatorServer,
    tmp_path: Path,
    *,
    spread_ticks: int = 400,
    journal: str = "",
    request_timeout_ms: int = 1000,
    kill_file: str = "",
    requote_threshold_bps: float = 0.5,
    order_entry: str = "websocket",
) -> dict[str, Any]:
    """A live host on the emulator: static_spread, wide by default (nothing fills);
    orders on the trade socket (the default) or over REST."""
    assert emulator.urls is not None
    return {
        "host": {
            "mode": "live",
            "desk": DESK,
            "journal": journal,
            "log_dir": str(tmp_path / "log"),
            "plugin_dirs": [],
            "strategy_dirs": [str(PROJECT_ROOT / "strategies")],
            "hot_reload": False,
        },
        "venues": [
            {
                "name": "bybit",
                "kind": "bybit",
                # The emulator's address, not "emulator": the keys come from the environment.
                "endpoint": emulator.urls.http,
                "market": "bybit-linear",
                "symbols": [SYMBOL],
                "request_timeout_ms": request_timeout_ms,
                "order_entry": order_entry,
            }
        ],
        "strategies": [
            {
                "name": "static_spread",
                "venue": "bybit",
                "symbol": SYMBOL,
                "params": {
                    "spread_ticks": spread_ticks,
                    "order_size_quote": 1000,
                    "take_profit_bps": 1.0,
                    "requote_threshold_bps": requote_threshold_bps,
                },
            }
        ],
        "risk": {"kill_file": kill_file},
    }


def write_toml(config: dict[str, Any], path: Path) -> Path:
    """The config dict as TOML (tables and arrays of tables, as the tests use them)."""

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return str(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(v) for v in item) + "]"
        return json.dumps(str(item))

    def table(name: str, body: dict[str, Any], array: bool = False) -> list[str]:
        lines = [f"[[{name}]]" if array else f"[{name}]"]
        nested = []
        for key, item in body.items():
            if isinstance(item, dict):
                nested.append((key, item))
            else:
                lines.append(f"{key} = {value(item)}")
        for key, item in nested:
            lines += table(f"{name}.{key}", item)
        return lines

    lines: list[str] = []
    for name, section in config.items():
        if isinstance(section, list):
            for entry in section:
                lines += table(name, entry, array=True)
        else:
            lines += table(name, section)
    path.write_text("\n".join(lines) + "\n")
    return path


def host_environment(**extra: str) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("BYBIT_API")
    }
    environment.update({"BYBIT_API_KEY": API_KEY, "BYBIT_API_SECRET": API_SECRET, **extra})
    return environment


def start_host_process(
    config_path: Path, tmp_path: Path, *args: str, name: str = "host", **environment: str
) -> subprocess.Popen[bytes]:
    """``mmhost run`` in a subprocess; its stdout/stderr go to ``tmp_path/name.*``."""
    with (
        open(tmp_path / f"{name}.out", "wb") as stdout,
        open(tmp_path / f"{name}.err", "wb") as stderr,
    ):
        # The child holds its own copies of the two files.
        return subprocess.Popen(
            [sys.executable, "-m", "host.cli", "run", "--config", str(config_path), *args],
            cwd=tmp_path,
            env=host_environment(**environment),
            stdout=stdout,
            stderr=stderr,
        )


def finish(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> int:
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        raise AssertionError(f"the host did not exit within {timeout_s} s") from None


# ------------------------------------------------------------ in-process host


class UpdateRecorder:
    """Every order update the engine accepted, with the OMS's view right after it:
    (update, status, awaiting_query)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runtime: Runtime | None = None
        self.updates: list[tuple[OrderUpdate, str, bool]] = []

    @hookimpl
    def mmhost_order_updated(self, update: OrderUpdate) -> None:
        assert self.runtime is not None
        order = self.runtime.engine.oms.orders.get(update.order_link_id)
        if order is None:
            return
        with self.lock:
            self.updates.append((update, order.status, order.awaiting_query))

    def of(self, order_link_id: str) -> list[tuple[OrderUpdate, str, bool]]:
        with self.lock:
            return [entry for entry in self.updates if entry[0].order_link_id == order_link_id]


class LiveHost:
    """A live host on a thread of the test: ``run_live`` until ``stop``."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.recorder = UpdateRecorder()
        self.runtime = build_host(config, plugins=[self.recorder])
        self.recorder.runtime = self.runtime
        self.engine = self.runtime.engine
        self.venue: Any = self.engine.venues["bybit"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-host", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            run_live(self.engine, self.runtime.scheduler, should_stop=self._stop.is_set)
        except BaseException as error:  # reported by stop()
            self.error = error

    def start(self) -> LiveHost:
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

    def live_ids(self) -> list[str]:
        """Our orders the OMS holds as resting (acknowledged, no action in flight)."""
        return self.on_engine(
            lambda: [
                o.order_link_id
                for o in self.engine.oms.orders.values()
                if o.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
            ]
        )

    def statuses(self) -> dict[str, str]:
        return self.on_engine(
            lambda: {o.order_link_id: o.status for o in self.engine.oms.orders.values()}
        )

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 20.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self.runtime.close()
        assert not self._thread.is_alive(), "run_live did not return"
        if self.error is not None:
            raise self.error


@pytest.fixture
def live_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_API_KEY", API_KEY)
    monkeypatch.setenv("BYBIT_API_SECRET", API_SECRET)


@pytest.fixture
def live_host(
    emulator: EmulatorServer, tmp_path: Path, live_env: None
) -> Iterator[Callable[..., LiveHost]]:
    """``live_host(**host_config options)`` -> a started LiveHost, stopped after the test."""
    started: list[LiveHost] = []

    def start(**options: Any) -> LiveHost:
        host = LiveHost(host_config(emulator, tmp_path, **options)).start()
        started.append(host)
        return host

    yield start
    for host in started:
        if host.running:
            host.stop()


def quoting(host: LiveHost, emulator: EmulatorServer, count: int = 2) -> list[str]:
    """Wait until ``count`` of our orders rest, by the OMS and by the venue."""
    return wait_for(
        lambda: (
            ids
            if len(ids := host.live_ids()) == count
            and sorted(open_at_venue(emulator)) == sorted(ids)
            else None
        ),
        what=f"{count} resting quotes",
    )


# -------------------------------------------------------------------- tests


def test_live_crash_restart_no_duplicate_no_orphan_position_equals_venue(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    journal_path = tmp_path / "journal.sqlite"
    config = host_config(emulator, tmp_path, spread_ticks=1, journal=str(journal_path))
    config_path = write_toml(config, tmp_path / "host.toml")
    first = start_host_process(config_path, tmp_path, "--no-log-file", name="first")
    try:
        # Trading: a fill (a position) and orders resting when the host dies.
        wait_for(
            lambda: signed_size(venue_position(emulator)) != 0 and open_at_venue(emulator),
            timeout_s=12,
            what="a position and resting orders",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    orphans = open_at_venue(emulator)
    assert orphans, "the crash left nothing resting: the test proves nothing"
    ids_before = set(assert_no_duplicates(emulator))
    # The dead host's sockets are gone; Bybit's disconnect-cancel-all would clear
    # the orphans after its 10 s window: the restart comes well before that.

    second = start_host_process(
        config_path, tmp_path, "--no-log-file", "--duration", "3", "--json", name="second"
    )
    assert finish(second) == 0, (tmp_path / "second.err").read_text()
    summary = json.loads((tmp_path / "second.out").read_text())

    # No orphan: the restart cancelled the previous run's orders before it
    # placed its first one; at the end none of ours rests.
    records = emulator.call(
        lambda hub: {
            r.order_link_id: (r.status, r.created_ms, r.updated_ms)
            for r in hub.exchange.orders.values()
        }
    )
    # (One may have filled in the gap: its fill is backfilled below.)
    assert all(records[link_id][0] in OrderStatus.TERMINAL for link_id in orphans)
    first_new_ms = min(
        (created for link_id, (_, created, _) in records.items() if link_id not in ids_before),
        default=None,
    )
    if first_new_ms is not None:
        assert max(records[link_id][2] for link_id in orphans) <= first_new_ms
    assert open_at_venue(emulator) == []
    # No duplicate: every id reached the venue once, and the restart used fresh ids.
    ids_after = set(assert_no_duplicates(emulator))
    new_ids = ids_after - ids_before
    run_tokens = {link_id.split("-")[1] for link_id in ids_before} | {
        link_id.split("-")[1] for link_id in new_ids
    }
    assert len(run_tokens) == 2
    # Every order at the venue was journaled before it was sent.
    journal = Journal(journal_path, readonly=True)
    try:
        journaled = {order.order_link_id for order in journal.orders()}
        positions = {(p.venue, p.symbol): p for p in journal.positions()}
        unfinished = journal.open_orders(prefix=DESK + "-")
    finally:
        journal.close()
    assert ids_after <= journaled
    assert unfinished == []
    # Position and PnL: the journal (both runs, executions missed in the crash
    # backfilled) equals the venue's; the restarted host adopted the venue's.
    venue = venue_position(emulator)
    journal_position = positions[("bybit", SYMBOL)]
    assert journal_position.qty == signed_size(venue)
    journal_pnl = journal_position.realized_pnl - journal_position.fees
    assert abs(journal_pnl - Decimal(venue["cumRealisedPnl"])) < Decimal("0.000001")
    (host_position,) = summary["positions"]
    assert Decimal(host_position["qty"]) == signed_size(venue)
    if signed_size(venue) != 0:
        assert abs(Decimal(host_position["avg_price"]) - Decimal(venue["avgPrice"])) < TICK / 100
        assert abs(journal_position.avg_price - Decimal(venue["avgPrice"])) < TICK / 100


def test_live_lost_create_ack_is_unknown_then_resolved_by_query_without_duplicate(
    emulator: EmulatorServer, live_host: Callable[..., LiveHost]
) -> None:
    emulator.faults.lose_acks(1)  # the first order request executes, its answer never comes
    host = live_host()
    wait_for(lambda: host.venue.stats.resolved_orders >= 2, what="the queries to settle both")
    ids = quoting(host, emulator)
    for link_id in ids:
        seen = host.recorder.of(link_id)
        # The timeout made the order Unknown to the OMS (a pending state kept,
        # awaiting the query) until the venue's record settled it.
        assert any(
            update.status == OrderStatus.UNKNOWN and awaiting for update, _, awaiting in seen
        ), f"{link_id} never went Unknown: {seen}"
        assert seen[-1][1] == OrderStatus.NEW and not seen[-1][2]
    assert host.venue.stats.unknown_orders >= 2
    assert host.venue.stats.resolved_orders >= 2
    assert all(host.statuses()[link_id] == OrderStatus.NEW for link_id in ids)
    assert not host.on_engine(
        lambda: [o for o in host.engine.oms.orders.values() if o.awaiting_query]
    )
    assert sorted(assert_no_duplicates(emulator)) == sorted(ids)


def test_live_lost_cancel_ack_is_resolved_by_query_without_a_second_cancel(
    emulator: EmulatorServer, live_host: Callable[..., LiveHost]
) -> None:
    host = live_host()
    ids = quoting(host, emulator)
    unknown_before = host.venue.stats.unknown_orders
    emulator.faults.lose_acks(1)  # the next order request: our cancel
    host.on_engine(lambda: host.engine.pause("test: take the quotes down"))
    wait_for(
        lambda: host.venue.stats.unknown_orders >= unknown_before + len(ids),
        what="the cancel to time out",
    )
    wait_for(
        lambda: all(host.statuses()[i] == OrderStatus.CANCELLED for i in ids),
        what="the cancels resolved",
    )
    wait_for(
        lambda: host.venue.stats.resolved_orders >= len(ids), what="the queries to settle them"
    )
    for link_id in ids:
        seen = [update.status for update, _, _ in host.recorder.of(link_id)]
        assert OrderStatus.UNKNOWN in seen and seen[-1] == OrderStatus.CANCELLED
    assert host.venue.stats.cancels_resent == 0
    assert open_at_venue(emulator) == []
    assert sorted(assert_no_duplicates(emulator)) == sorted(ids)


def test_live_other_desk_orders_survive_reconcile_and_kill_switch(
    emulator: EmulatorServer, live_host: Callable[..., LiveHost]
) -> None:
    other = other_desk_client(emulator)
    bid, ask = best_prices(emulator)
    for index, (side, price) in enumerate((("Buy", bid - 300), ("Sell", ask + 300))):
        other.place_order(
            category="linear",
            symbol=SYMBOL,
            side=side,
            orderType="Limit",
            qty="0.01",
            price=str(price),
            timeInForce="PostOnly",
            orderLinkId=f"other-{index}",
        )
    host = live_host()  # its reconcile runs before this returns
    quoting(host, emulator)
    host.on_engine(lambda: host.engine.kill("test"))
    wait_for(lambda: not host.running, timeout_s=15, what="the host to stop")
    host.stop()
    assert open_at_venue(emulator) == []
    assert sorted(open_at_venue(emulator, prefix="other-")) == ["other-0", "other-1"]


def test_live_kill_switch_takes_every_order_off_in_one_round_trip(
    emulator: EmulatorServer, live_host: Callable[..., LiveHost]
) -> None:
    host = live_host()
    ids = quoting(host, emulator)
    stats = host.venue.stats
    requests_before = stats.requests + stats.trade_requests
    started = time.monotonic()
    host.on_engine(lambda: host.engine.kill("test"))
    wait_for(lambda: not open_at_venue(emulator), timeout_s=2, what="every order off")
    elapsed_s = time.monotonic() - started
    # One batch cancel for both quotes: one request (on the trade socket),
    # answered within a round trip.
    assert stats.requests + stats.trade_requests - requests_before == 1
    assert request_channels(emulator, "order.cancel-batch") == ["trade"]
    assert elapsed_s < 1.0
    wait_for(lambda: not host.running, timeout_s=15, what="the host to stop")
    assert all(status == OrderStatus.CANCELLED for _, status in venue_orders(emulator))
    assert sorted(link_id for link_id, _ in venue_orders(emulator)) == sorted(ids)


@pytest.mark.parametrize("how", ["SIGUSR1", "mmhost kill"])
def test_live_kill_switch_of_a_running_host_process(
    emulator: EmulatorServer, tmp_path: Path, how: str
) -> None:
    kill_file = tmp_path / "KILL"
    config = host_config(emulator, tmp_path, kill_file=str(kill_file))
    config_path = write_toml(config, tmp_path / "host.toml")
    process = start_host_process(config_path, tmp_path, "--no-log-file")
    try:
        wait_for(lambda: len(open_at_venue(emulator)) == 2, timeout_s=12, what="two quotes")
        if how == "SIGUSR1":
            started = time.monotonic()
            process.send_signal(signal.SIGUSR1)
        else:
            subprocess.run(
                [sys.executable, "-m", "host.cli", "kill", "--config", str(config_path)],
                cwd=tmp_path,
                check=True,
                capture_output=True,
            )
            started = time.monotonic()  # the kill file exists from here
        wait_for(lambda: not open_at_venue(emulator), timeout_s=5, what="every order off")
        elapsed_s = time.monotonic() - started
        assert finish(process) == 0, (tmp_path / "host.err").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    # The signal acts at once; the kill file is polled every 0.5 s by housekeeping.
    assert elapsed_s < (1.0 if how == "SIGUSR1" else 1.5)
    assert all(status == OrderStatus.CANCELLED for _, status in venue_orders(emulator))


def test_live_dropped_sockets_reconnect_resync_and_quoting_resumes(
    emulator: EmulatorServer, live_host: Callable[..., LiveHost]
) -> None:
    host = live_host(requote_threshold_bps=0.1)
    quoting(host, emulator)
    snapshots_before = host.on_engine(lambda: host.engine.stats.book_messages)
    reconnects_before = host.venue.stats.reconnects
    emulator.faults.drop_sockets("all")
    wait_for(
        lambda: host.venue.stats.reconnects >= reconnects_before + 2,
        what="public and private streams reconnected",
    )
    # The book is rebuilt from a fresh snapshot and keeps moving.
    wait_for(
        lambda: host.on_engine(
            lambda: (
                host.engine.instruments[("bybit", SYMBOL)].book.is_valid
                and host.engine.stats.book_messages > snapshots_before + 20
            )
        ),
        what="the book resynced",
    )

    # Quoting resumes over the new sockets: the strategy follows the market
    # (amends or new orders), the venue acknowledges, the quotes rest again.
    def actions_sent() -> int:
        return host.on_engine(lambda: host.engine.oms.orders_sent + host.engine.oms.amends_sent)

    actions_before = actions_sent()
    wait_for(
        lambda: actions_sent() > actions_before,
        timeout_s=10,
        what="a new quote decision after the reconnect",
    )
    ids = quoting(host, emulator)
    prices = emulator.call(
        lambda hub: {
            r.order_link_id: r.price_ticks for r in hub.exchange.orders.values() if r.is_open
        }
    )
    ours = host.on_engine(lambda: {i: host.engine.oms.orders[i].price_ticks for i in ids})
    assert {i: prices[i] for i in ids} == ours
    assert_no_duplicates(emulator)
    assert sorted(open_at_venue(emulator)) == sorted(ids)


def test_live_quotes_go_over_rest_while_the_trade_socket_is_down_then_over_it_again(
    emulator: EmulatorServer, live_host: Callable[..., LiveHost]
) -> None:
    host = live_host(requote_threshold_bps=0.1)
    quoting(host, emulator)
    assert set(request_channels(emulator)) == {"trade"}
    # The trade socket goes and stays away until the test lets it back.
    emulator.faults.refuse_sockets("trade")
    emulator.faults.drop_sockets("trade")
    wait_for(
        lambda: "rest" in request_channels(emulator),
        timeout_s=10,
        what="quotes over REST while the trade socket is down",
    )
    assert host.venue.stats.rest_fallbacks >= 1 and not host.venue.trade_socket_ready
    emulator.faults.refuse_sockets("trade", enabled=False)
    wait_for(lambda: host.venue.trade_socket_ready, timeout_s=15, what="the trade socket back")
    back_from = len(request_channels(emulator))
    wait_for(
        lambda: "trade" in request_channels(emulator)[back_from:],
        timeout_s=10,
        what="quotes on the trade socket again",
    )
    # Quoting never stopped (a lost trade socket is no venue disconnect for the
    # breaker), and every id reached the venue once.
    ids = quoting(host, emulator)
    assert sorted(open_at_venue(emulator)) == sorted(ids)
    assert host.venue.stats.reconnects == 0
    assert_no_duplicates(emulator)


def test_live_wrong_secret_stops_at_start_with_a_clear_auth_error(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    wrong_secret = "wrong-secret-5e1d9a0b7c"
    config_path = write_toml(host_config(emulator, tmp_path), tmp_path / "host.toml")
    process = start_host_process(
        config_path, tmp_path, "--no-log-file", BYBIT_API_SECRET=wrong_secret
    )
    assert finish(process) == 1
    output = (tmp_path / "host.out").read_text() + (tmp_path / "host.err").read_text()
    assert "'bybit'" in output and "10004" in output
    assert wrong_secret not in output and API_SECRET not in output
    assert venue_orders(emulator) == []


def test_live_secrets_never_reach_logs_journal_or_output(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    journal_path = tmp_path / "journal.sqlite"
    config = host_config(emulator, tmp_path, spread_ticks=1, journal=str(journal_path))
    config["host"]["log_level"] = "DEBUG"
    config_path = write_toml(config, tmp_path / "host.toml")
    process = start_host_process(config_path, tmp_path, "--duration", "4")
    assert finish(process) == 0, (tmp_path / "host.err").read_text()
    assert venue_orders(emulator), "the host placed no order: the test proves nothing"
    files = [tmp_path / "host.out", tmp_path / "host.err"]
    files += [path for path in (tmp_path / "log").rglob("*") if path.is_file()]
    files += [path for path in tmp_path.glob("journal.sqlite*") if path.is_file()]
    assert any(path.suffix == ".jsonl" for path in files), "no log file was written"
    needles = [API_KEY.encode(), API_SECRET.encode(), b"sign=", b"signature", b"X-BAPI-SIGN"]
    for path in files:
        content = path.read_bytes().lower()
        for needle in needles:
            assert needle.lower() not in content, f"{needle!r} found in {path.name}"


class Collected:
    """A venue sink that keeps what arrives, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[Any] = []

    def _add(self, event: Any) -> None:
        with self.lock:
            self.events.append(event)

    on_book_message = on_trade = on_order_update = on_fill = _add

    def on_venue_status(self, venue: str, status: str, detail: str = "") -> None:
        pass

    def updates(self, order_link_id: str) -> list[OrderUpdate]:
        with self.lock:
            return [
                e
                for e in self.events
                if isinstance(e, OrderUpdate) and e.order_link_id == order_link_id
            ]


def test_live_cancel_of_an_order_whose_create_is_in_flight_waits_for_the_ack(
    emulator: EmulatorServer,
) -> None:
    """The kill switch (or a stop) cancels orders the venue has not acknowledged
    yet. Sent at once, such a cancel overtakes its create (its own worker),
    meets 110001, and the order then rests with nobody cancelling it."""
    assert emulator.urls is not None
    sink = Collected()
    venue = BybitVenue(
        # REST: the emulator's rate-limit fault (what holds the create) is REST's.
        VenueSection(
            name="bybit",
            kind="bybit",
            symbols=[SYMBOL],
            endpoint=emulator.urls.http,
            order_entry="rest",
        ),
        {SYMBOL: replace(lookup("bybit-linear", SYMBOL), venue="bybit")},
        None,
        sink,
        credentials=Credentials(API_KEY, API_SECRET),
    )
    venue.start()
    try:
        bid, _ = best_prices(emulator)
        price_ticks = int((bid - 300) / TICK)
        # A rate-limited create makes the next one wait for the window's reset:
        # its cancel is certainly submitted before the venue has it.
        emulator.faults.rate_limit(1)
        venue.submit([NewOrder("mm-held-1", SYMBOL, Side.BUY, 20, price_ticks, "PostOnly")])
        wait_for(lambda: venue.budget.wait_s("/v5/order/create") > 0.2, what="a rate limit")
        venue.submit([NewOrder("mm-held-2", SYMBOL, Side.BUY, 20, price_ticks, "PostOnly")])
        venue.submit([CancelOrder("mm-held-2", SYMBOL)])
        assert venue.stats.held_cancels == 1
        wait_for(
            lambda: [u for u in sink.updates("mm-held-2") if u.status == OrderStatus.CANCELLED],
            what="the held cancel to go after the ack",
        )
        assert dict(venue_orders(emulator, "mm-held-2")) == {"mm-held-2": OrderStatus.CANCELLED}
        assert not [u for u in sink.updates("mm-held-2") if u.reject_code]
    finally:
        venue.stop()


def test_live_stop_settles_a_cancel_lost_to_a_5xx_by_query_and_cancels_again(
    emulator: EmulatorServer, live_host: Callable[..., LiveHost]
) -> None:
    """A stop whose cancel meets a 5xx (nothing happened at the venue): the
    request is unanswered, the query finds the orders still open, the cancel
    goes again, and the stop ends with every order confirmed terminal."""
    host = live_host(order_entry="rest")  # the 5xx fault is REST's
    ids = quoting(host, emulator)
    emulator.faults.server_errors(1)  # the stop's cancel request
    started = time.monotonic()
    host.stop()
    assert time.monotonic() - started < host.venue.settle_timeout_s + 1.0
    assert open_at_venue(emulator) == []
    assert host.venue.stats.unknown_orders >= len(ids)
    assert host.venue.stats.cancels_resent == len(ids)
    statuses = {o.order_link_id: o.status for o in host.engine.oms.orders.values()}
    assert all(statuses[link_id] == OrderStatus.CANCELLED for link_id in ids)
    assert sorted(assert_no_duplicates(emulator)) == sorted(ids)
