"""Fixtures of the strategy tests; the helpers live in strategy_harness.py (a
module name of its own: several test folders have a conftest)."""

from strategy_harness import bundled_run

__all__ = ["bundled_run"]
