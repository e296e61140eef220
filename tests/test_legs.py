"""A strategy that watches a second venue sees its book and trades it (arbitrage legs)."""

from __future__ import annotations

import copy

import pytest

from host import Decision, Quote, Side, Strategy, Take, hookimpl
from host.config import ConfigError
from host.testing import build_host, config_dict, replay


class TwoLegs(Strategy):
    name = "two_legs"

    def __init__(self, ctx, params) -> None:
        super().__init__(ctx, params)
        self.books_seen: set[str] = set()
        self.took = False

    def on_book(self, book):
        self.books_seen.add(book.venue)
        other = self.ctx.leg("b", "BTCUSDT")
        if self.took or other.book.mid_ticks() is None or book.mid_ticks() is None:
            return None
        self.took = True
        return Decision(
            quotes=(Quote(Side.BUY, int(book.mid_ticks()) - 50, 1, "bid"),),
            takes=(Take(Side.BUY, 2, "hedge", venue="b", symbol="BTCUSDT"),),
        )


class Offers:
    @hookimpl
    def mmhost_register_strategies(self):
        return [TwoLegs]


def two_venue_config() -> dict:
    config = config_dict()
    second = copy.deepcopy(config["venues"][0])
    second["name"] = "b"
    config["venues"][0]["name"] = "a"
    config["venues"].append(second)
    config["strategies"] = [
        {"name": "two_legs", "venue": "a", "symbol": "BTCUSDT", "watch": ["b:BTCUSDT"]}
    ]
    return config


def test_a_watched_leg_is_seen_and_traded_with_its_own_position() -> None:
    runtime = replay(build_host(two_venue_config(), plugins=[Offers()]), duration_s=20)
    engine = runtime.engine
    strategy = engine.slots["two_legs"].strategy
    assert strategy.books_seen == {"a", "b"}
    hedge = next(o for o in engine.oms.orders.values() if o.tag == "hedge")
    bid = next(o for o in engine.oms.orders.values() if o.tag == "bid")
    assert (hedge.venue, bid.venue) == ("b", "a")
    assert strategy.ctx.leg("b", "BTCUSDT").position.size_lots == 2
    assert strategy.ctx.position.size_lots == 0  # nothing filled on its own venue
    assert engine.instruments[("b", "BTCUSDT")].position.size_lots == 2
    assert {f.venue for f in engine.fills} == {"b"}


def test_flatten_closes_every_leg() -> None:
    runtime = build_host(two_venue_config(), plugins=[Offers()])
    engine = runtime.engine
    done = {"flattened": False}

    def flatten_once() -> bool:
        if engine.leg_positions[("two_legs", "b", "BTCUSDT")].size_lots and not done["flattened"]:
            done["flattened"] = True
            engine.flatten()
        return False

    from host.backtest.runner import merge_feeds, run_replay

    run_replay(
        engine,
        merge_feeds(runtime.feeds),
        runtime.scheduler,
        runtime.sim_venues,
        duration_s=20,
        progress_every=5,
        should_stop=flatten_once,
    )
    assert done["flattened"]
    assert engine.instruments[("b", "BTCUSDT")].position.size_lots == 0


def test_watching_an_unknown_instrument_is_a_config_error() -> None:
    config = two_venue_config()
    config["strategies"][0]["watch"] = ["b:ETHUSDT"]
    with pytest.raises(ConfigError, match=r"strategies\[0\]\.watch\[0\] = 'b:ETHUSDT'"):
        build_host(config, plugins=[Offers()])


def test_legs_quoted_in_different_currencies_are_a_config_error() -> None:
    from dataclasses import replace

    from host.instruments import lookup, register

    register(replace(lookup("binance-usdm", "BTCUSDT"), symbol="BTCUSDC", quote="USDC"))
    config = two_venue_config()
    config["venues"][1]["symbols"] = ["BTCUSDC"]
    config["strategies"][0]["watch"] = ["b:BTCUSDC"]
    with pytest.raises(ConfigError, match=r"'b:BTCUSDC': quoted in USDC, while a:BTCUSDT"):
        build_host(config, plugins=[Offers()])
