"""Clocks and the timed-callback scheduler.

Strategies read time only from their clock, so the same code runs live (wall
clock) and in a replay (simulated clock that jumps from event to event).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...


class LiveClock:
    """Wall-clock time in integer nanoseconds since the Unix epoch."""

    def now_ns(self) -> int:
        return time.time_ns()


class SimClock:
    """Time that moves only when the driver sets it; never goes backwards."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns > self._now_ns:
            self._now_ns = ts_ns


class Scheduler:
    """A heap of callbacks due at simulated times.

    Ties run in the order they were scheduled (the counter), which keeps a
    replay deterministic.
    """

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._heap: list[tuple[int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._counter = itertools.count()

    def call_at(self, ts_ns: int, callback: Callable[..., Any], *args: Any) -> None:
        heapq.heappush(self._heap, (ts_ns, next(self._counter), callback, args))

    def call_later(self, delay_ns: int, callback: Callable[..., Any], *args: Any) -> None:
        # call_at's push inlined: this runs for every order, answer and timer.
        heapq.heappush(
            self._heap, (self.clock.now_ns() + delay_ns, next(self._counter), callback, args)
        )

    def next_due_ns(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def run_until(self, ts_ns: int) -> None:
        """Run every callback due at or before ``ts_ns``, in time order."""
        heap = self._heap
        clock = self.clock
        while heap and heap[0][0] <= ts_ns:
            due_ns, _, callback, args = heapq.heappop(heap)
            # SimClock.advance_to inlined (same module): a call less per callback.
            if due_ns > clock._now_ns:
                clock._now_ns = due_ns
            callback(*args)
        clock.advance_to(ts_ns)

    def __len__(self) -> int:
        return len(self._heap)
