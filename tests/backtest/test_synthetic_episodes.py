"""Labelled manipulation episodes of the synthetic market: spoofing, layering and
genuine large orders (the control), checked against the frames of the file."""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from host.backtest.synthetic import (
    EpisodeSettings,
    SynthSpec,
    add_episode_options,
    episode_counts_from_options,
    write_synthetic,
)
from host.marketdata.recording import read_recording, recording_header
from host.models import BookMessage, Side, Trade

COUNTS = {"spoofing": 3, "layering": 2, "genuine": 2}
SETTINGS = EpisodeSettings()


@dataclass(frozen=True)
class Generated:
    path: Path
    stats: dict[str, Any]
    labels: list[dict[str, Any]]
    books: list[BookMessage]
    trades: list[Trade]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    path = tmp_path_factory.mktemp("episodes") / "episodes.gz"
    stats = write_synthetic(path, SynthSpec(seed=11, duration_s=150, episode_counts=COUNTS))
    labels = json.loads(Path(stats["labels"]).read_text())["episodes"]
    events = list(read_recording([path]))
    yield Generated(
        path,
        stats,
        labels,
        [e for e in events if isinstance(e, BookMessage)],
        [e for e in events if isinstance(e, Trade)],
    )


def of_kind(labels: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [label for label in labels if label["kind"] == kind]


def side_changes(message: BookMessage, side: str) -> dict[int, int]:
    return dict(message.bids if side == "Buy" else message.asks)


def test_labels_name_every_planned_episode_in_header_and_side_file(generated: Generated) -> None:
    assert recording_header(generated.path)["episodes"] == generated.labels
    assert {kind: len(of_kind(generated.labels, kind)) for kind in COUNTS} == COUNTS
    starts = [label["start_ns"] for label in generated.labels]
    assert starts == sorted(starts)
    for before, after in pairwise(generated.labels):
        assert before["end_ns"] < after["start_ns"]  # episodes never overlap
    for label in generated.labels:
        assert label["side"] in ("Buy", "Sell")
        assert label["start_ns"] == min(order["placed_ns"] for order in label["orders"])
        assert label["end_ns"] == max(order["removed_ns"] for order in label["orders"])
        assert label["sizes"] == [order["size"] for order in label["orders"]]
        assert set(label["prices"]) == {order["price"] for order in label["orders"]}


def test_spoofs_are_large_far_repeated_and_pulled_untraded(generated: Generated) -> None:
    for label in of_kind(generated.labels, "spoofing"):
        orders = label["orders"]
        assert [order["cycle"] for order in orders] == list(range(SETTINGS.repetitions))
        for order in orders:
            assert order["distance_at_placement_ticks"] == SETTINGS.distance_ticks
            assert order["size_lots"] == round(SETTINGS.size_multiple * order["median_level_lots"])
            # Pulled: whatever a fast sweep took before the pull is labelled, the rest cancelled.
            assert order["traded_lots"] + order["cancelled_lots"] == order["size_lots"]
            assert order["traded_lots"] <= 0.05 * order["size_lots"]


def test_the_price_approaches_most_spoofs_before_they_go(generated: Generated) -> None:
    orders = [order for label in of_kind(generated.labels, "spoofing") for order in label["orders"]]
    approached = [
        order
        for order in orders
        if order["distance_at_removal_ticks"] <= SETTINGS.cancel_within_ticks
    ]
    assert len(approached) >= 0.6 * len(orders)


def test_a_ladder_appears_in_one_frame_and_vanishes_in_one_frame(generated: Generated) -> None:
    for label in of_kind(generated.labels, "layering"):
        orders = label["orders"]
        prices = sorted(order["price_ticks"] for order in orders)
        assert len(set(prices)) == SETTINGS.ladder_levels
        assert {b - a for a, b in pairwise(prices)} == {SETTINGS.ladder_gap_ticks}
        assert len({order["placed_ns"] for order in orders}) == 1
        assert len({order["removed_ns"] for order in orders}) == 1
        assert all(order["traded_lots"] == 0 for order in orders)
        assert all(order["cancelled_lots"] == order["size_lots"] for order in orders)
        grown = [
            message
            for message in generated.books
            if all(
                side_changes(message, label["side"]).get(order["price_ticks"], 0)
                >= order["size_lots"]
                for order in orders
            )
        ]
        assert len(grown) == 1 and grown[0].ts_exchange_ns // 1_000_000 == (
            orders[0]["placed_ns"] // 1_000_000
        )
        shrunk = [
            message
            for message in generated.books
            if message.ts_exchange_ns // 1_000_000 == orders[0]["removed_ns"] // 1_000_000
            and all(
                order["price_ticks"] in side_changes(message, label["side"]) for order in orders
            )
        ]
        assert len(shrunk) == 1
        for order in orders:
            assert side_changes(shrunk[0], label["side"])[order["price_ticks"]] < order["size_lots"]


def test_a_genuine_order_is_traded_away_by_printed_trades(generated: Generated) -> None:
    for label in of_kind(generated.labels, "genuine"):
        (order,) = label["orders"]
        assert order["traded_lots"] == order["size_lots"] and order["cancelled_lots"] == 0
        # Sell aggressors hit a resting bid; buy aggressors lift a resting ask.
        aggressor = Side.SELL if label["side"] == "Buy" else Side.BUY
        printed = sum(
            trade.size_lots
            for trade in generated.trades
            if trade.price_ticks == order["price_ticks"]
            and trade.aggressor == aggressor
            and order["placed_ns"] <= trade.ts_exchange_ns <= order["removed_ns"] + 1_000_000
        )
        assert printed >= order["size_lots"]


def test_the_book_stays_valid_with_episodes(generated: Generated) -> None:
    from host.book import OrderBook

    book = OrderBook("bybit-linear", "BTCUSDT")
    for message in generated.books:
        book.apply(message)
        assert book.is_valid
    assert book.stats.gaps == 0 and book.stats.crossed == 0


def test_episodes_are_reproducible_by_seed(tmp_path: Path) -> None:
    spec = {"seed": 4, "duration_s": 40.0, "episode_counts": {"spoofing": 1, "layering": 1}}
    first, second = tmp_path / "a.gz", tmp_path / "b.gz"
    write_synthetic(first, SynthSpec(**spec))
    write_synthetic(second, SynthSpec(**spec))
    assert gzip.decompress(first.read_bytes()) == gzip.decompress(second.read_bytes())


def test_a_market_too_short_for_its_episodes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="raise the duration or lower the counts"):
        write_synthetic(
            tmp_path / "short.gz", SynthSpec(duration_s=30, episode_counts={"spoofing": 5})
        )
    with pytest.raises(ValueError, match="unknown episode kind 'wash'"):
        write_synthetic(tmp_path / "wash.gz", SynthSpec(episode_counts={"wash": 1}))


def test_episodes_avoid_the_flash_crash(tmp_path: Path) -> None:
    stats = write_synthetic(
        tmp_path / "crash.gz",
        SynthSpec(seed=2, duration_s=120, regime="flash-crash", episode_counts={"spoofing": 2}),
    )
    (crash,) = of_kind(stats["episodes"], "flash_crash")
    recovery_end_ns = crash["end_ns"] + 4 * (crash["end_ns"] - crash["start_ns"])
    for label in of_kind(stats["episodes"], "spoofing"):
        assert label["end_ns"] < crash["start_ns"] or label["start_ns"] > recovery_end_ns


def test_episode_options_parse_and_explain_themselves() -> None:
    parser = argparse.ArgumentParser()
    add_episode_options(parser)
    help_text = parser.format_help()
    assert "--episodes KINDS" in help_text and "--episode-count N" in help_text
    assert "spoofing, layering, genuine" in help_text
    args = parser.parse_args(["--episodes", "spoofing, genuine", "--episode-count", "4"])
    assert episode_counts_from_options(args) == {"spoofing": 4, "genuine": 4}
    assert episode_counts_from_options(parser.parse_args([])) == {}
    with pytest.raises(ValueError, match="--episodes: unknown kind 'wash'"):
        episode_counts_from_options(parser.parse_args(["--episodes", "spoofing,wash"]))
    with pytest.raises(ValueError, match="--episode-count must be >= 0"):
        episode_counts_from_options(
            parser.parse_args(["--episodes", "layering", "--episode-count", "-1"])
        )


def test_mmhost_synth_writes_labelled_episodes(tmp_path: Path) -> None:
    import host.backtest.commands as backtest_commands
    from host.cli import build_parser
    from host.plugins import PluginHost

    plugins = PluginHost()
    plugins.load_builtins()
    if not any(
        getattr(p, "__name__", "") == "host.backtest.commands" for p in plugins.pm.get_plugins()
    ):
        plugins.pm.register(backtest_commands, name="host.backtest.commands")
    out = tmp_path / "cli.gz"
    argv = ["synth", "--out", str(out), "--duration", "60", "--seed", "3"]
    argv += ["--episodes", "spoofing,layering,genuine", "--episode-count", "1"]
    args = build_parser(plugins).parse_args(argv)
    assert int(args.handler(args)) == 0
    labels = json.loads((tmp_path / "cli.gz.labels.json").read_text())["episodes"]
    assert sorted(label["kind"] for label in labels) == ["genuine", "layering", "spoofing"]
