"""Spoofing and layering detection from depth changes and the tape.

What is watched. Every changed level of every applied message is compared
with the level's previous size (the book records it: ``track_changes``). A
**placement** is a size increase of at least
``track_multiple * reference`` lots (``reference`` = the median size of the best
``reference_levels`` levels of both sides, refreshed every
``reference_refresh_ms``), at ``min_distance_ticks`` or more from the same
side's touch and within ``max_distance_bps`` of it.

How a placement ends:

- **removed** when its level falls to ``base + added * (1 - removal_fraction)``
  lots or less (``base`` = the level's size before the placement). Trades at
  the placement's exact price, on its side (sell aggressors hit bids, buy
  aggressors lift asks), are counted from placement until ``trade_grace_ms``
  after the removal, because the trade and depth streams race each other.
  Then ``cancelled = removed - traded``: **cancelled** when
  ``cancelled >= removal_fraction * added``, else **filled** (a genuine order
  that traded away is never flagged);
- **expired** when still resting ``max_lifetime_ms`` after placement: patient
  liquidity, not a spoof.

Placements on one side within ``ladder_window_ms`` of the first one form a
group (a ladder when it has ``ladder_min_levels`` levels or more).

Events (``events(venue, symbol)``, newest last):

- ``spoof``: a placement of a group smaller than a ladder, at least
  ``size_multiple * reference`` lots, cancelled within its lifetime after the
  touch came closer by at least ``max(1, min_approach_fraction * distance at
  placement)`` ticks: a large order pulled as the price approached.
- ``layering``: ``ladder_min_levels`` or more placements of one ladder,
  at distinct prices, cancelled within ``ladder_window_ms`` of one another:
  a ladder that appeared and vanished together. Ladder prices are distinct,
  neighbours at most ``ladder_max_gap_ticks`` apart. Members of a group of
  ``ladder_min_levels`` or more are judged only as a ladder. One-sided only:
  a ladder-sized group on the other side starting within ``ladder_window_ms``
  makes both a market maker's two-sided requote, not reported (counted as
  ``two_sided_ladders``).

Each event carries, per level, the price, lots added, lifetime, distance at
placement and at removal, and traded and cancelled lots.

Signals: ``spoof_score_bid`` / ``spoof_score_ask``: events on that side,
each counted 1 at its detection time and halved every ``score_half_life_s``
(so ~3 means three recent episodes: repeated behaviour); ``spoof_events``:
events detected on the instrument since start.

Settings (``[plugins.spoofing]``): see ``SpoofingSettings``.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from heapq import heappop, heappush
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from host import Side, hookimpl

if TYPE_CHECKING:
    from host import BookMessage, Context, Trade
    from host.book import OrderBook

PLUGIN_NAME = __name__.rpartition(".")[2]


class PluginSettingsError(ValueError):
    """A ``[plugins.<name>]`` table has an unknown key or a bad value."""


class SpoofingSettings(BaseModel):
    """``[plugins.spoofing]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference_levels: int = Field(
        20, ge=1, description="Levels per side whose median size is the reference size."
    )
    reference_refresh_ms: int = Field(1000, gt=0, description="How often the reference is read.")
    size_multiple: float = Field(
        50.0, gt=0, description="A lone spoof adds at least this multiple of the reference."
    )
    track_multiple: float = Field(
        20.0, gt=0, description="A placement (and a ladder level) adds at least this multiple."
    )
    min_size_lots: int = Field(1, ge=1, description="A placement adds at least this many lots.")
    min_distance_ticks: int = Field(
        2, ge=1, description="A placement rests at least this far from its side's touch."
    )
    max_distance_bps: float = Field(
        25.0, gt=0, description="A placement rests at most this far (bps of the touch)."
    )
    max_lifetime_ms: int = Field(
        30_000, gt=0, description="A placement resting longer is forgotten (expired)."
    )
    removal_fraction: float = Field(
        0.8, gt=0, le=1, description="Share of the added lots that must go (removed, cancelled)."
    )
    trade_grace_ms: int = Field(
        250, ge=0, description="Trades this long after a removal still count against it."
    )
    min_approach_fraction: float = Field(
        0.3, ge=0, le=1, description="A spoof: the touch closed this share of the distance."
    )
    ladder_window_ms: int = Field(
        100, gt=0, description="Placements (and cancels) this close in time go together."
    )
    ladder_min_levels: int = Field(3, ge=2, description="Levels that make a ladder.")
    ladder_max_gap_ticks: int = Field(
        10, ge=1, description="Neighbouring levels of a ladder lie at most this far apart."
    )
    score_half_life_s: float = Field(60.0, gt=0, description="Half-life of the spoof scores.")
    max_events: int = Field(1000, ge=1, description="Events kept per instrument.")


def load_settings(raw: Mapping[str, Any]) -> SpoofingSettings:
    """Validate the plugin's config table; errors name the key."""
    try:
        return SpoofingSettings.model_validate(dict(raw))
    except ValidationError as error:
        raise PluginSettingsError(describe_settings_error(error, SpoofingSettings)) from None


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


# -- what callers get ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlacementEvidence:
    """One level of an event: what was placed, where, and how it went."""

    price_ticks: int
    added_lots: int
    placed_ns: int
    removed_ns: int
    lifetime_ms: float
    distance_at_placement_ticks: int
    distance_at_removal_ticks: int
    traded_lots: int
    cancelled_lots: int


@dataclass(frozen=True, slots=True)
class SpoofEvent:
    """A detected episode: ``kind`` is ``"spoof"`` or ``"layering"``."""

    kind: str
    side: Side
    detected_ns: int
    reference_lots: float
    levels: tuple[PlacementEvidence, ...]


# -- state ---------------------------------------------------------------------------------

_RESTING = 0
_REMOVED = 1  # waiting for late trades
_DONE = 2

# Order of a group's cancelled members: by removal time, then placement order.
_removal_order = attrgetter("removed_ns", "index")

_CANCELLED = "cancelled"
_FILLED = "filled"
_EXPIRED = "expired"


class _Group:
    __slots__ = ("cancelled", "closed", "first_ns", "judged", "members", "two_sided")

    def __init__(self, first_ns: int) -> None:
        self.first_ns = first_ns
        self.members: list[_Placement] = []
        # The members resolved as cancelled, kept ordered by (removed_ns,
        # placement order) as they resolve, so a ladder check sorts nothing.
        self.cancelled: list[_Placement] = []
        self.closed = False
        self.judged = False  # a ladder emits at most one event
        # A ladder-sized group on the other side within the ladder window: a
        # market maker requoting both sides, not layering.
        self.two_sided = False


class _Placement:
    __slots__ = (
        "added_lots",
        "base_lots",
        "group",
        "index",
        "is_large",
        "judged",
        "outcome",
        "placed_distance_ticks",
        "placed_ns",
        "price_ticks",
        "reference_lots",
        "removal_distance_ticks",
        "removal_level_lots",
        "removed_lots",
        "removed_ns",
        "side",
        "status",
        "traded_lots",
    )

    def __init__(
        self,
        side: Side,
        price_ticks: int,
        base_lots: int,
        added_lots: int,
        placed_ns: int,
        distance_ticks: int,
        reference_lots: float,
        is_large: bool,
        removal_fraction: float,
        group: _Group,
    ) -> None:
        self.side = side
        self.price_ticks = price_ticks
        self.base_lots = base_lots
        self.added_lots = added_lots
        self.placed_ns = placed_ns
        self.placed_distance_ticks = distance_ticks
        self.reference_lots = reference_lots
        self.is_large = is_large
        self.removal_level_lots = base_lots + added_lots * (1.0 - removal_fraction)
        self.group = group
        self.index = len(group.members)  # placement order within the group
        self.status = _RESTING
        self.traded_lots = 0
        self.removed_lots = 0
        self.removed_ns = 0
        self.removal_distance_ticks = 0
        self.outcome = ""
        self.judged = False

    def evidence(self) -> PlacementEvidence:
        return PlacementEvidence(
            price_ticks=self.price_ticks,
            added_lots=self.added_lots,
            placed_ns=self.placed_ns,
            removed_ns=self.removed_ns,
            lifetime_ms=(self.removed_ns - self.placed_ns) / 1e6,
            distance_at_placement_ticks=self.placed_distance_ticks,
            distance_at_removal_ticks=self.removal_distance_ticks,
            traded_lots=self.traded_lots,
            cancelled_lots=max(0, self.removed_lots - self.traded_lots),
        )


class _SideState:
    __slots__ = (
        "group",
        "previous_group",
        "score",
        "score_name",
        "score_stamp_ns",
        "side",
        "tracked",
    )

    def __init__(self, side: Side) -> None:
        self.side = side
        self.tracked: dict[int, _Placement] = {}  # price -> newest placement there
        self.group: _Group | None = None  # the group still open to new placements
        self.previous_group: _Group | None = None  # the one before it
        self.score = 0.0
        self.score_stamp_ns = 0
        self.score_name = "spoof_score_bid" if side is Side.BUY else "spoof_score_ask"


class _InstrumentState:
    __slots__ = (
        "ask",
        "bid",
        "counter",
        "due",
        "event_count",
        "events",
        "reference_due_ns",
        "reference_lots",
        "resting",
        "two_sided_ladders",
    )

    def __init__(self, max_events: int) -> None:
        self.bid = _SideState(Side.BUY)
        self.ask = _SideState(Side.SELL)
        self.reference_lots = 0.0
        self.reference_due_ns = 0
        # (due_ns, tie-break, placement or group): removals to classify once the
        # trade grace has passed, groups to close once the ladder window has.
        self.due: list[tuple[int, int, Any]] = []
        self.counter = 0
        self.resting: deque[_Placement] = deque()  # placement order, for expiry
        self.events: deque[SpoofEvent] = deque(maxlen=max_events)
        self.event_count = 0
        self.two_sided_ladders = 0  # ladders not reported: the other side had one too


class SpoofingAnalyzer:
    """Per-instrument spoofing state; the module registers one instance."""

    def __init__(self, settings: SpoofingSettings | None = None) -> None:
        self.configure(settings or SpoofingSettings())

    def configure(self, settings: SpoofingSettings) -> None:
        self.settings = settings
        self.grace_ns = settings.trade_grace_ms * 1_000_000
        self.lifetime_ns = settings.max_lifetime_ms * 1_000_000
        self.ladder_window_ns = settings.ladder_window_ms * 1_000_000
        self.reference_refresh_ns = settings.reference_refresh_ms * 1_000_000
        self.track_multiple = min(settings.track_multiple, settings.size_multiple)
        self.half_life_ns = settings.score_half_life_s * 1e9
        self.states: dict[tuple[str, str], _InstrumentState] = {}

    # -- public API -----------------------------------------------------------------------

    def events(self, venue: str, symbol: str) -> list[SpoofEvent]:
        """Detected events of one instrument, oldest first (at most ``max_events``)."""
        state = self.states.get((venue, symbol))
        return [] if state is None else list(state.events)

    def score(self, venue: str, symbol: str, side: Side, now_ns: int) -> float:
        """The side's score decayed to ``now_ns``."""
        state = self.states.get((venue, symbol))
        if state is None:
            return 0.0
        side_state = state.bid if side is Side.BUY else state.ask
        return self._decayed(side_state, now_ns)

    # -- hooks ------------------------------------------------------------------------------

    @hookimpl
    def mmhost_startup(self, engine: Any) -> None:
        self.configure(load_settings(engine.config.plugins.get(PLUGIN_NAME, {})))

    @hookimpl
    def mmhost_trade(self, trade: Trade, ctx: Context) -> None:
        state = self.states.get((ctx.venue, ctx.symbol))
        if state is None:
            return
        # A sell aggressor hits resting bids; a buy aggressor lifts asks.
        side_state = state.bid if trade.aggressor < 0 else state.ask
        placement = side_state.tracked.get(trade.price_ticks)
        if placement is not None:
            placement.traded_lots += trade.size_lots
        ts_ns = trade.ts_local_ns
        if state.due and state.due[0][0] <= ts_ns:
            before = state.event_count
            self._run_due(state, ts_ns)
            if state.event_count != before:
                self._publish(state, ctx, ts_ns)

    @hookimpl
    def mmhost_book_updated(self, book: OrderBook, message: BookMessage, ctx: Context) -> None:
        key = (ctx.venue, ctx.symbol)
        state = self.states.get(key)
        ts_ns = message.ts_local_ns
        if state is None or message.is_snapshot or not book.track_changes:
            # Without the book's old sizes this message cannot be read: start afresh.
            book.track_changes = True
            state = self._seed(key, state)
        else:
            if state.due and state.due[0][0] <= ts_ns:
                self._run_due(state, ts_ns)
            if ts_ns >= state.reference_due_ns:
                self._refresh_reference(state, book, ts_ns)
            best_bid = book.best_bid_ticks
            best_ask = book.best_ask_ticks
            if message.bids:
                self._scan(state, state.bid, message.bids, book.old_bid_sizes_lots, best_bid, ts_ns)
            if message.asks:
                self._scan(state, state.ask, message.asks, book.old_ask_sizes_lots, best_ask, ts_ns)
            resting = state.resting
            horizon_ns = ts_ns - self.lifetime_ns
            while resting and (resting[0].status != _RESTING or resting[0].placed_ns <= horizon_ns):
                placement = resting.popleft()
                if placement.status == _RESTING:
                    self._expire(state, placement)
        self._publish(state, ctx, ts_ns)

    # -- internals --------------------------------------------------------------------------

    def _seed(self, key: tuple[str, str], previous: _InstrumentState | None) -> _InstrumentState:
        """A snapshot: forget placements (their history is broken), keep events and scores."""
        state = _InstrumentState(self.settings.max_events)
        if previous is not None:
            state.events = previous.events
            state.event_count = previous.event_count
            for old, new in ((previous.bid, state.bid), (previous.ask, state.ask)):
                new.score = old.score
                new.score_stamp_ns = old.score_stamp_ns
        self.states[key] = state
        return state

    def _refresh_reference(self, state: _InstrumentState, book: OrderBook, ts_ns: int) -> None:
        depth = self.settings.reference_levels
        sizes = book.top_of_book(Side.BUY, depth)[1] + book.top_of_book(Side.SELL, depth)[1]
        sizes.sort()
        if sizes:
            count = len(sizes)
            middle = count // 2
            state.reference_lots = (
                sizes[middle] if count % 2 else (sizes[middle - 1] + sizes[middle]) / 2
            )
        state.reference_due_ns = ts_ns + self.reference_refresh_ns

    def _scan(
        self,
        state: _InstrumentState,
        side_state: _SideState,
        changes: list[tuple[int, int]],
        old_sizes: list[int],
        touch_ticks: int,
        ts_ns: int,
    ) -> None:
        """The hot loop over (price, new, old): comparisons only, more work
        for the rare large increase or a fall at a tracked price."""
        reference = state.reference_lots
        tracked = side_state.tracked
        settings = self.settings
        if not touch_ticks or not reference:
            if not tracked:
                return  # nothing to measure against and nothing watched
            track_lots = 1 << 62
        else:
            track_lots = max(settings.min_size_lots, self.track_multiple * reference)
        # _place's distance test, done here so most large increases cost no call.
        direction = 1 if side_state.side is Side.BUY else -1
        min_distance = settings.min_distance_ticks
        max_distance = touch_ticks * settings.max_distance_bps / 10_000.0
        grace_ns = self.grace_ns
        for (price, size), old in zip(changes, old_sizes, strict=True):
            added = size - old
            if added >= track_lots:
                distance = (touch_ticks - price) * direction
                if min_distance <= distance <= max_distance:
                    self._place(state, side_state, price, old, size, distance, ts_ns)
            elif added < 0 and price in tracked:
                placement = tracked[price]
                if placement.status == _RESTING and size <= placement.removal_level_lots:
                    # Removed: classified once the trade grace has passed
                    # (inline: this runs for nearly every placement).
                    placement.status = _REMOVED
                    placement.removed_ns = ts_ns
                    placed_lots = placement.base_lots + placement.added_lots
                    placement.removed_lots = max(0, placed_lots - size)
                    placement.removal_distance_ticks = (touch_ticks - price) * direction
                    state.counter += 1
                    heappush(state.due, (ts_ns + grace_ns, state.counter, placement))

    def _place(
        self,
        state: _InstrumentState,
        side_state: _SideState,
        price: int,
        old: int,
        size: int,
        distance: int,
        ts_ns: int,
    ) -> None:
        """A large increase resting away from the touch: track it."""
        settings = self.settings
        current = side_state.tracked.get(price)
        if current is not None and current.status == _RESTING:
            return  # more size on a watched level: keep judging the first placement
        group = side_state.group
        if group is None or ts_ns - group.first_ns > self.ladder_window_ns:
            group = _Group(ts_ns)
            side_state.previous_group = side_state.group
            side_state.group = group
            self._schedule(state, ts_ns + self.ladder_window_ns, group)
        reference = state.reference_lots
        added = size - old
        placement = _Placement(
            side_state.side,
            price,
            old,
            added,
            ts_ns,
            distance,
            reference,
            added >= max(settings.min_size_lots, settings.size_multiple * reference),
            settings.removal_fraction,
            group,
        )
        group.members.append(placement)
        side_state.tracked[price] = placement
        state.resting.append(placement)

    def _schedule(self, state: _InstrumentState, due_ns: int, item: Any) -> None:
        state.counter += 1
        heappush(state.due, (due_ns, state.counter, item))

    def _expire(self, state: _InstrumentState, placement: _Placement) -> None:
        placement.status = _DONE
        placement.outcome = _EXPIRED
        self._untrack(state, placement)
        self._judge(state, placement.group, placement.placed_ns + self.lifetime_ns, placement)

    def _untrack(self, state: _InstrumentState, placement: _Placement) -> None:
        side_state = state.bid if placement.side is Side.BUY else state.ask
        if side_state.tracked.get(placement.price_ticks) is placement:
            del side_state.tracked[placement.price_ticks]

    def _run_due(self, state: _InstrumentState, now_ns: int) -> None:
        due = state.due
        removal_fraction = self.settings.removal_fraction
        while due and due[0][0] <= now_ns:
            due_ns, _, item = heappop(due)
            if isinstance(item, _Group):
                item.closed = True
                self._pair_with_other_side(state, item)
                self._judge(state, item, due_ns)
                continue
            placement: _Placement = item
            placement.status = _DONE
            group = placement.group
            cancelled = placement.removed_lots - placement.traded_lots
            if cancelled >= removal_fraction * placement.added_lots:
                placement.outcome = _CANCELLED
                members = group.cancelled
                if members and _removal_order(members[-1]) > _removal_order(placement):
                    insort(members, placement, key=_removal_order)
                else:  # the usual case: removals resolve in removal order
                    members.append(placement)
            else:
                placement.outcome = _FILLED
            tracked = state.bid.tracked if placement.side is Side.BUY else state.ask.tracked
            if tracked.get(placement.price_ticks) is placement:
                del tracked[placement.price_ticks]
            if group.closed:
                self._judge(state, group, due_ns, placement)

    def _judge(
        self,
        state: _InstrumentState,
        group: _Group,
        now_ns: int,
        resolved: _Placement | None = None,
    ) -> None:
        """Emit what a group's resolved members show, once the group is closed;
        ``resolved`` is the member that just resolved (None: judge them all)."""
        if not group.closed:
            return
        settings = self.settings
        members = group.members
        if len(members) >= settings.ladder_min_levels:
            if not group.judged:
                self._judge_ladder(state, group, now_ns, resolved)
            return
        for placement in members:
            if placement.judged or placement.status != _DONE:
                continue
            placement.judged = True
            if placement.outcome != _CANCELLED or not placement.is_large:
                continue
            approach = placement.placed_distance_ticks - placement.removal_distance_ticks
            needed = max(1.0, settings.min_approach_fraction * placement.placed_distance_ticks)
            if approach >= needed:
                self._emit(
                    state,
                    SpoofEvent(
                        "spoof",
                        placement.side,
                        now_ns,
                        placement.reference_lots,
                        (placement.evidence(),),
                    ),
                )

    def _judge_ladder(
        self,
        state: _InstrumentState,
        group: _Group,
        now_ns: int,
        newest_only: _Placement | None = None,
    ) -> None:
        if newest_only is not None and newest_only.outcome != _CANCELLED:
            return  # nothing new vanished
        minimum = self.settings.ladder_min_levels
        cancelled = group.cancelled
        if len(cancelled) < minimum:
            return
        # The largest set of cancels within one ladder window of each other
        # whose prices form a ladder. Removals resolve in removal order, so
        # after the group's first judgement only windows ending at the newest
        # cancel can be new.
        best: list[_Placement] = []
        ends = range(len(cancelled)) if newest_only is None else (len(cancelled) - 1,)
        start = 0
        for end in ends:
            last = cancelled[end]
            while last.removed_ns - cancelled[start].removed_ns > self.ladder_window_ns:
                start += 1
            if end + 1 - start <= len(best) or end + 1 - start < minimum:
                continue  # too few cancels in this window to beat what was found
            rungs = self._longest_ladder(cancelled[start : end + 1])
            if len(rungs) > len(best):
                best = rungs
        if len(best) < minimum:
            return
        group.judged = True
        if group.two_sided:
            state.two_sided_ladders += 1
            return
        self._emit(
            state,
            SpoofEvent(
                "layering",
                best[0].side,
                now_ns,
                best[0].reference_lots,
                tuple(sorted((p.evidence() for p in best), key=lambda e: e.price_ticks)),
            ),
        )

    def _pair_with_other_side(self, state: _InstrumentState, group: _Group) -> None:
        """At a group's close: mark it and a ladder-sized group of the other
        side placed within the ladder window as two-sided. Groups on one side
        start more than a window apart, so the other side's current and
        previous groups are the only candidates; one still open is paired when
        it closes. Both close before either can be judged as long as
        ``trade_grace_ms`` exceeds ``ladder_window_ms`` (the defaults do)."""
        minimum = self.settings.ladder_min_levels
        if len(group.members) < minimum:
            return
        other = state.ask if group.members[0].side is Side.BUY else state.bid
        for candidate in (other.group, other.previous_group):
            if (
                candidate is not None
                and candidate.closed
                and len(candidate.members) >= minimum
                and abs(candidate.first_ns - group.first_ns) <= self.ladder_window_ns
            ):
                group.two_sided = candidate.two_sided = True

    def _longest_ladder(self, placements: list[_Placement]) -> list[_Placement]:
        """The longest run of distinct prices with gaps <= ladder_max_gap_ticks."""
        by_price: dict[int, _Placement] = {}
        for placement in placements:
            by_price.setdefault(placement.price_ticks, placement)
        prices = sorted(by_price)
        best: list[int] = []
        run: list[int] = []
        for price in prices:
            if run and price - run[-1] > self.settings.ladder_max_gap_ticks:
                run = []
            run.append(price)
            if len(run) > len(best):
                best = list(run)
        return [by_price[price] for price in best]

    def _emit(self, state: _InstrumentState, event: SpoofEvent) -> None:
        state.events.append(event)
        state.event_count += 1
        side_state = state.bid if event.side is Side.BUY else state.ask
        side_state.score = self._decayed(side_state, event.detected_ns) + 1.0
        side_state.score_stamp_ns = event.detected_ns

    def _decayed(self, side_state: _SideState, now_ns: int) -> float:
        if not side_state.score:
            return 0.0
        elapsed_ns = now_ns - side_state.score_stamp_ns
        if elapsed_ns <= 0:
            return side_state.score
        return side_state.score * 0.5 ** (elapsed_ns / self.half_life_ns)

    def _publish(self, state: _InstrumentState, ctx: Context, ts_ns: int) -> None:
        signals = ctx.signals
        signals.set(state.bid.score_name, self._decayed(state.bid, ts_ns), ts_ns)
        signals.set(state.ask.score_name, self._decayed(state.ask, ts_ns), ts_ns)
        signals.set("spoof_events", float(state.event_count), ts_ns)


analyzer = SpoofingAnalyzer()
mmhost_startup = analyzer.mmhost_startup
mmhost_book_updated = analyzer.mmhost_book_updated
mmhost_trade = analyzer.mmhost_trade
events = analyzer.events
score = analyzer.score
