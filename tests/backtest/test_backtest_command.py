"""`mmhost backtest` and `mmhost synth` end to end: JSON, errors, reports, determinism."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import host.backtest.commands as backtest_commands
from host.backtest.session import BacktestSpec, run_backtest
from host.cli import build_parser
from host.marketdata.recording import read_recording
from host.models import BookMessage, Trade
from host.plugins import PluginHost

BUNDLED = [
    Path(__file__).resolve().parents[2] / "host/data/binance_usdm/btcusdt_20240718.gz",
    Path(__file__).resolve().parents[2] / "host/data/binance_usdm/btcusdt_20240719.gz",
]
QUOTING = ["--param", "spread_ticks=2", "--param", "order_size_quote=500"]


def mmhost(*argv: str) -> int:
    plugins = PluginHost()
    plugins.load_builtins()
    if not plugins.pm.is_registered(backtest_commands) and not any(
        getattr(p, "__name__", "") == "host.backtest.commands" for p in plugins.pm.get_plugins()
    ):
        plugins.pm.register(backtest_commands, name="host.backtest.commands")
    args = build_parser(plugins).parse_args(list(argv))
    return int(args.handler(args))


def test_backtest_json_has_the_promised_keys(
    synthetic_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = mmhost(
        "backtest", "--strategy", "static_spread", "--data", str(synthetic_file), "--json", *QUOTING
    )
    document = json.loads(capsys.readouterr().out)
    assert status == 0, document
    for key in (
        "fills",
        "volume",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
        "max_drawdown",
        "orders",
        "events",
        "sharpe_1min_annualized",
        "sortino_1min_annualized",
        "maker_share",
        "taker_share",
        "fill_ratio",
        "order_to_trade_ratio",
        "quote_uptime",
        "markout_1s_bps",
        "markout_10s_bps",
        "markout_60s_bps",
        "spread_captured_bps",
        "inventory_final",
    ):
        assert key in document, key
    assert document["status"] == "ok"
    assert document["events"] > 1000 and document["orders"] > 0
    assert document["backtest"]["symbol"] == "BTCUSDT"


def test_same_input_gives_identical_fills_and_summary() -> None:
    spec = BacktestSpec(
        strategy="static_spread",
        data=BUNDLED,
        params={"spread_ticks": 1, "order_size_quote": 1000, "take_profit_bps": 1.0},
    )
    first, second = run_backtest(spec), run_backtest(spec)
    assert first.runtime is not None and second.runtime is not None
    assert first.runtime.engine.fills and first.runtime.engine.fills == second.runtime.engine.fills
    first.document.pop("timing"), second.document.pop("timing")
    assert json.dumps(first.document, default=str) == json.dumps(second.document, default=str)


def corrupt_copy(source: Path, target: Path, bad_line_number: int) -> None:
    with gzip.open(source, "rt") as stream:
        lines = stream.readlines()
    lines.insert(bad_line_number - 1, "garbage that is not a frame\n")
    with gzip.open(target, "wt") as stream:
        stream.writelines(lines)


def test_corrupt_data_names_file_and_line(
    synthetic_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.gz"
    corrupt_copy(synthetic_file, bad, 500)
    status = mmhost("backtest", "--strategy", "static_spread", "--data", str(bad), *QUOTING)
    assert status == 1
    assert f"{bad}:500" in capsys.readouterr().err


def test_corrupt_line_skipped_and_counted_on_request(
    synthetic_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.gz"
    corrupt_copy(synthetic_file, bad, 500)
    status = mmhost(
        "backtest",
        "--strategy",
        "static_spread",
        "--data",
        str(bad),
        "--json",
        "--on-bad-line",
        "skip",
        *QUOTING,
    )
    document = json.loads(capsys.readouterr().out)
    assert status == 0 and document["reader"]["bad_lines"] == 1


def test_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = mmhost("backtest", "--strategy", "static_spread", "--data", "/nonexistent.gz")
    assert status == 2
    assert "/nonexistent.gz: no such file" in capsys.readouterr().err


RAISING_STRATEGY = """
from host import Strategy, StrategyParams


class Exploding(Strategy):
    name = "exploding"
    Params = StrategyParams

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.books = 0

    def on_book(self, book):
        self.books += 1
        if self.books == 300:
            raise RuntimeError("boom at book 300")
        return None
"""


def test_raising_strategy_exits_1_with_its_traceback_and_a_partial_report(
    synthetic_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "exploding.py").write_text(RAISING_STRATEGY)
    config = tmp_path / "config.toml"
    config.write_text(
        '[host]\nstrategy_dirs = ["strategies"]\nplugin_dirs = []\n'
        '[[venues]]\nname = "x"\nkind = "bybit"\nsymbols = ["BTCUSDT"]\n'
        '[[strategies]]\nname = "exploding"\nvenue = "x"\nsymbol = "BTCUSDT"\n'
    )
    report = tmp_path / "report.html"
    status = mmhost(
        "backtest",
        "--strategy",
        "exploding",
        "--config",
        str(config),
        "--data",
        str(synthetic_file),
        "--report",
        str(report),
    )
    err = capsys.readouterr().err
    assert status == 1
    assert "boom at book 300" in err and "Traceback" in err and "exploding.py" in err
    text = report.read_text()
    assert "PARTIAL REPORT" in text and "strategy_error" in text


def test_report_is_self_contained(
    synthetic_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "out.html"
    status = mmhost(
        "backtest",
        "--strategy",
        "static_spread",
        "--data",
        str(synthetic_file),
        "--report",
        str(report),
        "--param",
        "take_profit=false",
        *QUOTING,
    )
    assert status == 0
    text = report.read_text()
    assert "<svg" in text and "Markout curve" in text and "Inventory" in text
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text


def test_synth_is_reproducible_by_seed_and_replayable(tmp_path: Path) -> None:
    paths = [tmp_path / "a.gz", tmp_path / "b.gz", tmp_path / "c.gz"]
    for path, seed in zip(paths, (3, 3, 4), strict=True):
        assert (
            mmhost(
                "synth",
                "--out",
                str(path),
                "--seed",
                str(seed),
                "--duration",
                "20",
                "--regime",
                "volatile",
            )
            == 0
        )

    def content(path: Path) -> bytes:
        return gzip.decompress(path.read_bytes())

    assert content(paths[0]) == content(paths[1])
    assert content(paths[0]) != content(paths[2])
    events = list(read_recording([paths[0]]))
    books = [e for e in events if isinstance(e, BookMessage)]
    trades = [e for e in events if isinstance(e, Trade)]
    assert books[0].is_snapshot and len(books) > 100 and len(trades) > 50
    from host.book import OrderBook

    order_book = OrderBook("bybit-linear", "BTCUSDT")
    for message in books:
        order_book.apply(message)
        assert order_book.is_valid
    assert order_book.stats.gaps == 0 and order_book.stats.crossed == 0


def test_flash_crash_is_labelled(tmp_path: Path) -> None:
    out = tmp_path / "crash.gz"
    assert mmhost("synth", "--out", str(out), "--duration", "20", "--regime", "flash-crash") == 0
    labels = json.loads((tmp_path / "crash.gz.labels.json").read_text())
    assert [e["kind"] for e in labels["episodes"]] == ["flash_crash"]
