"""Logs: JSON lines with fields, and no secret ever written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loguru import logger

from host.cli import main
from host.logs import setup_logging
from host.testing import PROJECT_ROOT, shipped_config_text

SECRET = "s3cr3t-Xq9-do-not-log"
KEY = "key-Pz7-do-not-log"


def test_log_file_is_json_lines_with_fields(tmp_path: Path) -> None:
    path = setup_logging(tmp_path, "WARNING")
    assert path is not None
    logger.bind(venue="sim").info("gap of {gap_updates} updates", gap_updates=3)
    logger.complete()
    record = json.loads(path.read_text().splitlines()[-1])["record"]
    assert record["message"] == "gap of 3 updates"
    assert record["extra"]["gap_updates"] == 3 and record["extra"]["venue"] == "sim"
    setup_logging(None, "WARNING")


def test_secrets_from_the_environment_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BYBIT_API_KEY", KEY)
    monkeypatch.setenv("BYBIT_API_SECRET", SECRET)
    path = setup_logging(tmp_path, "DEBUG")
    assert path is not None
    logger.bind(api_key=KEY).warning("signing with {secret}", secret=SECRET)
    try:
        raise RuntimeError(f"auth failed for {KEY}")
    except RuntimeError:
        logger.exception("request failed")
    logger.complete()
    text = path.read_text()
    assert SECRET not in text and KEY not in text
    assert "<redacted>" in text
    setup_logging(None, "WARNING")


def test_a_whole_run_never_writes_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BYBIT_API_KEY", KEY)
    monkeypatch.setenv("BYBIT_API_SECRET", SECRET)
    text = shipped_config_text(absolute=False)
    text = text.replace('log_dir = "var/log"', f'log_dir = "{tmp_path / "log"}"')
    text = text.replace('journal = "var/journal.db"', f'journal = "{tmp_path / "journal.db"}"')
    for folder in ("strategies", "plugins"):
        text = text.replace(f'["{folder}"]', f'["{PROJECT_ROOT / folder}"]')
    config = tmp_path / "config.toml"
    config.write_text(text)
    assert main(["run", "--config", str(config), "--duration", "20", "--speed", "max"]) == 0
    captured = capsys.readouterr()
    written = [captured.out, captured.err]
    written += [p.read_text(errors="replace") for p in (tmp_path / "log").glob("*")]
    written.append((tmp_path / "journal.db").read_bytes().decode("latin-1"))
    assert all(SECRET not in item and KEY not in item for item in written)
    setup_logging(None, "WARNING")
