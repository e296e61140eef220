"""Hand-built market sequences with known answers, driven through the real engine.

``ScriptedMarket`` builds a real ``Engine`` (no venue, no strategy) with the
chosen analyzer files loaded from plugins/ by the real loader, then feeds it
``BookMessage`` and ``Trade`` values written by hand, advancing a SimClock to
each event's time as the replay driver does. Times are given in milliseconds
from an arbitrary origin; prices in ticks, sizes in lots.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from host import BookMessage, Fill, Instrument, Side, Trade
from host.clock import Scheduler, SimClock
from host.config import parse_config
from host.engine import Engine
from host.plugins import PluginHost
from host.testing import PROJECT_ROOT, config_dict

VENUE = "sim"
SYMBOL = "BTCUSDT"
ORIGIN_NS = 1_700_000_000_000_000_000


def ms(milliseconds: float) -> int:
    """A time ``milliseconds`` after the origin, in ns."""
    return ORIGIN_NS + int(milliseconds * 1_000_000)


class ScriptedMarket:
    """One instrument, a few analyzers, events by hand."""

    def __init__(self, *plugin_names: str, settings: dict[str, dict[str, Any]] | None = None):
        config = parse_config(config_dict(strategies=[], plugins=settings or {}))
        self.plugins = PluginHost()
        for name in plugin_names:
            record = self.plugins.load_file(
                PROJECT_ROOT / "plugins" / f"{name}.py", strategies=False
            )
            assert record.error is None, record.error
        self.clock = SimClock(ORIGIN_NS)
        self.engine = Engine(config, self.plugins, self.clock, Scheduler(self.clock))
        instrument = Instrument(VENUE, SYMBOL, Decimal("0.1"), Decimal("0.001"))
        self.state = self.engine.add_instrument(instrument, venue_name=VENUE, symbol=SYMBOL)
        self.engine.start()
        self.update_id = 0

    def module(self, name: str) -> Any:
        """The loaded plugin module (for its API: ``events``, ``walls`` ...)."""
        return self.plugins.pm.get_plugin(name)

    @property
    def signals(self) -> Any:
        return self.state.signals

    @property
    def book(self) -> Any:
        return self.state.book

    def _advance(self, ts_ns: int) -> None:
        self.clock.advance_to(ts_ns)

    def snapshot(self, at_ms: float, bids: dict[int, int], asks: dict[int, int]) -> None:
        self.update_id += 1
        ts_ns = ms(at_ms)
        self._advance(ts_ns)
        message = BookMessage(
            VENUE, SYMBOL, ts_ns, ts_ns, True, sorted(bids.items()), sorted(asks.items())
        )
        self.engine.on_book_message(message)

    def delta(
        self,
        at_ms: float,
        bids: dict[int, int] | None = None,
        asks: dict[int, int] | None = None,
    ) -> None:
        """Changed levels only; size 0 deletes."""
        ts_ns = ms(at_ms)
        self._advance(ts_ns)
        message = BookMessage(
            VENUE,
            SYMBOL,
            ts_ns,
            ts_ns,
            False,
            sorted((bids or {}).items()),
            sorted((asks or {}).items()),
        )
        self.engine.on_book_message(message)

    def trade(self, at_ms: float, price_ticks: int, size_lots: int, aggressor: Side) -> None:
        ts_ns = ms(at_ms)
        self._advance(ts_ns)
        self.engine.on_trade(Trade(VENUE, SYMBOL, ts_ns, ts_ns, price_ticks, size_lots, aggressor))

    def our_fill(self, at_ms: float, side: Side, price_ticks: int, size_lots: int = 1) -> None:
        """One of our fills, through the ``mmhost_fill`` hook."""
        ts_ns = ms(at_ms)
        self._advance(ts_ns)
        fill = Fill(
            VENUE,
            SYMBOL,
            f"test-{ts_ns}",
            f"exec-{ts_ns}",
            side,
            price_ticks,
            size_lots,
            Decimal(0),
            True,
            ts_ns,
        )
        self.plugins.pm.hook.mmhost_fill(fill=fill)
