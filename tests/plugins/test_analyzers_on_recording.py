"""All analyzers on the bundled recording: finite signals, settings honoured."""

from __future__ import annotations

import math

import pytest

from host.testing import PROJECT_ROOT, build_host, config_dict, replay

EXPECTED = {
    "imbalance_5",
    "imbalance_10bps",
    "microprice_ticks",
    "ofi_1s",
    "ofi_5s",
    "trade_imbalance_10s",
    "trades_per_s",
    "large_trade",
    "volatility_bps_10s",
    "volatility_bps_60s",
    "wall_bid_distance_ticks",
    "wall_ask_age_s",
    "spoof_score_bid",
    "spoof_score_ask",
    "toxic_flow_alert",
    "markout_bps_10s",
}


@pytest.mark.slow
def test_all_analyzers_on_the_bundled_recording_give_finite_signals() -> None:
    runtime = replay(build_host(config_dict(), plugin_dirs=[PROJECT_ROOT / "plugins"]))
    assert not runtime.plugins.failures
    board = runtime.engine.instruments[("sim", "BTCUSDT")].signals
    names = set(board.names())
    assert names >= EXPECTED
    assert all(math.isfinite(board[name]) for name in names)
    assert -1.0 <= board["imbalance_5"] <= 1.0
    assert board["volatility_bps_60s"] > 0.0
    assert board["trades_per_s"] > 0.0


def test_settings_reach_the_analyzers() -> None:
    config = config_dict(plugins={"imbalance": {"levels": [3]}, "order_flow": {"windows_s": [2]}})
    runtime = replay(build_host(config, plugin_dirs=[PROJECT_ROOT / "plugins"]), duration_s=5)
    names = set(runtime.engine.instruments[("sim", "BTCUSDT")].signals.names())
    assert {"imbalance_3", "ofi_2s"} <= names
    assert "imbalance_5" not in names
    assert "ofi_1s" not in names


def test_bench_quick_runs() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_analyzers_test", PROJECT_ROOT / "bench" / "analyzers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run(quick=True)
    assert result["events"] > 0
    assert result["seconds_without"] > 0 and result["seconds_with"] > 0
    assert result["signals_all_finite"] is True
    assert "overhead_ratio" in result
