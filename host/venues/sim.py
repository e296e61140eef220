"""The simulated venue: the matching engine behind order and response latency.

Used for backtests and paper trading. An order action reaches the matching
engine ``order_latency_ms`` after it was sent; the engine's answers reach the
host ``response_latency_ms`` later. So a cancel can lose the race against a
fill, as it does on a real venue.

The market reaches the matching engine through ``on_market`` at the time the
exchange saw it; the replay driver decides when that is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from host.clock import Scheduler
from host.hookspecs import hookimpl
from host.models import (
    AmendOrder,
    BookMessage,
    CancelOrder,
    Fill,
    Funding,
    Instrument,
    NewOrder,
    OrderAction,
    OrderUpdate,
    Trade,
)
from host.venues.base import VenueEventSink
from host.venues.matching import (
    ConditionalOrder,
    MatchingEngine,
    ProbabilisticQueue,
    RiskAverseQueue,
    TriggerDirection,
)

if TYPE_CHECKING:
    from host.config import VenueSection

BPS = Decimal("0.0001")
FUNDING_INTERVAL_NS = 8 * 3600 * 1_000_000_000


class SimVenue:
    """A venue whose fills come from ``MatchingEngine`` on a replayed market."""

    supports_amend = True  # as Bybit: a price change or size increase loses queue priority

    def __init__(
        self,
        config: VenueSection,
        instruments: dict[str, Instrument],
        scheduler: Scheduler,
        sink: VenueEventSink,
    ) -> None:
        self.name = config.name
        self.instruments = instruments
        self.scheduler = scheduler
        self._clock = scheduler.clock
        self.sink = sink
        self.order_latency_ns = int(config.order_latency_ms * 1_000_000)
        self.response_latency_ns = int(config.response_latency_ms * 1_000_000)
        self.funding_rate = (
            None if config.funding_rate_bps is None else config.funding_rate_bps * BPS
        )
        self._funding_interval: int | None = None
        self._funding_sequence = 0
        queue_model_class = (
            ProbabilisticQueue if config.queue_model == "probabilistic" else RiskAverseQueue
        )
        self.engines = {
            symbol: MatchingEngine(
                config.name,
                instrument,
                maker_fee_rate=config.maker_fee_bps * BPS,
                taker_fee_rate=config.taker_fee_bps * BPS,
                queue_model=queue_model_class(),
                balance_quote=config.balance_quote,
            )
            for symbol, instrument in instruments.items()
        }
        # Called with each fill at the moment the exchange makes it (before the
        # response latency) and the exchange-side mid in ticks just before the
        # event that caused it (None if a side was empty): the backtest's
        # metrics. A trade can empty the levels it swept, so the mid is taken
        # before. None: nobody observes, and nothing is computed.
        self.fill_observer: Callable[[Fill, float | None], None] | None = None
        self._mid_before_ticks: float | None = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    # -- market side -----------------------------------------------------------------

    def on_market(self, event: BookMessage | Trade) -> None:
        engine = self.engines.get(event.symbol)
        if engine is None:
            return
        if self.funding_rate is not None:
            self._charge_funding(event)
        if self.fill_observer is not None:
            self._mid_before_ticks = engine.mid_ticks()
        if isinstance(event, Trade):
            answers = engine.on_trade(event, self._clock.now_ns())
        else:
            answers = engine.on_book(event, self._clock.now_ns())
        if answers:
            self._deliver(answers)

    def _charge_funding(self, event: BookMessage | Trade) -> None:
        """At each 8-hour boundary the exchange clock crosses, every open position
        pays (or receives) rate x its value at mid, as Bybit's perpetuals do."""
        interval = event.ts_exchange_ns // FUNDING_INTERVAL_NS
        last = self._funding_interval
        self._funding_interval = interval
        if last is None or interval <= last:
            return
        assert self.funding_rate is not None
        for symbol, engine in self.engines.items():
            mid_ticks = engine.mid_ticks()
            if engine.position_lots == 0 or mid_ticks is None:
                continue
            instrument = self.instruments[symbol]
            value = (
                instrument.lots_to_qty(engine.position_lots)
                * instrument.tick_size
                * Decimal(mid_ticks)
            )
            self._funding_sequence += 1
            funding = Funding(
                self.name,
                symbol,
                f"{self.name}-funding-{self._funding_sequence}",
                value * self.funding_rate,
                interval * FUNDING_INTERVAL_NS,
            )
            on_funding = getattr(self.sink, "on_funding", None)
            if on_funding is not None:
                self.scheduler.call_later(self.response_latency_ns, on_funding, funding)

    # -- order side ---------------------------------------------------------------------

    def submit(self, actions: Sequence[OrderAction]) -> None:
        for action in actions:
            self.scheduler.call_later(self.order_latency_ns, self._arrive, action)

    def _arrive(self, action: OrderAction) -> None:
        engine = self.engines.get(action.symbol)
        now_ns = self.scheduler.clock.now_ns()
        if engine is None:
            return
        if isinstance(action, NewOrder) and action.trigger_price_ticks is not None:
            answers = engine.place_conditional(
                ConditionalOrder(
                    action,
                    action.trigger_price_ticks,
                    TriggerDirection.RISING if action.trigger_rising else TriggerDirection.FALLING,
                    action.trigger_by,
                ),
                now_ns,
            )
        elif isinstance(action, NewOrder):
            answers = engine.place(action, now_ns)
        elif isinstance(action, CancelOrder):
            answers = engine.cancel(action.order_link_id, now_ns)
        elif isinstance(action, AmendOrder):
            answers = engine.amend(action, now_ns)
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown order action {action!r}")
        self._deliver(answers)

    def _deliver(self, answers: Sequence[OrderUpdate | Fill]) -> None:
        observer = self.fill_observer
        for answer in answers:
            if isinstance(answer, Fill):
                if observer is not None:
                    observer(answer, self._mid_before_ticks)
                self.scheduler.call_later(self.response_latency_ns, self.sink.on_fill, answer)
            else:
                self.scheduler.call_later(
                    self.response_latency_ns, self.sink.on_order_update, answer
                )


@hookimpl
def mmhost_register_venues() -> dict[str, type[SimVenue]]:
    return {"sim": SimVenue}
