"""Order-flow imbalance at the touch (Cont, Kukanov and Stoikov, 2014).

For each applied book message n with best bid b, bid size q_b, best ask a and
ask size q_a (previous message: n-1), the event's contribution in lots is

    e_n = [b_n >= b_{n-1}] q_b,n - [b_n <= b_{n-1}] q_b,n-1
        - [a_n <= a_{n-1}] q_a,n + [a_n >= a_{n-1}] q_a,n-1

(positive = buying pressure: bids added or raised, asks removed or lifted).
``ofi_<W>s`` is the sum of e_n over the messages whose ``ts_local_ns`` lies in
the last W seconds (the current message included); ``ofi_<W>s_per_depth``
divides it by the mean touch depth ``(q_b + q_a) / 2`` of the current message,
which makes windows comparable across quiet and busy books. A signal is
rewritten only when its value can have changed (new flow, an expired entry,
or a new touch size).

A snapshot (resync) starts afresh: the first message after it contributes 0,
and the windows are emptied, since the flow across a gap is unknown.

Settings (``[plugins.order_flow]``): see ``OrderFlowSettings``.
"""

from __future__ import annotations

from collections import deque
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


class OrderFlowSettings(BaseModel):
    """``[plugins.order_flow]``: the OFI windows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows_s: tuple[float, ...] = Field(
        (1.0, 5.0), description="Window lengths W in seconds: one ``ofi_<W>s`` each."
    )

    @field_validator("windows_s")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(window <= 0 for window in value):
            raise ValueError("give at least one window, each > 0 s")
        return tuple(sorted(set(value)))


def load_settings(raw: Mapping[str, Any]) -> OrderFlowSettings:
    """Validate the plugin's config table; errors name the key."""
    try:
        return OrderFlowSettings.model_validate(dict(raw))
    except ValidationError as error:
        raise PluginSettingsError(describe_settings_error(error, OrderFlowSettings)) from None


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


class _Window:
    """A running sum of (ts_ns, value) pairs younger than ``length_ns``."""

    __slots__ = ("entries", "length_ns", "name", "normalised_name", "published", "total")

    def __init__(self, length_s: float) -> None:
        self.length_ns = int(length_s * 1_000_000_000)
        self.name = f"ofi_{length_s:g}s"
        self.normalised_name = f"{self.name}_per_depth"
        self.entries: deque[tuple[int, int]] = deque()
        self.total = 0
        self.published = False  # both signals written at least once


class _InstrumentState:
    __slots__ = ("ask_size_lots", "ask_ticks", "bid_size_lots", "bid_ticks", "windows")

    def __init__(self, windows: list[_Window]) -> None:
        self.bid_ticks = 0  # 0: no previous touch to compare with
        self.bid_size_lots = 0
        self.ask_ticks = 0
        self.ask_size_lots = 0
        self.windows = windows


def ofi_contribution(
    bid_ticks: int,
    bid_size_lots: int,
    ask_ticks: int,
    ask_size_lots: int,
    previous_bid_ticks: int,
    previous_bid_size_lots: int,
    previous_ask_ticks: int,
    previous_ask_size_lots: int,
) -> int:
    """e_n of the module docstring, in lots."""
    flow = 0
    if bid_ticks >= previous_bid_ticks:
        flow += bid_size_lots
    if bid_ticks <= previous_bid_ticks:
        flow -= previous_bid_size_lots
    if ask_ticks <= previous_ask_ticks:
        flow -= ask_size_lots
    if ask_ticks >= previous_ask_ticks:
        flow += previous_ask_size_lots
    return flow


class OrderFlowAnalyzer:
    """Per-instrument OFI windows; the module registers one instance."""

    def __init__(self, settings: OrderFlowSettings | None = None) -> None:
        self.configure(settings or OrderFlowSettings())

    def configure(self, settings: OrderFlowSettings) -> None:
        self.settings = settings
        self.states: dict[tuple[str, str], _InstrumentState] = {}

    @hookimpl
    def mmhost_startup(self, engine: Any) -> None:
        self.configure(load_settings(engine.config.plugins.get(PLUGIN_NAME, {})))

    @hookimpl
    def mmhost_book_updated(self, book: OrderBook, message: BookMessage, ctx: Context) -> None:
        key = (ctx.venue, ctx.symbol)
        state = self.states.get(key)
        if state is None or message.is_snapshot:
            state = _InstrumentState([_Window(length) for length in self.settings.windows_s])
            self.states[key] = state
        bid = book.best_bid_ticks
        ask = book.best_ask_ticks
        bid_size = book.best_bid_size_lots
        ask_size = book.best_ask_size_lots
        flow = 0
        # Both touches, now and before, are needed: an empty side carries no flow.
        if bid and ask and state.bid_ticks and state.ask_ticks:
            flow = ofi_contribution(
                bid,
                bid_size,
                ask,
                ask_size,
                state.bid_ticks,
                state.bid_size_lots,
                state.ask_ticks,
                state.ask_size_lots,
            )
        previous_bid_size = state.bid_size_lots
        previous_ask_size = state.ask_size_lots
        state.bid_ticks = bid
        state.bid_size_lots = bid_size
        state.ask_ticks = ask
        state.ask_size_lots = ask_size
        ts_ns = message.ts_local_ns
        signals = ctx.signals
        if not flow and bid_size == previous_bid_size and ask_size == previous_ask_size:
            # The common message (nothing new at the touch): only an entry
            # leaving a window can change a signal.
            for window in state.windows:
                entries = window.entries
                if (entries and entries[0][0] <= ts_ns - window.length_ns) or not window.published:
                    self._publish(window, ts_ns, (bid_size + ask_size) / 2, signals)
            return
        mean_depth = (bid_size + ask_size) / 2
        for window in state.windows:
            if flow:
                window.entries.append((ts_ns, flow))
                window.total += flow
            self._publish(window, ts_ns, mean_depth, signals)

    @staticmethod
    def _publish(window: _Window, ts_ns: int, mean_depth: float, signals: Any) -> None:
        """Drop the entries that left the window, then write both signals."""
        entries = window.entries
        horizon_ns = ts_ns - window.length_ns
        while entries and entries[0][0] <= horizon_ns:
            window.total -= entries.popleft()[1]
        window.published = True
        signals.set(window.name, float(window.total), ts_ns)
        signals.set(window.normalised_name, window.total / mean_depth if mean_depth else 0.0, ts_ns)


analyzer = OrderFlowAnalyzer()
mmhost_startup = analyzer.mmhost_startup
mmhost_book_updated = analyzer.mmhost_book_updated
