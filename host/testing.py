"""Test helpers and pytest fixtures for mmhost and for desks' plugin packages.

Installed as a ``pytest11`` plugin, so any project with mmhost installed gets
the fixtures: ``bundled_config`` (a config dict replaying the bundled
recording) and ``run_host`` (build and replay a host, return the runtime).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from host.backtest.runner import merge_feeds, run_replay
from host.config import parse_config
from host.plugins import PluginHost, build_plugin_host
from host.runtime import Runtime, build_runtime

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_RECORDING = [
    "bundled:binance_usdm/btcusdt_20240718.gz",
    "bundled:binance_usdm/btcusdt_20240719.gz",
]

BASE_CONFIG: dict[str, Any] = {
    # No journal by default: tests that want one give it a path in tmp_path.
    "host": {
        "mode": "backtest",
        "desk": "test",
        "plugin_dirs": [],
        "strategy_dirs": [],
        "journal": "",
    },
    "venues": [
        {
            "name": "sim",
            "kind": "sim",
            "market": "binance-usdm",
            "symbols": ["BTCUSDT"],
            "data": BUNDLED_RECORDING,
            "maker_fee_bps": 1.0,
            "taker_fee_bps": 5.0,
        }
    ],
    "strategies": [
        {
            "name": "static_spread",
            "venue": "sim",
            "symbol": "BTCUSDT",
            "params": {"spread_ticks": 1, "order_size_quote": 1000, "take_profit_bps": 1.0},
        }
    ],
}


def shipped_config_text(*, replay: bool = True, absolute: bool = True) -> str:
    """config.toml as shipped. ``absolute`` makes its folders absolute (usable
    from any directory); ``replay`` turns its venues into sim venues replaying
    the same data in paper mode (what ``mmhost run --venue sim`` does): no
    emulator, no socket, deterministic."""
    text = (PROJECT_ROOT / "config.toml").read_text()
    if absolute:
        for folder in ("strategies", "plugins"):
            text = text.replace(f'["{folder}"]', f'["{PROJECT_ROOT / folder}"]')
    if replay:
        text = text.replace('kind = "bybit"', 'kind = "sim"').replace(
            'mode = "live"', 'mode = "paper"'
        )
    return text


def config_dict(**sections: Any) -> dict[str, Any]:
    """A deep copy of ``BASE_CONFIG`` with whole sections replaced."""
    config = copy.deepcopy(BASE_CONFIG)
    config.update(copy.deepcopy(sections))
    return config


def build_host(
    config: dict[str, Any],
    *,
    plugins: Iterable[object] = (),
    strategy_dirs: Iterable[Path] = (PROJECT_ROOT / "strategies",),
    plugin_dirs: Iterable[Path] = (),
    source: Path | str = PROJECT_ROOT / "config.toml",
) -> Runtime:
    """Build a runtime from a config dict; extra plugin objects are registered first."""
    parsed = parse_config(config, source=source)
    host: PluginHost = build_plugin_host(list(plugin_dirs), list(strategy_dirs), entry_points=False)
    for index, plugin in enumerate(plugins):
        host.register(plugin, name=f"test-plugin-{index}", source="test", location="test")
    return build_runtime(parsed, host, raise_strategy_errors=True)


def replay(runtime: Runtime, *, duration_s: float | None = None) -> Runtime:
    """Run the runtime's feeds to the end (or ``duration_s`` of market time)."""
    run_replay(
        runtime.engine,
        merge_feeds(runtime.feeds),
        runtime.scheduler,
        runtime.sim_venues,
        duration_s=duration_s,
    )
    return runtime


@pytest.fixture
def bundled_config() -> dict[str, Any]:
    """A config dict: static_spread on the bundled BTCUSDT recording."""
    return config_dict()


@pytest.fixture
def run_host() -> Callable[..., Runtime]:
    """``run_host(config_dict, plugins=[...], duration_s=10)`` -> finished Runtime."""

    def run(config: dict[str, Any], *, duration_s: float | None = None, **kwargs: Any) -> Runtime:
        return replay(build_host(config, **kwargs), duration_s=duration_s)

    return run
