"""SIGTERM and SIGINT stop a running host cleanly: orders cancelled, summary printed, exit 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host.testing import PROJECT_ROOT, shipped_config_text


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_host_with_every_order_cancelled(
    tmp_path: Path, signal_number: int
) -> None:
    text = shipped_config_text(absolute=False)
    for folder in ("strategies", "plugins"):
        text = text.replace(f'["{folder}"]', f'["{PROJECT_ROOT / folder}"]')
    text = text.replace('journal = "var/journal.db"', f'journal = "{tmp_path / "journal.db"}"')
    text = text.replace('log_dir = "var/log"', f'log_dir = "{tmp_path / "log"}"')
    text = text.replace("[risk]\n", '[risk]\nkill_file = ""\n')
    config = tmp_path / "config.toml"
    config.write_text(text)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "host.cli",
            "run",
            "--config",
            str(config),
            "--speed",
            "1",
            "--json",
            "--no-log-file",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    journal = tmp_path / "journal.db"
    wal = tmp_path / "journal.db-wal"  # WAL mode: new rows land here first

    def trading() -> bool:
        return any(p.exists() and b"mm-" in p.read_bytes() for p in (journal, wal))

    # Wait until the host has journaled an order: it is trading.
    while time.monotonic() < deadline and not trading():
        time.sleep(0.05)
    assert trading(), "the host never placed an order"
    process.send_signal(signal_number)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    summary = json.loads(out)
    assert summary["orders"] > 0
    from host.journal import Journal

    with Journal(journal, readonly=True) as opened:
        assert opened.orders() and not opened.orders(open_only=True)
