"""Realised volatility of the mid on several horizons (EWMA of squared returns).

Sampling: a fixed time grid of ``step_ms`` (grid times t_k = k * step, on the
``ts_local_ns`` clock). The mid sampled at t_k is the mid in effect just
before t_k: the one left by the last book message with ``ts < t_k``. The
return of step k is r_k = ln(mid(t_k) / mid(t_{k-1})); a step without a book
message has r_k = 0, so a quiet book lowers the estimate as it should.

Per horizon H (seconds), with a = 1 - exp(-step / H):

    S_k = (1 - a) S_{k-1} + a r_k^2        (S_0 = 0)
    w_k = 1 - (1 - a)^k                     (bias correction while warming up)
    volatility_bps_<H>s = 10_000 * sqrt(S_k / w_k * H / step)

i.e. the EWMA (time constant H) of the per-step variance, scaled to H by
assuming independent steps: the typical move of the mid over H, in bps.
Runs of empty steps are applied in one go: S *= (1 - a)^n.

Signals change only when a message crosses a grid time; a message between
grid times leaves them (and their stamps) alone. A book with an empty side
has no mid and is skipped. A snapshot after a gap keeps the state: the jump
across the gap is a real move of the price.

Settings (``[plugins.volatility]``): see ``VolatilitySettings``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from host import hookimpl

if TYPE_CHECKING:
    from host import BookMessage, Context
    from host.book import OrderBook

PLUGIN_NAME = __name__.rpartition(".")[2]


class PluginSettingsError(ValueError):
    """A ``[plugins.<name>]`` table has an unknown key or a bad value."""


class VolatilitySettings(BaseModel):
    """``[plugins.volatility]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step_ms: int = Field(100, gt=0, description="Sampling step of the mid, milliseconds.")
    horizons_s: tuple[float, ...] = Field(
        (10.0, 60.0, 300.0),
        description="Horizons H in seconds: EWMA time constant and scaling horizon.",
    )

    @field_validator("horizons_s")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(horizon <= 0 for horizon in value):
            raise ValueError("give at least one horizon, each > 0 s")
        return tuple(sorted(set(value)))


def load_settings(raw: Mapping[str, Any]) -> VolatilitySettings:
    """Validate the plugin's config table; errors name the key."""
    try:
        return VolatilitySettings.model_validate(dict(raw))
    except ValidationError as error:
        raise PluginSettingsError(describe_settings_error(error, VolatilitySettings)) from None


def describe_settings_error(error: ValidationError, model: type[BaseModel]) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            problems.append(f"unknown key {key!r} (allowed: {allowed})")
        else:
            problems.append(f"{key} = {item.get('input')!r}: {item['msg']}")
    return f"[plugins.{PLUGIN_NAME}]: " + "; ".join(problems)


class _Horizon:
    __slots__ = ("decay", "name", "scale", "sum_squares", "unweighted")

    def __init__(self, horizon_s: float, step_s: float) -> None:
        self.name = f"volatility_bps_{horizon_s:g}s"
        self.decay = math.exp(-step_s / horizon_s)  # 1 - a
        self.scale = horizon_s / step_s
        self.sum_squares = 0.0  # S
        self.unweighted = 1.0  # (1 - a)^k, so w = 1 - unweighted


class _InstrumentState:
    __slots__ = ("horizons", "last_mid", "last_step", "sampled_mid")

    def __init__(self, horizons: list[_Horizon], step: int, mid: float) -> None:
        self.horizons = horizons
        self.last_step = step  # grid index of the newest sample taken
        self.sampled_mid = mid  # the mid sampled at last_step
        self.last_mid = mid  # the mid left by the newest message


class VolatilityAnalyzer:
    """Per-instrument EWMA variance per horizon; the module registers one instance."""

    def __init__(self, settings: VolatilitySettings | None = None) -> None:
        self.configure(settings or VolatilitySettings())

    def configure(self, settings: VolatilitySettings) -> None:
        self.settings = settings
        self.step_ns = settings.step_ms * 1_000_000
        self.step_s = settings.step_ms / 1000
        self.states: dict[tuple[str, str], _InstrumentState] = {}

    @hookimpl
    def mmhost_startup(self, engine: Any) -> None:
        self.configure(load_settings(engine.config.plugins.get(PLUGIN_NAME, {})))

    @hookimpl
    def mmhost_book_updated(self, book: OrderBook, message: BookMessage, ctx: Context) -> None:
        best_bid = book.best_bid_ticks
        best_ask = book.best_ask_ticks
        if not (best_bid and best_ask):
            return
        mid = (best_bid + best_ask) / 2
        ts_ns = message.ts_local_ns
        step = ts_ns // self.step_ns
        key = (ctx.venue, ctx.symbol)
        state = self.states.get(key)
        if state is None:
            horizons = [_Horizon(h, self.step_s) for h in self.settings.horizons_s]
            # The message's own grid time has passed without an earlier mid;
            # sampling starts at the next grid time.
            self.states[key] = _InstrumentState(horizons, step, mid)
            return
        if step > state.last_step:
            # Grid times last_step+1 .. step all lie before this message, so
            # they all saw last_mid: one return, then (steps - 1) zero returns.
            steps = step - state.last_step
            log_return = math.log(state.last_mid / state.sampled_mid)
            squared = log_return * log_return
            signals = ctx.signals
            for horizon in state.horizons:
                decay = horizon.decay
                total = decay * horizon.sum_squares + (1.0 - decay) * squared
                unweighted = horizon.unweighted * decay
                if steps > 1:
                    quiet = decay ** (steps - 1)
                    total *= quiet
                    unweighted *= quiet
                horizon.sum_squares = total
                horizon.unweighted = unweighted
                weight = 1.0 - unweighted
                variance = total / weight if weight > 0.0 else 0.0
                signals.set(horizon.name, 10_000.0 * math.sqrt(variance * horizon.scale), ts_ns)
            state.last_step = step
            state.sampled_mid = state.last_mid
        state.last_mid = mid


analyzer = VolatilityAnalyzer()
mmhost_startup = analyzer.mmhost_startup
mmhost_book_updated = analyzer.mmhost_book_updated
