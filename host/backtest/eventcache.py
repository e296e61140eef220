"""A compact pre-decoded event file: parse a recording once, replay it many times.

Decoding raw JSON (and aligning Binance snapshots) is most of the cost of
reading a recording. This cache stores the decoded ``BookMessage`` /
``Trade`` values as msgpack, in length-prefixed chunks of ``CHUNK_EVENTS``
events, so reading streams chunk by chunk and memory stays flat in the data
length. The values are tagged subclasses of the host's own types (msgspec
needs a tag to tell two structs apart), so everything downstream works on
them unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from host.models import BookMessage, Trade

CHUNK_EVENTS = 2_000
MAGIC = b"MMHEVC1\n"
_LENGTH = struct.Struct("<I")


class CachedBookMessage(BookMessage, frozen=True, tag="b"):
    """A BookMessage as stored in the cache (identical fields)."""


class CachedTrade(Trade, frozen=True, tag="t"):
    """A Trade as stored in the cache (identical fields)."""


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[CachedBookMessage | CachedTrade])


def _tagged(event: BookMessage | Trade) -> CachedBookMessage | CachedTrade:
    if isinstance(event, Trade):
        return CachedTrade(**msgspec.structs.asdict(event))
    return CachedBookMessage(**msgspec.structs.asdict(event))


def write_event_cache(events: Iterable[BookMessage | Trade], path: Path) -> int:
    """Write ``events`` to ``path``; returns how many. Streams: one chunk in memory."""
    count = 0
    chunk: list[CachedBookMessage | CachedTrade] = []
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as stream:
        stream.write(MAGIC)
        for event in events:
            chunk.append(_tagged(event))
            if len(chunk) >= CHUNK_EVENTS:
                _write_chunk(stream, chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            _write_chunk(stream, chunk)
            count += len(chunk)
    partial.replace(path)  # a cache file exists only once complete
    return count


def _write_chunk(stream: object, chunk: list[CachedBookMessage | CachedTrade]) -> None:
    payload = _ENCODER.encode(chunk)
    stream.write(_LENGTH.pack(len(payload)))  # type: ignore[attr-defined]
    stream.write(payload)  # type: ignore[attr-defined]


def read_event_cache(path: Path) -> Iterator[BookMessage | Trade]:
    """The events of a cache file, in order."""
    with open(path, "rb") as stream:
        if stream.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path}: not an mmhost event cache")
        while True:
            head = stream.read(_LENGTH.size)
            if not head:
                return
            (length,) = _LENGTH.unpack(head)
            payload = stream.read(length)
            if len(payload) != length:
                raise ValueError(f"{path}: truncated event cache")
            yield from _DECODER.decode(payload)
