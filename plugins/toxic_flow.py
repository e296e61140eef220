"""Toxic-flow monitor: rolling markouts of our own fills, and an alert.

A fill's markout at horizon h, in bps of the fill price, is

    markout_bps = side * (mid(t_fill + h) - fill_price) / fill_price * 10_000

with side +1 for our buys and -1 for our sells: positive means the market
moved our way, negative is adverse selection. ``t_fill`` is the engine clock
when the fill reached the host (the same clock as the book messages'
``ts_local_ns``; the fill's own ``ts_ns`` when no engine is known), and
``mid(t)`` is the mid in effect at t: the one left by the last book message
with ``ts_local_ns <= t``, read when the first message at or after t arrives.
Markouts are therefore measured on book-event time and mature only as book
messages arrive.

Signals (per instrument):

- ``markout_bps_<h>s``: size-weighted mean markout of the last
  ``window_fills`` fills that have matured at horizon h.
- ``markout_fills_<h>s``: how many fills that mean covers.
- ``toxic_flow_alert``: 1 once ``markout_bps_<alert_horizon_s>s <= -alert_bps``
  over at least ``min_fills`` fills; back to 0 when it rises above
  ``-release_bps`` (hysteresis, so a risk rule does not flap). Published as
  0 from the first book message on, so readers always find it.

Settings (``[plugins.toxic_flow]``): see ``ToxicFlowSettings``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from host import hookimpl

if TYPE_CHECKING:
    from host import BookMessage, Context, Fill
    from host.book import OrderBook

PLUGIN_NAME = __name__.rpartition(".")[2]


class PluginSettingsError(ValueError):
    """A ``[plugins.<name>]`` table has an unknown key or a bad value."""


class ToxicFlowSettings(BaseModel):
    """``[plugins.toxic_flow]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizons_s: tuple[float, ...] = Field(
        (1.0, 10.0, 60.0), description="Markout horizons h in seconds."
    )
    window_fills: int = Field(50, ge=1, description="Matured fills in each rolling mean.")
    alert_horizon_s: float = Field(10.0, description="The horizon the alert watches.")
    alert_bps: float = Field(2.0, gt=0, description="Alert when the mean markout <= -alert_bps.")
    release_bps: float = Field(
        1.0, ge=0, description="Clear the alert when the mean markout > -release_bps."
    )
    min_fills: int = Field(10, ge=1, description="Matured fills needed before alerting.")

    @model_validator(mode="after")
    def _consistent(self) -> ToxicFlowSettings:
        if not self.horizons_s or any(h <= 0 for h in self.horizons_s):
            raise ValueError("horizons_s: give at least one horizon, each > 0 s")
        if self.alert_horizon_s not in self.horizons_s:
            raise ValueError(
                f"alert_horizon_s = {self.alert_horizon_s:g} is not one of horizons_s "
                f"{list(self.horizons_s)}"
            )
        if self.release_bps > self.alert_bps:
            raise ValueError("release_bps must not exceed alert_bps")
        return self


def load_settings(raw: Mapping[str, Any]) -> ToxicFlowSettings:
    """Validate the plugin's config table; errors name the key."""
    try:
        return ToxicFlowSettings.model_validate(dict(raw))
    except ValidationError as error:
        raise PluginSettingsError(describe_settings_error(error, ToxicFlowSettings)) from None


def describe_settings_error(error: ValidationError, model: type[BaseModel]) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            problems.append(f"unknown key {key!r} (allowed: {allowed})")
        elif key:
            problems.append(f"{key} = {item.get('input')!r}: {item['msg']}")
        else:
            problems.append(item["msg"])
    return f"[plugins.{PLUGIN_NAME}]: " + "; ".join(problems)


class _Horizon:
    __slots__ = ("count_name", "horizon_ns", "matured", "mean_bps", "name", "pending")

    def __init__(self, horizon_s: float) -> None:
        self.horizon_ns = int(horizon_s * 1_000_000_000)
        self.name = f"markout_bps_{horizon_s:g}s"
        self.count_name = f"markout_fills_{horizon_s:g}s"
        # (due_ns, side sign, price_ticks, size_lots), in fill order = due order.
        self.pending: deque[tuple[int, int, int, int]] = deque()
        self.matured: deque[tuple[float, int]] = deque()  # (markout_bps, size_lots)
        self.mean_bps = 0.0


class _InstrumentState:
    __slots__ = ("alert", "alert_horizon", "horizons", "last_mid")

    def __init__(self, horizons: list[_Horizon], alert_horizon: _Horizon) -> None:
        self.horizons = horizons
        self.alert_horizon = alert_horizon
        self.last_mid: float | None = None
        self.alert = False


class ToxicFlowMonitor:
    """Markouts of our fills per instrument; the module registers one instance."""

    def __init__(self, settings: ToxicFlowSettings | None = None) -> None:
        self.engine: Any = None
        self.configure(settings or ToxicFlowSettings())

    def configure(self, settings: ToxicFlowSettings) -> None:
        self.settings = settings
        self.states: dict[tuple[str, str], _InstrumentState] = {}

    def _state(self, key: tuple[str, str]) -> _InstrumentState:
        state = self.states.get(key)
        if state is None:
            horizons = [_Horizon(h) for h in self.settings.horizons_s]
            alert = horizons[self.settings.horizons_s.index(self.settings.alert_horizon_s)]
            state = _InstrumentState(horizons, alert)
            self.states[key] = state
        return state

    @hookimpl
    def mmhost_startup(self, engine: Any) -> None:
        self.configure(load_settings(engine.config.plugins.get(PLUGIN_NAME, {})))
        self.engine = engine

    @hookimpl
    def mmhost_fill(self, fill: Fill) -> None:
        state = self._state((fill.venue, fill.symbol))
        engine = self.engine
        fill_ns = engine.clock.now_ns() if engine is not None else fill.ts_ns
        sign = int(fill.side)
        for horizon in state.horizons:
            horizon.pending.append(
                (fill_ns + horizon.horizon_ns, sign, fill.price_ticks, fill.size_lots)
            )

    @hookimpl
    def mmhost_book_updated(self, book: OrderBook, message: BookMessage, ctx: Context) -> None:
        key = (ctx.venue, ctx.symbol)
        state = self.states.get(key)
        ts_ns = message.ts_local_ns
        if state is None:
            state = self._state(key)
            ctx.signals.set("toxic_flow_alert", 0.0, ts_ns)
        previous_mid = state.last_mid
        mid = book.mid_ticks()
        state.last_mid = mid
        matured = False
        for horizon in state.horizons:
            pending = horizon.pending
            while pending and pending[0][0] <= ts_ns:
                due_ns, sign, price, size = pending[0]
                # The mid in effect at the due time: this message's only if it
                # is stamped exactly then, else the one it replaced.
                reference = mid if due_ns == ts_ns or previous_mid is None else previous_mid
                if reference is None:
                    break  # no two-sided book yet; try on a later message
                pending.popleft()
                markout_bps = sign * (reference - price) / price * 10_000.0
                window = horizon.matured
                window.append((markout_bps, size))
                if len(window) > self.settings.window_fills:
                    window.popleft()
                matured = True
                weighted = sum(value * lots for value, lots in window)
                total_lots = sum(lots for _, lots in window)
                horizon.mean_bps = weighted / total_lots if total_lots else 0.0
                ctx.signals.set(horizon.name, horizon.mean_bps, ts_ns)
                ctx.signals.set(horizon.count_name, float(len(window)), ts_ns)
        if matured:
            self._update_alert(state, ctx, ts_ns)

    def _update_alert(self, state: _InstrumentState, ctx: Context, ts_ns: int) -> None:
        settings = self.settings
        watched = state.alert_horizon
        if state.alert:
            if watched.mean_bps > -settings.release_bps:
                state.alert = False
        elif len(watched.matured) >= settings.min_fills and watched.mean_bps <= -settings.alert_bps:
            state.alert = True
        ctx.signals.set("toxic_flow_alert", 1.0 if state.alert else 0.0, ts_ns)

    def alert(self, venue: str, symbol: str) -> bool:
        """Whether the instrument's alert is raised."""
        state = self.states.get((venue, symbol))
        return state is not None and state.alert


analyzer = ToxicFlowMonitor()
mmhost_startup = analyzer.mmhost_startup
mmhost_fill = analyzer.mmhost_fill
mmhost_book_updated = analyzer.mmhost_book_updated
alert = analyzer.alert
