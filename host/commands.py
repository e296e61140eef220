"""Built-in sub-commands: run, plugins, bench, docs.

Registered through ``mmhost_register_commands`` like any plugin's commands.
Read commands take ``--json`` (one JSON document on stdout; logs go to stderr).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from host.cli import ExitCode
from host.config import ConfigError, load_config
from host.hookspecs import hookimpl

DEFAULT_CONFIG = "config.toml"


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """The one ``--json`` flag every read command shares."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (logs stay on stderr)",
    )


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def config_error(error: ConfigError) -> int:
    print(f"config error: {error}", file=sys.stderr)
    return ExitCode.USAGE


def _speed(text: str) -> float | str:
    if text == "max":
        return "max"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or 'max', got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or 'max', got {text!r}")
    return value


# -- run ---------------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from host.backtest.runner import ReplayProgress, merge_feeds, run_replay
    from host.engine import StrategyError
    from host.journal import JournalError
    from host.live import run_live
    from host.logs import setup_logging
    from host.runtime import StartupError, build_runtime, resolve_path

    try:
        config = load_config(args.config)
        if args.venue == "sim":
            config = replay_config(config)
        if args.speed is not None:
            # The speed reaches the emulator's replay clock too, so it is set first.
            config = config.model_copy(
                update={"host": config.host.model_copy(update={"speed": args.speed})}
            )
        setup_logging(
            None if args.no_log_file else resolve_path(config, config.host.log_dir),
            "WARNING" if args.json else config.host.log_level,
        )
        runtime = build_runtime(config, raise_strategy_errors=config.host.mode == "backtest")
    except ConfigError as error:
        return config_error(error)
    except (JournalError, StartupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    for failure in runtime.plugins.failures:
        print(f"plugin {failure.name} failed to load: {failure.error}", file=sys.stderr)
    if args.dry_run:
        return _dry_run(runtime, as_json=args.json)

    duration_s = args.duration if args.duration is not None else config.host.duration_s
    speed = config.host.speed
    show_progress = not args.json and sys.stderr.isatty()
    wall_start = time.monotonic()

    def progress(update: ReplayProgress) -> None:
        if show_progress:
            market_s = (update.market_time_ns - update.first_event_ns) / 1e9
            print(
                f"\r{update.events:>10,} events  {market_s:8.1f} s market time  "
                f"fills {runtime.engine.stats.fills}",
                end="",
                file=sys.stderr,
            )

    reloader = None
    if config.host.hot_reload and config.host.mode != "backtest":
        from host.reload import HotReloader, watched_folders

        reloader = HotReloader(
            runtime.engine,
            watched_folders(
                [resolve_path(config, p) for p in config.host.plugin_dirs],
                [resolve_path(config, p) for p in config.host.strategy_dirs],
            ),
            config_path=Path(args.config),
        )
        reloader.start()
    _install_kill_signal(runtime.engine, config.risk.flatten_on_halt)
    status = ExitCode.OK
    try:
        if runtime.live:
            run_live(runtime.engine, runtime.scheduler, duration_s=duration_s)
        else:
            run_replay(
                runtime.engine,
                merge_feeds(runtime.feeds),
                runtime.scheduler,
                runtime.sim_venues,
                duration_s=duration_s,
                speed=speed,
                on_progress=progress,
                progress_every=5_000,
            )
    except StrategyError as error:
        print(f"\n{error}: {error.__cause__!r}", file=sys.stderr)
        status = ExitCode.FAILURE
    except ConfigError as error:
        # A plugin found its [plugins.<name>] table wrong at start-up.
        return config_error(error)
    except KeyboardInterrupt:
        print("\ninterrupted: orders cancelled, summary follows", file=sys.stderr)
    finally:
        if reloader is not None:
            reloader.stop()
        runtime.close()
    if show_progress:
        print(file=sys.stderr)
    summary = runtime.engine.summary()
    if args.json:
        document = summary.to_json()
        document["wall_time_s"] = round(time.monotonic() - wall_start, 3)
        print_json(document)
    else:
        print_summary(summary, time.monotonic() - wall_start)
    return status


def replay_config(config: Any) -> Any:
    """The same config with every venue a sim venue replaying its own data: no
    socket, no emulator (``mmhost run --venue sim``)."""
    venues = []
    for index, venue in enumerate(config.venues):
        if venue.kind != "sim" and not venue.data:
            raise ConfigError(
                f"{config.source}: venues[{index}].data: --venue sim replays each venue's "
                "recording, and this venue has none"
            )
        venues.append(venue.model_copy(update={"kind": "sim"}))
    host = config.host
    if host.mode == "live":
        host = host.model_copy(update={"mode": "paper"})
    return config.model_copy(update={"venues": venues, "host": host})


def _dry_run(runtime: Any, *, as_json: bool) -> int:
    """Connected, read what the venues say, placed nothing."""
    venues = []
    for name, venue in runtime.engine.venues.items():
        venues.append(
            {
                "venue": name,
                "kind": type(venue).__name__,
                "instruments": {
                    symbol: {
                        "tick_size": format(i.tick_size, "f"),
                        "lot_size": format(i.lot_size, "f"),
                        "min_qty": format(i.lots_to_qty(i.min_qty_lots), "f"),
                    }
                    for symbol, i in venue.instruments.items()
                },
                "balances": {k: format(v, "f") for k, v in getattr(venue, "balances", {}).items()},
                "positions": dict(getattr(venue, "positions", {}) or {}),
            }
        )
    runtime.close()
    for venue in runtime.engine.venues.values():
        venue.stop()
    if as_json:
        print_json({"dry_run": True, "orders_sent": 0, "venues": venues})
    else:
        for item in venues:
            print(f"{item['venue']} ({item['kind']}): {item['instruments']}")
            print(f"  balances {item['balances']}  positions {item['positions']}")
        print("dry run: nothing was placed")
    return ExitCode.OK


def _install_kill_signal(engine: Any, flatten: bool) -> None:
    """SIGUSR1 is the kill switch (every order off, optional flatten, stop).
    SIGTERM and Ctrl-C stop quoting, cancel every order and exit 0; a second
    Ctrl-C interrupts at once."""
    import signal

    def on_kill(_signum: int, _frame: Any) -> None:
        engine.call_soon_threadsafe(lambda: engine.kill("SIGUSR1", flatten=flatten))

    def on_stop(signum: int, _frame: Any) -> None:
        # Not an exception: raised mid-callback, it could drop an order that is
        # on its way to the venue. The driver stops between two events instead.
        if engine.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        print(f"\n{signal.Signals(signum).name}: stopping, cancelling every order", file=sys.stderr)
        engine.stop_requested = True
        wake = engine.wake
        if wake is not None:
            wake()

    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, on_kill)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)


def _kill(args: argparse.Namespace) -> int:
    from host.runtime import resolve_path

    try:
        config = load_config(args.config)
    except ConfigError as error:
        return config_error(error)
    if config.risk.kill_file is None:
        print("config error: risk.kill_file is not set; send SIGUSR1 instead", file=sys.stderr)
        return ExitCode.USAGE
    path = resolve_path(config, config.risk.kill_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"kill requested at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
    print(
        f"kill switch engaged: {path}; the running host cancels everything and stops. "
        "Delete the file before the next start."
    )
    return ExitCode.OK


def print_summary(summary: Any, wall_s: float) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    market_s = (summary.last_event_ns - summary.first_event_ns) / 1e9
    console.print(
        f"[bold]mmhost run[/bold]: {summary.events:,} market events "
        f"({summary.book_messages:,} book, {summary.trades:,} trades) over {market_s:.1f} s "
        f"between the first and last event, in {wall_s:.1f} s"
    )
    console.print(
        f"orders sent {summary.orders_sent:,}, cancels {summary.cancels_sent:,}, "
        f"rejects {summary.rejects:,}, fills {summary.fills:,}, risk vetoes {summary.risk_vetoes:,}"
    )
    for p in summary.positions:
        console.print(
            f"  {p.venue}:{p.symbol}  position {format(p.qty.normalize(), 'f')} "
            f"@ {_money(p.avg_price)}  mark {_money(p.mark_price)}  fills {p.fills}  "
            f"realized {_money(p.realized_pnl)}  unrealized {_money(p.unrealized_pnl)}  "
            f"fees {_money(p.fees)}"
        )
    console.print(
        f"realized {_money(summary.realized_pnl)}  unrealized {_money(summary.unrealized_pnl)}  "
        f"fees {_money(summary.fees)}  [bold]net {_money(summary.net_pnl)}[/bold]"
    )


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.4f}"


# -- plugins ------------------------------------------------------------------------------------


def _plugins(args: argparse.Namespace) -> int:
    from host.logs import setup_logging
    from host.plugins import build_plugin_host
    from host.runtime import resolve_path

    setup_logging(None, "CRITICAL")
    if args.check is not None:
        return _check_plugins(Path(args.check), as_json=args.json)
    config_path = Path(args.config)
    if config_path.is_file():
        try:
            config = load_config(config_path)
        except ConfigError as error:
            return config_error(error)
        plugin_dirs = [resolve_path(config, p) for p in config.host.plugin_dirs]
        strategy_dirs = [resolve_path(config, p) for p in config.host.strategy_dirs]
    else:
        plugin_dirs, strategy_dirs = [Path("plugins")], [Path("strategies")]
    plugins = build_plugin_host(plugin_dirs, strategy_dirs)
    records = plugins.records
    if args.json:
        print_json({"plugins": [r.to_json() for r in records], "failed": len(plugins.failures)})
        return ExitCode.OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title="plugins")
    for column in ("name", "source", "from", "hooks", "strategies", "error"):
        table.add_column(column, overflow="fold")
    for record in records:
        origin = (
            f"{record.distribution} {record.version}" if record.distribution else record.location
        )
        table.add_row(
            record.name,
            record.source,
            origin,
            ", ".join(h.removeprefix("mmhost_") for h in record.hooks),
            ", ".join(record.strategies),
            record.error or "",
        )
    Console().print(table)
    return ExitCode.OK


def _check_plugins(path: Path, *, as_json: bool) -> int:
    from host.scaffold import check_path

    reports = check_path(path)
    ok = bool(reports) and all(report.ok for report in reports)
    if as_json:
        print_json({"ok": ok, "checked": [vars_of(report) for report in reports]})
    else:
        for report in reports:
            if report.ok:
                print(
                    f"ok      {report.path}: hooks {', '.join(report.hooks) or '-'}; "
                    f"strategies {', '.join(report.strategies) or '-'}"
                )
            else:
                print(f"FAILED  {report.path}: {report.error}")
        if not reports:
            print(f"nothing to check in {path}")
    return ExitCode.OK if ok else ExitCode.FAILURE


def vars_of(report: Any) -> dict[str, Any]:
    return {name: getattr(report, name) for name in report.__slots__}


# -- new ----------------------------------------------------------------------------------------


def _new(args: argparse.Namespace) -> int:
    from host.scaffold import ScaffoldError, new_plugin, new_strategy

    make = new_strategy if args.kind == "strategy" else new_plugin
    try:
        written = make(args.name, Path(args.root))
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    for path in written:
        print(f"wrote {path}")
    return ExitCode.OK


# -- bench --------------------------------------------------------------------------------------

BENCH_DIRS = (Path.cwd() / "bench", Path(__file__).resolve().parents[1] / "bench")


def find_bench(name: str) -> Path | None:
    for folder in BENCH_DIRS:
        path = folder / f"{name}.py"
        if path.is_file():
            return path
    return None


def _bench(args: argparse.Namespace) -> int:
    from host.logs import setup_logging

    setup_logging(None, "WARNING")
    path = find_bench(args.name)
    if path is None:
        available = sorted(
            {
                p.stem
                for d in BENCH_DIRS
                if d.is_dir()
                for p in d.glob("*.py")
                if not p.stem.startswith("_")
            }
        )
        print(f"no benchmark {args.name!r}; available: {', '.join(available)}", file=sys.stderr)
        return ExitCode.USAGE
    spec = importlib.util.spec_from_file_location(f"mmhost_bench_{args.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    result = module.run(quick=args.quick)
    if args.json:
        print_json(result)
    else:
        for key, value in result.items():
            print(f"{key:>32}: {value}")
    return ExitCode.OK


# -- docs ---------------------------------------------------------------------------------------


def _docs(args: argparse.Namespace) -> int:
    from host.docgen import DOCS, render_all

    root = Path(args.root)
    stale = []
    for relative, text in render_all().items():
        path = root / relative
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(relative)
    if stale:
        print(f"stale: {', '.join(stale)}; run `mmhost docs --write`", file=sys.stderr)
        return ExitCode.FAILURE
    if not args.write:
        print(f"up to date: {', '.join(DOCS)}")
    return ExitCode.OK


@hookimpl
def mmhost_register_commands(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the configured strategies",
        description="Run the strategies of a config file on its venues and print a summary: "
        "events, orders, fills, positions, realised and unrealised PnL, fees.",
    )
    run.add_argument("--config", default=DEFAULT_CONFIG, help="config file (default: config.toml)")
    run.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds: market time when replaying, wall time live",
    )
    run.add_argument(
        "--speed",
        type=_speed,
        default=None,
        metavar="X|max",
        help="replay speed factor (1 = real time, max = as fast as possible); ignored live",
    )
    run.add_argument("--no-log-file", action="store_true", help="log to the console only")
    run.add_argument(
        "--venue",
        choices=["config", "sim"],
        default="config",
        help="sim: replay every venue's recording in the simulator (no socket, no emulator); "
        "config (default): the venues as configured",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="connect, read instruments, balances and positions, place nothing, exit",
    )
    add_json_option(run)
    run.set_defaults(handler=_run)

    kill = subparsers.add_parser(
        "kill",
        help="engage the kill switch of a running host",
        description="Write the kill file named by risk.kill_file: the running host cancels "
        "every order of its desk within one round trip, flattens if risk.flatten_on_halt, and "
        "stops. A host will not start while the file exists.",
    )
    kill.add_argument("--config", default=DEFAULT_CONFIG, help="config file (default: config.toml)")
    kill.set_defaults(handler=_kill)

    plugins = subparsers.add_parser(
        "plugins",
        help="list plugins, where they came from and what they offer",
        description="List every plugin (built-in, entry point, folder), its hooks and "
        "strategies, and the ones that failed to load with their error.",
    )
    plugins.add_argument(
        "--config", default=DEFAULT_CONFIG, help="config file naming the plugin folders"
    )
    plugins.add_argument(
        "--check",
        metavar="PATH",
        default=None,
        help="validate a plugin or strategy file, a folder, or a plugin package without "
        "running the host; exit 1 if anything fails",
    )
    add_json_option(plugins)
    plugins.set_defaults(handler=_plugins)

    new = subparsers.add_parser(
        "new",
        help="start a strategy file or a plugin package",
        description="Write a strategy (strategies/NAME.py and its test) or a pip-installable "
        "plugin package (mmhost-NAME/ with an mmhost entry point, tests and README). "
        "Existing files are never overwritten.",
    )
    new.add_argument("kind", choices=["strategy", "plugin"], help="what to create")
    new.add_argument("name", help="a Python identifier in lower case, e.g. my_quoter")
    new.add_argument("--root", default=".", help="project folder to write into (default: .)")
    new.set_defaults(handler=_new)

    bench = subparsers.add_parser(
        "bench",
        help="run a benchmark",
        description="Run bench/NAME.py: every speed figure is a ratio against a reference "
        "timed in the same run.",
    )
    bench.add_argument("name", help="benchmark name (a file in bench/)")
    bench.add_argument("--quick", action="store_true", help="tiny sizes: checks it runs, not speed")
    add_json_option(bench)
    bench.set_defaults(handler=_bench)

    docs = subparsers.add_parser(
        "docs",
        help="check or rewrite the generated reference docs",
        description="Generate docs/plugins.md, docs/config.md and docs/cli.md from the code; "
        "without --write, fail when they are stale.",
    )
    docs.add_argument("--write", action="store_true", help="rewrite the files")
    docs.add_argument("--root", default=".", help="project root (default: .)")
    docs.set_defaults(handler=_docs)
