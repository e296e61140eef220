"""The sqlite journal: round trips, deduplication, durability, failures."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import hookspecs
from host.journal import (
    Journal,
    JournalError,
    JournalPlugin,
    OrderIntent,
    _PositionState,
    format_ts,
)
from host.models import Fill, Instrument, OrderStatus, OrderUpdate, Side
from host.portfolio import Position
from host.risk import RiskEvent
from host.testing import PROJECT_ROOT, build_host, config_dict, replay

BTC = Instrument("sim", "BTCUSDT", Decimal("0.1"), Decimal("0.001"), base="BTC")
ETH = Instrument("sim", "ETHUSDT", Decimal("0.01"), Decimal("0.01"), base="ETH")


def intent(order_link_id: str, side: Side = Side.BUY, price_ticks: int = 600_000) -> OrderIntent:
    return OrderIntent(
        order_link_id, "mm1", "sim", "BTCUSDT", side, price_ticks, 10, "bid", "PostOnly", 1_000
    )


def fill(
    exec_id: str,
    order_link_id: str = "mm-r-1",
    side: Side = Side.BUY,
    price_ticks: int = 600_000,
    size_lots: int = 4,
    fee: str = "0.024",
    ts_ns: int = 2_000,
) -> Fill:
    return Fill(
        "sim",
        "BTCUSDT",
        order_link_id,
        exec_id,
        side,
        price_ticks,
        size_lots,
        Decimal(fee),
        True,
        ts_ns,
        "mm1",
    )


def update(order_link_id: str, status: str, ts_ns: int = 1_500, **fields: object) -> OrderUpdate:
    values: dict[str, object] = {
        "venue": "sim",
        "symbol": "BTCUSDT",
        "order_link_id": order_link_id,
        "status": status,
        "ts_ns": ts_ns,
        "side": Side.BUY,
        "price_ticks": 600_000,
        "size_lots": 10,
    }
    values.update(fields)
    return OrderUpdate(**values)  # type: ignore[arg-type]


@pytest.fixture
def journal(tmp_path: Path):
    with Journal(tmp_path / "journal.db", instruments=[BTC, ETH]) as opened:
        yield opened


def test_order_intent_update_and_fill_round_trip(journal: Journal) -> None:
    journal.record_order_sent(intent("mm-r-1"))
    journal.record_order_update(update("mm-r-1", OrderStatus.NEW, venue_order_id="v-77"))
    journal.record_fill(fill("e1", size_lots=4))
    journal.record_order_update(update("mm-r-1", OrderStatus.PARTIALLY_FILLED, filled_lots=4))
    journal.flush()

    (order,) = journal.orders()
    assert order.order_link_id == "mm-r-1"
    assert (order.strategy_id, order.venue, order.symbol, order.tag) == (
        "mm1",
        "sim",
        "BTCUSDT",
        "bid",
    )
    assert order.side is Side.BUY and order.time_in_force == "PostOnly"
    assert order.price == Decimal("60000") and order.qty == Decimal("0.01")
    assert (order.price_ticks, order.size_lots, order.filled_lots) == (600_000, 10, 4)
    assert order.filled_qty == Decimal("0.004")
    assert order.status == OrderStatus.PARTIALLY_FILLED and order.venue_order_id == "v-77"
    assert order.to_json()["price"] == "60000" and order.to_json()["side"] == "Buy"

    events = journal.order_events("mm-r-1")
    assert [event["status"] for event in events] == ["New", "PartiallyFilled"]
    assert events[1]["filled_qty"] == "0.004"

    (recorded,) = journal.fills()
    assert recorded.exec_id == "e1" and recorded.strategy_id == "mm1"
    assert (recorded.price, recorded.qty, recorded.fee) == (
        Decimal("60000"),
        Decimal("0.004"),
        Decimal("0.024"),
    )
    assert recorded.to_json()["time"] == format_ts(2_000)


def test_duplicate_exec_ids_are_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path, instruments=[BTC]) as journal:
        journal.record_order_sent(intent("mm-r-1"))
        journal.record_fill(fill("e1", size_lots=4))
        journal.record_fill(fill("e1", size_lots=4))  # same batch
        journal.flush()
        journal.record_fill(fill("e1", size_lots=4))  # a later batch
        journal.record_fill(fill("e2", size_lots=2))
        journal.flush()
        assert [f.exec_id for f in journal.fills()] == ["e1", "e2"]
        assert journal.order("mm-r-1").filled_lots == 6  # type: ignore[union-attr]
        (position,) = journal.positions()
        assert position.size_lots == 6 and position.fill_count == 2
        assert position.fees == Decimal("0.048")
    # ...and after a restart, when the venue replays its executions.
    with Journal(path, instruments=[BTC]) as journal:
        journal.record_fill(fill("e2", size_lots=2))
        journal.flush()
        assert len(journal.fills()) == 2
        assert journal.positions()[0].size_lots == 6


def test_positions_carry_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path, instruments=[BTC]) as journal:
        journal.record_fill(fill("e1", side=Side.BUY, price_ticks=600_000, size_lots=3))
        journal.record_fill(fill("e2", side=Side.BUY, price_ticks=600_010, size_lots=4))
    with Journal(path, instruments=[BTC]) as journal:
        journal.record_fill(fill("e3", side=Side.SELL, price_ticks=600_100, size_lots=5))
        journal.flush()
        (position,) = journal.positions()
    reference = Position(BTC)
    for step in (
        fill("e1", side=Side.BUY, price_ticks=600_000, size_lots=3),
        fill("e2", side=Side.BUY, price_ticks=600_010, size_lots=4),
        fill("e3", side=Side.SELL, price_ticks=600_100, size_lots=5),
    ):
        reference.apply_fill(step)
    assert position.qty == reference.qty == Decimal("0.002")
    assert position.realized_pnl == reference.realized_pnl()
    assert position.avg_price == reference.avg_price()
    # Mark is the last fill price until the engine records a better one.
    assert position.mark_price == Decimal("60010")
    assert position.unrealized_pnl == reference.unrealized_pnl(600_100)


fills_strategy = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=2_000_000),
        st.integers(min_value=1, max_value=50),
    ),
    max_size=60,
)


@given(fills_strategy)
@settings(max_examples=200, deadline=None)
def test_journal_accounting_equals_the_portfolio(steps: list[tuple[Side, int, int]]) -> None:
    """The writer's integer accounting and host.portfolio.Position agree."""
    state = _PositionState(BTC.tick_size, BTC.lot_size)
    reference = Position(BTC)
    for index, (side, price_ticks, size_lots) in enumerate(steps):
        state.apply(int(side), price_ticks, size_lots, Decimal("0.024"))
        reference.apply_fill(
            fill(f"e{index}", side=side, price_ticks=price_ticks, size_lots=size_lots)
        )
        assert state.size_lots == reference.size_lots
        cost = Fraction(state.cost_numerator, state.cost_denominator)
        realized = Fraction(state.realized_numerator, state.realized_denominator)
        # Both round far below a cent: the journal past 1e30, Position at 60 digits.
        assert abs(cost - Fraction(reference.open_cost)) < Fraction(1, 10**29)
        assert abs(realized - Fraction(reference.realized)) < Fraction(1, 10**29) * (index + 1)
    assert state.fees == reference.fees


def test_order_status_never_goes_back_from_terminal(journal: Journal) -> None:
    journal.record_order_sent(intent("mm-r-1"))
    journal.record_order_update(update("mm-r-1", OrderStatus.FILLED, ts_ns=10))
    journal.record_order_update(update("mm-r-1", OrderStatus.PARTIALLY_FILLED, ts_ns=11))
    journal.flush()
    assert journal.order("mm-r-1").status == OrderStatus.FILLED  # type: ignore[union-attr]
    assert len(journal.order_events("mm-r-1")) == 2


def test_open_orders_by_prefix_for_recovery(journal: Journal) -> None:
    journal.record_orders_sent([intent("mm-r-1"), intent("mm-r-2"), intent("mx_r-3")])
    journal.record_order_update(update("mm-r-1", OrderStatus.CANCELLED))
    journal.record_order_update(
        update("mm-r-2", OrderStatus.NEW, reject_code="110001", reject_reason="cancel refused")
    )
    journal.flush()
    assert [o.order_link_id for o in journal.open_orders("mm-")] == ["mm-r-2"]
    # '_' in a prefix is a character, not a LIKE wildcard.
    assert [o.order_link_id for o in journal.open_orders("mx_")] == ["mx_r-3"]
    assert journal.open_orders("m_") == []
    assert journal.order("mm-r-2").reject_code == "110001"  # type: ignore[union-attr]


def test_an_update_for_an_unknown_order_still_gets_a_row(journal: Journal) -> None:
    journal.record_order_update(update("mm-old-9", OrderStatus.NEW))
    journal.flush()
    (order,) = journal.open_orders("mm-")
    assert order.order_link_id == "mm-old-9" and order.strategy_id == ""


def test_strategy_state_round_trip_with_revisions(journal: Journal) -> None:
    assert journal.load_strategy_state("mm1") is None
    assert journal.save_strategy_state("mm1", {"version": 1, "skew": Decimal("0.25")}) == 1
    assert journal.save_strategy_state("mm1", {"version": 2, "skew": "0.5", "n": 3}) == 2
    assert journal.load_strategy_state("mm1") == {"version": 2, "skew": "0.5", "n": 3}
    (row,) = journal.strategy_states()
    assert (row["strategy"], row["version"], row["revision"]) == ("mm1", 2, 2)
    with pytest.raises(JournalError, match="version"):
        journal.save_strategy_state("mm1", {"version": "two"})


def test_risk_events_reloads_balances_and_pnl(journal: Journal) -> None:
    journal.record_fill(fill("e1"))
    journal.record_risk_event(RiskEvent("max_position", "too long", "mm1", 5, "veto"))
    journal.record_reload("strategies/a.py", "abc123", 12.5, ok=True, ts_ns=6)
    journal.record_reload("strategies/a.py", "def456", 3.0, ok=False, error="SyntaxError", ts_ns=7)
    journal.record_balance("sim", "USDT", Decimal("1000.50"), Decimal("900"), 8)
    journal.record_balance("sim", "USDT", Decimal("1001"), Decimal("901"), 9)
    journal.record_pnl(
        10,
        "sim",
        "BTCUSDT",
        position_qty=Decimal("0.004"),
        mark_price=Decimal("60050"),
        realized_pnl=Decimal("0"),
        unrealized_pnl=Decimal("0.2"),
        fees=Decimal("0.024"),
    )
    journal.flush()
    (risk,) = journal.risk_events()
    assert (risk["rule"], risk["kind"], risk["strategy"]) == ("max_position", "veto", "mm1")
    assert [(r["ok"], r["error"]) for r in journal.reloads()] == [
        (True, ""),
        (False, "SyntaxError"),
    ]
    assert journal.balances() == [
        {"venue": "sim", "asset": "USDT", "total": "1001", "available": "901", "ts_ns": 9}
    ]
    (point,) = journal.pnl()
    assert point["net_pnl"] == "0.176"
    (position,) = journal.positions()
    assert position.mark_price == Decimal("60050")
    assert position.unrealized_pnl == Decimal("0.2")  # 0.004 BTC * 50 USDT


def test_order_intent_is_durable_before_send(journal: Journal) -> None:
    """When record_orders_sent returns, another connection already sees the id."""
    journal.record_orders_sent([intent("mm-r-1"), intent("mm-r-2")])
    other = sqlite3.connect(journal.path)
    try:
        rows = other.execute(
            "SELECT order_link_id, status, price FROM orders ORDER BY 1"
        ).fetchall()
    finally:
        other.close()
    assert rows == [("mm-r-1", "PendingNew", "60000"), ("mm-r-2", "PendingNew", "60000")]


def test_flush_makes_queued_records_visible_to_other_connections(journal: Journal) -> None:
    for index in range(300):
        journal.record_fill(fill(f"e{index}"))
    journal.flush()
    other = sqlite3.connect(journal.path)
    try:
        assert other.execute("SELECT count(*) FROM fills").fetchone()[0] == 300
    finally:
        other.close()


def test_records_from_many_threads_all_arrive(journal: Journal) -> None:
    def produce(thread_index: int) -> None:
        for index in range(200):
            journal.record_fill(fill(f"t{thread_index}-{index}"))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.flush()
    assert journal.counts()["fills"] == 800


def test_unregistered_instrument_is_refused_loudly(journal: Journal) -> None:
    stray = Fill("other", "XRPUSDT", "mm-r-1", "x1", Side.BUY, 1, 1, Decimal(0), True, 1)
    with pytest.raises(JournalError, match="other:XRPUSDT is not registered"):
        journal.record_fill(stray)


CHILD = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from host.journal import Journal
    from host.models import Fill, Instrument, Side

    instrument = Instrument("sim", "BTCUSDT", Decimal("0.1"), Decimal("0.001"))
    # Long interval, huge batch: nothing is committed unless flush() asks.
    journal = Journal(sys.argv[1], instruments=[instrument], flush_interval_ms=60_000,
                      flush_rows=10**9)
    index = 0
    while True:
        journal.record_fill(Fill("sim", "BTCUSDT", "mm-c-1", f"e{index}", Side.BUY,
                                 600_000 + index % 7, 1, Decimal("0.006"), True, index, "mm1"))
        index += 1
        if index % 500 == 0:
            journal.flush()
            print(index, flush=True)
    """
)


def test_kill_9_loses_nothing_flushed_and_the_file_opens_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A guard, not a sleep: kill a child that hangs so the test fails instead.
    guard = threading.Timer(60, child.kill)
    guard.start()
    try:
        flushed = 0
        assert child.stdout is not None
        while flushed < 5_000:
            line = child.stdout.readline()
            assert line, f"child exited early: {child.stderr.read() if child.stderr else ''}"
            flushed = int(line)
        # The child keeps writing (and committing) while we kill it.
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        guard.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    with Journal(path, instruments=[BTC]) as journal:
        assert journal.check() == []
        stored = {f.exec_id for f in journal.fills()}
        assert {f"e{index}" for index in range(flushed)} <= stored
        # Fills and their position were committed in the same transaction.
        (position,) = journal.positions()
        assert position.fill_count == len(stored) == position.size_lots
        journal.record_fill(fill("after-crash"))
        journal.flush()


def test_a_file_of_garbage_gives_a_clear_error_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    garbage = bytes(range(256)) * 64
    path.write_bytes(garbage)
    with pytest.raises(JournalError) as raised:
        Journal(path)
    message = str(raised.value)
    assert str(path) in message and "not a readable mmhost journal" in message
    assert "move it aside" in message
    assert path.read_bytes() == garbage
    with pytest.raises(JournalError, match="not a readable mmhost journal"):
        Journal(path, readonly=True)


def test_an_unrelated_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (text TEXT)")
    connection.commit()
    connection.close()
    with pytest.raises(JournalError, match="not an mmhost journal"):
        Journal(path)


def test_a_second_host_on_the_same_journal_is_refused(journal: Journal) -> None:
    with pytest.raises(JournalError, match=r"in use by another mmhost process \(pid \d+\)"):
        Journal(journal.path)
    # Readers (the CLI) are welcome while the host writes.
    with Journal(journal.path, readonly=True) as reader:
        assert reader.fills() == []


def test_a_file_locked_by_another_writer_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    Journal(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(JournalError) as raised:
            Journal(path, busy_timeout_ms=50)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(path) in str(raised.value) and "locked" in str(raised.value)
    Journal(path).close()  # the lock and the writer thread of the failed open are gone


def test_a_failed_write_stops_the_journal_loudly(journal: Journal) -> None:
    journal.record_fill(fill("e1"))
    journal.flush()
    other = sqlite3.connect(journal.path)
    other.execute("DROP TABLE fills")
    other.commit()
    other.close()
    journal.record_fill(fill("e2"))
    with pytest.raises(JournalError, match="a write failed"):
        journal.flush()
    with pytest.raises(JournalError, match="a write failed"):
        journal.record_fill(fill("e3"))
    with pytest.raises(JournalError, match="a write failed"):
        journal.record_orders_sent([intent("mm-r-9")])


def test_readonly_journal_refuses_writes_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal here"):
        Journal(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()
    Journal(tmp_path / "j.db").close()
    with (
        Journal(tmp_path / "j.db", readonly=True, instruments=[BTC]) as reader,
        pytest.raises(JournalError, match="read-only"),
    ):
        reader.record_fill(fill("e1"))


def test_plugin_feeds_the_journal_through_hooks_and_closes_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db", instruments=[BTC])
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(JournalPlugin(journal), name="journal")
    manager.hook.mmhost_order_updated(update=update("mm-r-1", OrderStatus.NEW))
    manager.hook.mmhost_fill(fill=fill("e1"))
    manager.hook.mmhost_risk_event(event=RiskEvent("band", "far", "mm1", 3))
    journal.flush()
    assert journal.counts()["fills"] == 1 and journal.counts()["risk_events"] == 1
    engine = SimpleNamespace(
        clock=SimpleNamespace(now_ns=lambda: 9), summary=lambda: SimpleNamespace(positions=[])
    )
    manager.hook.mmhost_fill(fill=fill("e2"))
    manager.hook.mmhost_shutdown(engine=engine)
    with pytest.raises(JournalError, match="closed"):
        journal.record_fill(fill("e3"))
    with Journal(journal.path, readonly=True) as reader:
        assert reader.counts()["fills"] == 2


def test_plugin_journals_a_replayed_run(tmp_path: Path) -> None:
    """Registered with the engine: every fill and position of a run is in the journal."""
    journal = Journal(tmp_path / "journal.db")
    # The replay driver drains cancel acks after engine.stop() fires
    # mmhost_shutdown, so the journal must outlive the hook: close it after.
    plugin = JournalPlugin(journal, close_on_shutdown=False)
    runtime = replay(build_host(config_dict(), plugins=[plugin]), duration_s=60)
    journal.close()
    engine = runtime.engine
    assert engine.fills, "the run should trade"
    with Journal(tmp_path / "journal.db", readonly=True) as reader:
        assert {f.exec_id for f in reader.fills()} == {f.exec_id for f in engine.fills}
        (position,) = reader.positions()
        (summary,) = engine.summary().positions
        assert position.qty == summary.qty
        assert position.realized_pnl == summary.realized_pnl
        assert position.fees == summary.fees
        assert len(reader.pnl()) == 1
        assert reader.counts()["order_events"] == engine.stats.order_updates
    with pytest.raises(JournalError, match="closed"):
        journal.flush()
