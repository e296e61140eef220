"""Malformed Decisions: refused before risk, the strategy told why, nothing sent."""

from __future__ import annotations

import math

import pytest

from host import Decision, Quote, Side, Strategy, Take, hookimpl
from host.engine import INVALID_DECISION
from host.testing import build_host, config_dict, replay

BAD_QUOTES = {
    "negative size": Quote(Side.BUY, 600_000, -1, "bad"),
    "float price": Quote(Side.BUY, 600_000.5, 1, "bad"),  # type: ignore[arg-type]
    "nan price": Quote(Side.BUY, math.nan, 1, "bad"),  # type: ignore[arg-type]
    "infinite size": Quote(Side.BUY, 600_000, math.inf, "bad"),  # type: ignore[arg-type]
    "unknown symbol": Quote(Side.BUY, 600_000, 1, "bad", symbol="DOGEUSDT"),
}


def runner(bad: Quote) -> type[Strategy]:
    class Sends(Strategy):
        name = "sends_bad"

        def __init__(self, ctx, params) -> None:
            super().__init__(ctx, params)
            self.refusals: list[tuple[str, str]] = []
            self.sent = False

        def on_book(self, book):
            mid = book.mid_ticks()
            if mid is None or self.sent:
                return None
            self.sent = True
            good = Quote(Side.BUY, int(mid) - 100, 1, "good")
            return Decision(quotes=(good, bad), takes=(Take(Side.BUY, 0, "zero"),))

        def on_order_update(self, update):
            if update.reject_code:
                self.refusals.append((update.reject_code, update.reject_reason))

    return Sends


@pytest.mark.parametrize("case", sorted(BAD_QUOTES))
def test_a_malformed_order_is_refused_with_a_reason_and_the_rest_goes_ahead(case: str) -> None:
    strategy_class = runner(BAD_QUOTES[case])

    class Offers:
        @hookimpl
        def mmhost_register_strategies(self):
            return [strategy_class]

    config = config_dict()
    config["strategies"][0].update(name="sends_bad", params={})
    runtime = replay(build_host(config, plugins=[Offers()]), duration_s=3)
    engine = runtime.engine
    strategy = engine.slots["sends_bad"].strategy
    reasons = dict(
        (r.split(":")[0], r) for code, r in strategy.refusals if code == INVALID_DECISION
    )
    assert set(reasons) == {"bad", "zero"}
    assert {o.tag for o in engine.oms.orders.values()} == {"good"}  # nothing malformed sent
    assert engine.stats.invalid_orders == 2
