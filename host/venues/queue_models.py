"""Queue-position models: who left the queue when a level shrank without a trade.

L2 (market-by-price) data shows the total size resting at a price, not the
orders that make it up. When the size at a price where we rest drops and no
trade printed there, somebody cancelled, and the data cannot say whether they
stood ahead of us or behind us. A queue model answers that one question; the
matching engine does everything else (trades, clamping, fills).

Every model is deterministic: it returns an expected value, never a draw, so a
backtest is reproducible byte for byte without a seed.

The engine calls :meth:`QueueModel.cancelled_ahead_lots` with the market's
lots ahead of our order (our own earlier orders at the price excluded), the
level size before the update and the lots cancelled (the shrink minus any
traded lots already applied). It subtracts the answer from the queue ahead,
carrying fractions of a lot to the next update, and then clamps the queue
ahead to the new level size. Clamping is common to all models: nobody can
stand ahead of us who is no longer in the book.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol


class QueueModel(Protocol):
    """Splits a cancellation between the part of the queue ahead of us and behind."""

    name: str

    def cancelled_ahead_lots(
        self, ahead_lots: float, level_before_lots: int, cancelled_lots: int
    ) -> float:
        """Expected lots of ``cancelled_lots`` that stood ahead of our order.

        :param ahead_lots: market lots ahead of our order before the update (>= 0).
        :param level_before_lots: visible size at the price before the update.
        :param cancelled_lots: lots that left the level without trading (> 0).
        :returns: a value in ``[0, min(ahead_lots, cancelled_lots)]``.
        """
        ...


class RiskAverseQueue:
    """Assumes every cancellation comes from behind us: only trades advance us.

    The most pessimistic L2 estimate (hftbacktest's ``RiskAdverseQueueModel``).
    The only other movement is the common clamp: when the level shrinks below
    our queue ahead, the queue ahead becomes the level size.
    """

    name = "risk_averse"

    def cancelled_ahead_lots(
        self, ahead_lots: float, level_before_lots: int, cancelled_lots: int
    ) -> float:
        return 0.0


class ProbabilisticQueue:
    """Splits each cancellation by queue position (Rigtorp's estimator).

    With ``a`` market lots ahead of us and ``b = level_before - a`` behind, the
    share of a cancellation taken from ahead of us is::

        p_ahead = f(a) / (f(a) + f(b))

    and the expected lots removed ahead of us are ``p_ahead * cancelled`` plus
    whatever part of the rest the lots behind us cannot cover
    (``max(0, (1 - p_ahead) * cancelled - b)``), capped at ``a``.

    ``f`` is ``x ** power`` (:meth:`power`, hftbacktest's ``PowerProbQueueFunc``)
    or ``log(1 + x)`` (:meth:`log`, ``LogProbQueueFunc``). A larger power makes
    cancellations cluster at the far end of the queue from us: people who just
    joined behind us cancel more than the ones ahead who have waited longest.
    ``power=1`` spreads them uniformly over the queue.
    """

    __slots__ = ("_function", "name")

    def __init__(self, function: str = "power", power: float = 2.0) -> None:
        if function not in ("power", "log"):
            raise ValueError(f"queue function {function!r}: expected 'power' or 'log'")
        if function == "power" and power <= 0:
            raise ValueError(f"queue power {power}: expected a positive number")
        if function == "power":
            self._function = _power_function(power)
            self.name = f"probabilistic_power_{power:g}"
        else:
            self._function = _log_function
            self.name = "probabilistic_log"

    @classmethod
    def power(cls, power: float = 2.0) -> ProbabilisticQueue:
        return cls("power", power)

    @classmethod
    def log(cls) -> ProbabilisticQueue:
        return cls("log")

    def cancelled_ahead_lots(
        self, ahead_lots: float, level_before_lots: int, cancelled_lots: int
    ) -> float:
        if ahead_lots <= 0 or cancelled_lots <= 0:
            return 0.0
        behind_lots = max(level_before_lots - ahead_lots, 0.0)
        weight_ahead = self._function(ahead_lots)
        weight_behind = self._function(behind_lots)
        share_ahead = weight_ahead / (weight_ahead + weight_behind)
        expected_ahead = share_ahead * cancelled_lots
        # A cancellation larger than the queue behind us must have come partly from ahead.
        overflow = (1.0 - share_ahead) * cancelled_lots - behind_lots
        if overflow > 0:
            expected_ahead += overflow
        return min(expected_ahead, ahead_lots, float(cancelled_lots))


def _power_function(power: float) -> Callable[[float], float]:
    def weight(lots: float) -> float:
        return lots**power

    return weight


def _log_function(lots: float) -> float:
    return math.log1p(lots)
