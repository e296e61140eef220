"""Feed-latency models: when our side of a replay sees each market event.

A recorded event carries two times: ``ts_exchange_ns`` (the venue's clock: when
the matching engine applied it) and ``ts_local_ns`` (the recorder's clock:
when the frame arrived). The two clocks are not synchronised (the bundled
Binance recorder ran ~1.5 s *behind* the exchange), so ``local - exchange``
is ``clock offset + one-way latency`` and one-way timestamps cannot separate
the two. What the data does show is the *jitter*: how each event's delay
differs from the typical one.

The models below map an event to the simulated time our engine receives it:

* :class:`RecordedFeedLatency` (the default): each event keeps its own
  recorded delay. The recorder's clock offset, estimated as the median of
  ``local - exchange`` (:func:`estimate_clock_offset_ns`), is removed and an
  assumed median one-way latency ``base_latency_ns`` is added back:
  ``local_sim = local - offset + base``. Removing the median also removes the
  median latency (it is inside the offset), which is why ``base`` exists.
* :class:`ConstantFeedLatency`: every event arrives ``latency_ns`` after its
  exchange time; the recorded receive times are ignored.

Rules shared by both (the replay driver applies them):

* An event without an exchange time (Binance spot snapshots) gets
  ``exchange = local - offset``.
* Clamp: if ``local_sim < exchange`` (a delay below the median, by more than
  ``base``), the event is delivered at its exchange time: our side never sees
  an event before the exchange has it, so no order can react to the future.
  Clamped events are counted (``FeedTimingStats.clamped``).
* Receive order is kept: ``local_sim`` never goes below the previous event's,
  and the exchange side sees events in recorded order at
  ``max(exchange, previous exchange)`` (counted as ``exchange_reordered``);
  feeds with several streams (Binance depth and trades) interleave by a few
  milliseconds of exchange time.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Protocol

from host.models import BookMessage, Trade

MarketEvent = BookMessage | Trade

# Events looked at to estimate the recorder's clock offset: a few seconds of a
# busy feed; the median is stable long before that.
OFFSET_SAMPLE_EVENTS = 5_000


class FeedLatencyModel(Protocol):
    """Maps an event to the time our side receives it (before the clamp)."""

    name: str
    clock_offset_ns: int

    def local_ns(self, ts_exchange_ns: int, ts_local_ns: int) -> int: ...


@dataclass(frozen=True, slots=True)
class RecordedFeedLatency:
    """Each event's own recorded delay, clock offset removed, ``base_latency_ns`` added."""

    clock_offset_ns: int
    base_latency_ns: int = 0
    name: str = "recorded"

    def local_ns(self, ts_exchange_ns: int, ts_local_ns: int) -> int:
        return ts_local_ns - self.clock_offset_ns + self.base_latency_ns


@dataclass(frozen=True, slots=True)
class ConstantFeedLatency:
    """Every event reaches us ``latency_ns`` after the exchange applied it."""

    latency_ns: int
    clock_offset_ns: int = 0
    name: str = "constant"

    def local_ns(self, ts_exchange_ns: int, ts_local_ns: int) -> int:
        return ts_exchange_ns + self.latency_ns


@dataclass(slots=True)
class FeedTimingStats:
    """What the replay driver did to the recorded times."""

    model: str = ""
    clock_offset_ns: int = 0
    events: int = 0
    clamped: int = 0  # local_sim < exchange: delivered at exchange time
    exchange_reordered: int = 0  # exchange time below the previous one: held at it
    no_exchange_time: int = 0  # exchange time taken as local - offset

    def as_dict(self) -> dict[str, int | str]:
        return {
            "model": self.model,
            "clock_offset_ns": self.clock_offset_ns,
            "events": self.events,
            "clamped": self.clamped,
            "exchange_reordered": self.exchange_reordered,
            "no_exchange_time": self.no_exchange_time,
        }


def estimate_clock_offset_ns(
    events: Iterable[MarketEvent], sample: int = OFFSET_SAMPLE_EVENTS
) -> tuple[int, Iterator[MarketEvent]]:
    """Median ``local - exchange`` over the first ``sample`` events that have both.

    Works on any reader's events (format-agnostic, unlike
    ``host.marketdata.binance.estimate_clock_offset_ns`` which reads a file).
    Returns the offset and an iterator that yields every event again, the
    peeked ones first, so the stream is read once and memory stays bounded.
    An event stream with no exchange times gives offset 0.
    """
    iterator = iter(events)
    peeked: list[MarketEvent] = []
    offsets: list[int] = []
    for event in iterator:
        peeked.append(event)
        if event.ts_exchange_ns > 0:
            offsets.append(event.ts_local_ns - event.ts_exchange_ns)
        if len(peeked) >= sample:
            break
    offset_ns = int(statistics.median(offsets)) if offsets else 0
    return offset_ns, chain(peeked, iterator)


def feed_latency_percentiles_ms(
    events: Iterable[MarketEvent], clock_offset_ns: int, sample: int = OFFSET_SAMPLE_EVENTS
) -> dict[str, float]:
    """Recorded delay minus the offset (the jitter), p1/p50/p99 in ms, for reports."""
    delays = [
        (event.ts_local_ns - clock_offset_ns - event.ts_exchange_ns) / 1e6
        for _, event in zip(range(sample), events, strict=False)
        if event.ts_exchange_ns > 0
    ]
    if len(delays) < 3:
        return {}
    cuts = statistics.quantiles(delays, n=100)
    return {"p1": round(cuts[0], 3), "p50": round(cuts[49], 3), "p99": round(cuts[98], 3)}
