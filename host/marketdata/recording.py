"""The project's own recording format: raw frames with receive times.

A recording is a gzip text file (UTF-8, ``\\n`` line endings)::

    #mmhost-recording v1 {"venue": "bybit-linear", "symbols": ["BTCUSDT"], ...}
    1721347020984480942 bybit-linear {"topic":"orderbook.50.BTCUSDT",...}
    1721347020984512345 bybit-linear {"topic":"publicTrade.BTCUSDT",...}

- Line 1, the header: ``#mmhost-recording v1 `` then one JSON object (venue,
  symbols, url, started_ns). Other lines starting with ``#`` are comments
  (the recorder writes ``#reconnect`` markers).
- Data lines: ``<ts_local_ns> <source> <frame>``, single spaces. ``ts_local_ns``
  is the recorder's wall clock (``time.time_ns()``) when the frame arrived;
  ``source`` is the market the frame came from (``bybit-linear``,
  ``bybit-spot``), which names the decoder and the instrument table; ``frame``
  is the websocket text exactly as received, except that CR/LF are replaced by
  spaces so a frame is one line (harmless: JSON allows whitespace there and
  forbids raw newlines inside strings).
- Frames are raw so a recording can be re-decoded when the decoder improves;
  receive times are kept because feed latency is part of what a backtest
  must simulate. Nothing is dropped: control frames (acks, pongs) are kept.

``record`` subscribes to a Bybit-V5-style public websocket (aiohttp client)
and writes frames until its duration ends; a dropped socket is reconnected and
resubscribed (the venue then sends fresh snapshots, so books resync).
``read_recording`` yields typed events with the same bad-line policy as the
other readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import aiohttp
from loguru import logger

from host.instruments import lookup
from host.marketdata.bybit import BybitDecoder, BybitEvent, UnknownTopicError
from host.marketdata.common import BadLines, OnBadLine, ReaderStats, open_lines
from host.models import BookMessage, Instrument, Trade

__all__ = [
    "HEADER_PREFIX",
    "RecordStats",
    "RecordingWriter",
    "read_recording",
    "record",
    "recording_header",
]

HEADER_PREFIX = "#mmhost-recording v1 "
_LINE_BREAKS = str.maketrans({"\n": " ", "\r": " "})
_SUBSCRIBE_BATCH = 10  # Bybit spot accepts at most 10 args per subscribe request


class RecordingWriter:
    """Appends frames to a new gzip recording. Use as a context manager."""

    def __init__(self, path: Path | str, header: Mapping[str, object]) -> None:
        self.path = Path(path)
        self.frames = 0
        self._file: IO[str] = gzip.open(self.path, "wt", encoding="utf-8", newline="\n")  # noqa: SIM115
        self._file.write(HEADER_PREFIX + json.dumps(dict(header), sort_keys=True) + "\n")

    def write(self, ts_local_ns: int, source: str, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            frame = frame.decode("utf-8")
        if " " in source or not source:
            raise ValueError(f"source must be one non-empty word, got {source!r}")
        self._file.write(f"{ts_local_ns} {source} {frame.translate(_LINE_BREAKS)}\n")
        self.frames += 1

    def comment(self, text: str) -> None:
        self._file.write("#" + text.translate(_LINE_BREAKS) + "\n")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def recording_header(path: Path | str) -> dict[str, object] | None:
    """The header object of a recording, or None if ``path`` is not one."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            first = stream.readline()
    except (OSError, EOFError, UnicodeDecodeError):
        return None
    if not first.startswith(HEADER_PREFIX):
        return None
    try:
        header = json.loads(first[len(HEADER_PREFIX) :])
    except json.JSONDecodeError:
        return None
    return header if isinstance(header, dict) else None


def read_recording(
    paths: Sequence[Path | str],
    *,
    on_bad_line: OnBadLine = "raise",
    instrument_for: Callable[[str, str], Instrument] = lookup,
    stats: ReaderStats | None = None,
) -> Iterator[BybitEvent]:
    """Typed events (``BookMessage``, ``Trade``, ``TickerUpdate``, ...) of one
    or more recordings, in file order. ``instrument_for(market, symbol)``
    supplies tick/lot; the default is the built-in table."""
    stats = stats if stats is not None else ReaderStats()
    bad = BadLines(stats, on_bad_line, component="recording-reader")
    decoders: dict[str, BybitDecoder] = {}
    last_ts_local_ns = 0
    for path in map(Path, paths):
        for line_number, line in open_lines(path, bad):
            stats.lines += 1
            if not line or line.startswith(b"#"):
                continue
            ts_text, _, rest = line.partition(b" ")
            source_bytes, _, frame = rest.partition(b" ")
            try:
                ts_local_ns = int(ts_text)
                source = source_bytes.decode("ascii")
            except (ValueError, UnicodeDecodeError):
                bad.bad_line(
                    path, line_number, "malformed line: expected <ts_ns> <source> <frame>", line
                )
                continue
            if ts_local_ns < last_ts_local_ns:
                stats.out_of_order += 1
                bad.bad_line(
                    path,
                    line_number,
                    f"receive time went backwards ({ts_local_ns} < {last_ts_local_ns})",
                    line,
                )
                continue
            last_ts_local_ns = ts_local_ns
            decoder = decoders.get(source)
            if decoder is None:
                if not source.startswith("bybit-"):
                    stats.unknown += 1
                    continue
                decoder = BybitDecoder(lambda symbol, market=source: instrument_for(market, symbol))
                decoders[source] = decoder
            try:
                events = decoder.decode(frame, ts_local_ns)
            except UnknownTopicError:
                stats.unknown += 1
                continue
            except (ValueError, KeyError) as error:  # KeyError: unknown instrument
                bad.bad_line(path, line_number, str(error), line)
                continue
            for event in events:
                if isinstance(event, BookMessage):
                    stats.book_messages += 1
                elif isinstance(event, Trade):
                    stats.trades += 1
                yield event


@dataclass(slots=True)
class RecordStats:
    path: str
    frames: int = 0
    bytes_received: int = 0
    connects: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def default_topics(symbols: Sequence[str], depth: int) -> list[str]:
    topics: list[str] = []
    for symbol in symbols:
        topics += [f"orderbook.{depth}.{symbol}", f"publicTrade.{symbol}"]
    return topics


async def record(
    *,
    url: str,
    venue: str,
    symbols: Sequence[str],
    out: Path | str,
    duration_s: float | None = None,
    depth: int = 50,
    topics: Sequence[str] | None = None,
    max_frames: int | None = None,
    stop: asyncio.Event | None = None,
    ping_interval_s: float = 20.0,
    reconnect_delay_s: float = 1.0,
    connect_timeout_s: float = 10.0,
) -> RecordStats:
    """Record raw frames of a Bybit-V5-style public websocket to ``out``.

    Stops at the first of: ``duration_s`` elapsed, ``max_frames`` data frames
    written, ``stop`` set. Without any of them it runs until cancelled (the
    file is closed properly on cancellation). ``venue`` is written as each
    frame's source (``bybit-linear``, ``bybit-spot``).
    """
    topics = list(topics) if topics is not None else default_topics(symbols, depth)
    log = logger.bind(component="recorder", venue=venue, url=url)
    stats = RecordStats(path=str(out))
    deadline = time.monotonic() + duration_s if duration_s is not None else None
    stop = stop or asyncio.Event()
    header = {
        "venue": venue,
        "symbols": list(symbols),
        "topics": topics,
        "url": url,
        "started_ns": time.time_ns(),
    }

    def remaining_s() -> float | None:
        return None if deadline is None else deadline - time.monotonic()

    def finished() -> bool:
        left = remaining_s()
        return (
            stop.is_set()
            or (left is not None and left <= 0)
            or (max_frames is not None and stats.frames >= max_frames)
        )

    with RecordingWriter(out, header) as writer:
        async with aiohttp.ClientSession() as session:
            while not finished():
                try:
                    async with session.ws_connect(
                        url, timeout=aiohttp.ClientWSTimeout(ws_close=connect_timeout_s)
                    ) as socket:
                        stats.connects += 1
                        if stats.connects > 1:
                            writer.comment(f"reconnect {time.time_ns()}")
                        log.info(
                            "recorder connected, subscribing {count} topics", count=len(topics)
                        )
                        for start in range(0, len(topics), _SUBSCRIBE_BATCH):
                            await socket.send_json(
                                {
                                    "op": "subscribe",
                                    "args": topics[start : start + _SUBSCRIBE_BATCH],
                                }
                            )
                        await _pump(
                            socket, writer, venue, stats, finished, remaining_s, ping_interval_s
                        )
                except (aiohttp.ClientError, OSError, TimeoutError) as error:
                    stats.errors.append(f"{type(error).__name__}: {error}")
                    log.warning("recorder connection failed: {error}", error=str(error))
                if finished():
                    break
                await _wait(stop, min(reconnect_delay_s, remaining_s() or reconnect_delay_s))
    log.info("recorder stopped after {frames} frames", frames=stats.frames)
    return stats


async def _pump(
    socket: aiohttp.ClientWebSocketResponse,
    writer: RecordingWriter,
    venue: str,
    stats: RecordStats,
    finished: Callable[[], bool],
    remaining_s: Callable[[], float | None],
    ping_interval_s: float,
) -> None:
    next_ping = time.monotonic() + ping_interval_s
    while not finished():
        left = remaining_s()
        timeout = min(ping_interval_s, max(0.0, next_ping - time.monotonic()))
        if left is not None:
            timeout = min(timeout, max(0.0, left))
        try:
            message = await socket.receive(timeout=max(timeout, 0.001))
        except TimeoutError:
            if time.monotonic() >= next_ping:
                # Bybit closes a public socket that is silent for 10 minutes;
                # its docs ask for a ping every 20 s.
                await socket.send_json({"op": "ping"})
                next_ping = time.monotonic() + ping_interval_s
            continue
        if message.type == aiohttp.WSMsgType.TEXT or message.type == aiohttp.WSMsgType.BINARY:
            writer.write(time.time_ns(), venue, message.data)
            stats.frames += 1
            stats.bytes_received += len(message.data)
        elif message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        ):
            return


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
