"""Acceptance test of two live venues in one host: a Bybit market maker through
pybit on emulator A, a cross-exchange arbitrage through ccxt on emulator B
(watching A), side by side, 127.0.0.1 only, nothing mocked.

Issue covered: "Cross-exchange arbitrage ..." -- the two strategies do not
interfere (no order of one is ever cancelled by the other's decisions; each
emulator sees only the orders of the venue it serves), both venues' books are
live, the per-asset position spans both venues, and a stale feed on one venue
pauses only the strategies that trade or watch it.

Also: every example config under docs/examples parses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from host.config import load_config
from host.emulator import EmulatorConfig, EmulatorServer
from host.live import run_live
from host.models import AmendOrder, CancelOrder, OrderAction, OrderStatus
from host.testing import PROJECT_ROOT, build_host

T = TypeVar("T")

SYMBOL = "BTCUSDT"
DESK = "tv"
# Test credentials, valid only against the emulators started here.
KEYS_A = ("two-venue-key-a-5e8c", "two-venue-secret-a-91f0d2")
KEYS_B = ("two-venue-key-b-3a7d", "two-venue-secret-b-c46e18")
MM, ARB = "static_spread", "cross_arbitrage"
STALE_BOOK_MS = 1000


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


def start_emulator(keys: tuple[str, str], seed: int) -> EmulatorServer:
    # Different seeds: the two synthetic BTCUSDT markets drift apart from the
    # same start price, so their books cross now and then.
    server = EmulatorServer(
        EmulatorConfig(speed=4.0, api_key=keys[0], api_secret=keys[1], seed=seed)
    )
    server.start()
    return server


@pytest.fixture
def emulators() -> Iterator[tuple[EmulatorServer, EmulatorServer]]:
    first = start_emulator(KEYS_A, seed=7)
    try:
        second = start_emulator(KEYS_B, seed=8)
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


def emulator_orders(emulator: EmulatorServer) -> dict[str, tuple[str, str]]:
    """orderLinkId -> (status, cancel type) of every order of our desk at ``emulator``."""
    return emulator.call(
        lambda hub: {
            r.order_link_id: (r.status, r.cancel_type)
            for r in hub.exchange.orders.values()
            if r.order_link_id.startswith(DESK + "-")
        }
    )


def open_at(emulator: EmulatorServer) -> list[str]:
    return emulator.call(
        lambda hub: sorted(
            r.order_link_id
            for r in hub.exchange.open_orders()
            if r.order_link_id.startswith(DESK + "-")
        )
    )


def emulator_position_lots(emulator: EmulatorServer) -> int:
    def read(hub: Any) -> int:
        (position,) = hub.exchange.positions({"category": "linear", "symbol": SYMBOL})
        lots = int(Decimal(position["size"]) / Decimal("0.001"))
        return -lots if position["side"] == "Sell" else lots

    return emulator.call(read)


def emulator_touch(emulator: EmulatorServer) -> tuple[int, int]:
    def read(hub: Any) -> tuple[int, int]:
        engine = hub.exchange.engine(hub.exchange.listings[("linear", SYMBOL)])
        return engine.best_bid_ticks, engine.best_ask_ticks

    return emulator.call(read)


def two_venue_config(a: EmulatorServer, b: EmulatorServer, tmp_path: Path) -> dict[str, Any]:
    assert a.urls is not None and b.urls is not None
    return {
        "host": {
            "mode": "live",
            "desk": DESK,
            "journal": "",
            "log_dir": str(tmp_path / "log"),
            "plugin_dirs": [],
            "strategy_dirs": [str(PROJECT_ROOT / "strategies")],
            "hot_reload": False,
        },
        "venues": [
            {
                "name": "bybit",
                "kind": "bybit",  # pybit, whose URLs are module globals
                "endpoint": a.urls.http,
                "market": "bybit-linear",
                "symbols": [SYMBOL],
                "request_timeout_ms": 1000,
            },
            {
                "name": "other",
                "kind": "ccxt",  # ccxt's bybit class, URLs per instance
                "exchange": "bybit",
                "endpoint": b.urls.http,
                "market": "bybit-linear",
                "symbols": [SYMBOL],
            },
        ],
        "strategies": [
            {
                "name": MM,
                "venue": "bybit",
                "symbol": SYMBOL,
                # Wide: nothing fills; a low threshold: it requotes (amends) often.
                "params": {
                    "spread_ticks": 400,
                    "order_size_quote": 1000,
                    "requote_threshold_bps": 0.05,
                },
            },
            {
                "name": ARB,
                "venue": "other",
                "symbol": SYMBOL,
                "watch": [f"bybit:{SYMBOL}"],
                # No fees: any crossing of the two synthetic books is taken.
                "params": {
                    "taker_fee_bps": {"bybit": 0, "other": 0},
                    "min_edge_bps": 0,
                    "max_order_quote": 300,
                    "max_book_age_ms": 2000,
                    "max_net_exposure_quote": 1000,
                    "cooldown_ms": 200,
                },
            },
        ],
        "risk": {
            "kill_file": "",
            "stale_book_ms": STALE_BOOK_MS,
            "breaker_cooldown_s": 0.3,
            "max_position_asset_quote": 1_000_000,
            "max_position_quote": 1_000_000,
            "max_disconnects": 100,
        },
    }


class TwoVenueHost:
    """``run_live`` on a thread of the test, with every order action recorded
    with its origin: the Decision of a strategy, or a cancel-all (of one
    strategy, or of all at a stop)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.runtime = build_host(config)
        self.engine = self.runtime.engine
        self.sent: list[tuple[str, str | None, OrderAction]] = []  # venue, origin, action
        self._lock = threading.Lock()
        self._origin: str | None = None
        self._instrument()
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-host", daemon=True)

    def _instrument(self) -> None:
        engine = self.engine
        apply_decision, cancel_all = engine.apply_decision, engine.cancel_all

        def deciding(slot: Any, decision: Any) -> None:
            self._origin = slot.strategy_id
            try:
                apply_decision(slot, decision)
            finally:
                self._origin = None

        def cancelling(strategy_id: str | None = None) -> int:
            self._origin = strategy_id
            try:
                return cancel_all(strategy_id)
            finally:
                self._origin = None

        engine.apply_decision = deciding  # type: ignore[method-assign]
        engine.cancel_all = cancelling  # type: ignore[method-assign]
        for name, venue in engine.venues.items():
            submit = venue.submit

            def recording(actions: Any, name: str = name, submit: Any = submit) -> None:
                with self._lock:
                    self.sent += [(name, self._origin, action) for action in actions]
                submit(actions)

            venue.submit = recording  # type: ignore[method-assign]
        # ccxt polls for fills every second by default; faster keeps the legs short.
        engine.venues["other"].poll_interval_s = 0.2  # type: ignore[attr-defined]

    def _run(self) -> None:
        try:
            run_live(self.engine, self.runtime.scheduler, should_stop=self._stop.is_set)
        except BaseException as error:  # reported by stop()
            self.error = error

    def start(self) -> TwoVenueHost:
        self._thread.start()
        return self

    def on_engine(self, function: Callable[[], T], timeout_s: float = 5.0) -> T:
        done: Future[T] = Future()

        def call() -> None:
            try:
                done.set_result(function())
            except BaseException as error:
                done.set_exception(error)

        self.engine.call_soon_threadsafe(call)
        return done.result(timeout_s)

    def actions(self) -> list[tuple[str, str | None, OrderAction]]:
        with self._lock:
            return list(self.sent)

    def pause_reasons(self) -> dict[str, set[str]]:
        return self.on_engine(
            lambda: {sid: set(slot.pause_reasons) for sid, slot in self.engine.slots.items()}
        )

    def live_orders(self, strategy_id: str) -> list[str]:
        return self.on_engine(
            lambda: sorted(
                o.order_link_id
                for o in self.engine.oms.live_orders(strategy_id)
                if o.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
            )
        )

    def decisions(self, strategy_id: str) -> int:
        return self.on_engine(lambda: self.engine.slots[strategy_id].decisions)

    def book_age_ms(self, venue: str) -> float:
        def age() -> float:
            book = self.engine.instruments[(venue, SYMBOL)].book
            if not book.is_valid:
                return float("inf")
            return (self.engine.clock.now_ns() - book.last_ts_local_ns) / 1e6

        return self.on_engine(age)

    def stop(self, timeout_s: float = 20.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
        self.runtime.close()
        assert not self._thread.is_alive(), "run_live did not return"
        if self.error is not None:
            raise self.error


@pytest.fixture
def two_venue_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_API_KEY", KEYS_A[0])
    monkeypatch.setenv("BYBIT_API_SECRET", KEYS_A[1])
    monkeypatch.setenv("MMHOST_OTHER_API_KEY", KEYS_B[0])
    monkeypatch.setenv("MMHOST_OTHER_API_SECRET", KEYS_B[1])


def test_live_market_maker_and_arbitrage_on_two_emulators_do_not_interfere(
    emulators: tuple[EmulatorServer, EmulatorServer], tmp_path: Path, two_venue_env: None
) -> None:
    a, b = emulators
    host = TwoVenueHost(two_venue_config(a, b, tmp_path)).start()
    try:
        engine = host.engine
        # Both books live, each from its own emulator (pybit's module-level
        # URLs point at A; ccxt's per-instance URLs at B).
        wait_for(
            lambda: host.book_age_ms("bybit") < 500 and host.book_age_ms("other") < 500,
            what="both books live",
        )
        # The market maker quotes on A; the arbitrage takes crossings on both.
        wait_for(lambda: len(ids := host.live_orders(MM)) == 2 and ids, what="MM quotes")
        # The MM requotes as the market moves: compare once both sides agree.
        wait_for(
            lambda: sorted(host.live_orders(MM)) == open_at(a),
            what="the MM's orders resting at A",
        )
        arbitrage = engine.slots[ARB].strategy
        # (A pair, or a leg and its unwind: both books move fast at 4x.)
        wait_for(
            lambda: host.on_engine(
                lambda: {f.venue for f in engine.fills if f.strategy == ARB} == {"bybit", "other"}
            ),
            timeout_s=15,
            what="arbitrage fills on both venues",
        )
        assert host.on_engine(lambda: arbitrage.counters["opportunities_taken"]) >= 1

        def touches() -> dict[str, tuple[int, int]]:
            return host.on_engine(
                lambda: {
                    venue: (state.book.best_bid_ticks, state.book.best_ask_ticks)
                    for (venue, _), state in engine.instruments.items()
                }
            )

        # Each book follows its own emulator (within the moves of one round trip).
        seen, truth = touches(), {"bybit": emulator_touch(a), "other": emulator_touch(b)}
        for venue in ("bybit", "other"):
            assert abs(seen[venue][0] - truth[venue][0]) <= 20, (venue, seen, truth)

        # A stale feed on B: the stale-book breaker pauses the arbitrage (it
        # trades on B) and not the market maker (it neither trades nor watches B).
        decisions_before = host.decisions(MM)
        b.faults.stale("*")
        wait_for(
            lambda: f"breaker stale other:{SYMBOL}" in host.pause_reasons()[ARB],
            timeout_s=STALE_BOOK_MS / 1000 + 3,
            what="the stale-book breaker on B",
        )
        assert host.pause_reasons()[MM] == set()
        wait_for(lambda: host.decisions(MM) > decisions_before + 2, what="MM still deciding")
        wait_for(
            lambda: len(host.live_orders(MM)) == 2 and len(open_at(a)) == 2,
            what="the MM's two quotes up at A",
        )
        b.faults.stale("*", enabled=False)
        # The frames B held back are a gap in its deltas: the book goes crossed,
        # the venue resubscribes, and the arbitrage resumes on a fresh snapshot.
        wait_for(lambda: host.pause_reasons()[ARB] == set(), what="the arbitrage resumed")

        # A stale feed on A: both pause (one trades there, the other watches it).
        a.faults.stale("*")
        wait_for(
            lambda: all(
                f"breaker stale bybit:{SYMBOL}" in reasons
                for reasons in host.pause_reasons().values()
            ),
            timeout_s=STALE_BOOK_MS / 1000 + 3,
            what="the stale-book breaker on A",
        )
        wait_for(lambda: not open_at(a), what="the MM's quotes taken down")
        a.faults.stale("*", enabled=False)
        wait_for(
            lambda: all(not reasons for reasons in host.pause_reasons().values()),
            timeout_s=15,
            what="both resumed",
        )
        wait_for(lambda: len(open_at(a)) == 2, what="the MM quoting again")

    finally:
        host.stop()

    # After the stop (the venues settled, the engine's thread is gone): the
    # per-asset view spans both venues. Each venue's position is its emulator's,
    # the BTC total is their sum, the strategies' legs add up.
    engine = host.engine
    view: dict[str, Any] = {
        "bybit": engine.instruments[("bybit", SYMBOL)].position.size_lots,
        "other": engine.instruments[("other", SYMBOL)].position.size_lots,
        "btc": sum(
            state.position.size_lots
            for state in engine.instruments.values()
            if state.instrument.base == "BTC"
        ),
        "legs": {key: p.size_lots for key, p in engine.leg_positions.items()},
        # What the max_position_asset_quote rule sees.
        "asset_quote": engine.plugins.pm.get_plugin("builtin-risk")._asset_position_quote("BTC"),
        "mids": {venue: state.book.mid_ticks() for (venue, _), state in engine.instruments.items()},
    }
    assert view["bybit"] == emulator_position_lots(a)
    assert view["other"] == emulator_position_lots(b)
    # The arbitrage traded on B (its position there may have come back to zero).
    assert any(fill.venue == "other" for fill in engine.fills), "no fill on B: proves nothing"
    assert view["btc"] == view["bybit"] + view["other"]
    legs = view["legs"]
    assert legs[(MM, "bybit", SYMBOL)] == 0  # quoted wide: never filled
    assert legs[(ARB, "bybit", SYMBOL)] == view["bybit"]
    assert legs[(ARB, "other", SYMBOL)] == view["other"]
    tick = Decimal("0.10")
    expected_quote = sum(
        Decimal(view[venue]) * Decimal("0.001") * Decimal(view["mids"][venue]) * tick
        for venue in ("bybit", "other")
    )
    assert abs(view["asset_quote"] - expected_quote) < Decimal("0.01")

    # No interference: every amend or cancel went to the venue of its order and,
    # when a strategy's decision or cancel-all sent it, to that strategy's order.
    oms = host.engine.oms.orders
    touched: dict[str, set[str]] = {"bybit": set(), "other": set()}
    for venue, origin, action in host.actions():
        order = oms[action.order_link_id]
        assert order.venue == venue, (venue, action)
        if isinstance(action, CancelOrder | AmendOrder):
            touched[venue].add(action.order_link_id)
            if origin is not None:
                assert order.strategy_id == origin, (origin, order)
    # Each emulator holds only the orders of the venue it serves, and every
    # cancel it took from us is one of the cancels above.
    for venue, emulator in (("bybit", a), ("other", b)):
        records = emulator_orders(emulator)
        assert records
        assert {oms[link_id].venue for link_id in records} == {venue}
        cancelled_by_us = {
            link_id for link_id, (_, kind) in records.items() if kind == "CancelByUser"
        }
        assert cancelled_by_us <= touched[venue]
        assert all(status in OrderStatus.TERMINAL for status, _ in records.values())
    strategies_at_a = {oms[link_id].strategy_id for link_id in emulator_orders(a)}
    strategies_at_b = {oms[link_id].strategy_id for link_id in emulator_orders(b)}
    assert strategies_at_a == {MM, ARB} and strategies_at_b == {ARB}
    # The MM's orders were cancelled only by the MM's own decisions and
    # cancel-alls (its pause on A's stale book, the stop), never by the arbitrage's.
    mm_cancellers = {
        origin
        for _, origin, action in host.actions()
        if isinstance(action, CancelOrder) and oms[action.order_link_id].strategy_id == MM
    }
    assert mm_cancellers <= {MM, None} and MM in mm_cancellers


def test_every_example_config_parses() -> None:
    examples = sorted((PROJECT_ROOT / "docs" / "examples").glob("*.toml"))
    assert {path.name for path in examples} >= {
        "arbitrage.toml",
        "backtest.toml",
        "bybit-testnet.toml",
    }
    for path in examples:
        config = load_config(path)
        assert config.venues and config.strategies, path.name
