"""Every hook the host offers: the public plugin API.

A plugin is a module or object with functions marked ``@hookimpl`` whose names
match the specs below. Implementations take only the arguments they use.
Notifications (``mmhost_book_updated``) return None; requests
(``mmhost_check_decision``) return a value.

Hot-path rule: market observers are called once per applied message, never
once per price level; a pluggy call costs about a microsecond.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from host.book import OrderBook
    from host.engine import Engine
    from host.models import BookMessage, Decision, Fill, OrderUpdate, Trade
    from host.risk import RiskEvent, Verdict
    from host.strategy import Context, Strategy

PROJECT_NAME = "mmhost"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- registration -----------------------------------------------------------


@hookspec
def mmhost_register_strategies() -> list[type[Strategy]]:
    """Offer strategy classes to the host, found by their ``name`` attribute.

    Called once at start-up and again after a plugin is reloaded.

    :returns: a list of ``host.Strategy`` subclasses; an empty list or None
        offers none.
    """


@hookspec
def mmhost_register_venues() -> dict[str, Any]:
    """Offer venue factories by kind (``"sim"``, ``"bybit"``, ``"ccxt"``).

    A factory is called as ``factory(config, instruments, scheduler, sink)``
    and returns an object with the ``host.venues.base.Venue`` interface.

    :returns: a mapping of venue kind to factory; None offers none. When two
        plugins offer the same kind, the one registered last wins, so a user
        plugin can replace a built-in venue.
    """


@hookspec
def mmhost_register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add sub-commands to the ``mmhost`` command line.

    Each command is an ``argparse`` parser added with
    ``subparsers.add_parser(name, help=...)`` whose ``handler`` default
    (``parser.set_defaults(handler=fn)``) takes the parsed arguments and
    returns an exit code (0 ok, 1 failure, 2 usage or config error).

    :param subparsers: the sub-parser action of the ``mmhost`` parser.
    :returns: None.
    """


# -- life cycle ----------------------------------------------------------------


@hookspec(historic=True)
def mmhost_startup(engine: Engine) -> None:
    """The engine is built and about to process its first event.

    Historic: a plugin registered later (a hot reload, an entry point loaded
    late) is called on registration with the same engine.

    :param engine: the running engine; read its books, positions and config.
    :returns: None.
    """


@hookspec
def mmhost_shutdown(engine: Engine) -> None:
    """The engine has stopped quoting and is about to exit.

    :param engine: the engine that is stopping.
    :returns: None.
    """


@hookspec
def mmhost_plugin_reloaded(name: str, path: str, content_hash: str, duration_ms: float) -> None:
    """A plugin or strategy file was swapped in while the host kept running.

    Called after the new version took over (its ``on_start`` ran for a
    strategy); not called for a reload that failed and was rolled back.

    :param name: the plugin's name (the file's stem).
    :param path: the file that was reloaded.
    :param content_hash: SHA-256 of the new file's bytes.
    :param duration_ms: time from the detected change to the new version running.
    :returns: None.
    """


# -- market observers (hot path) ---------------------------------------------------


@hookspec
def mmhost_book_updated(book: OrderBook, message: BookMessage, ctx: Context) -> None:
    """A book message was applied; ``message`` lists the levels it changed.

    Called once per applied message (never per level) before strategies see
    the book. Analyzers write what they compute into ``ctx.signals``.
    Observers must not raise: an exception stops later observers.

    :param book: the book after the message was applied.
    :param message: the applied message, its levels on the integer grid.
    :param ctx: the instrument's context: signal board, clock, position.
    :returns: None.
    Hot path: keep it to arithmetic; no logging, no allocation you can avoid.
    """


@hookspec
def mmhost_trade(trade: Trade, ctx: Context) -> None:
    """A public trade printed on an instrument the host follows.

    :param trade: the trade; ``aggressor`` is the taker's side.
    :param ctx: the instrument's context.
    :returns: None.
    Hot path, like ``mmhost_book_updated``.
    """


# -- decision path ------------------------------------------------------------


@hookspec(firstresult=True)
def mmhost_adjust_decision(decision: Decision, ctx: Context, strategy: Strategy) -> Decision | None:
    """Change a strategy's Decision before risk sees it (e.g. inventory skew).

    Implement as a wrapper (``@hookimpl(wrapper=True)``) to see and change
    what inner adjusters return; a plain implementation returning a Decision
    ends the chain (firstresult).

    :param decision: what the strategy asked for.
    :param ctx: the strategy's context (position, book, signals).
    :param strategy: the strategy that decided.
    :returns: the Decision to use instead, or None to leave it unchanged.
    """


@hookspec
def mmhost_check_decision(decision: Decision, ctx: Context, strategy: Strategy) -> Verdict | None:
    """Judge a Decision before the OMS turns it into orders; once per Decision.

    :param decision: the adjusted Decision.
    :param ctx: the strategy's context.
    :param strategy: the strategy that decided.
    :returns: a ``host.risk.Verdict`` (veto, or shrink to a size), or None to
        pass. Any veto wins; several shrinks apply the smallest size. An
        implementation that raises counts as a veto.
    """


# -- events -------------------------------------------------------------------------


@hookspec
def mmhost_order_updated(update: OrderUpdate) -> None:
    """A venue acknowledged, rejected, cancelled or filled one of our orders.

    :param update: the venue's news, rejects with the venue's code.
    :returns: None.
    """


@hookspec
def mmhost_fill(fill: Fill) -> None:
    """One of our orders traded (once per execution id, duplicates removed).

    :param fill: the execution, with fee and strategy.
    :returns: None.
    """


@hookspec
def mmhost_risk_event(event: RiskEvent) -> None:
    """A risk rule vetoed a decision, or a breaker tripped or reset.

    :param event: what happened, the rule, and the reason.
    :returns: None.
    """


@hookspec
def mmhost_collect_metrics(engine: Engine) -> dict[str, float] | None:
    """Contribute named numbers to the metrics snapshot and the run summary.

    :param engine: the running engine.
    :returns: a mapping of metric name (with unit) to value, or None.
    """
