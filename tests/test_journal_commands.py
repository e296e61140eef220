"""`mmhost status`, `mmhost orders`, `mmhost fills`: JSON shapes, paths, errors, help."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path

import pytest

from host.journal import Journal, OrderIntent
from host.journal_commands import mmhost_register_commands
from host.models import Fill, Instrument, OrderStatus, OrderUpdate, Side

BTC = Instrument("sim", "BTCUSDT", Decimal("0.1"), Decimal("0.001"), base="BTC")


def build_parser() -> argparse.ArgumentParser:
    # Until host.journal_commands is in BUILTIN_PLUGINS, register it by hand.
    parser = argparse.ArgumentParser(prog="mmhost")
    subparsers = parser.add_subparsers(dest="command", required=True)
    mmhost_register_commands(subparsers=subparsers)
    return parser


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(list(argv))
    status = int(args.handler(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def make_journal(path: Path) -> None:
    with Journal(path, instruments=[BTC]) as journal:
        journal.record_orders_sent(
            [
                OrderIntent(
                    "mm-r-1", "mm1", "sim", "BTCUSDT", Side.BUY, 600_000, 10, "bid", "PostOnly", 1
                ),
                OrderIntent(
                    "mm-r-2", "mm1", "sim", "BTCUSDT", Side.SELL, 600_020, 5, "ask", "PostOnly", 1
                ),
            ]
        )
        journal.record_order_update(
            OrderUpdate("sim", "BTCUSDT", "mm-r-2", OrderStatus.CANCELLED, 3, Side.SELL, 600_020, 5)
        )
        for exec_id, size_lots in (("e1", 4), ("e1", 4), ("e2", 6)):
            journal.record_fill(
                Fill(
                    "sim",
                    "BTCUSDT",
                    "mm-r-1",
                    exec_id,
                    Side.BUY,
                    600_000,
                    size_lots,
                    Decimal("0.006"),
                    True,
                    1_721_260_800_123_456_789,
                    "mm1",
                )
            )
        journal.record_pnl(
            5,
            "sim",
            "BTCUSDT",
            position_qty=Decimal("0.01"),
            mark_price=Decimal("59990"),
            realized_pnl=Decimal(0),
            unrealized_pnl=Decimal("-0.1"),
            fees=Decimal("0.012"),
        )


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    path = tmp_path / "journal.db"
    make_journal(path)
    return path


def test_fills_json_lists_each_execution_once(
    capsys: pytest.CaptureFixture[str], journal_path: Path
) -> None:
    status, out, _ = run(capsys, "fills", "--journal", str(journal_path), "--json")
    assert status == 0
    fills = json.loads(out)
    assert isinstance(fills, list) and [f["exec_id"] for f in fills] == ["e1", "e2"]
    first = fills[0]
    for key in (
        "symbol",
        "venue",
        "side",
        "qty",
        "price",
        "fee",
        "exec_id",
        "order_link_id",
        "strategy",
        "time",
    ):
        assert key in first
    assert (first["symbol"], first["venue"], first["side"]) == ("BTCUSDT", "sim", "Buy")
    assert (first["qty"], first["price"], first["fee"]) == ("0.004", "60000", "0.006")
    assert (first["order_link_id"], first["strategy"]) == ("mm-r-1", "mm1")
    assert first["time"] == "2024-07-18T00:00:00.123456789Z"


def test_status_json_has_positions_with_decimal_strings(
    capsys: pytest.CaptureFixture[str], journal_path: Path
) -> None:
    status, out, _ = run(capsys, "status", "--journal", str(journal_path), "--json", "--check")
    assert status == 0
    document = json.loads(out)
    (position,) = document["positions"]
    assert position == position | {
        "venue": "sim",
        "symbol": "BTCUSDT",
        "qty": "0.01",
        "avg_price": "60000",
        "realized_pnl": "0",
        "unrealized_pnl": "-0.1",
        "mark_price": "59990",
    }
    assert (document["orders"], document["open_orders"], document["fills"]) == (2, 1, 2)
    assert document["check"] == {"ok": True, "problems": []}


def test_orders_json_and_the_open_filter(
    capsys: pytest.CaptureFixture[str], journal_path: Path
) -> None:
    status, out, _ = run(capsys, "orders", "--journal", str(journal_path), "--json")
    assert status == 0
    orders = json.loads(out)
    assert [(o["order_link_id"], o["status"]) for o in orders] == [
        ("mm-r-1", "PendingNew"),
        ("mm-r-2", "Cancelled"),
    ]
    assert (orders[0]["price"], orders[0]["qty"], orders[0]["filled_qty"]) == (
        "60000",
        "0.01",
        "0.01",
    )
    _, out, _ = run(capsys, "orders", "--journal", str(journal_path), "--json", "--open")
    assert [o["order_link_id"] for o in json.loads(out)] == ["mm-r-1"]
    _, out, _ = run(capsys, "fills", "--journal", str(journal_path), "--json", "--limit", "1")
    assert [f["exec_id"] for f in json.loads(out)] == ["e2"]


def test_tables_for_humans(capsys: pytest.CaptureFixture[str], journal_path: Path) -> None:
    for command in ("status", "orders", "fills"):
        status, out, _ = run(capsys, command, "--journal", str(journal_path))
        assert status == 0
        assert "60000" in out  # a price column survives any terminal width


def test_journal_path_comes_from_the_config_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = tmp_path / "desk"
    (desk / "var").mkdir(parents=True)
    make_journal(desk / "var" / "book.db")
    config = desk / "config.toml"
    config.write_text(
        '[host]\njournal = "var/book.db"\n\n'
        '[[venues]]\nname = "sim"\nkind = "sim"\nsymbols = ["BTCUSDT"]\n'
    )
    monkeypatch.chdir(tmp_path)  # relative to the config file, not to the cwd
    status, out, _ = run(capsys, "fills", "--config", str(config), "--json")
    assert status == 0 and len(json.loads(out)) == 2


def test_a_missing_journal_or_config_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = run(capsys, "status", "--journal", str(tmp_path / "none.db"), "--json")
    assert status == 2 and out == "" and "no journal here" in err
    assert not (tmp_path / "none.db").exists()
    status, _, err = run(capsys, "fills", "--config", str(tmp_path / "missing.toml"))
    assert status == 2 and "file not found" in err


def test_a_corrupt_journal_fails_with_the_file_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    path.write_bytes(b"\x00garbage" * 1000)
    status, out, err = run(capsys, "orders", "--journal", str(path), "--json")
    assert status == 1 and out == ""
    assert str(path) in err and "move it aside" in err


def test_every_journal_command_and_option_has_help() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    assert set(subparsers.choices) == {"status", "orders", "fills"}
    for name, subparser in subparsers.choices.items():
        assert helps[name] and subparser.description
        for action in subparser._actions:
            assert action.help, f"mmhost {name} {action.option_strings} has no help"
        options = {option for action in subparser._actions for option in action.option_strings}
        assert {"--journal", "--config", "--json"} <= options
