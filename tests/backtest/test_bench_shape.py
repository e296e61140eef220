"""bench/backtest.py in quick mode: the shape of its JSON, not its speed."""

from __future__ import annotations

import importlib.util

from host.testing import PROJECT_ROOT


def test_quick_bench_reports_both_engines_fields() -> None:
    path = PROJECT_ROOT / "bench" / "backtest.py"
    spec = importlib.util.spec_from_file_location("mmhost_bench_backtest_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run(quick=True)
    for key in (
        "our_loop_s",
        "hftbacktest_loop_s",
        "ratio_vs_hftbacktest",
        "our_conversion_s",
        "hftbacktest_conversion_s",
        "ours",
        "hftbacktest",
        "settings",
    ):
        assert key in result, key
    assert result["our_loop_s"] > 0
    assert result["ours"]["status"] == "ok" and result["ours"]["events"] > 0
