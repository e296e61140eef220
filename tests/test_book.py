"""OrderBook: properties against a brute-force book, continuity, resync."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import host.book as book_module
from host.book import BookEvent, BookSet, OrderBook
from host.models import BookMessage, Level, Side

REPO = Path(__file__).resolve().parents[1]


def snapshot(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]], update_id: int = 100, ts: int = 1
) -> BookMessage:
    return BookMessage("test", "X", ts, ts, True, bids, asks, last_update_id=update_id)


def delta(
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    update_id: int,
    *,
    prev_update_id: int = -1,
    first_update_id: int | None = None,
    ts: int = 2,
) -> BookMessage:
    first = update_id if first_update_id is None else first_update_id
    return BookMessage(
        "test",
        "X",
        ts,
        ts,
        False,
        bids,
        asks,
        first_update_id=first,
        last_update_id=update_id,
        prev_update_id=prev_update_id,
    )


class ReferenceBook:
    """Brute force: two dicts, best found by max/min every time."""

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def apply(self, msg: BookMessage) -> None:
        if msg.is_snapshot:
            self.bids = {}
            self.asks = {}
        for side, levels in ((self.bids, msg.bids), (self.asks, msg.asks)):
            for price, size in levels:
                if size > 0:
                    side[price] = size
                else:
                    side.pop(price, None)

    def best_bid(self) -> int:
        return max(self.bids, default=0)

    def best_ask(self) -> int:
        return min(self.asks, default=0)

    def crossed(self) -> bool:
        return bool(self.bids and self.asks and self.best_bid() >= self.best_ask())

    def levels(self, side: Side, depth: int) -> list[Level]:
        if side is Side.BUY:
            prices = sorted(self.bids, reverse=True)[:depth]
            return [Level(price, self.bids[price]) for price in prices]
        prices = sorted(self.asks)[:depth]
        return [Level(price, self.asks[price]) for price in prices]


price_levels = st.lists(
    st.tuples(st.integers(900, 1100), st.integers(0, 50)), min_size=0, max_size=12
)
steps = st.lists(
    st.tuples(st.booleans(), price_levels, price_levels, st.integers(0, 20)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(steps=steps)
def test_book_matches_brute_force_reference(
    steps: list[tuple[bool, list[tuple[int, int]], list[tuple[int, int]], int]],
) -> None:
    book = OrderBook("test", "X")
    reference = ReferenceBook()
    update_id = 0
    for is_snapshot, bids, asks, probe in steps:
        update_id += 1
        if is_snapshot or not book.is_valid:
            # Keep the generated snapshots uncrossed: bids below 1000, asks above.
            bids = [(price - 200, size) for price, size in bids if price < 1000]
            asks = [(price + 200, size) for price, size in asks if price >= 1000]
            message = snapshot(bids, asks, update_id)
        else:
            message = delta(bids, asks, update_id)
        reference.apply(message)
        result = book.apply(message)
        if reference.crossed():
            assert result is BookEvent.CROSSED
            assert not book.is_valid
            continue
        assert result in (BookEvent.SNAPSHOT, BookEvent.APPLIED)
        assert book.is_valid
        assert book.best_bid_ticks == reference.best_bid()
        assert book.best_ask_ticks == reference.best_ask()
        assert book.best_bid_size_lots == reference.bids.get(reference.best_bid(), 0)
        assert book.best_ask_size_lots == reference.asks.get(reference.best_ask(), 0)
        depth = probe % 7
        assert book.levels(Side.BUY, depth) == reference.levels(Side.BUY, depth)
        assert book.levels(Side.SELL, depth) == reference.levels(Side.SELL, depth)
        assert book.level_count(Side.BUY) == len(reference.bids)
        assert book.level_count(Side.SELL) == len(reference.asks)
        price = 800 + probe * 20
        assert book.size_at(Side.BUY, price) == reference.bids.get(price, 0)
        assert book.size_at(Side.SELL, price) == reference.asks.get(price, 0)
        if book.best_bid_ticks and book.best_ask_ticks:
            assert book.best_bid_ticks < book.best_ask_ticks


# Near the touch and often deleting (size 0), so best levels go; the prices
# are then spread from dense (step 1: the next best a tick or two away) to
# sparse (step 97: beyond the best-price walk, so the sorted list answers).
churning_levels = st.lists(
    st.tuples(st.integers(985, 1015), st.integers(0, 3)), min_size=0, max_size=12
)
spread_steps = st.lists(
    st.tuples(
        st.sampled_from(["delta"] * 6 + ["snapshot", "tracked", "reset"]),
        churning_levels,
        churning_levels,
        st.integers(0, 3),  # read the sorted levels after this step when 0
    ),
    min_size=20,
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(
    steps=spread_steps,
    step_ticks=st.sampled_from([1, 3, 97]),
    max_gone=st.sampled_from([book_module._MAX_GONE, -395]),
)
def test_untracked_deltas_owe_the_sorted_list_nothing_when_read(
    steps: list[tuple[str, list[tuple[int, int]], list[tuple[int, int]], int]],
    step_ticks: int,
    max_gone: int,
) -> None:
    """Untracked deltas edit the sorted price lists only when they are read:
    the best prices stay exact after every delta (a walk from the old best or
    the list), and any read, however many deltas later, sees the exact levels;
    switching tracking on in between sees them too. With ``_MAX_GONE`` at
    -395 the deltas themselves settle the lists every few deletes."""
    saved_max_gone, book_module._MAX_GONE = book_module._MAX_GONE, max_gone
    try:
        check_untracked_steps(steps, step_ticks)
    finally:
        book_module._MAX_GONE = saved_max_gone


def check_untracked_steps(
    steps: list[tuple[str, list[tuple[int, int]], list[tuple[int, int]], int]], step_ticks: int
) -> None:
    book = OrderBook("test", "X")
    reference = ReferenceBook()
    # Deep levels no delta touches: a few edits owed to a long list are made
    # one by one, many to a short one by sorting the prices anew.
    ladder_bids = [(price, 1) for price in range(500, 600)]
    ladder_asks = [(price, 1) for price in range(1400, 1500)]

    def spread(levels: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [(100_000 + (price - 1000) * step_ticks, size) for price, size in levels]

    for update_id, (kind, bids, asks, read) in enumerate(steps, start=1):
        if kind == "reset":
            book.reset()
            reference = ReferenceBook()
            continue
        # Bids below 1000 and asks above: the book never crosses.
        bids = [(price, size) for price, size in bids if price < 1000]
        asks = [(price, size) for price, size in asks if price >= 1000]
        if kind == "snapshot" or not book.is_valid:
            if read % 2:
                bids, asks = ladder_bids + bids, ladder_asks + asks
            message = snapshot(spread(bids), spread(asks), update_id)
        else:
            message = delta(spread(bids), spread(asks), update_id)
        book.track_changes = kind == "tracked"
        reference.apply(message)
        result = book.apply(message)
        assert book.best_bid_ticks == reference.best_bid()
        assert book.best_ask_ticks == reference.best_ask()
        assert book.best_bid_size_lots == reference.bids.get(reference.best_bid(), 0)
        assert book.best_ask_size_lots == reference.asks.get(reference.best_ask(), 0)
        assert result in (BookEvent.SNAPSHOT, BookEvent.APPLIED)
        if read == 0:
            for side in (Side.BUY, Side.SELL):
                assert book.levels(side, 1000) == reference.levels(side, 1000)
                prices, sizes = book.top_of_book(side, 3)
                assert [Level(*row) for row in zip(prices, sizes, strict=True)] == (
                    reference.levels(side, 3)
                )


@settings(max_examples=150, deadline=None)
@given(steps=steps)
def test_tracked_old_sizes_are_what_the_reference_held_before(
    steps: list[tuple[bool, list[tuple[int, int]], list[tuple[int, int]], int]],
) -> None:
    """With ``track_changes`` each applied delta's entries carry the size the
    level had just before that entry (a price listed twice sees its first entry)."""
    book = OrderBook("test", "X")
    book.track_changes = True
    untracked = OrderBook("test", "X")
    reference = ReferenceBook()
    for update_id, (is_snapshot, bids, asks, probe) in enumerate(steps, start=1):
        if is_snapshot or not book.is_valid:
            bids = [(price - 200, size) for price, size in bids if price < 1000]
            asks = [(price + 200, size) for price, size in asks if price >= 1000]
            message = snapshot(bids, asks, update_id)
        else:
            message = delta(bids, asks, update_id)
        expected: dict[str, list[int]] = {"bids": [], "asks": []}
        for name, side, levels in (
            ("bids", dict(reference.bids), message.bids),
            ("asks", dict(reference.asks), message.asks),
        ):
            for price, size in levels:
                expected[name].append(side.get(price, 0))
                if size:
                    side[price] = size
                else:
                    side.pop(price, None)
        reference.apply(message)
        result = book.apply(message)
        assert untracked.apply(message) is result
        if message.is_snapshot:
            assert book.old_bid_sizes_lots == book.old_ask_sizes_lots == []
        else:
            assert book.old_bid_sizes_lots == expected["bids"]
            assert book.old_ask_sizes_lots == expected["asks"]
        if result:
            # Tracking changes nothing else: same levels as an untracked book.
            depth = 1 + probe
            for side_ in (Side.BUY, Side.SELL):
                assert book.levels(side_, depth) == untracked.levels(side_, depth)
                assert book.level_count(side_) == untracked.level_count(side_)
            assert book.best_bid_size_lots == untracked.best_bid_size_lots
            assert book.best_ask_size_lots == untracked.best_ask_size_lots


def test_tracking_is_off_by_default_and_records_nothing() -> None:
    book = OrderBook("test", "X")
    assert book.track_changes is False
    book.apply(snapshot([(990, 3)], [(1010, 4)], update_id=1))
    book.apply(delta([(990, 5), (980, 1)], [(1010, 0)], 2))
    assert book.old_bid_sizes_lots == book.old_ask_sizes_lots == []


def test_tracked_delta_with_a_repeated_price_and_a_missing_delete() -> None:
    book = OrderBook("test", "X")
    book.track_changes = True
    book.apply(snapshot([(990, 3)], [(1010, 4)], update_id=1))
    book.apply(delta([(990, 5), (990, 0), (985, 0), (980, 2)], [(1010, 4), (1020, 6)], 2))
    assert book.old_bid_sizes_lots == [3, 5, 0, 0]
    assert book.old_ask_sizes_lots == [4, 0]
    assert book.levels(Side.BUY, 5) == [Level(980, 2)]
    assert book.best_bid_ticks == 980


@settings(max_examples=100, deadline=None)
@given(
    bids=st.dictionaries(st.integers(800, 999), st.integers(1, 50), max_size=30),
    asks=st.dictionaries(st.integers(1001, 1200), st.integers(1, 50), max_size=30),
    depth=st.integers(0, 40),
    start=st.integers(750, 1250),
    width=st.integers(0, 300),
)
def test_top_of_book_and_depth_between_match_the_levels(
    bids: dict[int, int], asks: dict[int, int], depth: int, start: int, width: int
) -> None:
    book = OrderBook("test", "X")
    book.apply(snapshot(list(bids.items()), list(asks.items())))
    for side, levels in ((Side.BUY, bids), (Side.SELL, asks)):
        prices, sizes = book.top_of_book(side, depth)
        rows = book.levels(side, depth)
        assert prices == [row.price_ticks for row in rows]
        assert sizes == [row.size_lots for row in rows]
        stop = start + width
        expected = sum(size for price, size in levels.items() if start <= price < stop)
        assert book.depth_between(side, start, stop) == expected


def test_reads_on_an_empty_book() -> None:
    book = OrderBook("test", "X")
    assert not book.is_valid
    assert book.best_bid_ticks == book.best_ask_ticks == 0
    assert book.mid_ticks() is None
    assert book.microprice_ticks() is None
    assert book.levels(Side.BUY, 5) == []
    assert book.depth_within_bps(Side.SELL, 10) == 0
    assert book.is_stale(10**18)


def test_mid_microprice_depth_and_staleness() -> None:
    book = OrderBook("test", "X", stale_after_ms=1000)
    book.apply(snapshot([(9990, 3), (9980, 5), (9900, 7)], [(10010, 1), (10020, 4)], ts=10**9))
    assert book.mid_ticks() == 10000
    # size-weighted: leans toward the ask, which has less size
    assert book.microprice_ticks() == (9990 * 1 + 10010 * 3) / 4
    # 20 bps of 9990 ticks = 19.98 ticks: 9980 is inside, 9900 is not; 10 bps misses 9980
    assert book.depth_within_bps(Side.BUY, 20) == 8
    assert book.depth_within_bps(Side.BUY, 10) == 3
    assert book.depth_within_bps(Side.SELL, 10) == 5
    assert book.depth_within_bps(Side.SELL, 1) == 1
    assert not book.is_stale(10**9 + 1_000_000_000)
    assert book.is_stale(10**9 + 1_000_000_001)


def test_gap_invalidates_until_a_snapshot_resyncs() -> None:
    book = OrderBook("test", "X")
    assert book.apply(snapshot([(99, 1)], [(101, 1)], update_id=10))
    assert book.apply(delta([(98, 2)], [], 11)) is BookEvent.APPLIED
    result = book.apply(delta([(97, 2)], [], 13))  # 12 is missing
    assert result is BookEvent.GAP and not result
    assert not book.is_valid and book.last_event is BookEvent.GAP
    assert book.size_at(Side.BUY, 97) == 0  # the gapped message was not applied
    # A resync is in flight: more deltas arrive, one of them gapping again.
    assert book.apply(delta([(96, 1)], [], 14)) is BookEvent.IGNORED
    assert book.apply(delta([(95, 1)], [], 20)) is BookEvent.IGNORED
    assert book.stats.ignored == 2 and book.stats.gaps == 1
    assert book.apply(snapshot([(99, 5)], [(100, 5)], update_id=20)) is BookEvent.SNAPSHOT
    assert book.is_valid and book.stats.resyncs == 1
    assert book.apply(delta([], [(100, 0)], 21))
    assert book.best_ask_ticks == 0 and book.best_bid_ticks == 99


def test_binance_futures_bridge_and_pu_chain() -> None:
    book = OrderBook("test", "X")
    book.apply(snapshot([(99, 1)], [(101, 1)], update_id=1000))
    # stale: entirely before the snapshot
    assert book.apply(delta([(98, 1)], [], 990, first_update_id=980, prev_update_id=970)) is (
        BookEvent.STALE
    )
    assert book.is_valid and book.size_at(Side.BUY, 98) == 0
    # the bridge: U <= L <= u; its pu is not L and must not matter
    assert book.apply(delta([(98, 1)], [], 1005, first_update_id=995, prev_update_id=990))
    assert book.apply(delta([(97, 1)], [], 1010, first_update_id=1007, prev_update_id=1005))
    assert book.apply(delta([(96, 1)], [], 1020, first_update_id=1015, prev_update_id=1009)) is (
        BookEvent.GAP
    )


def test_bridge_that_starts_after_the_snapshot_is_a_gap() -> None:
    book = OrderBook("test", "X")
    book.apply(snapshot([(99, 1)], [(101, 1)], update_id=50))
    assert book.apply(delta([], [], 60, first_update_id=55)) is BookEvent.GAP


def test_crossed_delta_marks_invalid_and_reset_empties() -> None:
    book = OrderBook("test", "X")
    book.apply(snapshot([(99, 1)], [(101, 1)], update_id=1))
    assert book.apply(delta([(101, 3)], [], 2)) is BookEvent.CROSSED
    assert not book.is_valid and book.stats.crossed == 1
    book.reset()
    assert not book.is_valid and book.level_count(Side.BUY) == 0
    assert book.stats.crossed == 1  # counters survive a reset


def test_unchecked_messages_without_ids() -> None:
    book = OrderBook("test", "X")
    book.apply(BookMessage("t", "X", 1, 1, True, [(1, 1)], [(3, 1)]))
    assert book.apply(BookMessage("t", "X", 2, 2, False, [(2, 1)], []))
    assert book.best_bid_ticks == 2


def test_book_set_keys_books_by_venue_and_symbol() -> None:
    books = BookSet()
    books.apply(BookMessage("a", "X", 1, 1, True, [(1, 1)], [(3, 1)], last_update_id=1))
    books.apply(BookMessage("b", "X", 1, 1, True, [(5, 1)], [(7, 1)], last_update_id=1))
    assert len(books) == 2
    assert books["a", "X"].best_bid_ticks == 1
    assert books.get("b", "X").best_ask_ticks == 7  # type: ignore[union-attr]
    assert books.get("c", "X") is None
    assert ("a", "X") in books


def _load_bench(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_book_bench_quick_shape() -> None:
    result = _load_bench("book").run(quick=True)
    for key in ("updates_per_s", "ref_updates_per_s", "ratio", "memory_bytes_1000_levels"):
        assert key in result
    assert result["same_result_as_reference"] is True
    assert result["same_top10_as_reference"] is True  # depth read every message agrees too
    assert result["ratio_top10"] > 0
    assert 0 < result["memory_bytes_1000_levels"] < 1_000_000


def test_parse_bench_quick_shape() -> None:
    result = _load_bench("parse").run(quick=True)
    assert {"ratio", "seconds", "ref_seconds", "frames"} <= set(result)
    assert result["same_result_as_reference"] is True


# Dense prices near the touch, so a band edge moving by one tick often passes a level.
dense_levels = st.lists(
    st.tuples(st.integers(988, 1012), st.integers(0, 50)), min_size=0, max_size=8
)
band_steps = st.lists(
    st.tuples(
        st.sampled_from(["delta"] * 8 + ["snapshot", "untracked", "reset"]),
        dense_levels,
        dense_levels,
        st.booleans(),  # read the bands after this step
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps=band_steps, widths=st.lists(st.sampled_from([20.0, 50.0, 120.0]), min_size=1))
def test_watched_depth_bands_equal_a_full_count(
    steps: list[tuple[str, list[tuple[int, int]], list[tuple[int, int]], bool]],
    widths: list[float],
) -> None:
    """Running band sums equal a level-by-level count after any mix of deltas,
    snapshots, deltas applied with tracking off, resets and skipped reads
    (edges then move by several ticks at once)."""
    watched = OrderBook("test", "X")
    for bps in widths:
        watched.watch_depth_within_bps(bps)
    counted = OrderBook("test", "X")
    for update_id, (kind, bids, asks, read) in enumerate(steps, start=1):
        # Bids below 1000 and asks above: the book never crosses.
        bids = [(price, size) for price, size in bids if price < 1000]
        asks = [(price, size) for price, size in asks if price >= 1000]
        if kind == "reset":
            watched.reset()
            counted.reset()
        elif kind == "snapshot" or not watched.is_valid:
            message = snapshot(bids, asks, update_id)
            assert watched.apply(message) is counted.apply(message)
        else:
            message = delta(bids, asks, update_id)
            watched.track_changes = kind != "untracked"
            assert watched.apply(message) is counted.apply(message)
            watched.track_changes = True
        if read:
            for bps in (*widths, 75.0):  # 75: not watched, counted by both
                for side in (Side.BUY, Side.SELL):
                    assert watched.depth_within_bps(side, bps) == counted.depth_within_bps(
                        side, bps
                    ), (kind, side, bps)


def test_a_depth_band_must_be_positive() -> None:
    book = OrderBook("test", "X")
    try:
        book.watch_depth_within_bps(0)
    except ValueError as error:
        assert "0 bps" in str(error)
    else:
        raise AssertionError("a zero-width band was accepted")
