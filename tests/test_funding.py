"""Funding payments of perpetuals count in PnL: charged by the simulator at the
8-hour boundaries, reported by Bybit as executions of type Funding."""

from __future__ import annotations

from decimal import Decimal

from host import Decision, Side, Strategy, Take, hookimpl
from host.config import Credentials, VenueSection
from host.instruments import lookup
from host.marketdata.bybit import ExecutionItem
from host.testing import build_host, config_dict, replay
from host.venues.bybit import BybitVenue


class BuyAndHold(Strategy):
    name = "buy_and_hold"

    def on_book(self, book):
        if getattr(self, "bought", False) or book.mid_ticks() is None:
            return None
        self.bought = True
        return Decision(takes=(Take(Side.BUY, 10, "entry"),))


class Offers:
    @hookimpl
    def mmhost_register_strategies(self):
        return [BuyAndHold]


def test_a_held_long_pays_funding_at_midnight_utc_and_pnl_counts_it() -> None:
    config = config_dict()
    config["venues"][0]["funding_rate_bps"] = 1  # 0.01 % per 8 hours
    config["strategies"][0].update(name="buy_and_hold", params={})
    # The recording runs from 23:57 to 00:05 UTC: one funding time inside.
    runtime = replay(build_host(config, plugins=[Offers()]))
    engine = runtime.engine
    assert engine.stats.funding_payments == 1
    position = engine.instruments[("sim", "BTCUSDT")].position
    assert position.size_lots == 10
    # 0.010 BTC at a mid near 63,900 USDT, times 0.0001.
    assert Decimal("0.06") < position.funding < Decimal("0.07")
    summary = engine.summary()
    assert summary.funding == position.funding
    assert summary.net_pnl == (
        summary.realized_pnl + summary.unrealized_pnl - summary.fees - summary.funding
    )
    assert summary.to_json()["funding"] == format(
        position.funding.quantize(Decimal("1e-8")).normalize(), "f"
    )


def test_without_a_rate_nothing_is_charged() -> None:
    config = config_dict()
    config["strategies"][0].update(name="buy_and_hold", params={})
    runtime = replay(build_host(config, plugins=[Offers()]))
    assert runtime.engine.stats.funding_payments == 0
    assert runtime.engine.summary().funding == 0


class FundingSink:
    def __init__(self) -> None:
        self.funding: list = []

    def on_funding(self, funding) -> None:
        self.funding.append(funding)


def test_bybit_funding_executions_become_funding_events() -> None:
    sink = FundingSink()
    instruments = {"BTCUSDT": lookup("bybit-linear", "BTCUSDT")}
    config = VenueSection(name="bybit", kind="bybit", symbols=["BTCUSDT"], endpoint="testnet")
    venue = BybitVenue(config, instruments, None, sink, credentials=Credentials("k" * 8, "s" * 8))
    # What Bybit's execution stream sends for a funding charge (no order, execFee paid).
    venue._apply_execution(
        ExecutionItem(
            category="linear",
            symbol="BTCUSDT",
            execId="f-1",
            execType="Funding",
            execFee="0.0634",
            execTime="1721347200000",
        )
    )
    (funding,) = sink.funding
    assert (funding.venue, funding.symbol, funding.exec_id) == ("bybit", "BTCUSDT", "f-1")
    assert funding.amount == Decimal("0.0634")
    assert funding.ts_ns == 1721347200000 * 1_000_000
