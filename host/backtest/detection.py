"""How well a spoofing detector finds the labelled episodes of a synthetic market.

``run_spoofing_analyzer`` replays a recording through a bare ``Engine`` (no
venue, no strategy) with ``plugins/spoofing.py`` loaded by the real plugin
loader, on a SimClock set to each event's receive time, and returns the
analyzer's ``events()`` and signals. ``match_detections`` scores events
against the labels ``host.backtest.synthetic`` writes.

The matching rule. A detected event matches a labelled episode when

* **side**: the event's side is the book side of the episode's orders
  (``Side.BUY`` = resting bids = label ``"Buy"``), and
* some level of the event matches some order of the episode:
  **price**: ``|level.price_ticks - order.price_ticks| <= price_slack_ticks``;
  **time**: the level's ``[placed_ns, removed_ns]`` overlaps the order's
  ``[placed_ns - time_slack, removed_ns + time_slack]``. Labels are in
  exchange time, the analyzer runs on receive time (a few ms later): the
  slack covers that, and is much shorter than the gaps between episodes.

The kind is not part of the match (a ladder reported as spoofs is still
found); ``kind_agreement`` says how often it was right.

* **precision** = events matching a ``spoofing``/``layering`` episode / all
  events. An event matching only a ``genuine`` episode, or nothing, is a false
  positive (``events_on_genuine``, ``events_unmatched``).
* **recall** = ``spoofing``/``layering`` episodes matched by at least one event
  / those episodes; ``recall_by_kind`` per kind; ``cycle_recall`` counts each
  spoof placement and each ladder of an episode on its own (an episode repeats
  them). ``approached_cycle_recall`` counts only the spoof placements pulled
  after the touch came within ``distance_at_placement - cancel_within``
  (a spoof the price never approached is, by the analyzer's definition, not a
  spoof).
* **genuine_flagged** = ``genuine`` episodes matched by at least one event:
  should be 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from host.models import BookMessage, Instrument, Side, Trade

POSITIVE_KINDS = ("spoofing", "layering")
CONTROL_KIND = "genuine"
# Analyzer event kind -> the label kind it names.
EVENT_KIND_TO_LABEL = {"spoof": "spoofing", "layering": "layering"}
SPOOFING_PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "spoofing.py"


@dataclass(frozen=True, slots=True)
class MatchRule:
    """Tolerances of the match (see the module docstring)."""

    time_slack_ms: float = 500.0
    price_slack_ticks: int = 2


@dataclass(frozen=True, slots=True)
class DetectionRun:
    """What the analyzer reported on one recording."""

    events: tuple[Any, ...]  # the plugin's SpoofEvent values, oldest first
    signals: dict[str, float]  # spoof_score_bid / spoof_score_ask / spoof_events at the end
    labels: tuple[dict[str, Any], ...]  # the recording header's ``episodes``
    tick_size: Decimal


@dataclass(frozen=True, slots=True)
class DetectionReport:
    """Precision and recall of detected events against labelled episodes."""

    events: int
    true_positive_events: int
    events_on_genuine: int
    events_unmatched: int
    precision: float | None  # None without events
    episodes: int  # spoofing + layering
    episodes_detected: int
    recall: float | None  # None without episodes
    recall_by_kind: dict[str, float | None]
    cycles: int
    cycle_recall: float | None
    approached_cycles: int
    approached_cycle_recall: float | None
    kind_agreement: float | None  # true-positive events whose kind names their episode's
    genuine_episodes: int
    genuine_flagged: int
    missed: tuple[dict[str, Any], ...] = field(default=())  # episodes without a match
    false_positives: tuple[dict[str, Any], ...] = field(default=())  # unmatched events, briefly

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_spoofing_analyzer(
    path: Path | str,
    *,
    settings: Mapping[str, Any] | None = None,
    plugin_path: Path = SPOOFING_PLUGIN,
) -> DetectionRun:
    """Replay an mmhost recording (one symbol) through the spoofing analyzer.

    :param settings: the ``[plugins.spoofing]`` table (defaults when None).
    :returns: its events, final signals and the recording's labels.
    """
    from host.clock import Scheduler, SimClock
    from host.config import parse_config
    from host.engine import Engine
    from host.marketdata.recording import read_recording, recording_header
    from host.plugins import PluginHost

    path = Path(path)
    header = recording_header(path)
    if header is None:
        raise ValueError(f"{path}: not an mmhost recording (no header)")
    market = str(header.get("venue") or "bybit-linear")
    symbols = header.get("symbols") or []
    if not isinstance(symbols, list) or not symbols:
        raise ValueError(f"{path}: the recording header names no symbol")
    symbol = str(symbols[0])
    tick = Decimal(str(header.get("tick_size") or "0.01"))
    lot = Decimal(str(header.get("lot_size") or "0.001"))
    instrument = Instrument(market, symbol, tick, lot)
    plugin_name = plugin_path.stem
    config = parse_config(
        {
            "host": {
                "mode": "backtest",
                "desk": "detect",
                "plugin_dirs": [],
                "strategy_dirs": [],
                "journal": "",
            },
            "venues": [
                {
                    "name": market,
                    "kind": "sim",
                    "market": market,
                    "symbols": [symbol],
                    "data": [str(path)],
                }
            ],
            "strategies": [],
            "plugins": {plugin_name: dict(settings or {})},
        },
        source=path,
    )
    plugins = PluginHost()
    record = plugins.load_file(plugin_path, strategies=False)
    if record.error is not None:
        raise RuntimeError(f"{plugin_path}: {record.error}")
    clock = SimClock(int(header.get("started_ns") or 0))
    engine = Engine(config, plugins, clock, Scheduler(clock))
    state = engine.add_instrument(instrument, venue_name=market, symbol=symbol)
    engine.start()
    try:
        for event in read_recording([path], instrument_for=lambda _m, _s: instrument):
            if isinstance(event, BookMessage | Trade):
                clock.advance_to(max(clock.now_ns(), event.ts_local_ns))
                engine.on_market(event)
    finally:
        # Start-up may freeze the collector's view of the host; shutdown thaws it.
        engine.stop()
        engine.shutdown()
    module = plugins.pm.get_plugin(plugin_name)
    signals = {
        name: state.signals[name]
        for name in ("spoof_score_bid", "spoof_score_ask", "spoof_events")
        if name in set(state.signals.names())
    }
    episodes = header.get("episodes") or []
    return DetectionRun(
        events=tuple(module.events(market, symbol)),
        signals=signals,
        labels=tuple(episodes) if isinstance(episodes, list) else (),
        tick_size=tick,
    )


def load_labels(path: Path | str) -> list[dict[str, Any]]:
    """The episodes of ``<recording>.labels.json`` (or of that file itself)."""
    path = Path(path)
    if not path.name.endswith(".labels.json"):
        path = path.with_name(path.name + ".labels.json")
    return list(json.loads(path.read_text())["episodes"])


def _order_matches(level: Any, order: Mapping[str, Any], rule: MatchRule) -> bool:
    if abs(level.price_ticks - int(order["price_ticks"])) > rule.price_slack_ticks:
        return False
    slack_ns = int(rule.time_slack_ms * 1e6)
    order_start = int(order["placed_ns"]) - slack_ns
    order_end = int(order["removed_ns"] or order["placed_ns"]) + slack_ns
    level_end = level.removed_ns or level.placed_ns
    return level.placed_ns <= order_end and order_start <= level_end


def _event_matches(event: Any, label: Mapping[str, Any], rule: MatchRule) -> bool:
    label_side = Side.BUY if label.get("side") == "Buy" else Side.SELL
    if event.side != label_side:
        return False
    orders = label.get("orders") or ()
    return any(_order_matches(level, order, rule) for level in event.levels for order in orders)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def match_detections(
    events: Sequence[Any],
    labels: Sequence[Mapping[str, Any]],
    rule: MatchRule = MatchRule(),
    *,
    cancel_within_ticks: int | None = None,
) -> DetectionReport:
    """Score analyzer events (``kind``, ``side``, ``levels`` of ``price_ticks``,
    ``placed_ns``, ``removed_ns``) against labelled episodes.

    :param cancel_within_ticks: the generator's setting, to tell approached
        spoof placements (default: ``EpisodeSettings().cancel_within_ticks``).
    """
    if cancel_within_ticks is None:
        from host.backtest.synthetic import EpisodeSettings

        cancel_within_ticks = EpisodeSettings().cancel_within_ticks
    positives = [label for label in labels if label.get("kind") in POSITIVE_KINDS]
    controls = [label for label in labels if label.get("kind") == CONTROL_KIND]
    detected_episodes: set[int] = set()
    flagged_controls: set[int] = set()
    detected_cycles: set[tuple[int, int]] = set()
    true_positive = on_genuine = agreeing = 0
    false_positives: list[dict[str, Any]] = []
    for event in events:
        matched = [
            index for index, label in enumerate(positives) if _event_matches(event, label, rule)
        ]
        if matched:
            true_positive += 1
            detected_episodes.update(matched)
            if any(EVENT_KIND_TO_LABEL.get(event.kind) == positives[i]["kind"] for i in matched):
                agreeing += 1
            for index in matched:
                for order in positives[index].get("orders") or ():
                    if any(_order_matches(level, order, rule) for level in event.levels):
                        detected_cycles.add((index, int(order["cycle"])))
            continue
        genuine = [
            index for index, label in enumerate(controls) if _event_matches(event, label, rule)
        ]
        if genuine:
            on_genuine += 1
            flagged_controls.update(genuine)
        false_positives.append(
            {
                "kind": event.kind,
                "side": "Buy" if event.side == Side.BUY else "Sell",
                "detected_ns": event.detected_ns,
                "prices_ticks": [level.price_ticks for level in event.levels],
                "on_genuine": bool(genuine),
            }
        )
    cycles: set[tuple[int, int]] = set()
    approached: set[tuple[int, int]] = set()
    for index, label in enumerate(positives):
        for order in label.get("orders") or ():
            key = (index, int(order["cycle"]))
            cycles.add(key)
            if (
                label["kind"] == "spoofing"
                and int(order["distance_at_removal_ticks"]) <= cancel_within_ticks
            ):
                approached.add(key)
    by_kind: dict[str, float | None] = {}
    for kind in POSITIVE_KINDS:
        of_kind = [i for i, label in enumerate(positives) if label["kind"] == kind]
        by_kind[kind] = _ratio(len([i for i in of_kind if i in detected_episodes]), len(of_kind))
    missed = tuple(
        {
            "kind": label["kind"],
            "side": label.get("side", ""),
            "start_ns": label["start_ns"],
            "orders": [
                {
                    key: order[key]
                    for key in (
                        "cycle",
                        "price_ticks",
                        "size_lots",
                        "distance_at_placement_ticks",
                        "distance_at_removal_ticks",
                        "traded_lots",
                    )
                }
                for order in label.get("orders") or ()
            ],
        }
        for index, label in enumerate(positives)
        if index not in detected_episodes
    )
    return DetectionReport(
        events=len(events),
        true_positive_events=true_positive,
        events_on_genuine=on_genuine,
        events_unmatched=len(events) - true_positive - on_genuine,
        precision=_ratio(true_positive, len(events)),
        episodes=len(positives),
        episodes_detected=len(detected_episodes),
        recall=_ratio(len(detected_episodes), len(positives)),
        recall_by_kind=by_kind,
        cycles=len(cycles),
        cycle_recall=_ratio(len(detected_cycles), len(cycles)),
        approached_cycles=len(approached),
        approached_cycle_recall=_ratio(len(detected_cycles & approached), len(approached)),
        kind_agreement=_ratio(agreeing, true_positive),
        genuine_episodes=len(controls),
        genuine_flagged=len(flagged_controls),
        missed=missed,
        false_positives=tuple(false_positives),
    )


def measure_detection(
    path: Path | str,
    *,
    settings: Mapping[str, Any] | None = None,
    rule: MatchRule = MatchRule(),
) -> DetectionReport:
    """Run the spoofing analyzer over a labelled recording and score it."""
    run = run_spoofing_analyzer(path, settings=settings)
    return match_detections(run.events, run.labels, rule)
