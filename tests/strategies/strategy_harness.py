"""Shared helpers of the strategy tests: the bundled strategies, hand-built
contexts for formula-level tests, and guarded runs on the bundled recording.

A guarded run wraps every ``on_*`` handler of the strategy so that, while the
strategy's own code runs, opening a socket or a file or reading the wall
clock raises (and is recorded, in case a strategy swallows the exception).
Runs are cached per session: the conformance, trading and per-strategy tests
share them, which keeps the whole folder within its time budget.
"""

from __future__ import annotations

import builtins
import functools
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from host import Level, Side, SignalBoard
from host.clock import SimClock
from host.instruments import lookup
from host.plugins import build_plugin_host
from host.portfolio import Position
from host.runtime import Runtime
from host.strategy import Context, Strategy
from host.testing import PROJECT_ROOT, build_host, config_dict, replay

STRATEGY_DIR = PROJECT_ROOT / "strategies"
PLUGIN_DIR = PROJECT_ROOT / "plugins"
INSTRUMENT = lookup("binance-usdm", "BTCUSDT")

# Parameters for strategies whose defaults cannot run as they are; every other
# strategy in strategies/ runs with its defaults.
REQUIRED_PARAMS: dict[str, dict[str, Any]] = {
    "static_spread": {"spread_ticks": 1, "order_size_quote": 1000, "take_profit_bps": 1.0},
}


# The single-venue strategies: each must trade the bundled recording with its
# defaults. Cross-venue strategies need a second venue to trade; their trading
# is tested in their own files (test_cross_*.py) on two-venue data, and here
# they pass every other conformance check.
CROSS_VENUE_STRATEGIES = ("cross_arbitrage", "cross_mm")
LIBRARY_STRATEGIES = (
    "static_spread",
    "dynamic_spread",
    "avellaneda_stoikov",
    "glft",
    "ladder",
    "scalper",
)


def conformance_params(name: str) -> dict[str, Any]:
    """Parameters to run ``name`` on the bundled recording: its defaults, plus any
    entry in REQUIRED_PARAMS (a new strategy whose defaults do not validate fails
    here until its author adds one)."""
    params = REQUIRED_PARAMS.get(name, {})
    strategy_classes()[name].Params.model_validate(params)
    return params


@functools.cache
def strategy_classes() -> dict[str, type[Strategy]]:
    """Every strategy defined in strategies/, by name (loaded once per session)."""
    return build_plugin_host([], [STRATEGY_DIR], entry_points=False).strategies()


STRATEGY_NAMES = sorted(strategy_classes())


# -- hand-built contexts ---------------------------------------------------------------------------


class FakeBook:
    """The part of ``OrderBook`` strategies read, set by hand."""

    def __init__(
        self,
        best_bid_ticks: int,
        best_ask_ticks: int,
        *,
        bids: list[tuple[int, int]] | None = None,
        asks: list[tuple[int, int]] | None = None,
    ) -> None:
        self.bids = bids or [(best_bid_ticks, 1000)]
        self.asks = asks or [(best_ask_ticks, 1000)]
        self.best_bid_ticks = best_bid_ticks
        self.best_ask_ticks = best_ask_ticks
        self.best_bid_size_lots = self.bids[0][1]
        self.best_ask_size_lots = self.asks[0][1]

    def mid_ticks(self) -> float | None:
        return (self.best_bid_ticks + self.best_ask_ticks) / 2

    def microprice_ticks(self) -> float | None:
        bid_size, ask_size = self.best_bid_size_lots, self.best_ask_size_lots
        return (self.best_bid_ticks * ask_size + self.best_ask_ticks * bid_size) / (
            bid_size + ask_size
        )

    def levels(self, side: Side, depth: int) -> list[Level]:
        rows = self.bids if side is Side.BUY else self.asks
        return [Level(price, size) for price, size in rows[:depth]]

    def depth_within_bps(self, side: Side, bps: float) -> int:
        if side is Side.BUY:
            floor_ticks = self.best_bid_ticks * (1 - bps / 10_000)
            return sum(size for price, size in self.bids if price >= floor_ticks)
        ceiling_ticks = self.best_ask_ticks * (1 + bps / 10_000)
        return sum(size for price, size in self.asks if price <= ceiling_ticks)


@dataclass
class Harness:
    """A strategy on a hand-built context."""

    strategy: Any
    book: FakeBook
    clock: SimClock
    signals: SignalBoard
    position: Position
    open_orders: list[Any] = field(default_factory=list)

    def set_position(self, size_lots: int, avg_price_ticks: int) -> None:
        self.position.size_lots = size_lots
        self.position.open_cost = type(self.position.open_cost)(size_lots * avg_price_ticks)


def make_harness(
    name: str, book: FakeBook, now_ns: int = 1_000_000_000_000, **params: Any
) -> Harness:
    """Instantiate strategy ``name`` with ``params`` on a context around ``book``."""
    cls = strategy_classes()[name]
    clock = SimClock(now_ns)
    signals = SignalBoard()
    position = Position(INSTRUMENT)
    open_orders: list[Any] = []
    ctx = Context(
        venue="sim",
        symbol="BTCUSDT",
        instrument=INSTRUMENT,
        book=book,  # type: ignore[arg-type]
        signals=signals,
        clock=clock,
        position=position,
        log=None,
        strategy_id=name,
        open_orders=lambda _strategy_id: open_orders,
    )
    strategy = cls(ctx, cls.Params.model_validate(params))
    return Harness(strategy, book, clock, signals, position, open_orders)


# -- guarded runs on the bundled recording ------------------------------------------------------


class ForbiddenCall(AssertionError):
    """A strategy handler touched a socket, a file or the wall clock."""


HANDLERS = (
    "on_start",
    "on_book",
    "on_trade",
    "on_fill",
    "on_order_update",
    "on_timer",
    "on_stop",
    "on_save",
    "on_load",
)
FORBIDDEN = (
    (socket, "socket"),
    (socket, "create_connection"),
    (builtins, "open"),
    (time, "time"),
    (time, "time_ns"),
    (time, "sleep"),
)


@dataclass
class GuardedRun:
    runtime: Runtime
    violations: list[str]

    @property
    def strategy(self) -> Any:
        (slot,) = self.runtime.engine.slots.values()
        return slot.strategy

    def fill_record(self) -> list[tuple[Any, ...]]:
        """Fills without the per-run order ids: what two runs must agree on."""
        orders = self.runtime.engine.oms.orders
        return [
            (
                orders[fill.order_link_id].tag,
                int(fill.side),
                fill.price_ticks,
                fill.size_lots,
                str(fill.fee),
                fill.is_maker,
                fill.ts_ns,
            )
            for fill in self.runtime.engine.fills
        ]


def _guard(handler: Callable[..., Any], violations: list[str]) -> Callable[..., Any]:
    def forbidden(what: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            violations.append(what)
            raise ForbiddenCall(f"a strategy handler called {what}")

        return refuse

    def guarded(*args: Any, **kwargs: Any) -> Any:
        saved = [(owner, name, getattr(owner, name)) for owner, name in FORBIDDEN]
        for owner, name in FORBIDDEN:
            setattr(owner, name, forbidden(f"{owner.__name__}.{name}"))
        try:
            return handler(*args, **kwargs)
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)

    guarded.__name__ = handler.__name__
    return guarded


def guarded_run(name: str, params: dict[str, Any] | None = None) -> GuardedRun:
    """Replay the whole bundled recording with ``name``, analyzers loaded, handlers guarded."""
    config = config_dict()
    config["strategies"][0].update(
        name=name, params=params if params is not None else conformance_params(name)
    )
    runtime = build_host(config, plugin_dirs=[PLUGIN_DIR])
    (slot,) = runtime.engine.slots.values()
    violations: list[str] = []
    for handler_name in HANDLERS:
        setattr(
            slot.strategy, handler_name, _guard(getattr(slot.strategy, handler_name), violations)
        )
    replay(runtime)
    return GuardedRun(runtime, violations)


_RUNS: dict[tuple[str, int], GuardedRun] = {}


@pytest.fixture(scope="session")
def bundled_run() -> Iterator[Callable[[str, int], GuardedRun]]:
    """``bundled_run(name, attempt)``: the cached guarded run of ``name`` with its
    default parameters; attempt 0 and 1 are two independent runs."""

    def get(name: str, attempt: int = 0) -> GuardedRun:
        key = (name, attempt)
        if key not in _RUNS:
            _RUNS[key] = guarded_run(name)
        return _RUNS[key]

    yield get
