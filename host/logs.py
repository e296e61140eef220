"""Logging set-up: a readable console and a JSON-lines file, secrets redacted.

Log calls use constant templates with keyword fields
(``log.warning("gap {gap}", gap=n)``): the fields become JSON keys and the
message is formatted only when the level is enabled.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from loguru import logger

from host.config import secret_values

REDACTED = "<redacted>"
CONSOLE_FORMAT = "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}"


class Redactor:
    """Replaces every known secret value in a record's message and fields."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __call__(self, record: dict[str, Any]) -> None:
        if not self.secrets:
            return
        record["message"] = self.scrub(record["message"])
        for key, value in list(record["extra"].items()):
            if isinstance(value, str):
                record["extra"][key] = self.scrub(value)
        exception = record.get("exception")
        if exception is not None and exception.value is not None:
            scrubbed = self.scrub(str(exception.value))
            if scrubbed != str(exception.value):
                exception.value.args = (scrubbed,)


def _stderr_sink(message: str) -> None:
    # Looked up at each write: tests and tools swap sys.stderr after set-up.
    sys.stderr.write(message)


def setup_logging(
    log_dir: Path | None, level: str = "INFO", *, extra_secrets: Iterable[str] = ()
) -> Path | None:
    """Console on stderr at ``level``; JSON lines under ``log_dir`` at DEBUG, rotated.

    Returns the log file path (None without a log dir).
    """
    logger.remove()
    redactor = Redactor([*secret_values(), *extra_secrets])
    logger.configure(patcher=redactor)  # type: ignore[arg-type]
    logger.add(
        _stderr_sink,
        level=level,
        format=CONSOLE_FORMAT,
        colorize=sys.stderr.isatty(),
        backtrace=False,
        diagnose=False,
    )
    if log_dir is None:
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "mmhost.jsonl"
    logger.add(
        path,
        level="DEBUG",
        serialize=True,
        rotation="50 MB",
        retention=5,
        enqueue=False,
        backtrace=False,
        diagnose=False,
    )
    return path
