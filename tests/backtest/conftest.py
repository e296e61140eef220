"""Fixtures of the backtest tests (helpers live in backtest_helpers.py)."""

from __future__ import annotations

from backtest_helpers import synthetic_file

__all__ = ["synthetic_file"]
