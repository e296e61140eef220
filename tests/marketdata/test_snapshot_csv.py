"""The top-N snapshot CSV reader (two-venue LINK/USDT data) and its detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.instruments import lookup
from host.marketdata.common import MarketDataError, ReaderStats
from host.marketdata.replay import detect, open_events
from host.marketdata.snapshot_csv import (
    SnapshotCsvReader,
    timestamp_to_ns,
    write_snapshot_csv,
)
from host.testing import PROJECT_ROOT, build_host, config_dict, replay

TWO_VENUE_DATA = PROJECT_ROOT.parent / "shared" / "data" / "two-venue"
needs_data = pytest.mark.skipif(
    not TWO_VENUE_DATA.is_dir(), reason="two-venue data not beside the repo"
)
HUOBI = lookup("huobi-spot", "LINKUSDT")
BINANCE = lookup("binance-spot", "LINKUSDT")
MIDNIGHT_NS = 1_629_417_600_000_000_000  # 2021-08-20 00:00:00 UTC


@needs_data
def test_the_real_files_are_detected_and_read_whole() -> None:
    binance_file = TWO_VENUE_DATA / "orderbook_bnc.csv"
    huobi_file = TWO_VENUE_DATA / "orderbook_hb.csv"
    assert (detect(binance_file).format, detect(binance_file).market) == (
        "snapshot-csv",
        "binance-spot",
    )
    assert (detect(huobi_file).market, detect(huobi_file).symbol) == ("huobi-spot", "LINKUSDT")
    binance_stats, huobi_stats = ReaderStats(), ReaderStats()
    binance = list(open_events([binance_file], stats=binance_stats))
    huobi = list(open_events([huobi_file], stats=huobi_stats))
    assert len(binance) == len(huobi) == 7200
    first = binance[0]
    # The README's first Binance line: 27.095 x 988.45 ... 27.101 x 21.079.
    assert first.is_snapshot and first.venue == "binance-spot"
    assert first.bids[0] == (27095, 988450) and first.asks[0] == (27101, 21079)
    assert len(first.bids) == len(first.asks) == 10
    # UTC assumed; no receive time in the data, so exchange time = local time.
    assert first.ts_exchange_ns == first.ts_local_ns == MIDNIGHT_NS
    assert binance[-1].ts_local_ns - first.ts_local_ns == 7199 * 1_000_000_000
    assert [m.ts_local_ns for m in binance] == [m.ts_local_ns for m in huobi]
    # 27.1 on Huobi's 0.0001 tick, converted from its string: exactly 271000 ticks.
    assert huobi[0].asks[0] == (271000, 8308)
    assert binance_stats.sizes_rounded == 0 and binance_stats.bad_lines == 0
    assert huobi_stats.sizes_rounded == 1065  # the float-summed sizes, counted


def test_off_grid_values_are_rounded_and_counted(tmp_path: Path) -> None:
    path = write_snapshot_csv(
        tmp_path / "hb.csv",
        "LINKUSDT.HB",
        [
            (
                "2021-08-20 00:00:00",
                # 0.125 -> 12 lots and 0.135 -> 14 (half-even); 0.001 never rounds to 0;
                # 26.88178831780013 is a float tail of 26.88.
                [("27.00005", "0.125"), ("26.9999", "0.135"), ("26.9998", "0.001")],
                [("27.00015", "26.88178831780013"), ("27.0003", "195.0")],
            )
        ],
    )
    reader = SnapshotCsvReader([path], HUOBI)
    (message,) = list(reader)
    # Off-grid prices go outward: the bid down, the ask up.
    assert message.bids == [(270000, 12), (269999, 14), (269998, 1)]
    assert message.asks == [(270002, 2688), (270003, 19500)]
    assert (reader.prices_rounded, reader.sizes_rounded) == (2, 4)
    assert reader.stats.sizes_rounded == 4


def test_empty_levels_are_dropped_and_fractional_seconds_read(tmp_path: Path) -> None:
    path = write_snapshot_csv(
        tmp_path / "bnc.csv",
        "LINKUSDT.BNC",
        [("2021-08-20 00:00:00.250", [("27.000", "1")], [("27.010", "2"), ("27.020", "3")])],
    )
    (message,) = list(SnapshotCsvReader([path], BINANCE))
    assert message.bids == [(27000, 1000)] and len(message.asks) == 2
    assert message.ts_local_ns == MIDNIGHT_NS + 250_000_000
    assert timestamp_to_ns("2021-08-20 00:00:00+01:00") == MIDNIGHT_NS - 3_600_000_000_000


def test_bad_lines_raise_or_are_counted(tmp_path: Path) -> None:
    path = write_snapshot_csv(
        tmp_path / "bnc.csv",
        "LINKUSDT.BNC",
        [
            ("2021-08-20 00:00:01", [("27.000", "1")], [("27.010", "2")]),
            ("2021-08-20 00:00:00", [("27.000", "1")], [("27.010", "2")]),  # backwards
            ("2021-08-20 00:00:02", [("27.000", "x")], [("27.010", "2")]),  # not a number
        ],
    )
    with path.open("a") as stream:
        stream.write("2021-08-20 00:00:03,LINKUSDT.BNC,1,2\n")  # too few fields
        stream.write("2021-08-20 00:00:04,ETHUSDT.BNC,27.0,1,27.01,2\n")  # another symbol
        stream.write("2021-08-20 00:00:05,LINKUSDT.BNC,27.0,1,27.01,2\n")  # fine
    with pytest.raises(MarketDataError, match=r"bnc\.csv:3: timestamp went backwards"):
        list(SnapshotCsvReader([path], BINANCE))
    stats = ReaderStats()
    messages = list(SnapshotCsvReader([path], BINANCE, on_bad_line="skip", stats=stats))
    assert len(messages) == 2
    assert (stats.bad_lines, stats.out_of_order) == (4, 1)


def test_a_sim_venue_replays_a_snapshot_csv_given_as_data(tmp_path: Path) -> None:
    path = write_snapshot_csv(
        tmp_path / "bnc.csv",
        "LINKUSDT.BNC",
        [
            (f"2021-08-20 00:00:0{second}", [("27.000", "5")], [("27.010", "5")])
            for second in range(5)
        ],
    )
    config = config_dict()
    config["venues"][0].update(market="binance-spot", symbols=["LINKUSDT"], data=[str(path)])
    config["strategies"][0].update(
        symbol="LINKUSDT", params={"spread_ticks": 20, "order_size_quote": 50}
    )
    engine = replay(build_host(config)).engine
    assert engine.stats.book_messages == 5
    book = engine.instruments[("sim", "LINKUSDT")].book
    assert (book.best_bid_ticks, book.best_ask_ticks) == (27000, 27010)
    assert engine.oms.orders  # static_spread quoted on it
