"""Protective orders: a Stop in a Decision becomes a conditional order at the venue."""

from __future__ import annotations

from host import Decision, Side, Stop, Strategy, Take, hookimpl
from host.models import OrderStatus
from host.oms import OrderManager
from host.testing import build_host, config_dict, replay


class BuyThenProtect(Strategy):
    """Buys once at market, then rests a stop-loss 20 ticks under the fill."""

    name = "buy_then_protect"

    def __init__(self, ctx, params) -> None:
        super().__init__(ctx, params)
        self.bought = False
        self.stop_ticks: int | None = None

    def on_book(self, book):
        if self.bought or book.mid_ticks() is None:
            return None
        self.bought = True
        return Decision(takes=(Take(Side.BUY, 2, "entry"),))

    def on_fill(self, fill):
        size = self.ctx.position.size_lots
        if size <= 0:
            return Decision()
        if self.stop_ticks is None:
            self.stop_ticks = fill.price_ticks - 20
        return Decision(stops=(Stop(Side.SELL, size, self.stop_ticks, False, "stop_loss"),))


class Offers:
    @hookimpl
    def mmhost_register_strategies(self):
        return [BuyThenProtect]


def test_a_stop_loss_triggers_and_closes_the_position() -> None:
    config = config_dict()
    config["strategies"][0].update(name="buy_then_protect", params={})
    runtime = replay(build_host(config, plugins=[Offers()]))
    engine = runtime.engine
    orders = engine.oms.orders.values()
    stop = next(o for o in orders if o.tag == "stop_loss")
    strategy = engine.slots["buy_then_protect"].strategy
    assert stop.trigger_price_ticks == strategy.stop_ticks
    assert stop.status == OrderStatus.FILLED
    stop_fills = [f for f in engine.fills if f.order_link_id == stop.order_link_id]
    assert stop_fills and not stop_fills[0].is_maker  # a market order once triggered
    # Sold at or below the trigger: the market fell through it.
    assert all(f.price_ticks <= stop.trigger_price_ticks for f in stop_fills)
    assert engine.instruments[("sim", "BTCUSDT")].position.size_lots == 0


def test_oms_keeps_an_unchanged_stop_and_replaces_a_moved_one() -> None:
    oms = OrderManager("d")
    first = Decision(stops=(Stop(Side.SELL, 3, 1000, False, "sl"),))
    (new,) = oms.diff("s", "sim", "BTCUSDT", first)
    assert new.trigger_price_ticks == 1000 and not new.trigger_rising and new.reduce_only
    assert new.price_ticks is None  # market once triggered
    from host.models import OrderUpdate

    oms.apply_update(
        OrderUpdate(
            "sim", "BTCUSDT", new.order_link_id, OrderStatus.UNTRIGGERED, 0, Side.SELL, None, 3
        )
    )
    assert oms.diff("s", "sim", "BTCUSDT", first) == []
    moved = oms.diff("s", "sim", "BTCUSDT", Decision(stops=(Stop(Side.SELL, 3, 990, False, "sl"),)))
    assert [type(a).__name__ for a in moved] == ["CancelOrder", "NewOrder"]
    assert moved[1].trigger_price_ticks == 990
