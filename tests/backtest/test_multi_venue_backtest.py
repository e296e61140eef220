"""`mmhost backtest --data VENUE=FILE --data VENUE=FILE`: one sim venue per recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from host.cli import main

TWO_VENUE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "two-venue"


def test_arbitrage_backtest_on_the_two_venue_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "arb.html"
    status = main(
        [
            "backtest",
            "--strategy",
            "cross_arbitrage",
            "--data",
            f"binance={TWO_VENUE / 'orderbook_bnc.csv'}",
            "--data",
            f"huobi={TWO_VENUE / 'orderbook_hb.csv'}",
            "--param",
            'taker_fee_bps={"binance": 1, "huobi": 1}',
            "--json",
            "--report",
            str(report),
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert status == 0, document
    for key in ("opportunities_seen", "opportunities_taken", "fills", "realized_pnl", "fees"):
        assert key in document
    assert document["opportunities_seen"] > document["opportunities_taken"] > 0
    assert {p["venue"] for p in document["positions"]} == {"binance", "huobi"}
    page = report.read_text()
    assert "cross_arbitrage" in page and "http://" not in page and "https://" not in page


def test_one_named_venue_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "backtest",
            "--strategy",
            "cross_arbitrage",
            "--data",
            f"binance={TWO_VENUE / 'orderbook_bnc.csv'}",
        ]
    )
    assert status == 2
    assert "needs two venues" in capsys.readouterr().err


def test_a_missing_file_names_the_venue_and_file(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "backtest",
            "--strategy",
            "cross_arbitrage",
            "--data",
            "binance=/nonexistent/a.csv",
            "--data",
            "huobi=/nonexistent/b.csv",
        ]
    )
    assert status == 2
    assert "binance=/nonexistent/a.csv: no such file" in capsys.readouterr().err
