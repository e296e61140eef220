"""`mmhost compare`: rows equal single backtests, deterministic files, docs/strategies.md fresh."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import host.backtest.compare_commands as compare_commands
from host.backtest.compare import (
    CompareSpec,
    command_line,
    format_count,
    format_money,
    format_number,
    format_share,
    markdown_tables,
    parameters_markdown,
    run_comparison,
)
from host.backtest.session import BacktestSpec, run_backtest
from host.backtest.synthetic import SynthSpec, write_synthetic
from host.cli import build_parser
from host.plugins import PluginHost, build_plugin_host
from host.testing import PROJECT_ROOT

STRATEGIES = ("static_spread", "ladder")
REGIME, DURATION_S, SEED = "volatile", 30, 5
DOCS_FILE = PROJECT_ROOT / "docs/strategies.md"


def compare_parser() -> Any:
    plugins = PluginHost()
    plugins.load_builtins()
    # Until host.backtest.compare_commands is in BUILTIN_PLUGINS, register it here.
    if not any(
        getattr(p, "__name__", "") == compare_commands.__name__ for p in plugins.pm.get_plugins()
    ):
        plugins.pm.register(compare_commands, name=compare_commands.__name__)
    return build_parser(plugins)


def mmhost(*argv: str) -> int:
    args = compare_parser().parse_args(list(argv))
    return int(args.handler(args))


@dataclass
class Compared:
    argv: list[str]
    out: Path
    markdown: bytes
    document: dict[str, Any]
    report: str
    status: int


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory, synthetic_file: Path) -> Iterator[Compared]:
    """One run: two strategies on a 30 s recording and a 30 s synthetic volatile market."""
    folder = tmp_path_factory.mktemp("compare")
    out, report = folder / "strategies.md", folder / "report.html"
    argv = [
        "compare",
        "--strategies",
        ",".join(STRATEGIES),
        "--data",
        str(synthetic_file),
        "--regimes",
        REGIME,
        "--duration",
        str(DURATION_S),
        "--seed",
        str(SEED),
        "--out",
        str(out),
        "--report",
        str(report),
        "--json",
    ]
    # A module-scoped fixture cannot use capsys: read stdout through a redirect.
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(buffer):
        patch.chdir(PROJECT_ROOT)  # strategies load from ./strategies, as for `backtest`
        status = mmhost(*argv)
    yield Compared(
        argv, out, out.read_bytes(), json.loads(buffer.getvalue()), report.read_text(), status
    )


def table(markdown: str, title_start: str) -> dict[str, dict[str, str]]:
    """The table under the heading starting ``## title_start``: strategy -> column -> cell."""
    section = markdown.split(f"\n## {title_start}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def single_backtests(synthetic_file: Path, folder: Path) -> dict[str, dict[str, Any]]:
    """What `mmhost backtest` gives for each (market, strategy) of the fixture's run."""
    regime_file = folder / f"{REGIME}.gz"
    write_synthetic(regime_file, SynthSpec(seed=SEED, duration_s=DURATION_S, regime=REGIME))
    documents = {}
    for market, path in (("recording", synthetic_file), (f"synthetic-{REGIME}", regime_file)):
        for strategy in STRATEGIES:
            result = run_backtest(BacktestSpec(strategy=strategy, data=[path]))
            assert result.ok, result.error_text
            documents[f"{market}/{strategy}"] = result.document
    return documents


def test_each_row_equals_the_single_backtest_of_the_same_inputs(
    compared: Compared, synthetic_file: Path, tmp_path: Path
) -> None:
    assert compared.status == 0
    singles = single_backtests(synthetic_file, tmp_path)
    markdown = compared.markdown.decode()
    results = {f"{r['market']}/{r['strategy']}": r for r in compared.document["results"]}
    assert set(results) == set(singles)
    for key, single in singles.items():
        market, strategy = key.split("/")
        row = results[key]
        # JSON: every kept field is the single backtest's, exactly.
        for field in ("net_pnl", "fees", "realized_pnl", "fills", "maker_share", "quote_uptime"):
            assert row[field] == single[field], (key, field)
        for field in ("markout_1s_bps", "markout_10s_bps", "markout_60s_bps", "max_drawdown"):
            assert row[field] == single[field], (key, field)
        assert row["sharpe_1min_annualized"] == single["sharpe_1min_annualized"]
        # Markdown: the row shows the same numbers, rounded for reading.
        title = "Recording" if market == "recording" else f"Synthetic {REGIME}"
        cells = table(markdown, title)[strategy]
        assert cells["net PnL (USDT)"] == format_money(single["net_pnl"])
        assert abs(float(cells["net PnL (USDT)"]) - float(single["net_pnl"])) <= 0.005
        assert cells["fees (USDT)"] == format_money(single["fees"])
        assert cells["max drawdown (USDT)"] == format_money(single["max_drawdown"])
        assert cells["Sharpe"] == format_number(single["sharpe_1min_annualized"])
        assert int(cells["fills"].replace(",", "")) == single["fills"]
        assert cells["fills"] == format_count(single["fills"])
        assert cells["maker share"] == format_share(single["maker_share"])
        assert cells["quote uptime"] == format_share(single["quote_uptime"])
        for horizon in ("1", "10", "60"):
            value = single[f"markout_{horizon}s_bps"]
            assert cells[f"markout {horizon} s (bps)"] == format_number(value)
    assert any(single["fills"] > 0 for single in singles.values())  # the test can fail


def test_a_table_per_market_with_a_row_per_strategy(compared: Compared) -> None:
    markdown = compared.markdown.decode()
    for title in ("Recording", f"Synthetic {REGIME}"):
        assert list(table(markdown, title)) == list(STRATEGIES)
    assert [m["name"] for m in compared.document["markets"]] == [
        "recording",
        f"synthetic-{REGIME}",
    ]


def test_two_runs_give_byte_identical_markdown(compared: Compared, tmp_path: Path) -> None:
    second = compared.argv[: compared.argv.index("--report")]  # same --out: same header
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(PROJECT_ROOT)
        assert mmhost(*second) == 0
    assert compared.out.read_bytes() == compared.markdown


def test_markdown_header_records_the_command_and_seed(compared: Compared) -> None:
    first = compared.markdown.decode().splitlines()[0]
    spec = CompareSpec(
        strategies=STRATEGIES,
        data=(Path(compared.argv[compared.argv.index("--data") + 1]),),
        regimes=(REGIME,),
        duration_s=DURATION_S,
        seed=SEED,
    )
    assert command_line(spec, compared.out) in first
    assert f"seed {SEED}" in first and "do not edit" in first
    assert compared.document["command"] == command_line(spec, compared.out)


def test_report_is_self_contained_with_the_same_tables(compared: Compared) -> None:
    report = compared.report
    assert report.startswith("<!DOCTYPE html>")
    assert "http" not in report and "<script" not in report and "src=" not in report
    markdown = compared.markdown.decode()
    for strategy, cells in table(markdown, f"Synthetic {REGIME}").items():
        values = [value for column, value in cells.items() if column != "strategy"]
        row = f"<th>{strategy}</th>" + "".join(f"<td class='num'>{v}</td>" for v in values)
        assert row in report


def test_unknown_strategy_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    out = tmp_path / "s.md"
    status = mmhost("compare", "--strategies", "static_spread,nope", "--out", str(out))
    assert status == 2
    assert "nope" in capsys.readouterr().err
    assert not out.exists()


def test_every_compare_option_has_help() -> None:
    parser = compare_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    compare = subparsers.choices["compare"]
    assert compare.description
    for action in compare._actions:
        assert action.help, action.option_strings


# -- docs/strategies.md --------------------------------------------------------------------
# Regenerating the whole file runs 24 backtests: 35 s on an idle machine, 50 to
# 75 s under load, past this file's 60 s budget. So the tests check the
# header's command, that each strategy in it exists and has a row, and
# regenerate the cheap parts: the parameter reference and every static_spread
# row (one strategy on every market of the recorded command).


def recorded_command() -> tuple[str, Any]:
    first = DOCS_FILE.read_text().splitlines()[0]
    match = re.match(r"<!-- Generated by `(mmhost compare [^`]+)` \(seed (\d+)\)", first)
    assert match, f"docs/strategies.md: no generated-by header: {first!r}"
    argv = shlex.split(match.group(1))[1:]
    args = compare_parser().parse_args(argv)
    assert int(match.group(2)) == args.seed
    return match.group(1), args


def test_docs_header_names_the_command_and_every_strategy_exists() -> None:
    _, args = recorded_command()
    assert args.out == "docs/strategies.md"
    available = build_plugin_host([], [PROJECT_ROOT / "strategies"]).strategies()
    assert set(args.strategies) <= set(available)
    text = DOCS_FILE.read_text()
    for strategy in args.strategies:
        assert f"| {strategy} |" in text and f"### `{strategy}`" in text
    rows = set(re.findall(r"^\| ([a-z_]+)(?: \([a-z_]+\))? \| [-\d]", text, re.MULTILINE))
    assert rows == set(args.strategies)  # no row of a strategy the command does not run


def test_docs_parameters_and_static_spread_rows_are_what_the_command_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regenerates the cheap parts: the parameter reference, and static_spread on every
    market of the recorded command (with its captions), compared line for line."""
    _, args = recorded_command()
    monkeypatch.chdir(PROJECT_ROOT)
    text = DOCS_FILE.read_text()
    available = build_plugin_host([], [Path("strategies")]).strategies()
    parameters = parameters_markdown({name: available[name] for name in args.strategies})
    assert parameters in text, "docs/strategies.md parameters are stale: run its command again"
    assert "static_spread" in args.strategies
    spec = CompareSpec(
        strategies=("static_spread",),
        data=tuple(Path(p) for p in args.data),
        regimes=tuple(args.regimes),
        duration_s=args.duration,
        seed=args.seed,
    )
    fresh = markdown_tables(run_comparison(spec, tmp_path))
    fresh_rows = [line for line in fresh.splitlines() if line.startswith("| static_spread")]
    file_rows = [line for line in text.splitlines() if line.startswith("| static_spread")]
    assert len(fresh_rows) == 1 + len(spec.regimes)
    assert file_rows == fresh_rows, "docs/strategies.md is stale: run the command in its header"
    for line in fresh.splitlines():
        if line.startswith("## ") or "market events over" in line:
            assert line in text.splitlines(), line
