"""Circuit breakers, loss limits and the kill switch.

These are safety machinery, owned by the engine and not pluggable: a plugin
cannot block them (pytest keeps its essential plugins the same way). Each
breaker pauses the strategies it concerns for its own reason, cancels their
orders, and lifts only that reason when its condition has been clear for
``breaker_cooldown_s``. Loss limits (daily loss, max drawdown) halt: the
pause stands until a restart, and positions are flattened when
``flatten_on_halt`` is set.

Checks run from the engine's housekeeping tick (every ``HOUSEKEEPING_MS`` of
clock time), not per book message: a 100 ms reaction is ample for these
conditions and keeps them off the hot path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from host.models import OrderStatus, OrderUpdate
from host.risk import RiskEvent

if TYPE_CHECKING:
    from host.config import RiskSection
    from host.engine import Engine, InstrumentState

HOUSEKEEPING_MS = 100
KILL_FILE_POLL_S = 0.5
NS_PER_S = 1_000_000_000


@dataclass(slots=True)
class Trip:
    """A breaker that is tripped; ``clear_since_ns`` is 0 while its condition holds."""

    reason: str
    tripped_ns: int
    clear_since_ns: int = 0


@dataclass(slots=True)
class MidWindow:
    """The mid at the start of the current volatility window."""

    start_ns: int = 0
    start_mid_ticks: float = 0.0


@dataclass(slots=True)
class CircuitBreakers:
    engine: Engine
    limits: RiskSection
    kill_file: Path | None = None
    trips: dict[str, Trip] = field(default_factory=dict)
    halted: str = ""
    trip_count: int = 0
    _reject_times_ns: list[int] = field(default_factory=list)
    _disconnect_times_ns: dict[str, list[int]] = field(default_factory=dict)
    _mid_windows: dict[tuple[str, str], MidWindow] = field(default_factory=dict)
    # Per instrument: the names of its stale, spread and volatility breakers.
    _book_breaker_names: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    _peak_equity: Decimal | None = None
    _day_start_equity: Decimal | None = None
    _day: int = -1
    _last_kill_poll: float = 0.0

    # -- inputs from the engine -------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> None:
        if update.status != OrderStatus.REJECTED:
            return
        now_ns = self.engine.clock.now_ns()
        window_ns = int(self.limits.reject_window_s * NS_PER_S)
        times = self._reject_times_ns
        times.append(now_ns)
        while times and times[0] < now_ns - window_ns:
            times.pop(0)
        # React at once: waiting for the next housekeeping tick lets more orders fail.
        self._check_rejects(now_ns)

    def on_venue_status(self, venue: str, status: str) -> None:
        """Count a venue's disconnects; too many pause what trades or watches it."""
        if status != "disconnected":
            return
        now_ns = self.engine.clock.now_ns()
        window_ns = int(self.limits.reject_window_s * NS_PER_S)
        times = self._disconnect_times_ns.setdefault(venue, [])
        times.append(now_ns)
        while times and times[0] < now_ns - window_ns:
            times.pop(0)
        dependents: list[Any] = []
        for (venue_name, _symbol), state in self.engine.instruments.items():
            if venue_name == venue:
                dependents += [slot for slot in state.strategies if slot not in dependents]
        self._set_slots(
            f"disconnects {venue}",
            len(times) > self.limits.max_disconnects,
            now_ns,
            dependents,
            f"more than {self.limits.max_disconnects} disconnects of {venue} in "
            f"{self.limits.reject_window_s} s",
        )

    def check(self, now_ns: int) -> None:
        """One housekeeping pass: books, rejects, losses, the kill file."""
        if self._kill_requested():
            self.engine.kill("kill file present", flatten=self.limits.flatten_on_halt)
            return
        for key, state in self.engine.instruments.items():
            if state.strategies:
                self._check_book(key, state, now_ns)
        self._check_rejects(now_ns)
        if not self.halted:
            self._check_losses(now_ns)

    # -- the checks --------------------------------------------------------------------------

    # A check runs every housekeeping tick and almost never trips: the breaker
    # names are built once per instrument, and a reason is formatted only
    # when its condition holds (``_set`` reads it only then).

    def _check_book(self, key: tuple[str, str], state: InstrumentState, now_ns: int) -> None:
        book = state.book
        names = self._book_breaker_names.get(key)
        if names is None:
            name = f"{key[0]}:{key[1]}"
            names = (f"stale {name}", f"spread {name}", f"volatility {name}")
            self._book_breaker_names[key] = names
        stale_key, spread_key, volatility_key = names
        limits = self.limits
        stale = book.is_valid and book.is_stale(now_ns)
        self._set(
            stale_key,
            stale,
            now_ns,
            state,
            f"no book update for {book.stale_after_ns // 1_000_000} ms" if stale else "",
        )
        mid = book.mid_ticks()
        if mid is None or not book.is_valid:
            return
        if limits.max_spread_bps is not None:
            spread_bps = (book.best_ask_ticks - book.best_bid_ticks) / mid * 10_000
            too_wide = spread_bps > float(limits.max_spread_bps)
            self._set(
                spread_key,
                too_wide,
                now_ns,
                state,
                f"spread {spread_bps:.1f} bps above {limits.max_spread_bps}" if too_wide else "",
            )
        if limits.max_mid_move_bps is not None:
            window = self._mid_windows.setdefault(key, MidWindow(now_ns, mid))
            moved_bps = abs(mid - window.start_mid_ticks) / window.start_mid_ticks * 10_000
            too_fast = moved_bps > float(limits.max_mid_move_bps)
            self._set(
                volatility_key,
                too_fast,
                now_ns,
                state,
                f"mid moved {moved_bps:.1f} bps within {limits.mid_move_window_ms} ms"
                if too_fast
                else "",
            )
            if now_ns - window.start_ns >= limits.mid_move_window_ms * 1_000_000:
                window.start_ns, window.start_mid_ticks = now_ns, mid

    def _check_rejects(self, now_ns: int) -> None:
        limit = self.limits.max_rejects
        times = self._reject_times_ns
        too_many = False
        if len(times) > limit:
            window_ns = int(self.limits.reject_window_s * NS_PER_S)
            too_many = sum(1 for t in times if t >= now_ns - window_ns) > limit
        self._set(
            "rejects",
            too_many,
            now_ns,
            None,
            f"more than {limit} rejects in {self.limits.reject_window_s} s" if too_many else "",
        )

    def _check_losses(self, now_ns: int) -> None:
        limits = self.limits
        if limits.max_drawdown_quote is None and limits.daily_loss_limit_quote is None:
            return
        equity = self.engine.net_pnl()
        if self._peak_equity is None or equity > self._peak_equity:
            self._peak_equity = equity
        day = now_ns // (86_400 * NS_PER_S)
        if day != self._day:
            self._day, self._day_start_equity = day, equity
        drawdown = self._peak_equity - equity
        if limits.max_drawdown_quote is not None and drawdown > limits.max_drawdown_quote:
            self.halt(
                f"max drawdown: {drawdown:.2f} below the peak (limit {limits.max_drawdown_quote})",
                now_ns,
            )
            return
        assert self._day_start_equity is not None
        daily_loss = self._day_start_equity - equity
        if limits.daily_loss_limit_quote is not None and daily_loss > limits.daily_loss_limit_quote:
            self.halt(
                f"daily loss limit: lost {daily_loss:.2f} today (limit "
                f"{limits.daily_loss_limit_quote})",
                now_ns,
            )

    # -- trip, reset, halt ---------------------------------------------------------------------

    def _set(
        self, key: str, condition: bool, now_ns: int, state: InstrumentState | None, reason: str
    ) -> None:
        self._set_slots(key, condition, now_ns, None if state is None else state.strategies, reason)

    def _set_slots(
        self, key: str, condition: bool, now_ns: int, slots: list[Any] | None, reason: str
    ) -> None:
        """Trip ``key`` (pausing ``slots``, or every strategy when None) while the
        condition holds; reset it once clear for the cooldown. ``reason`` is
        read only while the condition holds."""
        trip = self.trips.get(key)
        if condition:
            if trip is None:
                self.trips[key] = Trip(reason, now_ns)
                self.trip_count += 1
                self.engine.pause(f"breaker {key}", slots)
                self._event(key, reason, "trip", now_ns)
            else:
                trip.clear_since_ns = 0
            return
        if trip is None:
            return
        if not trip.clear_since_ns:
            trip.clear_since_ns = now_ns
        elif now_ns - trip.clear_since_ns >= self.limits.breaker_cooldown_s * NS_PER_S:
            del self.trips[key]
            self.engine.resume(f"breaker {key}", slots)
            self._event(key, "condition cleared", "reset", now_ns)

    def halt(self, reason: str, now_ns: int) -> None:
        """Stop all quoting for good (until restart); flatten if configured."""
        if self.halted:
            return
        self.halted = reason
        self.engine.pause(f"halt: {reason}")
        self._event("halt", reason, "trip", now_ns)
        if self.limits.flatten_on_halt:
            self.engine.flatten()

    def _event(self, rule: str, reason: str, kind: str, now_ns: int) -> None:
        event = RiskEvent(rule, reason, "", now_ns, kind)
        self.engine.risk_events.append(event)
        self.engine.hook.mmhost_risk_event(event=event)
        logger.bind(rule=rule).warning(
            "risk {kind}: {rule}: {reason}", kind=kind, rule=rule, reason=reason
        )

    def _kill_requested(self) -> bool:
        if self.kill_file is None:
            return False
        now = time.monotonic()
        if now - self._last_kill_poll < KILL_FILE_POLL_S:
            return False
        self._last_kill_poll = now
        return self.kill_file.exists()
