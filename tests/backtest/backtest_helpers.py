"""Shared pieces of the backtest tests: a scripted strategy and hand-built markets."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from host import Decision, Strategy, StrategyParams
from host.backtest.synthetic import SynthSpec, write_synthetic
from host.hookspecs import hookimpl
from host.models import BookMessage, Side, Trade

MS = 1_000_000
VENUE = "sim"
SYMBOL = "BTCUSDT"


class Scripted(Strategy):
    """Returns ``script[n]`` on its n-th book event (0-based); records what it hears."""

    name = "scripted"
    Params = StrategyParams
    script: ClassVar[dict[int, Decision]] = {}

    def __init__(self, ctx: Any, params: StrategyParams) -> None:
        super().__init__(ctx, params)
        self.book_events = 0
        self.fills: list[Any] = []
        self.updates: list[Any] = []
        self.seen_local_ns: list[int] = []

    def on_book(self, book: Any) -> Decision | None:
        index = self.book_events
        self.book_events += 1
        self.seen_local_ns.append(self.ctx.clock.now_ns())
        return type(self).script.get(index)

    def on_fill(self, fill: Any) -> None:
        self.fills.append(fill)

    def on_order_update(self, update: Any) -> None:
        self.updates.append(update)


class ScriptedPlugin:
    @hookimpl
    def mmhost_register_strategies(self) -> list[type[Strategy]]:
        return [Scripted]


def book(
    exchange_ms: float,
    update_id: int,
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    *,
    snapshot: bool = False,
    local_ms: float | None = None,
) -> BookMessage:
    exchange_ns = int(exchange_ms * MS)
    return BookMessage(
        venue=VENUE,
        symbol=SYMBOL,
        ts_exchange_ns=exchange_ns,
        ts_local_ns=int(local_ms * MS) if local_ms is not None else exchange_ns,
        is_snapshot=snapshot,
        bids=bids,
        asks=asks,
        first_update_id=update_id,
        last_update_id=update_id,
        prev_update_id=-1 if snapshot else update_id - 1,
    )


def trade(exchange_ms: float, price_ticks: int, size_lots: int, aggressor: Side) -> Trade:
    exchange_ns = int(exchange_ms * MS)
    return Trade(VENUE, SYMBOL, exchange_ns, exchange_ns, price_ticks, size_lots, aggressor)


def scripted_config(**venue: Any) -> dict[str, Any]:
    from host.testing import config_dict

    config = config_dict()
    config["venues"][0].update(
        {
            "maker_fee_bps": 1.0,
            "taker_fee_bps": 5.0,
            "order_latency_ms": 5.0,
            "response_latency_ms": 5.0,
            "queue_model": "risk_averse",
            **venue,
        }
    )
    config["strategies"] = [{"name": "scripted", "venue": VENUE, "symbol": SYMBOL, "params": {}}]
    return config


@pytest.fixture(scope="session")
def synthetic_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s of a quiet synthetic BTCUSDT market (seed 7)."""
    path = tmp_path_factory.mktemp("synth") / "quiet.gz"
    write_synthetic(path, SynthSpec(seed=7, duration_s=30, regime="quiet"))
    return path
