"""bench/backtest.py in quick mode: the shape of its JSON, not its speed."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from host.testing import PROJECT_ROOT


def load_bench() -> ModuleType:
    path = PROJECT_ROOT / "bench" / "backtest.py"
    spec = importlib.util.spec_from_file_location("mmhost_bench_backtest_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_bench_reports_both_engines_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    # Quick mode must never need hftbacktest: make importing it fail.
    monkeypatch.setitem(sys.modules, "hftbacktest", None)
    result = load_bench().run(quick=True)
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
    assert result["hftbacktest"] == "skipped in quick mode"
    assert result["our_loop_s"] > 0 and result["our_conversion_s"] > 0
    ours = result["ours"]
    assert ours["status"] == "ok" and ours["events"] > 0
    for key in (
        "fills",
        "maker_fills",
        "volume_quote",
        "fees_quote",
        "realized_plus_unrealized_pnl_quote",
        "net_pnl_quote",
        "position_qty",
    ):
        assert key in ours, key
    assert result["settings"]["step_ms"] == 100


def test_bench_strategy_cancels_and_replaces_on_its_timer() -> None:
    """The quote's price is in its tag, so a moved quote is cancelled and a new
    order placed (hftbacktest's loop: a new order id), never amended: more
    cancels than the two quotes taken down when the run stops."""
    ours = load_bench().run(quick=True)["ours"]
    assert ours["cancels"] > 2
    assert ours["orders"] > ours["fills"] + 2
