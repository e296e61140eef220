"""`mmhost analyze`: every analyzer over a recording, a summary per signal."""

from __future__ import annotations

import io
import json
import math
import random
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from host.backtest.analysis import SAMPLE_LIMIT, SignalSeries, percentile
from host.backtest.synthetic import SynthSpec, write_synthetic
from host.cli import main

# The analyzers of plugins/ and a signal each writes on any market with a book and trades.
BUNDLED_ANALYZERS = {
    "imbalance": "imbalance_5",
    "order_flow": "ofi_1s",
    "trade_flow": "trades_per_s",
    "volatility": "volatility_bps_10s",
    "liquidity_walls": "wall_bid_distance_ticks",
    "spoofing": "spoof_score_bid",
    "toxic_flow": "toxic_flow_alert",
}
FIGURES = ("min", "p5", "p50", "mean", "p95", "max", "last")

MID_ANALYZER = '''
from host import hookimpl


@hookimpl
def mmhost_book_updated(book, ctx):
    if book.is_valid:
        ctx.signals.set("test_mid_ticks", book.mid_ticks(), ctx.now_ns())
'''


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("analyze") / "market.gz"
    write_synthetic(path, SynthSpec(seed=3, duration_s=8))
    return path


@pytest.fixture(scope="module")
def document(recording: Path) -> dict[str, Any]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(["analyze", "--data", str(recording), "--json"])
    assert status == 0
    return json.loads(out.getvalue())


def test_every_bundled_analyzer_reports_its_signals(document: dict[str, Any]) -> None:
    analyzers = document["analyzers"]
    assert set(analyzers) == set(BUNDLED_ANALYZERS)
    for name, signal in BUNDLED_ANALYZERS.items():
        assert signal in analyzers[name]["signals"], (name, sorted(analyzers[name]["signals"]))
    # A decision adjuster is loaded, but it is not an analyzer.
    assert document["other_plugins"] == ["inventory_skew"]
    assert document["plugin_failures"] == []
    assert document["symbol"] == "BTCUSDT" and document["format"] == "mmhost"
    assert document["book_messages"] > 0 and document["trades"] > 0


def test_signal_statistics_are_sane(document: dict[str, Any]) -> None:
    for name, analyzer in document["analyzers"].items():
        for signal, stats in analyzer["signals"].items():
            where = f"{name}.{signal}: {stats}"
            assert stats["updates"] > 0, where
            assert stats["non_finite"] == 0, where
            assert all(math.isfinite(stats[key]) for key in FIGURES), where
            assert stats["min"] <= stats["p5"] <= stats["p50"] <= stats["p95"] <= stats["max"]
            assert stats["min"] <= stats["mean"] <= stats["max"], where
            assert stats["min"] <= stats["last"] <= stats["max"], where
    imbalance = document["analyzers"]["imbalance"]["signals"]["imbalance_5"]
    assert imbalance["min"] >= -1.0 and imbalance["max"] <= 1.0
    # Trade-flow signals are written once per trade, book signals once per book message at most.
    assert (
        document["analyzers"]["trade_flow"]["signals"]["trades_per_s"]["updates"]
        == document["trades"]
    )
    assert (
        document["analyzers"]["imbalance"]["signals"]["microprice_ticks"]["updates"]
        <= document["book_messages"]
    )


def test_events_and_walls_are_reported(document: dict[str, Any]) -> None:
    spoofing = document["analyzers"]["spoofing"]
    assert spoofing["events"]["total"] == sum(spoofing["events"]["by_kind"].values())
    assert spoofing["signals"]["spoof_events"]["last"] == spoofing["events"]["total"]
    walls = document["analyzers"]["liquidity_walls"]["walls"]
    assert isinstance(walls, list)
    for wall in walls:
        assert wall["side"] in ("Buy", "Sell")
        assert wall["distance_ticks"] >= 0 and wall["size_lots"] > 0
        assert isinstance(wall["price"], str)  # money as decimal text


def test_the_table_names_every_analyzer_and_signal(
    recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", "--data", str(recording)]) == 0
    out = capsys.readouterr().out
    for name, signal in BUNDLED_ANALYZERS.items():
        assert name in out and signal in out
    assert "BTCUSDT" in out


def test_a_missing_file_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.gz"
    assert main(["analyze", "--data", str(missing), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert str(missing) in captured.err and len(captured.err.strip().splitlines()) == 1


def test_a_corrupt_file_is_a_usage_error_naming_it(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(recording.read_bytes()[: recording.stat().st_size // 2])
    assert main(["analyze", "--data", str(truncated)]) == 2
    err = capsys.readouterr().err
    assert str(truncated) in err and len(err.strip().splitlines()) == 1
    junk = tmp_path / "junk.txt"
    junk.write_text("not market data\n")
    assert main(["analyze", "--data", str(junk)]) == 2
    assert str(junk) in capsys.readouterr().err


def test_another_plugin_folder_and_a_broken_plugin(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mid.py").write_text(MID_ANALYZER)
    (tmp_path / "broken.py").write_text("raise RuntimeError('not today')\n")
    status = main(["analyze", "--data", str(recording), "--plugins", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert status == 1  # the summary is printed, but a plugin is missing from it
    assert "broken" in captured.err
    assert [failure["name"] for failure in document["plugin_failures"]] == ["broken"]
    assert list(document["analyzers"]) == ["mid"]
    mid = document["analyzers"]["mid"]["signals"]["test_mid_ticks"]
    assert mid["updates"] > 0 and mid["min"] <= mid["p50"] <= mid["max"]


def test_settings_come_from_the_config_plugins_tables(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "analyzers.toml"
    config.write_text("[plugins.order_flow]\nwindows_s = [2]\n")
    assert main(["analyze", "--data", str(recording), "--config", str(config), "--json"]) == 0
    signals = json.loads(capsys.readouterr().out)["analyzers"]["order_flow"]["signals"]
    assert "ofi_2s" in signals and "ofi_1s" not in signals
    config.write_text("[plugins.order_flow]\nwindows_s = 'often'\n")
    assert main(["analyze", "--data", str(recording), "--config", str(config)]) == 2
    assert "windows_s" in capsys.readouterr().err


# -- the running figures ------------------------------------------------------------------


def test_percentiles_interpolate_between_order_statistics() -> None:
    assert percentile([], 0.5) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.0) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 1.0) == 4.0


def test_series_counts_non_finite_values_apart() -> None:
    series = SignalSeries("x", "test")
    for value in (1.0, math.nan, 3.0, math.inf):
        series.add(value)
    summary = series.summary()
    assert summary["updates"] == 4 and summary["non_finite"] == 2
    assert (summary["min"], summary["mean"], summary["max"]) == (1.0, 2.0, 3.0)
    assert summary["last"] is None  # the last write was infinite


def test_a_long_series_keeps_a_bounded_even_sample() -> None:
    rng = random.Random(5)
    series = SignalSeries("x", "test")
    values = [rng.random() for _ in range(3 * SAMPLE_LIMIT)]
    for value in values:
        series.add(value)
    summary = series.summary()
    assert len(series.sample) < SAMPLE_LIMIT
    assert summary["updates"] == len(values)
    assert summary["min"] == pytest.approx(min(values))
    assert summary["max"] == pytest.approx(max(values))
    # Every 4th write: the writes are evenly spread over the whole run.
    assert series.stride == 4 and list(series.sample[:3]) == values[3:12:4]
    assert summary["p50"] == pytest.approx(0.5, abs=0.01)
    assert summary["p5"] == pytest.approx(0.05, abs=0.01)
    assert summary["p95"] == pytest.approx(0.95, abs=0.01)
