"""The engine journals intents before sending, and fills with their code version."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from host.cli import main
from host.journal import Journal
from host.testing import PROJECT_ROOT, build_host, config_dict, replay


def journaled_config(path: Path) -> dict:
    config = config_dict()
    config["host"]["journal"] = str(path)
    return config


def test_every_order_and_fill_of_a_run_is_in_the_journal(tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.db"
    runtime = replay(
        build_host(journaled_config(journal_path), strategy_dirs=[PROJECT_ROOT / "strategies"]),
        duration_s=120,
    )
    engine = runtime.engine
    assert engine.fills
    with Journal(journal_path, readonly=True) as journal:
        journaled_orders = {o.order_link_id for o in journal.orders()}
        assert journaled_orders == set(engine.oms.orders)
        fills = journal.fills()
        assert [f.exec_id for f in fills] == [f.exec_id for f in engine.fills]
        slot = engine.slots["static_spread"]
        assert slot.content_hash  # the strategy file's hash is known...
        for fill in fills:  # ...and stamped on every fill with the plugin set
            code_hash, plugins = fill.strategy_version.split(";")
            assert code_hash == slot.content_hash[:16]
            assert plugins == engine.plugin_fingerprint
        (position,) = journal.positions()
        assert position.qty == engine.summary().positions[0].qty
        assert journal.load_strategy_state("static_spread")["version"] == 1


def test_fills_and_status_commands_read_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal_path = tmp_path / "journal.db"
    runtime = replay(build_host(journaled_config(journal_path)), duration_s=120)
    summary = runtime.engine.summary()
    assert main(["fills", "--journal", str(journal_path), "--json"]) == 0
    fills = json.loads(capsys.readouterr().out)
    assert len(fills) == summary.fills > 0
    first = fills[0]
    for key in ("symbol", "venue", "side", "qty", "price", "fee", "exec_id", "order_link_id",
                "strategy", "time"):
        assert key in first
    assert first["side"] in ("Buy", "Sell")
    Decimal(first["qty"]), Decimal(first["price"])  # decimal strings, base units
    assert main(["status", "--journal", str(journal_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    (position,) = status["positions"]
    assert Decimal(position["qty"]) == summary.positions[0].qty
    assert Decimal(position["realized_pnl"]) == summary.positions[0].realized_pnl.quantize(
        Decimal(position["realized_pnl"])
    )
