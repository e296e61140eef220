"""The L2 order book: integer ticks and lots, sequence and gap checks.

One ``OrderBook`` per (venue, symbol). Feeds hand it ``BookMessage`` values
already on the integer grid; it applies them, checks that each delta follows the
previous applied message, and refuses to pretend: after a gap or a crossed book
it turns invalid and ignores deltas until a snapshot re-seeds it.

Layout, chosen for speed in pure Python: per side a dict ``price_ticks ->
size_lots`` plus a sorted list of the prices. A size change touches only the
dict; the list is edited (``bisect``) only when a level appears or disappears.
Bids are kept ascending and asks as *negated* prices ascending, so on both
sides the best level is the list's last element and the levels that churn
most (near the touch) sit at the cheap end of the list for inserts/deletes.

The list is brought up to date when it is read, not by every delta: on a
liquid perpetual a quarter of the levels in a delta appear or disappear, a
bisect and a memmove each, while most runs read only the touch. An untracked
delta edits the dict, notes the prices it deleted, and finds the new best price
by walking a few ticks from the old one. ``_bid_prices`` / ``_ask_keys`` are
properties that settle the list first, so every reader sees it exact: the noted
prices leave it, and the prices added since are the dict's last keys (a dict
keeps insertion order; a changed size keeps its key's place).

Continuity rule for a delta, in order:

1. First delta after a snapshot that carried an update id ``L`` (the bridge):
   a delta whose ``last_update_id < L`` is older than the snapshot and is
   dropped (``STALE``, book stays valid); one whose ``first_update_id > L + 1``
   leaves a hole (``GAP``); otherwise it applies. This single rule covers
   Binance futures (``U <= L <= u``), Binance spot (``U <= L+1 <= u``) and
   Bybit (``u == L + 1``).
2. Afterwards, if the delta has ``prev_update_id`` (Binance futures ``pu``),
   it must equal the book's ``last_update_id``; else if it has
   ``first_update_id`` (Binance spot ``U``, Bybit ``u``), it must equal
   ``last_update_id + 1``; else it is not checked.

``apply`` returns a ``BookEvent``: truthy for ``SNAPSHOT`` and ``APPLIED``,
falsy for everything else, so ``if book.apply(msg):`` reads naturally while a
caller that cares can tell a gap from an ignored delta. The same value is kept
in ``last_event``; counters live in ``stats``.

Change tracking (opt-in, for observers that keep running sums): with
``track_changes = True`` every applied delta also records, per side, the size
each of its entries replaced: ``old_bid_sizes_lots[i]`` is the lots resting at
``msg.bids[i]``'s price just before that entry was applied (0: no level), so
``zip(msg.bids, book.old_bid_sizes_lots)`` gives (price, new, old) without a
private copy of the book. Entry by entry, so a price listed twice in one message
reads the first entry's size as the second one's old size. Tracking reads each
level's size before writing it and appends it: on the bench recording a tracked
delta costs about twice an untracked one (still lazy about the sorted list).
Off (the default) it costs one attribute test per message. The lists are reused
(cleared by the next delta) and left empty by a snapshot, which replaces every
level.

Depth bands (opt-in, ``watch_depth_within_bps``): the lots within X bps of
each touch kept as running sums, because on a liquid perpetual a 10 bps band
holds hundreds of levels and an observer reading it per message cannot count
them each time. The tracked loop sorts each changed level into the narrowest
band holding it (a comparison or two per level); a read moves the band's edge
when the touch has moved, reading only the levels between the two edges.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import islice

from loguru import logger

from host.models import BookMessage, Level, Side

__all__ = ["BookEvent", "BookSet", "BookStats", "OrderBook"]


class BookEvent(enum.Enum):
    """What one ``OrderBook.apply`` call did. Truthy only when the message
    was applied and the book is valid afterwards."""

    SNAPSHOT = "snapshot"  # the book was replaced and is valid
    APPLIED = "applied"  # a delta was applied, book valid
    GAP = "gap"  # continuity broken: message not applied, book invalid
    CROSSED = "crossed"  # applied, but best bid >= best ask: book invalid
    IGNORED = "ignored"  # a delta while invalid (waiting for a snapshot)
    STALE = "stale"  # a delta older than the current snapshot, dropped

    def __bool__(self) -> bool:
        return self is BookEvent.APPLIED or self is BookEvent.SNAPSHOT


_SNAPSHOT = BookEvent.SNAPSHOT
_APPLIED = BookEvent.APPLIED
_GAP = BookEvent.GAP
_CROSSED = BookEvent.CROSSED
_IGNORED = BookEvent.IGNORED
_STALE = BookEvent.STALE


class _DepthBand:
    """A watched band of one side: ``lots`` rest at prices from ``edge_ticks``
    (bids: the floor; asks: the ceiling) to the touch, the edge placed from
    the best price ``anchor_ticks`` (0: not placed, the side was empty)."""

    __slots__ = ("anchor_ticks", "bps", "edge_ticks", "lots")

    def __init__(self, bps: float) -> None:
        self.bps = bps
        self.anchor_ticks = 0
        self.edge_ticks = 0
        self.lots = 0


_NO_BANDS: list[_DepthBand] = []
_NO_PRICE_REACHES = 1 << 62

# Ticks walked from a best price that went before the sorted list is asked.
_BEST_WALK_TICKS = 64
_BELOW_ALL = -math.inf  # a best bid for an empty side: any price tops it
_ABOVE_ALL = math.inf
# Deleted prices noted, beyond a few per listed price, before the list is
# settled unasked: bounds memory, and a settling then sorts the dict anew
# (n log n) once per several n deletes.
_MAX_GONE = 1024


def _owes_many(keys: list[int], gone: list[int], sizes: dict[int, int]) -> bool:
    """Whether settling the list would sort the dict anew rather than edit it:
    sorting n prices costs about n / 4 bisect-and-memmove edits."""
    return (len(gone) + abs(len(sizes) - len(keys))) * 4 > len(keys)


def _settle(keys: list[int], gone: list[int], sizes: dict[int, int], sign: int) -> None:
    """Bring one side's sorted list (``sign`` -1: asks, kept negated) up to
    the dict: the noted deleted prices leave it, then the prices added since
    its last settling, the dict's last keys, join it."""
    if _owes_many(keys, gone, sizes):
        keys[:] = sorted(sizes) if sign > 0 else sorted([-price for price in sizes])
        gone.clear()
        return
    for price in gone:
        # A price added and deleted since the last settling was never listed.
        index = bisect_left(keys, sign * price)
        if index < len(keys) and keys[index] == sign * price:
            del keys[index]
    gone.clear()
    # Every listed price left now was in the dict before any added since (a
    # deleted and re-added one was just unlisted): those are the last keys.
    for price in islice(reversed(sizes), len(sizes) - len(keys)):
        insort(keys, sign * price)


def _band_width(band: _DepthBand) -> float:
    return band.bps


def _bid_band_floor(best_bid_ticks: int, bps: float) -> int:
    # The lowest integer price at or above the float floor that
    # _count_within_bps compares against, so both agree on the boundary level.
    return math.ceil(best_bid_ticks * (1.0 - bps / 10_000.0))


def _ask_band_ceiling(best_ask_ticks: int, bps: float) -> int:
    # The highest integer price at or below the float ceiling.
    return math.floor(best_ask_ticks * (1.0 + bps / 10_000.0))


@dataclass(slots=True)
class BookStats:
    """Counters of one book since construction (``reset`` keeps them)."""

    messages_applied: int = 0  # snapshots + deltas applied (crossed ones included)
    snapshots: int = 0
    level_updates: int = 0  # (price, size) pairs applied, snapshots included
    gaps: int = 0
    crossed: int = 0
    resyncs: int = 0  # snapshots after the first one
    ignored: int = 0  # deltas dropped while invalid
    stale: int = 0  # deltas older than the snapshot they follow

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class OrderBook:
    """An L2 book in integer ticks and lots with continuity checks.

    ``best_*`` are plain attributes refreshed by every ``apply`` (0 when the
    side is empty), because the engine reads them after every message.
    """

    __slots__ = (
        "_ask_bands",
        "_ask_bands_by_bps",
        "_ask_gone",
        "_ask_list",
        "_ask_sizes",
        "_awaiting_bridge",
        "_band_chain",
        "_bid_bands",
        "_bid_bands_by_bps",
        "_bid_gone",
        "_bid_list",
        "_bid_sizes",
        "_log",
        "best_ask_size_lots",
        "best_ask_ticks",
        "best_bid_size_lots",
        "best_bid_ticks",
        "is_valid",
        "last_event",
        "last_ts_exchange_ns",
        "last_ts_local_ns",
        "last_update_id",
        "old_ask_sizes_lots",
        "old_bid_sizes_lots",
        "stale_after_ns",
        "stats",
        "symbol",
        "track_changes",
        "venue",
    )

    def __init__(self, venue: str, symbol: str, *, stale_after_ms: int = 5000) -> None:
        self.venue = venue
        self.symbol = symbol
        self.stale_after_ns = stale_after_ms * 1_000_000
        self.stats = BookStats()
        self._log = logger.bind(component="book", venue=venue, symbol=symbol)
        self.last_event: BookEvent | None = None
        # Opt-in: record each applied delta's old sizes (module docstring).
        self.track_changes = False
        self.old_bid_sizes_lots: list[int] = []
        self.old_ask_sizes_lots: list[int] = []
        # Watched depth bands (``watch_depth_within_bps``), narrowest first.
        self._bid_bands: list[_DepthBand] = []
        self._ask_bands: list[_DepthBand] = []
        self._bid_bands_by_bps: dict[float, _DepthBand] = {}
        self._ask_bands_by_bps: dict[float, _DepthBand] = {}
        # ``stats.messages_applied`` after the last message the bands followed;
        # any other value means a message (a snapshot, an untracked delta)
        # went past them and they must be recounted before they are read.
        self._band_chain = -1
        self._clear()

    def _clear(self) -> None:
        self._band_chain = -1  # the watched bands are recounted at the next read
        self._bid_sizes: dict[int, int] = {}
        self._ask_sizes: dict[int, int] = {}
        # The sorted lists as of their last settling (module docstring) and the
        # prices deleted since (asks as prices, not negated).
        self._bid_list: list[int] = []  # ascending: best bid is [-1]
        self._ask_list: list[int] = []  # negated ask prices ascending: best ask is -[-1]
        self._bid_gone: list[int] = []
        self._ask_gone: list[int] = []
        self._awaiting_bridge = False
        self.is_valid = False
        self.last_update_id = -1
        self.last_ts_local_ns = 0
        self.last_ts_exchange_ns = 0
        self.best_bid_ticks = 0
        self.best_ask_ticks = 0
        self.best_bid_size_lots = 0
        self.best_ask_size_lots = 0

    def reset(self) -> None:
        """Empty and invalid, as before the first snapshot (on resubscribe).
        Counters are kept."""
        self._clear()

    @property
    def _bid_prices(self) -> list[int]:
        """The bid prices ascending, settled first."""
        if self._bid_gone or len(self._bid_list) != len(self._bid_sizes):
            _settle(self._bid_list, self._bid_gone, self._bid_sizes, 1)
        return self._bid_list

    @property
    def _ask_keys(self) -> list[int]:
        """The negated ask prices ascending, settled first."""
        if self._ask_gone or len(self._ask_list) != len(self._ask_sizes):
            _settle(self._ask_list, self._ask_gone, self._ask_sizes, -1)
        return self._ask_list

    # -- applying messages -------------------------------------------------

    def apply(self, msg: BookMessage) -> BookEvent:
        """Apply one message; see the module docstring for the rules."""
        if msg.is_snapshot:
            return self._apply_snapshot(msg)
        stats = self.stats
        if not self.is_valid:
            stats.ignored += 1
            self.last_event = _IGNORED
            return _IGNORED
        last_id = self.last_update_id
        if self._awaiting_bridge:
            if msg.last_update_id != -1 and msg.last_update_id < last_id:
                stats.stale += 1
                self.last_event = _STALE
                return _STALE
            if msg.first_update_id != -1 and msg.first_update_id > last_id + 1:
                return self._gap(msg, last_id + 1)
            self._awaiting_bridge = False
        elif last_id != -1:
            if msg.prev_update_id != -1:
                if msg.prev_update_id != last_id:
                    return self._gap(msg, last_id)
            elif msg.first_update_id != -1 and msg.first_update_id != last_id + 1:
                return self._gap(msg, last_id + 1)

        if self.track_changes:
            best_bid, best_ask = self._apply_tracked(msg)
        else:
            best_bid = self._edit_bids(msg.bids)
            best_ask = self._edit_asks(msg.asks)
        sizes = self._bid_sizes
        self.best_bid_ticks = best_bid
        self.best_bid_size_lots = sizes[best_bid] if sizes else 0
        sizes = self._ask_sizes
        self.best_ask_ticks = best_ask
        self.best_ask_size_lots = sizes[best_ask] if sizes else 0

        if msg.last_update_id != -1:
            self.last_update_id = msg.last_update_id
        self.last_ts_local_ns = msg.ts_local_ns
        self.last_ts_exchange_ns = msg.ts_exchange_ns
        stats.messages_applied += 1
        stats.level_updates += len(msg.bids) + len(msg.asks)
        if best_bid and best_ask and best_bid >= best_ask:
            return self._crossed(best_bid, best_ask)
        self.last_event = _APPLIED
        return _APPLIED

    # The untracked edits: the dict now, the sorted list when it is read
    # (module docstring). Each returns its side's best price (0: empty side).
    # Before a delta ``best_*_ticks`` is the side's best (every path that
    # edits a dict sets it), so only a level the delta sets can pass it.

    def _edit_bids(self, levels: list[tuple[int, int]]) -> int:
        sizes = self._bid_sizes
        gone = self._bid_gone
        best = self.best_bid_ticks if sizes else _BELOW_ALL
        for price, size in levels:
            if size:
                sizes[price] = size
                if price > best:
                    best = price
            elif price in sizes:
                # Deleting a level we never had is normal on Binance: skip it.
                del sizes[price]
                gone.append(price)
        return self._best_bid_after(best)

    def _best_bid_after(self, best: int | float) -> int:
        """The best bid after a delta's edits, ``best`` being the old best or
        a higher price the delta set."""
        sizes = self._bid_sizes
        gone = self._bid_gone
        if len(gone) > 4 * len(self._bid_list) + _MAX_GONE:  # nobody reads the list
            _settle(self._bid_list, gone, sizes, 1)
        if not sizes:
            return 0
        if best not in sizes:
            # The best level went: the next one is below it, a few ticks down
            # near a liquid touch; further (a sparse book) the list or the dict.
            floor = best - _BEST_WALK_TICKS
            while best > floor:
                best -= 1
                if best in sizes:
                    return int(best)
            return max(sizes) if _owes_many(self._bid_list, gone, sizes) else self._bid_prices[-1]
        return int(best)

    def _edit_asks(self, levels: list[tuple[int, int]]) -> int:
        sizes = self._ask_sizes
        gone = self._ask_gone
        best = self.best_ask_ticks if sizes else _ABOVE_ALL
        for price, size in levels:
            if size:
                sizes[price] = size
                if price < best:
                    best = price
            elif price in sizes:
                del sizes[price]
                gone.append(price)
        return self._best_ask_after(best)

    def _best_ask_after(self, best: int | float) -> int:
        """The best ask after a delta's edits (``_best_bid_after`` mirrored)."""
        sizes = self._ask_sizes
        gone = self._ask_gone
        if len(gone) > 4 * len(self._ask_list) + _MAX_GONE:
            _settle(self._ask_list, gone, sizes, -1)
        if not sizes:
            return 0
        if best not in sizes:
            ceiling = best + _BEST_WALK_TICKS
            while best < ceiling:
                best += 1
                if best in sizes:
                    return int(best)
            return min(sizes) if _owes_many(self._ask_list, gone, sizes) else -self._ask_keys[-1]
        return int(best)

    def _apply_tracked(self, msg: BookMessage) -> tuple[int, int]:
        """The level edits of a delta as ``_edit_bids`` / ``_edit_asks`` make
        them, also recording each entry's old size and moving the watched
        depth bands' sums by the changes inside them. Returns the best bid
        and ask."""
        if self._band_chain == self.stats.messages_applied:
            best_bid = self._edit_bids_tracked(msg.bids, self._bid_bands)
            best_ask = self._edit_asks_tracked(msg.asks, self._ask_bands)
            # apply() counts this message next: the bands followed it.
            self._band_chain += 1
        else:
            # The bands missed a message: leave them until a read recounts them.
            best_bid = self._edit_bids_tracked(msg.bids, _NO_BANDS)
            best_ask = self._edit_asks_tracked(msg.asks, _NO_BANDS)
        return best_bid, best_ask

    # One loop per side, as untracked; the band sorting is skipped by a
    # sentinel edge when no band is watched. Bands nest (narrowest first): a
    # change goes to the bucket of the narrowest band holding it, and band k
    # moves by buckets 0..k.

    def _edit_bids_tracked(self, levels: list[tuple[int, int]], bands: list[_DepthBand]) -> int:
        sizes = self._bid_sizes
        gone = self._bid_gone
        best = self.best_bid_ticks if sizes else _BELOW_ALL
        olds = self.old_bid_sizes_lots
        olds.clear()
        record = olds.append
        floors = [band.edge_ticks for band in bands]  # descending
        lowest = floors[-1] if bands else _NO_PRICE_REACHES  # int: cheap to compare
        buckets = [0] * len(floors)
        for price, size in levels:
            # ``in`` and a subscript, not ``get``: no method call per level.
            if price in sizes:
                old = sizes[price]
                if size:
                    sizes[price] = size
                else:
                    del sizes[price]
                    gone.append(price)
            else:
                old = 0
                if size:
                    sizes[price] = size
            record(old)
            if size and price > best:
                best = price
            if price >= lowest and size != old:
                index = 0
                while price < floors[index]:
                    index += 1
                buckets[index] += size - old
        running = 0
        for band, bucket in zip(bands, buckets, strict=True):
            running += bucket
            band.lots += running
        return self._best_bid_after(best)

    def _edit_asks_tracked(self, levels: list[tuple[int, int]], bands: list[_DepthBand]) -> int:
        sizes = self._ask_sizes
        gone = self._ask_gone
        best = self.best_ask_ticks if sizes else _ABOVE_ALL
        olds = self.old_ask_sizes_lots
        olds.clear()
        record = olds.append
        ceilings = [band.edge_ticks for band in bands]  # ascending
        highest = ceilings[-1] if bands else -1
        buckets = [0] * len(ceilings)
        for price, size in levels:
            if price in sizes:
                old = sizes[price]
                if size:
                    sizes[price] = size
                else:
                    del sizes[price]
                    gone.append(price)
            else:
                old = 0
                if size:
                    sizes[price] = size
            record(old)
            if size and price < best:
                best = price
            if price <= highest and size != old:
                index = 0
                while price > ceilings[index]:
                    index += 1
                buckets[index] += size - old
        running = 0
        for band, bucket in zip(bands, buckets, strict=True):
            running += bucket
            band.lots += running
        return self._best_ask_after(best)

    def _apply_snapshot(self, msg: BookMessage) -> BookEvent:
        stats = self.stats
        was_seeded = stats.snapshots > 0
        # dict() first: a price listed twice keeps its last size, as in a delta
        bid_sizes = {price: size for price, size in dict(msg.bids).items() if size > 0}
        ask_sizes = {price: size for price, size in dict(msg.asks).items() if size > 0}
        self._bid_sizes = bid_sizes
        self._ask_sizes = ask_sizes
        self._bid_list = sorted(bid_sizes)
        self._ask_list = sorted(-price for price in ask_sizes)
        self._bid_gone.clear()
        self._ask_gone.clear()
        self.old_bid_sizes_lots.clear()
        self.old_ask_sizes_lots.clear()
        self.last_update_id = msg.last_update_id
        self._awaiting_bridge = msg.last_update_id != -1
        self.last_ts_local_ns = msg.ts_local_ns
        self.last_ts_exchange_ns = msg.ts_exchange_ns
        stats.messages_applied += 1
        stats.snapshots += 1
        stats.level_updates += len(msg.bids) + len(msg.asks)
        if was_seeded:
            stats.resyncs += 1
            if not self.is_valid:
                self._log.info("book resynced at update {update_id}", update_id=msg.last_update_id)
        best_bid = self._bid_list[-1] if bid_sizes else 0
        best_ask = -self._ask_list[-1] if ask_sizes else 0
        self.best_bid_ticks = best_bid
        self.best_ask_ticks = best_ask
        self.best_bid_size_lots = bid_sizes[best_bid] if best_bid else 0
        self.best_ask_size_lots = ask_sizes[best_ask] if best_ask else 0
        if best_bid and best_ask and best_bid >= best_ask:
            # A crossed snapshot is broken data, not a book to quote on.
            return self._crossed(best_bid, best_ask)
        self.is_valid = True
        self.last_event = _SNAPSHOT
        return _SNAPSHOT

    def _gap(self, msg: BookMessage, expected_id: int) -> BookEvent:
        self.stats.gaps += 1
        self.is_valid = False
        self.last_event = _GAP
        self._log.warning(
            "book gap: expected update {expected_id}, got first {first_id} prev {prev_id}",
            expected_id=expected_id,
            first_id=msg.first_update_id,
            prev_id=msg.prev_update_id,
        )
        return _GAP

    def _crossed(self, best_bid_ticks: int, best_ask_ticks: int) -> BookEvent:
        self.stats.crossed += 1
        self.is_valid = False
        self.last_event = _CROSSED
        self._log.warning(
            "book crossed: bid {best_bid_ticks} >= ask {best_ask_ticks}",
            best_bid_ticks=best_bid_ticks,
            best_ask_ticks=best_ask_ticks,
        )
        return _CROSSED

    # -- reading -----------------------------------------------------------

    def mid_ticks(self) -> float | None:
        if self.best_bid_ticks and self.best_ask_ticks:
            return (self.best_bid_ticks + self.best_ask_ticks) / 2
        return None

    def microprice_ticks(self) -> float | None:
        """Size-weighted mid: leans toward the side with less size resting."""
        bid_size = self.best_bid_size_lots
        ask_size = self.best_ask_size_lots
        if not (self.best_bid_ticks and self.best_ask_ticks):
            return None
        return (self.best_bid_ticks * ask_size + self.best_ask_ticks * bid_size) / (
            bid_size + ask_size
        )

    def levels(self, side: Side, depth: int) -> list[Level]:
        """Up to ``depth`` levels of one side, best first."""
        if depth <= 0:
            return []
        if side is Side.BUY:
            sizes = self._bid_sizes
            return [Level(price, sizes[price]) for price in self._bid_prices[: -depth - 1 : -1]]
        sizes = self._ask_sizes
        return [Level(-key, sizes[-key]) for key in self._ask_keys[: -depth - 1 : -1]]

    def top_of_book(self, side: Side, depth: int) -> tuple[list[int], list[int]]:
        """Up to ``depth`` levels of one side as two lists, best first: prices
        (ticks) and their sizes (lots). ``levels`` without a Level per row."""
        if depth <= 0:
            return [], []
        if side is Side.BUY:
            prices = self._bid_prices[: -depth - 1 : -1]
            return prices, list(map(self._bid_sizes.__getitem__, prices))
        prices = [-key for key in self._ask_keys[: -depth - 1 : -1]]
        return prices, list(map(self._ask_sizes.__getitem__, prices))

    def size_at(self, side: Side, price_ticks: int) -> int:
        sizes = self._bid_sizes if side is Side.BUY else self._ask_sizes
        return sizes.get(price_ticks, 0)

    def depth_within_bps(self, side: Side, bps: float) -> int:
        """Lots resting on ``side`` within ``bps`` of that side's own best
        price (the touch), boundary included; 0 for an empty side.

        Measured from the touch, not the mid, so it needs only one side and
        does not move when the other side flickers. A band registered with
        ``watch_depth_within_bps`` is answered from its running sum; any other
        is counted level by level.
        """
        if side is Side.BUY:
            band = self._bid_bands_by_bps.get(bps)
            best = self.best_bid_ticks
        else:
            band = self._ask_bands_by_bps.get(bps)
            best = self.best_ask_ticks
        if band is None:
            return self._count_within_bps(side, bps)
        if self._band_chain != self.stats.messages_applied:
            self._recount_bands()
        elif best != band.anchor_ticks:
            self._move_band(side, band, best)
        return band.lots

    def watch_depth_within_bps(self, bps: float) -> None:
        """Keep ``depth_within_bps(side, bps)`` of both sides as running sums.

        Every applied delta moves the sums by the changes inside the band (so
        this turns ``track_changes`` on); a read moves the band's edge when the
        touch has moved, reading only the levels between the old and the new
        edge. A snapshot, or a delta applied with tracking off, makes the next
        read count the bands afresh. Watching the same band twice is harmless.
        """
        if bps <= 0:
            raise ValueError(f"a depth band must be > 0 bps, not {bps!r}")
        self.track_changes = True
        for bands, by_bps in (
            (self._bid_bands, self._bid_bands_by_bps),
            (self._ask_bands, self._ask_bands_by_bps),
        ):
            if bps not in by_bps:
                band = _DepthBand(bps)
                by_bps[bps] = band
                bands.append(band)
                bands.sort(key=_band_width)
        self._band_chain = -1  # count them before the first read

    def _move_band(self, side: Side, band: _DepthBand, best: int) -> None:
        """Place the band's edge from a new touch, reading only the levels
        between the old and the new edge."""
        band.anchor_ticks = best
        if not best:  # the side is empty: so is the band
            band.lots = 0
            return
        if side is Side.BUY:
            edge = _bid_band_floor(best, band.bps)
            if edge > band.edge_ticks:  # the floor rose: levels leave at the bottom
                band.lots -= self.depth_between(Side.BUY, band.edge_ticks, edge)
            elif edge < band.edge_ticks:  # the floor fell: levels join at the bottom
                band.lots += self.depth_between(Side.BUY, edge, band.edge_ticks)
        else:
            edge = _ask_band_ceiling(best, band.bps)
            if edge < band.edge_ticks:  # the ceiling fell: levels leave at the top
                band.lots -= self.depth_between(Side.SELL, edge + 1, band.edge_ticks + 1)
            elif edge > band.edge_ticks:  # the ceiling rose: levels join at the top
                band.lots += self.depth_between(Side.SELL, band.edge_ticks + 1, edge + 1)
        band.edge_ticks = edge

    def _recount_bands(self) -> None:
        for side, bands, best in (
            (Side.BUY, self._bid_bands, self.best_bid_ticks),
            (Side.SELL, self._ask_bands, self.best_ask_ticks),
        ):
            for band in bands:
                band.anchor_ticks = best
                if side is Side.BUY:
                    band.edge_ticks = _bid_band_floor(best, band.bps) if best else 0
                else:
                    band.edge_ticks = _ask_band_ceiling(best, band.bps) if best else 0
                band.lots = self._count_within_bps(side, band.bps)
        self._band_chain = self.stats.messages_applied

    def _count_within_bps(self, side: Side, bps: float) -> int:
        """``depth_within_bps`` level by level."""
        if side is Side.BUY:
            best = self.best_bid_ticks
            if not best:
                return 0
            floor_ticks = best * (1.0 - bps / 10_000.0)
            prices = self._bid_prices
            start = bisect_left(prices, floor_ticks)
            sizes = self._bid_sizes
            return sum(sizes[price] for price in prices[start:])
        best = self.best_ask_ticks
        if not best:
            return 0
        ceiling_ticks = best * (1.0 + bps / 10_000.0)
        keys = self._ask_keys
        # keys are negated prices: price <= ceiling  <=>  key >= -ceiling
        start = bisect_left(keys, -ceiling_ticks)
        sizes = self._ask_sizes
        return sum(sizes[-key] for key in keys[start:])

    def depth_between(self, side: Side, start_ticks: int, stop_ticks: int) -> int:
        """Lots resting on ``side`` at prices ``start_ticks <= price < stop_ticks``."""
        if side is Side.BUY:
            prices = self._bid_prices
            low = bisect_left(prices, start_ticks)
            high = bisect_left(prices, stop_ticks, low)
            return sum(map(self._bid_sizes.__getitem__, prices[low:high]))
        keys = self._ask_keys
        # keys are negated prices: start <= price < stop  <=>  -stop < key <= -start
        low = bisect_right(keys, -stop_ticks)
        high = bisect_right(keys, -start_ticks, low)
        return sum(self._ask_sizes[-key] for key in keys[low:high])

    def is_stale(self, now_ns: int) -> bool:
        """True when nothing was applied for ``stale_after_ms`` (or ever)."""
        if not self.last_ts_local_ns:
            return True
        return now_ns - self.last_ts_local_ns > self.stale_after_ns

    def level_count(self, side: Side) -> int:
        return len(self._bid_sizes if side is Side.BUY else self._ask_sizes)

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.venue}:{self.symbol} valid={self.is_valid} "
            f"bid={self.best_bid_ticks}x{self.best_bid_size_lots} "
            f"ask={self.best_ask_ticks}x{self.best_ask_size_lots} "
            f"levels={len(self._bid_sizes)}/{len(self._ask_sizes)})"
        )


class BookSet:
    """Books of several venues and symbols side by side, keyed by
    ``(venue, symbol)``; a book is created on the first message for its key."""

    def __init__(self, *, stale_after_ms: int = 5000) -> None:
        self._books: dict[tuple[str, str], OrderBook] = {}
        self._stale_after_ms = stale_after_ms

    def book(self, venue: str, symbol: str) -> OrderBook:
        """The book for (venue, symbol), created empty if absent."""
        key = (venue, symbol)
        book = self._books.get(key)
        if book is None:
            book = OrderBook(venue, symbol, stale_after_ms=self._stale_after_ms)
            self._books[key] = book
        return book

    def apply(self, msg: BookMessage) -> BookEvent:
        book = self._books.get((msg.venue, msg.symbol))
        if book is None:
            book = self.book(msg.venue, msg.symbol)
        return book.apply(msg)

    def get(self, venue: str, symbol: str) -> OrderBook | None:
        return self._books.get((venue, symbol))

    def __getitem__(self, key: tuple[str, str]) -> OrderBook:
        return self._books[key]

    def __contains__(self, key: object) -> bool:
        return key in self._books

    def __iter__(self) -> Iterator[OrderBook]:
        return iter(self._books.values())

    def __len__(self) -> int:
        return len(self._books)

    def keys(self) -> list[tuple[str, str]]:
        return list(self._books)
