"""``mmhost status``, ``mmhost orders``, ``mmhost fills``: read the journal.

Registered through ``mmhost_register_commands`` like any plugin's commands.
Each opens the journal read-only (it never creates or locks the file, so it
works while a host is writing) from ``--journal PATH``, or else from
``host.journal`` of ``--config`` resolved relative to that config file.
``--json`` prints one JSON document; money is decimal strings in base units.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from host.cli import ExitCode
from host.commands import DEFAULT_CONFIG, add_json_option, config_error, print_json
from host.config import ConfigError, load_config
from host.hookspecs import hookimpl
from host.journal import Journal, JournalError, format_ts

__all__ = ["journal_path", "mmhost_register_commands"]

TABLE_LIMIT = 50


def journal_path(args: argparse.Namespace) -> Path:
    """``--journal`` as given, else ``host.journal`` relative to the config file."""
    if args.journal:
        return Path(args.journal)
    from host.runtime import resolve_path

    config = load_config(args.config)
    return resolve_path(config, config.host.journal)


def _open(args: argparse.Namespace) -> Journal | int:
    try:
        path = journal_path(args)
    except ConfigError as error:
        return config_error(error)
    try:
        return Journal(path, readonly=True)
    except JournalError as error:
        print(f"journal error: {error}", file=sys.stderr)
        return ExitCode.USAGE if not path.is_file() else ExitCode.FAILURE


def _limit(args: argparse.Namespace) -> int | None:
    """All rows for JSON, the last TABLE_LIMIT for a table, unless --limit says (0 = all)."""
    if args.limit is not None:
        return args.limit or None
    return None if args.json else TABLE_LIMIT


# -- status -------------------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    journal = _open(args)
    if not isinstance(journal, Journal):
        return journal
    try:
        with journal:
            positions = [position.to_json() for position in journal.positions()]
            counts = journal.counts()
            document: dict[str, Any] = {
                "journal": str(journal.path),
                "positions": positions,
                "orders": counts["orders"],
                "open_orders": counts["open_orders"],
                "order_events": counts["order_events"],
                "fills": counts["fills"],
                "last_fill_time": format_ts(journal.last_fill_ts_ns()),
                "risk_events": counts["risk_events"],
                "reloads": counts["reloads"],
                "failed_reloads": counts["failed_reloads"],
                "balances": journal.balances(),
                "strategy_states": [
                    {
                        "strategy": row["strategy"],
                        "version": row["version"],
                        "revision": row["revision"],
                        "saved": format_ts(row["updated_ts_ns"]),
                    }
                    for row in journal.strategy_states()
                ],
            }
            if args.check:
                problems = journal.check()
                document["check"] = {"ok": not problems, "problems": problems}
    except JournalError as error:
        print(f"journal error: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    status = ExitCode.FAILURE if args.check and document["check"]["problems"] else ExitCode.OK
    if args.json:
        print_json(document)
        return status
    _print_status(document)
    return status


def _print_status(document: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    console.print(f"[bold]journal[/bold] {document['journal']}")
    table = Table(title="positions")
    for column in ("venue", "symbol", "qty", "avg price", "mark", "realized", "unrealized", "fees"):
        table.add_column(column, justify="left" if column in ("venue", "symbol") else "right")
    for p in document["positions"]:
        table.add_row(
            p["venue"],
            p["symbol"],
            p["qty"],
            p["avg_price"] or "-",
            p["mark_price"] or "-",
            p["realized_pnl"],
            p["unrealized_pnl"],
            p["fees"],
        )
    console.print(table)
    console.print(
        f"orders {document['orders']:,} ({document['open_orders']:,} open), "
        f"fills {document['fills']:,} (last {document['last_fill_time'] or '-'}), "
        f"risk events {document['risk_events']:,}, reloads {document['reloads']:,} "
        f"({document['failed_reloads']:,} failed)"
    )
    for state in document["strategy_states"]:
        console.print(
            f"state of {state['strategy']}: version {state['version']}, "
            f"revision {state['revision']}, saved {state['saved']}"
        )
    if "check" in document:
        check = document["check"]
        console.print(
            "integrity check: ok" if check["ok"] else f"integrity check: {check['problems']}"
        )


# -- orders -------------------------------------------------------------------------------------


def _orders(args: argparse.Namespace) -> int:
    journal = _open(args)
    if not isinstance(journal, Journal):
        return journal
    try:
        with journal:
            orders = journal.orders(
                open_only=args.open,
                prefix=args.prefix or "",
                symbol=args.symbol.upper() if args.symbol else None,
                strategy_id=args.strategy,
                limit=_limit(args),
            )
    except JournalError as error:
        print(f"journal error: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    if args.json:
        print_json([order.to_json() for order in orders])
        return ExitCode.OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"orders ({len(orders)})")
    columns = ("order_link_id", "strategy", "symbol", "side", "price", "qty", "filled", "status")
    for column in columns:
        table.add_column(
            column, justify="right" if column in ("price", "qty", "filled") else "left"
        )
    for order in orders:
        row = order.to_json()
        table.add_row(
            row["order_link_id"],
            row["strategy"],
            f"{row['venue']}:{row['symbol']}",
            row["side"],
            row["price"] or "market",
            row["qty"] or "-",
            row["filled_qty"] or "0",
            row["status"] + (f" {row['reject_code']}" if row["reject_code"] else ""),
        )
    Console().print(table)
    return ExitCode.OK


# -- fills --------------------------------------------------------------------------------------


def _fills(args: argparse.Namespace) -> int:
    journal = _open(args)
    if not isinstance(journal, Journal):
        return journal
    try:
        with journal:
            fills = journal.fills(
                symbol=args.symbol.upper() if args.symbol else None,
                strategy_id=args.strategy,
                limit=_limit(args),
            )
    except JournalError as error:
        print(f"journal error: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    if args.json:
        print_json([fill.to_json() for fill in fills])
        return ExitCode.OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"fills ({len(fills)})")
    columns = ("time", "strategy", "symbol", "side", "price", "qty", "fee", "maker", "exec_id")
    for column in columns:
        table.add_column(
            column,
            justify="right" if column in ("price", "qty", "fee") else "left",
            overflow="fold",
        )
    for fill in fills:
        row = fill.to_json()
        table.add_row(
            row["time"],
            row["strategy"],
            f"{row['venue']}:{row['symbol']}",
            row["side"],
            row["price"],
            row["qty"],
            row["fee"],
            "yes" if row["is_maker"] else "no",
            row["exec_id"],
        )
    Console().print(table)
    return ExitCode.OK


# -- registration -------------------------------------------------------------------------------


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help="config file whose host.journal names the journal (default: config.toml)",
    )
    parser.add_argument(
        "--journal",
        metavar="PATH",
        default=None,
        help="journal file to read; overrides host.journal of the config",
    )
    add_json_option(parser)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", default=None, help="only this symbol (e.g. BTCUSDT)")
    parser.add_argument("--strategy", default=None, help="only this strategy id")
    parser.add_argument(
        "--limit",
        type=_non_negative,
        default=None,
        metavar="N",
        help=f"the last N rows (default: {TABLE_LIMIT} in a table, all with --json; 0 = all)",
    )


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


@hookimpl
def mmhost_register_commands(subparsers: argparse._SubParsersAction) -> None:
    status = subparsers.add_parser(
        "status",
        help="positions, PnL and counts from the journal",
        description="Show the journal's positions (qty, average price, realised and "
        "unrealised PnL at the last mark, fees), order and fill counts, reloads and saved "
        "strategy states. Reads the journal only: safe while a host is running.",
    )
    _add_source_options(status)
    status.add_argument(
        "--check",
        action="store_true",
        help="also run sqlite's quick_check over the whole file (exit 1 when it finds damage)",
    )
    status.set_defaults(handler=_status)

    orders = subparsers.add_parser(
        "orders",
        help="orders recorded in the journal",
        description="List orders from the journal, oldest first: id, strategy, side, price, "
        "quantity, filled quantity and last status (with the venue's reject code).",
    )
    _add_source_options(orders)
    orders.add_argument(
        "--open",
        action="store_true",
        help="only orders not yet Filled, Cancelled or Rejected",
    )
    orders.add_argument(
        "--prefix", default=None, help="only orders whose order_link_id starts with this"
    )
    _add_filters(orders)
    orders.set_defaults(handler=_orders)

    fills = subparsers.add_parser(
        "fills",
        help="fills recorded in the journal",
        description="List fills from the journal in time order, each counted once per "
        "execution id: time, strategy, side, price, quantity, fee.",
    )
    _add_source_options(fills)
    _add_filters(fills)
    fills.set_defaults(handler=_fills)
