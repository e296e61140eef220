"""The ``analyze`` and ``eval`` sub-commands (issue #9, the order-book analyzers).

``mmhost analyze --data FILE`` replays a recording of any supported format
through every analyzer of a plugin folder (default: the project's plugins/)
on a bare engine, no venue, no strategy, no socket
(``host.backtest.analysis.run_analyzers``), and summarises each signal over
all its writes: updates, min, p5, p50, mean, p95, max, last; plus the
events of an analyzer that reports events (spoofing: total, by kind, per
hour) and the walls found at the end of the data (liquidity_walls).

``mmhost eval spoofing`` measures the spoofing analyzer on labelled synthetic
markets (``host.backtest.evaluation``: 10 seeds of the quiet 360 s scenario of
tests/plugins/test_spoofing_on_synthetic.py by default, about 2 s a seed),
prints precision and recall per seed and pooled, whether the issue's goal
(precision >= 0.9, recall >= 0.8, pooled) is met, and the events on the
bundled real recording, every one a false positive candidate. It exits 0
whenever it ran: the figures are the output, not a pass or fail. ``eval`` is a
group, so other evaluations can join ``spoofing`` later.

Both read analyzer settings from the ``[plugins.<name>]`` tables of
``--config FILE`` (nothing else of that file). Exit status: 0 ok; 1 a plugin
failed to load; 2 a missing, corrupt or unrecognised file, or bad settings
(one line naming the file).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from host.cli import ExitCode
from host.hookspecs import hookimpl


def _data_path(text: str) -> Path:
    """``bundled:x`` is a file shipped in host/data; anything else a path."""
    from host.runtime import BUNDLED_DATA_DIR, BUNDLED_PREFIX

    if text.startswith(BUNDLED_PREFIX):
        return BUNDLED_DATA_DIR / text[len(BUNDLED_PREFIX) :]
    return Path(text).expanduser()


def _positive_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number >= 0")
    return value


def _positive_int(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number >= 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds > 0")
    return value


class _InputError(Exception):
    """A usage problem found before anything ran: exit 2 with this line."""


def _plugin_settings(config: str | None) -> dict[str, dict[str, Any]]:
    """The ``[plugins.<name>]`` tables of a TOML file (nothing else of it is read)."""
    if config is None:
        return {}
    path = Path(config)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _InputError(f"config error: {path}: file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise _InputError(f"config error: {path}: not readable TOML: {error}") from None
    tables = raw.get("plugins", {})
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise _InputError(
            f"config error: {path}: plugins: expected tables [plugins.<name>], got {tables!r}"
        )
    return tables


def _plugin_folder(text: str | None) -> Path:
    from host.backtest.analysis import PROJECT_PLUGINS

    folder = Path(text).expanduser() if text else PROJECT_PLUGINS
    if not folder.is_dir():
        raise _InputError(f"--plugins: {folder}: no such folder")
    return folder


# -- analyze -------------------------------------------------------------------------------------


def _analyze(args: argparse.Namespace) -> int:
    from host.backtest.analysis import (
        AnalysisInputError,
        AnalysisSettingsError,
        plugin_files,
        run_analyzers,
    )
    from host.commands import print_json
    from host.logs import setup_logging

    setup_logging(None, "CRITICAL" if args.json else "ERROR")
    try:
        folder = _plugin_folder(args.plugins)
        settings = _plugin_settings(args.config)
        paths = [_data_path(text) for text in args.data]
        run = run_analyzers(
            paths,
            plugins=plugin_files(folder),
            settings=settings,
            market=args.market,
            tick_size=args.tick,
            lot_size=args.lot,
            on_bad_line=args.on_bad_line,
        )
    except _InputError as error:
        print(f"analyze: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except AnalysisSettingsError as error:
        where = f"{args.config}: " if args.config else ""
        print(f"analyze: config error: {where}{error}", file=sys.stderr)
        return ExitCode.USAGE
    except AnalysisInputError as error:
        print(f"analyze: {error}", file=sys.stderr)
        return ExitCode.USAGE
    for failure in run.plugin_failures:
        print(
            f"analyze: plugin {failure['name']} failed to load: {failure['error']}",
            file=sys.stderr,
        )
    if run.book_messages + run.trades == 0:
        print(
            f"analyze: no market events for {run.symbol} in {', '.join(map(str, paths))}",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    document = run.as_dict()
    if args.json:
        print_json(document)
    else:
        _print_analysis(document)
    return ExitCode.FAILURE if run.plugin_failures else ExitCode.OK


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        # Piped or redirected, rich assumes 80 columns and squeezes the headers.
        console.width = max(console.width, 160)
    return console


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def _print_analysis(document: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    console.print(
        f"[bold]mmhost analyze[/bold] {document['market']}:{document['symbol']} "
        f"({document['format']}): {document['book_messages'] + document['trades']:,} events "
        f"({document['book_messages']:,} book, {document['trades']:,} trades) over "
        f"{document['duration_s']:.1f} s, in {document['timing']['wall_s']:.1f} s"
    )
    table = Table(title="signals (statistics over every update)")
    table.add_column("analyzer", no_wrap=True)
    table.add_column("signal", no_wrap=True)
    for column in ("updates", "min", "p5", "p50", "mean", "p95", "max", "last"):
        table.add_column(column, justify="right")
    for name, analyzer in document["analyzers"].items():
        signals = analyzer["signals"]
        if not signals:
            table.add_row(name, "(none written)", *[""] * 8)
        for index, (signal, stats) in enumerate(signals.items()):
            table.add_row(
                name if index == 0 else "",
                signal,
                f"{stats['updates']:,}",
                *(_number(stats[key]) for key in ("min", "p5", "p50", "mean", "p95", "max")),
                _number(stats["last"]),
            )
        table.add_section()
    console.print(table)
    for name, analyzer in document["analyzers"].items():
        events = analyzer.get("events")
        if events is not None:
            kinds = ", ".join(f"{kind} {count:,}" for kind, count in events["by_kind"].items())
            per_hour = events["per_hour"]
            console.print(
                f"{name}: {events['total']:,} events"
                + (f" ({kinds})" if kinds else "")
                + (f", {per_hour:,.1f} per hour" if per_hour is not None else "")
            )
        walls = analyzer.get("walls")
        if walls is not None:
            console.print(f"{name}: {len(walls)} walls at the end of the data")
            if walls:
                wall_table = Table()
                for column in ("side", "price", "size", "distance_ticks", "x median", "age_s"):
                    wall_table.add_column(column, justify="left" if column == "side" else "right")
                for wall in walls:
                    wall_table.add_row(
                        wall["side"],
                        format(wall["price"], "f"),
                        format(wall["size"], "f"),
                        str(wall["distance_ticks"]),
                        f"{wall['size_to_median']:.1f}",
                        f"{wall['age_s']:.1f}",
                    )
                console.print(wall_table)
    if document["other_plugins"]:
        console.print(f"loaded, not analyzers: {', '.join(document['other_plugins'])}")


# -- eval spoofing -------------------------------------------------------------------------------


def _eval_spoofing(args: argparse.Namespace) -> int:
    from host.backtest.analysis import AnalysisInputError
    from host.backtest.evaluation import SpoofingScenario, evaluate_spoofing
    from host.commands import print_json
    from host.logs import setup_logging

    setup_logging(None, "CRITICAL" if args.json else "ERROR")
    try:
        plugin_path = _plugin_folder(args.plugins) / "spoofing.py"
        if not plugin_path.is_file():
            raise _InputError(f"--plugins: {plugin_path}: no such file")
        settings = _plugin_settings(args.config).get(plugin_path.stem)
        real_data = [] if args.no_real_data else [_data_path(text) for text in args.real_data]
        missing = [str(path) for path in real_data if not path.is_file()]
        if missing:
            raise _InputError(f"--real-data: {', '.join(missing)}: no such file")
    except _InputError as error:
        print(f"eval spoofing: {error}", file=sys.stderr)
        return ExitCode.USAGE
    scenario = SpoofingScenario(
        seeds=tuple(range(args.seeds)),
        duration_s=args.duration,
        episode_counts={
            "spoofing": args.spoofing,
            "layering": args.layering,
            "genuine": args.genuine,
        },
    )
    show_progress = not args.json and sys.stderr.isatty()

    def progress(result: Any) -> None:
        if show_progress:
            print(f"\rseed {result.seed + 1}/{args.seeds} done", end="", file=sys.stderr)

    try:
        document = evaluate_spoofing(
            scenario,
            real_data=real_data,
            plugin_path=plugin_path,
            settings=settings,
            on_seed=progress,
        )
    except (AnalysisInputError, ValueError) as error:
        # ValueError: the episodes do not fit the duration (the message says how much is needed).
        print(("\n" if show_progress else "") + f"eval spoofing: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except RuntimeError as error:  # the analyzer failed to load
        print(f"eval spoofing: {error}", file=sys.stderr)
        return ExitCode.FAILURE
    if show_progress:
        print(file=sys.stderr)
    if args.json:
        print_json(document)
    else:
        _print_evaluation(document)
    return ExitCode.OK


def _ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_evaluation(document: dict[str, Any]) -> None:
    from rich.table import Table

    from host.backtest.detection import POSITIVE_KINDS

    console = _console()
    scenario = document["scenario"]
    episodes = ", ".join(f"{count} {kind}" for kind, count in scenario["episodes"].items())
    console.print(
        f"[bold]mmhost eval spoofing[/bold]: {len(scenario['seeds'])} seeds of the "
        f"{scenario['regime']} {scenario['duration_s']:g} s scenario ({episodes} episodes "
        f"each), in {document['timing']['wall_s']:.1f} s"
    )
    table = Table()
    for column in (
        "seed",
        "events",
        "precision",
        "recall",
        *(f"recall {kind}" for kind in POSITIVE_KINDS),
        "cycle recall",
        "genuine flagged",
    ):
        table.add_column(column, justify="right")

    def row(label: str, figures: dict[str, Any]) -> list[str]:
        return [
            label,
            f"{figures['events']:,}",
            _ratio_text(figures["precision"]),
            _ratio_text(figures["recall"]),
            *(_ratio_text(figures["recall_by_kind"].get(kind)) for kind in POSITIVE_KINDS),
            _ratio_text(figures["cycle_recall"]),
            f"{figures['genuine_flagged']}/{figures['genuine_episodes']}",
        ]

    for seed in document["per_seed"]:
        table.add_row(*row(str(seed["seed"]), seed))
    table.add_section()
    table.add_row(*row("pooled", document["pooled"]))
    console.print(table)
    goal, pooled = document["goal"], document["pooled"]
    verdict = "[green]met[/green]" if document["goal_met"] else "[red]not met[/red]"
    console.print(
        f"goal precision >= {goal['precision']} and recall >= {goal['recall']} (pooled): "
        f"{verdict} (precision {_ratio_text(pooled['precision'])}, recall "
        f"{_ratio_text(pooled['recall'])}; worst seed precision "
        f"{_ratio_text(document['worst_seed']['precision'])}, recall "
        f"{_ratio_text(document['worst_seed']['recall'])})"
    )
    real = document["real_data"]
    if real is not None:
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in real["events_by_kind"].items())
        per_hour = real["events_per_hour"]
        console.print(
            f"false positives on real data ({real['note']}): {real['events']:,} events"
            + (f" ({kinds})" if kinds else "")
            + f" over {real['duration_s']:.1f} s of {real['market']}:{real['symbol']}"
            + (f", {per_hour:,.1f} per hour" if per_hour is not None else "")
        )


@hookimpl
def mmhost_register_commands(subparsers: argparse._SubParsersAction) -> None:
    from host.backtest.evaluation import DEFAULT_DURATION_S, DEFAULT_EPISODES, DEFAULT_SEEDS
    from host.commands import add_json_option

    analyze = subparsers.add_parser(
        "analyze",
        help="run every order-book analyzer over a recording and summarise its signals",
        description="Replay recorded market data (any supported format; the symbol comes from "
        "the data) through every analyzer of a plugin folder on a bare engine: no venue, no "
        "strategy, no socket. Per signal: updates, min, p5, p50, mean, p95, max and last "
        "over all its writes; the spoofing analyzer's events by kind and per hour; the "
        "liquidity walls found at the end of the data.",
    )
    analyze.add_argument(
        "--data",
        nargs="+",
        action="extend",
        required=True,
        metavar="FILE",
        help="recording files, read in order as one stream ('bundled:binance_usdm/"
        "btcusdt_20240718.gz' names a file shipped with mmhost)",
    )
    analyze.add_argument(
        "--plugins",
        default=None,
        metavar="DIR",
        help="folder of analyzer plugins (default: the project's plugins/)",
    )
    analyze.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="analyzer settings from this file's [plugins.<name>] tables (the rest is ignored)",
    )
    analyze.add_argument(
        "--market",
        default=None,
        help="instrument table market (binance-usdm, binance-spot, bybit-linear, bybit-spot); "
        "default: detected from the data",
    )
    analyze.add_argument(
        "--tick",
        type=_positive_decimal,
        default=None,
        help="tick size, for a symbol not in the table",
    )
    analyze.add_argument(
        "--lot",
        type=_positive_decimal,
        default=None,
        help="lot size, for a symbol not in the table",
    )
    analyze.add_argument(
        "--on-bad-line",
        choices=["raise", "skip"],
        default="raise",
        help="a corrupt or out-of-order line: stop with file and line (raise), or count "
        "and skip it (skip)",
    )
    add_json_option(analyze)
    analyze.set_defaults(handler=_analyze)

    evaluate = subparsers.add_parser(
        "eval",
        help="measure an analyzer on labelled synthetic data (eval spoofing)",
        description="Evaluations of the analyzers on labelled synthetic markets. Each "
        "evaluation is a sub-command; the figures are the output, so they exit 0 whenever "
        "they ran.",
    )
    evaluations = evaluate.add_subparsers(
        dest="evaluation",
        metavar="EVALUATION",
        required=True,
        help="spoofing: precision and recall of plugins/spoofing.py",
    )
    spoofing = evaluations.add_parser(
        "spoofing",
        help="precision and recall of the spoofing analyzer, and its events on real data",
        description="Generate labelled synthetic markets (quiet regime, one per seed, with "
        "spoofing, layering and genuine large-order episodes) into a temporary folder, run the "
        "spoofing analyzer over each and score its events against the labels: precision, "
        "recall (by kind, per placement), genuine orders flagged; per seed and pooled, and "
        "whether the goal (pooled precision >= 0.9 and recall >= 0.8) is met. Then run it "
        "over a real recording, which has no labels: every event there is counted as a false "
        "positive candidate. Exit 0 whenever it ran.",
    )
    spoofing.add_argument(
        "--seeds",
        type=_positive_int,
        default=DEFAULT_SEEDS,
        metavar="N",
        help=f"synthetic markets, seeds 0 to N-1 (default {DEFAULT_SEEDS}; about 2 s each)",
    )
    spoofing.add_argument(
        "--duration",
        type=_seconds,
        default=DEFAULT_DURATION_S,
        metavar="S",
        help=f"market seconds per seed (default {DEFAULT_DURATION_S:g}); fewer episodes need fewer",
    )
    for kind, count in DEFAULT_EPISODES.items():
        spoofing.add_argument(
            f"--{kind}",
            type=_count,
            default=count,
            metavar="N",
            help=f"{kind} episodes per seed (default {count})",
        )
    spoofing.add_argument(
        "--real-data",
        nargs="+",
        default=[
            "bundled:binance_usdm/btcusdt_20240718.gz",
            "bundled:binance_usdm/btcusdt_20240719.gz",
        ],
        metavar="FILE",
        help="unlabelled real recording, one stream (default: the bundled Binance BTCUSDT one)",
    )
    spoofing.add_argument("--no-real-data", action="store_true", help="skip the real recording")
    spoofing.add_argument(
        "--plugins",
        default=None,
        metavar="DIR",
        help="folder holding the spoofing.py to measure (default: the project's plugins/)",
    )
    spoofing.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="analyzer settings from this file's [plugins.spoofing] table (the rest is ignored)",
    )
    add_json_option(spoofing)
    spoofing.set_defaults(handler=_eval_spoofing)
