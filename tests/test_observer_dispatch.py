"""The engine calls market observers (``mmhost_book_updated``, ``mmhost_trade``)
directly when pluggy would only call them: same calls, same order, and pluggy
again as soon as a wrapper or tracing needs to see them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from host import hookimpl
from host.testing import build_host, config_dict, replay

DURATION_S = 5.0


class FullObserver:
    """Takes every argument of both hooks."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    @hookimpl
    def mmhost_book_updated(self, book: Any, message: Any, ctx: Any) -> None:
        assert book.symbol == message.symbol == ctx.symbol
        self.log.append(("full-book", message.ts_local_ns))

    @hookimpl
    def mmhost_trade(self, trade: Any, ctx: Any) -> None:
        assert trade.symbol == ctx.symbol
        self.log.append(("full-trade", trade.ts_local_ns))


class PartialObserver:
    """Takes some arguments, in another order: pluggy passes them by name."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    @hookimpl
    def mmhost_book_updated(self, ctx: Any, message: Any) -> None:
        assert message.symbol == ctx.symbol
        self.log.append(("partial-book", message.ts_local_ns))

    @hookimpl
    def mmhost_trade(self, trade: Any) -> None:
        self.log.append(("partial-trade", trade.ts_local_ns))


class Wrapper:
    """A hook wrapper: only pluggy can run it, so the engine must use pluggy."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    @hookimpl(wrapper=True)
    def mmhost_book_updated(self, message: Any) -> Iterator[None]:
        self.log.append(("wrapper-before", message.ts_local_ns))
        result = yield
        self.log.append(("wrapper-after", message.ts_local_ns))
        return result


def _run(*plugin_classes: type) -> tuple[list[tuple[str, Any]], Any]:
    log: list[tuple[str, Any]] = []
    runtime = build_host(config_dict())
    for index, plugin_class in enumerate(plugin_classes):
        runtime.plugins.pm.register(plugin_class(log), name=f"observer-{index}")
    replay(runtime, duration_s=DURATION_S)
    return log, runtime


def test_direct_calls_match_what_pluggy_would_call() -> None:
    direct_log, runtime = _run(FullObserver, PartialObserver)
    assert runtime.engine._book_observers is not None  # the direct path was taken
    # The same observers through pluggy (a tracing hook makes the engine use it).
    traced_log: list[tuple[str, Any]] = []
    traced = build_host(config_dict())
    traced.plugins.pm.register(FullObserver(traced_log), name="observer-0")
    traced.plugins.pm.register(PartialObserver(traced_log), name="observer-1")
    undo = traced.plugins.pm.add_hookcall_monitoring(lambda *a: None, lambda *a: None)
    try:
        replay(traced, duration_s=DURATION_S)
    finally:
        undo()
    assert direct_log == traced_log
    kinds = {kind for kind, _ in direct_log}
    assert kinds == {"full-book", "full-trade", "partial-book", "partial-trade"}
    # pluggy's order: the last registered implementation runs first.
    first_book = [kind for kind, _ in direct_log if kind.endswith("book")][:2]
    assert first_book == ["partial-book", "full-book"]


def test_a_wrapper_sends_observers_through_pluggy() -> None:
    log, runtime = _run(FullObserver, Wrapper)
    assert runtime.engine._book_observers is None
    book_calls = [kind for kind, _ in log if "book" in kind or "wrapper" in kind]
    assert book_calls[:3] == ["wrapper-before", "full-book", "wrapper-after"]


class LateRegistrar:
    """Registers a FullObserver after the tenth book message, mid-run."""

    def __init__(self, log: list[tuple[str, Any]], pm: Any) -> None:
        self.log = log
        self.pm = pm
        self.seen = 0

    @hookimpl
    def mmhost_book_updated(self, message: Any) -> None:
        self.seen += 1
        if self.seen == 10:
            self.pm.register(FullObserver(self.log), name="late")


def test_an_observer_registered_mid_run_is_called_from_then_on() -> None:
    log: list[tuple[str, Any]] = []
    runtime = build_host(config_dict())
    registrar = LateRegistrar(log, runtime.plugins.pm)
    runtime.plugins.pm.register(registrar, name="registrar")
    replay(runtime, duration_s=DURATION_S)
    books = [entry for entry in log if entry[0] == "full-book"]
    assert 0 < len(books) <= registrar.seen - 10
    assert any(entry[0] == "full-trade" for entry in log)
