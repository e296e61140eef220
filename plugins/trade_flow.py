"""Trade flow from the public tape: volume imbalance, tape speed, large trades.

Per instrument, on every public trade (time = the trade's ``ts_local_ns``;
a window of W seconds holds the trades with ``now - W < ts <= now``):

- ``trade_imbalance_<W>s``: ``(buy - sell) / (buy + sell)`` of the lots traded
  in the window, by aggressor side; in [-1, 1], 0 with no trades.
- ``trade_volume_lots_<W>s``: buy + sell lots in the window.
- ``trades_per_s``: trades in the last ``speed_window_s`` seconds divided by
  ``speed_window_s``.
- ``trade_size_to_median``: this trade's lots / the median lots of the
  previous ``median_trades`` trades (1.0 until there is a history).
- ``large_trade``: +1 (buy aggressor) or -1 (sell aggressor) when this trade's
  ratio to the median is at least ``large_multiple``, else 0.
- ``large_trade_flow_lots_<W>s`` for the longest W: signed lots (+buy, -sell)
  of the large trades in the window.

The rolling median keeps the last ``median_trades`` sizes sorted (bisect), so
one trade costs O(log n) compares plus a short memmove, never a sort.

Signals describe the tape as of the last trade; they are not decayed between
trades (a quiet tape keeps the last values and their stamps).

Settings (``[plugins.trade_flow]``): see ``TradeFlowSettings``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from host import hookimpl

if TYPE_CHECKING:
    from host import Context, Trade

PLUGIN_NAME = __name__.rpartition(".")[2]


class PluginSettingsError(ValueError):
    """A ``[plugins.<name>]`` table has an unknown key or a bad value."""


class TradeFlowSettings(BaseModel):
    """``[plugins.trade_flow]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows_s: tuple[float, ...] = Field(
        (10.0, 60.0), description="Window lengths W in seconds of the imbalance and volume."
    )
    speed_window_s: float = Field(10.0, gt=0, description="Window of ``trades_per_s``.")
    median_trades: int = Field(
        500, ge=3, description="How many previous trades the rolling median size spans."
    )
    large_multiple: float = Field(
        10.0, gt=1, description="A trade is large at this multiple of the median size."
    )

    @field_validator("windows_s")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(window <= 0 for window in value):
            raise ValueError("give at least one window, each > 0 s")
        return tuple(sorted(set(value)))


def load_settings(raw: Mapping[str, Any]) -> TradeFlowSettings:
    """Validate the plugin's config table; errors name the key."""
    try:
        return TradeFlowSettings.model_validate(dict(raw))
    except ValidationError as error:
        raise PluginSettingsError(describe_settings_error(error, TradeFlowSettings)) from None


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


class _VolumeWindow:
    __slots__ = ("buy_lots", "entries", "imbalance_name", "length_ns", "sell_lots", "volume_name")

    def __init__(self, length_s: float) -> None:
        self.length_ns = int(length_s * 1_000_000_000)
        self.imbalance_name = f"trade_imbalance_{length_s:g}s"
        self.volume_name = f"trade_volume_lots_{length_s:g}s"
        self.entries: deque[tuple[int, int]] = deque()  # (ts_ns, signed lots)
        self.buy_lots = 0
        self.sell_lots = 0


class _InstrumentState:
    __slots__ = (
        "large_entries",
        "large_flow_lots",
        "recent_sizes",
        "sorted_sizes",
        "trade_times",
        "windows",
    )

    def __init__(self, windows: list[_VolumeWindow]) -> None:
        self.windows = windows
        self.trade_times: deque[int] = deque()
        self.recent_sizes: deque[int] = deque()  # arrival order, for eviction
        self.sorted_sizes: list[int] = []  # the same sizes, sorted, for the median
        self.large_entries: deque[tuple[int, int]] = deque()
        self.large_flow_lots = 0


class TradeFlowAnalyzer:
    """Per-instrument tape statistics; the module registers one instance."""

    def __init__(self, settings: TradeFlowSettings | None = None) -> None:
        self.configure(settings or TradeFlowSettings())

    def configure(self, settings: TradeFlowSettings) -> None:
        self.settings = settings
        self.speed_window_ns = int(settings.speed_window_s * 1_000_000_000)
        longest_s = max(settings.windows_s)
        self.large_window_ns = int(longest_s * 1_000_000_000)
        self.large_flow_name = f"large_trade_flow_lots_{longest_s:g}s"
        # Settings read on every trade, as plain attributes.
        self.speed_window_s = settings.speed_window_s
        self.large_multiple = settings.large_multiple
        self.median_trades = settings.median_trades
        self.states: dict[tuple[str, str], _InstrumentState] = {}

    @hookimpl
    def mmhost_startup(self, engine: Any) -> None:
        self.configure(load_settings(engine.config.plugins.get(PLUGIN_NAME, {})))

    @hookimpl
    def mmhost_trade(self, trade: Trade, ctx: Context) -> None:
        key = (ctx.venue, ctx.symbol)
        state = self.states.get(key)
        if state is None:
            state = _InstrumentState([_VolumeWindow(w) for w in self.settings.windows_s])
            self.states[key] = state
        ts_ns = trade.ts_local_ns
        size = trade.size_lots
        is_buy = trade.aggressor > 0
        signed_size = size if is_buy else -size
        entry = (ts_ns, signed_size)  # one tuple shared by every window
        set_signal = ctx.signals.set

        for window in state.windows:
            entries = window.entries
            entries.append(entry)
            if is_buy:
                window.buy_lots += size
            else:
                window.sell_lots += size
            horizon_ns = ts_ns - window.length_ns
            while entries[0][0] <= horizon_ns:
                signed = entries.popleft()[1]
                if signed > 0:
                    window.buy_lots -= signed
                else:
                    window.sell_lots += signed
            volume = window.buy_lots + window.sell_lots
            imbalance = (window.buy_lots - window.sell_lots) / volume if volume else 0.0
            set_signal(window.imbalance_name, imbalance, ts_ns)
            set_signal(window.volume_name, float(volume), ts_ns)

        times = state.trade_times
        times.append(ts_ns)
        horizon_ns = ts_ns - self.speed_window_ns
        while times[0] <= horizon_ns:
            times.popleft()
        set_signal("trades_per_s", len(times) / self.speed_window_s, ts_ns)

        # Compare with the median of the trades *before* this one, so a
        # burst of large prints does not hide itself.
        sorted_sizes = state.sorted_sizes
        count = len(sorted_sizes)
        if count:
            middle = count // 2
            median = (
                sorted_sizes[middle]
                if count % 2
                else (sorted_sizes[middle - 1] + sorted_sizes[middle]) / 2
            )
            ratio = size / median
        else:
            ratio = 1.0
        set_signal("trade_size_to_median", ratio, ts_ns)
        is_large = count >= 3 and ratio >= self.large_multiple
        set_signal("large_trade", (1.0 if is_buy else -1.0) if is_large else 0.0, ts_ns)
        large_entries = state.large_entries
        if is_large:
            large_entries.append(entry)
            state.large_flow_lots += signed_size
        if large_entries:
            horizon_ns = ts_ns - self.large_window_ns
            while large_entries and large_entries[0][0] <= horizon_ns:
                state.large_flow_lots -= large_entries.popleft()[1]
        set_signal(self.large_flow_name, float(state.large_flow_lots), ts_ns)

        recent = state.recent_sizes
        recent.append(size)
        insort(sorted_sizes, size)
        if len(recent) > self.median_trades:
            del sorted_sizes[bisect_left(sorted_sizes, recent.popleft())]


analyzer = TradeFlowAnalyzer()
mmhost_startup = analyzer.mmhost_startup
mmhost_trade = analyzer.mmhost_trade
