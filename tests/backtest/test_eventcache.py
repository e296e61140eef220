"""The pre-decoded event file reads back exactly what was written."""

from __future__ import annotations

from pathlib import Path

from host.backtest.eventcache import CHUNK_EVENTS, read_event_cache, write_event_cache
from host.models import BookMessage, Side, Trade


def sample_events(count: int, *, big: int = 0) -> list[BookMessage | Trade]:
    """Book messages (snapshot, deltas with deletes and repeated prices) and trades."""
    events: list[BookMessage | Trade] = [
        BookMessage("venue-a", "BTCUSDT", 0, 1, True, [(100, 5), (99, 7)], [(101, 3)], -1, 10)
    ]
    for i in range(1, count):
        if i % 3 == 0:
            side = Side.BUY if i % 2 else Side.SELL
            events.append(
                Trade("venue-a", "BTCUSDT", 10 * i, 10 * i + 1, 100 + i % 4, 1 + i, side, f"t{i}")
            )
            continue
        bids = [(100 - k, (i + k) % 4) for k in range(i % 5)]
        asks = [(101 + k, i * k + big) for k in range(i % 7)] + [(101, 0), (101, 2)]
        events.append(
            BookMessage(
                "venue-b" if i % 7 == 0 else "venue-a",
                "ETHUSDT" if i % 11 == 0 else "BTCUSDT",
                10 * i,
                10 * i + 1,
                False,
                bids,
                asks,
                10 + i,
                10 + i,
                9 + i,
                i,
            )
        )
    return events


def test_round_trip_across_chunks(tmp_path: Path) -> None:
    events = sample_events(2 * CHUNK_EVENTS + 17)
    path = tmp_path / "events.mmhev"
    assert write_event_cache(events, path) == len(events)
    read = list(read_event_cache(path))
    assert read == events
    assert all(type(level) is tuple for e in read if isinstance(e, BookMessage) for level in e.bids)
    assert {type(e.is_snapshot) for e in read if isinstance(e, BookMessage)} == {bool}


def test_numbers_beyond_int64_read_back_exactly(tmp_path: Path) -> None:
    # A size past int64 (msgpack still takes it as uint64) makes its chunk
    # fall back to msgpack integer arrays.
    events = sample_events(50, big=1 << 63)
    path = tmp_path / "events.mmhev"
    write_event_cache(events, path)
    assert list(read_event_cache(path)) == events
