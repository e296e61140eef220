"""What every strategy in strategies/ must do, static_spread included.

- Decisions are pure: while its handlers run on the whole bundled recording,
  no socket, no file and no wall clock is touched, and the module imports no
  venue client.
- ``on_save`` / ``on_load`` round-trip: plain JSON-able data with a
  ``"version"`` key; a fresh instance loaded with it saves the same state.
- Deterministic under the simulated clock: two runs, identical fills.
- It trades: some fills within the 8 minutes with default parameters.
- Bad parameters fail at config load, naming ``strategies[0].params.<name>``.
"""

from __future__ import annotations

import json
import sys
from types import ModuleType

import pytest
from strategy_harness import (
    CROSS_VENUE_STRATEGIES,
    LIBRARY_STRATEGIES,
    REQUIRED_PARAMS,
    STRATEGY_NAMES,
    conformance_params,
    strategy_classes,
)

from host import ConfigError
from host.testing import build_host, config_dict

# Module names a strategy must never reach for: venues, network, clocks.
FORBIDDEN_IMPORTS = ("host.venues", "pybit", "ccxt", "socket", "requests", "time", "datetime")


def test_every_bundled_strategy_is_covered() -> None:
    assert set(LIBRARY_STRATEGIES) <= set(STRATEGY_NAMES)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_module_imports_no_venue_client_and_no_clock(name: str) -> None:
    module = sys.modules[strategy_classes()[name].__module__]
    reached = {
        value.__name__ for value in vars(module).values() if isinstance(value, ModuleType)
    } | {
        getattr(value, "__module__", "") or "" for value in vars(module).values() if callable(value)
    }
    for forbidden in FORBIDDEN_IMPORTS:
        assert not any(
            found == forbidden or found.startswith(forbidden + ".") for found in reached
        ), f"{name} reaches {forbidden}"


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_decisions_are_pure_on_the_bundled_recording(name: str, bundled_run) -> None:
    run = bundled_run(name, 0)
    assert run.violations == []
    assert run.runtime.engine.stats.strategy_errors == 0


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_two_runs_give_identical_fills(name: str, bundled_run) -> None:
    first = bundled_run(name, 0).fill_record()
    second = bundled_run(name, 1).fill_record()
    assert first == second


@pytest.mark.parametrize("name", [n for n in STRATEGY_NAMES if n not in CROSS_VENUE_STRATEGIES])
def test_trades_on_the_bundled_recording_with_default_params(name: str, bundled_run) -> None:
    run = bundled_run(name, 0)
    # Every single-venue strategy, defaults as shipped, gets both in and out at
    # least once in the 8 minutes.
    fills = run.runtime.engine.fills
    assert len(fills) >= 2
    assert {fill.side for fill in fills} == {1, -1}


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_state_round_trips_through_save_and_load(name: str, bundled_run) -> None:
    strategy = bundled_run(name, 0).strategy
    # The guard wrapped the handlers on the instance; the class's own are what a reload calls.
    state = type(strategy).on_save(strategy)
    assert "version" in state
    assert json.loads(json.dumps(state)) == state  # plain data, as a journal stores it
    fresh = type(strategy)(strategy.ctx, strategy.params)
    fresh.on_load(json.loads(json.dumps(state)))
    assert fresh.on_save() == state
    # A state saved before any event loads as well.
    untouched = type(strategy)(strategy.ctx, strategy.params)
    blank = untouched.on_save()
    other = type(strategy)(strategy.ctx, strategy.params)
    other.on_load(blank)
    assert other.on_save() == blank


BAD_PARAMS = [
    ("static_spread", {"spread_bps": -1}, "spread_bps", "greater than 0"),
    ("dynamic_spread", {"base_half_spread_bps": -0.1}, "base_half_spread_bps", ">= 0"),
    ("dynamic_spread", {"order_size_quote": 0}, "order_size_quote", "greater than 0"),
    ("avellaneda_stoikov", {"gamma": 0}, "gamma", "greater than 0"),
    ("avellaneda_stoikov", {"max_half_spread_bps": -1}, "max_half_spread_bps", "greater than 0"),
    ("glft", {"gamma": -0.5}, "gamma", "greater than 0"),
    ("glft", {"order_size_quote": 0}, "order_size_quote", "greater than 0"),
    ("ladder", {"levels": 0}, "levels", ">= 1"),
    ("ladder", {"level_spacing_bps": -1}, "level_spacing_bps", "greater than 0"),
    ("scalper", {"entry_imbalance": 1.5}, "entry_imbalance", "less than or equal to 1"),
    ("scalper", {"take_profit_bps": 0}, "take_profit_bps", "greater than 0"),
]


@pytest.mark.parametrize(("name", "params", "key", "expected"), BAD_PARAMS)
def test_bad_params_fail_at_config_load_naming_the_key_and_range(
    name: str, params: dict, key: str, expected: str
) -> None:
    config = config_dict()
    config["strategies"][0].update(name=name, params={**REQUIRED_PARAMS.get(name, {}), **params})
    if name == "static_spread":
        config["strategies"][0]["params"].pop("spread_ticks")
    with pytest.raises(ConfigError) as raised:
        build_host(config)
    message = str(raised.value).replace("greater than or equal to", ">=")
    assert f"strategies[0].params.{key}" in message
    assert expected in message


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_unknown_param_fails(name: str) -> None:
    config = config_dict()
    config["strategies"][0].update(name=name, params={**conformance_params(name), "spred": 1})
    with pytest.raises(ConfigError, match=r"unknown key strategies\[0\]\.params\.spred"):
        build_host(config)
