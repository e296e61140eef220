"""Each risk rule trips on a run of the host, and the host reacts as documented."""

from __future__ import annotations

from decimal import Decimal

from host import Decision, Quote, Side, Strategy, hookimpl
from host.models import OrderStatus
from host.testing import build_host, config_dict, replay


def quoting_config(**risk: object) -> dict:
    config = config_dict()
    config["strategies"][0]["params"] = {"spread_ticks": 1, "order_size_quote": 1000}
    config["risk"] = {**risk}
    return config


def refused_rules(runtime) -> set[str]:
    return {rule for e in runtime.engine.risk_events for rule in e.rule.split(",")}


def test_max_order_quote_refuses_big_orders() -> None:
    runtime = replay(build_host(quoting_config(max_order_quote=500)), duration_s=10)
    assert runtime.engine.oms.orders_sent == 0
    assert refused_rules(runtime) == {"max_order"}


def test_max_position_stops_adding_to_the_position() -> None:
    """1000 USDT quotes, 1500 USDT limit: after one fill the same side is refused."""
    config = quoting_config(max_position_quote=1500)
    config["strategies"][0]["params"]["take_profit"] = False
    runtime = replay(build_host(config), duration_s=240)
    engine = runtime.engine
    assert engine.fills and "max_position" in refused_rules(runtime)
    instrument = engine.instruments[("sim", "BTCUSDT")].instrument
    position = engine.instruments[("sim", "BTCUSDT")].position
    # Never more than one quote's worth beyond the limit.
    assert abs(instrument.notional(640_000, position.size_lots)) <= Decimal(1500)


class FarQuoter(Strategy):
    name = "far_quoter"

    def on_book(self, book):
        mid = book.mid_ticks()
        if mid is None:
            return None
        return Decision(
            quotes=(
                Quote(Side.BUY, int(mid * 0.9), 1, "far_bid"),
                Quote(Side.BUY, int(mid) - 5, 1, "near_bid"),
            )
        )


class Offers:
    def __init__(self, *classes: type[Strategy]) -> None:
        self.classes = classes

    @hookimpl
    def mmhost_register_strategies(self):
        return list(self.classes)


def test_price_band_refuses_the_far_order_and_keeps_the_near_one() -> None:
    config = quoting_config(price_band_bps=100)
    config["strategies"][0].update(name="far_quoter", params={})
    runtime = replay(build_host(config, plugins=[Offers(FarQuoter)]), duration_s=5)
    tags = {o.tag for o in runtime.engine.oms.orders.values()}
    assert tags == {"near_bid"}
    assert refused_rules(runtime) == {"price_band"}


class Ladder(Strategy):
    name = "ladder_of_five"

    def on_book(self, book):
        mid = book.mid_ticks()
        if mid is None:
            return None
        return Decision(
            quotes=tuple(Quote(Side.BUY, int(mid) - 10 * (i + 1), 1, f"bid{i}") for i in range(5))
        )


def test_max_open_orders_refuses_a_decision_with_too_many_quotes() -> None:
    config = quoting_config(max_open_orders=4)
    config["strategies"][0].update(name="ladder_of_five", params={})
    runtime = replay(build_host(config, plugins=[Offers(Ladder)]), duration_s=5)
    assert runtime.engine.oms.orders_sent == 0
    assert refused_rules(runtime) == {"max_open_orders"}


class CrossingBid(Strategy):
    """Bids at the other strategy's ask: would trade with ourselves."""

    name = "crossing_bid"

    def on_book(self, book):
        mid = book.mid_ticks()
        if mid is None:
            return None
        return Decision(quotes=(Quote(Side.BUY, int(mid) + 50, 1, "bid", post_only=False),))


class RestingAsk(Strategy):
    name = "resting_ask"

    def on_book(self, book):
        mid = book.mid_ticks()
        if mid is None:
            return None
        return Decision(quotes=(Quote(Side.SELL, int(mid) + 40, 1, "ask"),))


def test_self_trade_prevention_refuses_a_bid_through_our_own_ask() -> None:
    config = quoting_config()
    config["strategies"] = [
        {"name": "resting_ask", "venue": "sim", "symbol": "BTCUSDT", "params": {}},
        {"name": "crossing_bid", "venue": "sim", "symbol": "BTCUSDT", "params": {}},
    ]
    runtime = replay(build_host(config, plugins=[Offers(RestingAsk, CrossingBid)]), duration_s=5)
    engine = runtime.engine
    assert "self_trade" in refused_rules(runtime)
    # No fill ever matched one of our orders against another of ours.
    link_ids = {f.order_link_id for f in engine.fills}
    sides = {engine.oms.orders[i].strategy_id for i in link_ids}
    assert "crossing_bid" not in sides or "resting_ask" not in sides


def test_a_decision_crossing_itself_is_refused() -> None:
    class SelfCross(Strategy):
        name = "self_cross"

        def on_book(self, book):
            mid = book.mid_ticks()
            if mid is None:
                return None
            return Decision(
                quotes=(
                    Quote(Side.BUY, int(mid) + 3, 1, "bid", post_only=False),
                    Quote(Side.SELL, int(mid) + 2, 1, "ask", post_only=False),
                )
            )

    config = quoting_config()
    config["strategies"][0].update(name="self_cross", params={})
    runtime = replay(build_host(config, plugins=[Offers(SelfCross)]), duration_s=3)
    assert {o.tag for o in runtime.engine.oms.orders.values()} == {"ask"}


def test_insufficient_balance_rejects_reach_the_strategy_with_the_venue_code() -> None:
    seen: list[tuple[str, str]] = []

    class Watcher(Strategy):
        name = "watcher"

        def on_book(self, book):
            mid = book.mid_ticks()
            if mid is None or self.ctx.open_orders:
                return None
            return Decision(quotes=(Quote(Side.BUY, int(mid) - 100, 10, "bid"),))

        def on_order_update(self, update):
            seen.append((update.status, update.reject_code))

    config = quoting_config()
    config["venues"][0]["balance_quote"] = 1
    config["strategies"][0].update(name="watcher", params={})
    runtime = replay(build_host(config, plugins=[Offers(Watcher)]), duration_s=3)
    assert (OrderStatus.REJECTED, "110007") in seen
    assert runtime.engine.oms.rejects > 0
