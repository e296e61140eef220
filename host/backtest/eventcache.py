"""A compact pre-decoded event file: parse a recording once, replay it many times.

Decoding raw JSON (and aligning Binance snapshots) is most of the cost of
reading a recording. This cache stores the decoded ``BookMessage`` / ``Trade``
values in length-prefixed chunks of ``CHUNK_EVENTS`` events, so reading
streams chunk by chunk and memory stays flat in the data length.

A chunk is columnar, so reading it is a few C calls rather than one object
per number: a msgpack array ``[names, fields, levels, trade_ids]`` where

* ``names``: the distinct venue and symbol strings of the chunk;
* ``fields``: ``FIELDS`` integers per event: kind (0 book, 1 trade), venue
  index, symbol index, ``ts_exchange_ns``, ``ts_local_ns``, then for a book
  message ``is_snapshot``, bid count, ask count, ``first_update_id``,
  ``last_update_id``, ``prev_update_id``, ``seq``; for a trade
  ``price_ticks``, ``size_lots``, ``aggressor`` and four zeros;
* ``levels``: the ``price_ticks, size_lots`` pairs of every book message in
  order, bids then asks;
* ``trade_ids``: one string per trade, in order.

``fields`` and ``levels`` are little-endian int64 bytes, or msgpack integer
arrays in a chunk holding a number beyond int64. Reading yields the host's own
``BookMessage`` and ``Trade`` values, field for field what was written.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

import msgspec

from host.models import BookMessage, Side, Trade

CHUNK_EVENTS = 2_000
MAGIC = b"MMHEVC2\n"
FIELDS = 12
_LENGTH = struct.Struct("<I")
_SWAP = sys.byteorder != "little"  # the file is little-endian whatever the machine
# Reading int64 bytes: struct makes each row (or level pair) a tuple in one C
# call, in the file's byte order whatever the machine's.
_ROW = struct.Struct(f"<{FIELDS}q")
_PAIR = struct.Struct("<qq")
_SIDES = {int(side): side for side in Side}


_Chunk = tuple[list[str], bytes | list[int], bytes | list[int], list[str]]
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(_Chunk)


def write_event_cache(events: Iterable[BookMessage | Trade], path: Path) -> int:
    """Write ``events`` to ``path``; returns how many. Streams: one chunk in memory."""
    count = 0
    chunk: list[BookMessage | Trade] = []
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as stream:
        stream.write(MAGIC)
        for event in events:
            chunk.append(event)
            if len(chunk) >= CHUNK_EVENTS:
                _write_chunk(stream, chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            _write_chunk(stream, chunk)
            count += len(chunk)
    partial.replace(path)  # a cache file exists only once complete
    return count


def _write_chunk(stream: Any, chunk: list[BookMessage | Trade]) -> None:
    payload = _ENCODER.encode(_columnar(chunk))
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)


def _columnar(chunk: list[BookMessage | Trade]) -> _Chunk:
    names: dict[str, int] = {}
    fields: list[int] = []
    levels: list[int] = []
    trade_ids: list[str] = []
    for event in chunk:
        venue = names.setdefault(event.venue, len(names))
        symbol = names.setdefault(event.symbol, len(names))
        if isinstance(event, Trade):
            fields += (1, venue, symbol, event.ts_exchange_ns, event.ts_local_ns)
            fields += (event.price_ticks, event.size_lots, int(event.aggressor), 0, 0, 0, 0)
            trade_ids.append(event.trade_id)
            continue
        fields += (0, venue, symbol, event.ts_exchange_ns, event.ts_local_ns)
        fields += (int(event.is_snapshot), len(event.bids), len(event.asks))
        fields += (event.first_update_id, event.last_update_id, event.prev_update_id, event.seq)
        for price_ticks, size_lots in event.bids:
            levels += (price_ticks, size_lots)
        for price_ticks, size_lots in event.asks:
            levels += (price_ticks, size_lots)
    try:
        return list(names), _int64_bytes(fields), _int64_bytes(levels), trade_ids
    except OverflowError:  # a number beyond int64: plain msgpack integers, exact
        return list(names), fields, levels, trade_ids


def _int64_bytes(values: list[int]) -> bytes:
    packed = array("q", values)  # OverflowError beyond int64
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def _int64_array(data: bytes | list[int]) -> array[int] | list[int]:
    """The numbers as an array (not a list: an array is no work for the
    garbage collector), or the msgpack list as it is."""
    if isinstance(data, list):
        return data
    packed = array("q")
    packed.frombytes(data)
    if _SWAP:
        packed.byteswap()
    return packed


def read_event_cache(path: Path) -> Iterator[BookMessage | Trade]:
    """The events of a cache file, in order."""
    # chain rather than ``yield from``: one generator frame less to resume per event.
    return chain.from_iterable(
        _read_columnar(*_DECODER.decode(payload)) for payload in _chunks(path)
    )


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        if stream.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path}: not an mmhost event cache (or an older format: rebuild it)")
        while True:
            head = stream.read(_LENGTH.size)
            if not head:
                return
            (length,) = _LENGTH.unpack(head)
            payload = stream.read(length)
            if len(payload) != length:
                raise ValueError(f"{path}: truncated event cache")
            yield payload


def _read_columnar(
    names: list[str],
    fields_data: bytes | list[int],
    levels_data: bytes | list[int],
    trade_ids: list[str],
) -> Iterator[BookMessage | Trade]:
    rows: Iterator[tuple[int, ...]]
    levels: Iterator[tuple[int, int]]
    if isinstance(fields_data, bytes) and isinstance(levels_data, bytes):
        rows = _ROW.iter_unpack(fields_data)
        # (price, size) tuples made in C as each message takes its share: made
        # for the whole chunk at once they would outlive many garbage collections.
        levels = _PAIR.iter_unpack(levels_data)
    else:  # msgpack integer arrays (a number beyond int64): the same, from lists
        fields = _int64_array(fields_data)
        rows = zip(*(fields[k::FIELDS] for k in range(FIELDS)), strict=True)
        numbers = iter(_int64_array(levels_data))
        levels = zip(numbers, numbers, strict=False)  # consecutive numbers, two by two
    next_trade_id = iter(trade_ids).__next__
    sides = _SIDES
    for kind, venue, symbol, ts_exchange_ns, ts_local_ns, a, b, c, d, e, f, g in rows:
        if kind:
            yield Trade(
                names[venue],
                names[symbol],
                ts_exchange_ns,
                ts_local_ns,
                a,
                b,
                sides[c],
                next_trade_id(),
            )
            continue
        yield BookMessage(
            names[venue],
            names[symbol],
            ts_exchange_ns,
            ts_local_ns,
            a != 0,
            list(islice(levels, b)),
            list(islice(levels, c)),
            d,
            e,
            f,
            g,
        )
