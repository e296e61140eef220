"""Every hook: documented, tested, and doing what its docstring says.

The meta-tests fail when a hookspec lacks a docstring, a ``test_hook_<name>``
test, or an entry in docs/plugins.md (datasette does the same).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest

from host import Decision, Quote, hookimpl
from host.cli import build_parser
from host.docgen import hook_names
from host.hookspecs import hookspec  # noqa: F401  (the marker's home)
from host.plugins import PluginHost
from host.risk import Verdict
from host.testing import PROJECT_ROOT, build_host, config_dict, replay

TESTS_DIR = Path(__file__).parent


def all_test_names() -> set[str]:
    names: set[str] = set()
    for path in TESTS_DIR.rglob("test_*.py"):
        names.update(re.findall(r"^def (test_\w+)", path.read_text(), flags=re.MULTILINE))
    return names


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_has_a_docstring_with_returns(name: str) -> None:
    import host.hookspecs as specs

    doc = getattr(specs, name).__doc__ or ""
    assert doc.strip(), f"{name} has no docstring"
    assert ":returns:" in doc, f"{name}'s docstring does not say what it returns"


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_has_a_test(name: str) -> None:
    assert f"test_hook_{name}" in all_test_names(), f"no test_hook_{name} in tests/"


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_is_documented(name: str) -> None:
    assert f"## `{name}`" in (PROJECT_ROOT / "docs" / "plugins.md").read_text()


class Recorder:
    """A plugin that records what the observer hooks see."""

    def __init__(self) -> None:
        self.book_calls: list[Any] = []
        self.trades = 0
        self.updates: list[Any] = []
        self.fills: list[Any] = []
        self.risk_events: list[Any] = []
        self.started: list[Any] = []
        self.stopped: list[Any] = []

    @hookimpl
    def mmhost_book_updated(self, book, message) -> None:
        self.book_calls.append((book.is_valid, len(message.bids) + len(message.asks)))

    @hookimpl
    def mmhost_trade(self, trade) -> None:
        self.trades += 1

    @hookimpl
    def mmhost_order_updated(self, update) -> None:
        self.updates.append(update)

    @hookimpl
    def mmhost_fill(self, fill) -> None:
        self.fills.append(fill)

    @hookimpl
    def mmhost_risk_event(self, event) -> None:
        self.risk_events.append(event)

    @hookimpl
    def mmhost_startup(self, engine) -> None:
        self.started.append(engine)

    @hookimpl
    def mmhost_shutdown(self, engine) -> None:
        self.stopped.append(engine.running)


@pytest.fixture(scope="module")
def recorded() -> tuple[Recorder, Any]:
    recorder = Recorder()
    runtime = replay(build_host(config_dict(), plugins=[recorder]), duration_s=60)
    return recorder, runtime


def test_hook_mmhost_book_updated(recorded: tuple[Recorder, Any]) -> None:
    recorder, runtime = recorded
    stats = runtime.engine.stats
    applied = stats.book_messages - stats.book_rejected
    assert len(recorder.book_calls) == applied > 100  # once per applied message, never per level
    assert (
        sum(levels for _, levels in recorder.book_calls) > applied
    )  # messages carry several levels


def test_hook_mmhost_trade(recorded: tuple[Recorder, Any]) -> None:
    recorder, runtime = recorded
    assert recorder.trades == runtime.engine.stats.trades > 0


def test_hook_mmhost_order_updated(recorded: tuple[Recorder, Any]) -> None:
    recorder, runtime = recorded
    sent = set(runtime.engine.oms.orders)
    assert recorder.updates
    assert {u.order_link_id for u in recorder.updates} <= sent
    assert any(u.status == "New" for u in recorder.updates)


def test_hook_mmhost_fill(recorded: tuple[Recorder, Any]) -> None:
    recorder, runtime = recorded
    assert recorder.fills == runtime.engine.fills
    assert recorder.fills and all(f.strategy == "static_spread" for f in recorder.fills)


def test_hook_mmhost_startup(recorded: tuple[Recorder, Any]) -> None:
    recorder, runtime = recorded
    assert recorder.started == [runtime.engine]
    # Historic: a plugin registered after start-up is called at once.
    late = Recorder()
    runtime.plugins.pm.register(late, name="late")
    assert late.started == [runtime.engine]


def test_hook_mmhost_shutdown(recorded: tuple[Recorder, Any]) -> None:
    recorder, runtime = recorded
    assert recorder.stopped == [False]  # called once the engine stopped quoting
    assert all(order.status != "New" for order in runtime.engine.oms.orders.values())


class VetoAsks:
    @hookimpl
    def mmhost_check_decision(self, decision: Decision) -> Verdict | None:
        if any(q.tag == "ask" for q in decision.quotes):
            return Verdict("no_asks", "test rule refuses asks", tags=frozenset({"ask"}))
        return None


class ShrinkTo:
    def __init__(self, size_lots: int) -> None:
        self.size_lots = size_lots

    @hookimpl
    def mmhost_check_decision(self) -> Verdict:
        return Verdict("shrink", "test shrink", veto=False, max_size_lots=self.size_lots)


class Raises:
    @hookimpl
    def mmhost_check_decision(self) -> Verdict:
        raise RuntimeError("rule is broken")


def test_hook_mmhost_check_decision() -> None:
    recorder = Recorder()
    runtime = replay(build_host(config_dict(), plugins=[VetoAsks(), recorder]), duration_s=20)
    sides = {
        order.side for order in runtime.engine.oms.orders.values() if order.tag in ("bid", "ask")
    }
    assert [int(s) for s in sides] == [1]  # only bids went out
    assert recorder.risk_events and recorder.risk_events[0].rule == "no_asks"

    # Several shrinks: the smallest wins.
    runtime = replay(build_host(config_dict(), plugins=[ShrinkTo(3), ShrinkTo(2)]), duration_s=20)
    sizes = {order.size_lots for order in runtime.engine.oms.orders.values()}
    assert sizes == {2}

    # A rule that raises vetoes everything.
    runtime = replay(build_host(config_dict(), plugins=[Raises()]), duration_s=20)
    assert runtime.engine.oms.orders_sent == 0
    assert runtime.engine.stats.risk_vetoes > 0


def test_hook_mmhost_risk_event() -> None:
    recorder = Recorder()
    config = config_dict(risk={"max_order_quote": 10})  # every 1000 USDT quote is too big
    runtime = replay(build_host(config, plugins=[recorder]), duration_s=10)
    assert runtime.engine.oms.orders_sent == 0
    assert recorder.risk_events
    assert {e.rule for e in recorder.risk_events} == {"max_order"}
    assert all(e.kind == "veto" and e.strategy_id == "static_spread" for e in recorder.risk_events)


class WidenByTicks:
    """An adjuster written as a wrapper: it changes what inner adjusters return."""

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks

    @hookimpl(wrapper=True)
    def mmhost_adjust_decision(self, decision: Decision):
        inner = yield
        base = inner if inner is not None else decision
        return Decision(
            quotes=tuple(
                Quote(
                    q.side,
                    q.price_ticks - int(q.side) * self.ticks,
                    q.size_lots,
                    q.tag,
                    q.post_only,
                )
                for q in base.quotes
            ),
            takes=base.takes,
        )


def test_hook_mmhost_adjust_decision() -> None:
    plain = replay(build_host(config_dict()), duration_s=5)
    widened = replay(build_host(config_dict(), plugins=[WidenByTicks(7)]), duration_s=5)
    first_plain = {o.tag: o.price_ticks for o in list(plain.engine.oms.orders.values())[:2]}
    first_wide = {o.tag: o.price_ticks for o in list(widened.engine.oms.orders.values())[:2]}
    assert first_wide["bid"] == first_plain["bid"] - 7
    assert first_wide["ask"] == first_plain["ask"] + 7


def test_hook_mmhost_collect_metrics() -> None:
    class Metrics:
        @hookimpl
        def mmhost_collect_metrics(self, engine) -> dict[str, float]:
            return {"book_messages_seen": float(engine.stats.book_messages)}

    runtime = replay(build_host(config_dict(), plugins=[Metrics()]), duration_s=5)
    summary = runtime.engine.summary()
    assert summary.metrics["book_messages_seen"] == summary.book_messages > 0


def test_hook_mmhost_register_strategies() -> None:
    from host import Strategy

    class Idle(Strategy):
        name = "idle"

    class Offers:
        @hookimpl
        def mmhost_register_strategies(self):
            return [Idle]

    config = config_dict()
    config["strategies"][0]["name"] = "idle"
    config["strategies"][0]["params"] = {}
    runtime = replay(build_host(config, plugins=[Offers()]), duration_s=5)
    assert isinstance(runtime.engine.slots["idle"].strategy, Idle)
    assert runtime.engine.oms.orders_sent == 0


def test_hook_mmhost_register_venues() -> None:
    from host.venues.sim import SimVenue

    created: list[str] = []

    class CountingSim(SimVenue):
        def __init__(self, config, *args: Any) -> None:
            created.append(config.name)
            super().__init__(config, *args)

    class Offers:
        @hookimpl
        def mmhost_register_venues(self):
            return {"sim": CountingSim}

    build_host(config_dict(), plugins=[Offers()])
    assert created == ["sim"]


def test_hook_mmhost_register_commands(capsys: pytest.CaptureFixture[str]) -> None:
    class Hello:
        @hookimpl
        def mmhost_register_commands(self, subparsers: argparse._SubParsersAction) -> None:
            parser = subparsers.add_parser("hello", help="say hello")
            parser.add_argument("who")
            parser.set_defaults(handler=lambda args: print(f"hello {args.who}") or 0)

    plugins = PluginHost()
    plugins.load_builtins()
    plugins.pm.register(Hello(), name="hello")
    args = build_parser(plugins).parse_args(["hello", "desk"])
    assert args.handler(args) == 0
    assert capsys.readouterr().out == "hello desk\n"
