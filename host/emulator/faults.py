"""Fault injection for the emulator: the switches a test holds, and the config spec.

Two ways in:

* ``Faults``: a thread-safe object a test calls (``faults.skip_deltas(1)``)
  while pybit or ccxt runs in its own threads; the server's event loop reads
  and consumes the switches. Counted faults ("the next N requests") are used
  up as they fire, so a test knows exactly which request met the fault.
* ``FaultConfig.parse("drop_socket_every_s=30,rate_limit_every=50")``:
  periodic faults for a standalone emulator (``mmhost emulator --faults``).

Every fault leaves the exchange itself consistent: a lost ack still places the
order, a skipped delta still advances ``u``, a stale feed still moves the
market (only the frames stop), so the client's recovery can be tested against
the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, fields

__all__ = ["SOCKET_KINDS", "FaultConfig", "FaultSpecError", "Faults"]

SOCKET_KINDS = ("public", "private", "trade", "all")
# A "never answered" ack is held at most this long, so a stopped server never
# waits on it; clients give up long before (their timeout is ~1-10 s).
NEVER_HOLD_MS = 60_000


class FaultSpecError(ValueError):
    """A ``--faults`` spec the emulator does not understand; the message says which key."""


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Periodic faults of a standalone emulator; 0 switches one off.

    Spec syntax: comma-separated ``key=value`` pairs with these field names,
    e.g. ``drop_socket_every_s=30,skip_delta_every_s=10,clock_skew_ms=500``.
    """

    drop_socket_every_s: float = 0.0  # close every public socket this often
    skip_delta_every_s: float = 0.0  # swallow one orderbook delta per topic this often
    lose_ack_every: int = 0  # every Nth order request is placed but never answered
    http_5xx_every: int = 0  # every Nth REST request answers HTTP 503
    rate_limit_every: int = 0  # every Nth REST request answers 10006
    clock_skew_ms: int = 0  # the emulator's wall clock runs this far ahead

    @classmethod
    def parse(cls, spec: str) -> FaultConfig:
        """A FaultConfig from ``key=value,...``; raises FaultSpecError naming the bad key."""
        known = {field.name: field.type for field in fields(cls)}
        values: dict[str, float | int] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, separator, text = item.partition("=")
            key = key.strip()
            if not separator or key not in known:
                raise FaultSpecError(
                    f"fault spec item {item!r}: expected key=value with key one of "
                    f"{', '.join(known)}"
                )
            try:
                value = float(text) if known[key] == "float" else int(text)
            except ValueError:
                raise FaultSpecError(
                    f"fault spec {key}={text!r}: expected a {known[key]}"
                ) from None
            if value < 0 and key != "clock_skew_ms":
                raise FaultSpecError(f"fault spec {key}={text!r}: expected a value >= 0")
            values[key] = value
        return cls(**values)  # type: ignore[arg-type]


class Faults:
    """Switches a test flips from any thread; the server consumes them on its loop.

    All methods are safe to call from the test thread while pybit's threads
    and the emulator's loop run.
    """

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.config = config or FaultConfig()
        self._skip_deltas: dict[str, int] = {}  # symbol or "*" -> deltas to swallow
        self._lost_acks = 0
        self._lost_ack_delay_ms: int | None = None  # None: never answered
        self._server_errors = 0
        self._server_error_status = 503
        self._rate_limited = 0
        self._trade_rate_limited = 0  # the same, for trade-socket requests
        self._stale: set[str] = set()  # symbols (or "*") whose public frames stop
        self._clock_skew_ms = self.config.clock_skew_ms
        self._request_count = 0
        self._order_request_count = 0
        self._trade_cuts: list[bool] = []  # per coming trade request: executed first?
        self._refused_kinds: set[str] = set()  # socket kinds whose handshake fails
        # Installed by the server: closes sockets of a kind on its own loop.
        self._drop_sockets_callback: Callable[[str], None] | None = None

    # ------------------------------------------------------------ test API

    def drop_sockets(self, kind: str = "public") -> None:
        """Close every open socket of ``kind`` (public, private, trade or all) now."""
        if kind not in SOCKET_KINDS:
            raise ValueError(f"socket kind {kind!r}: expected one of {', '.join(SOCKET_KINDS)}")
        callback = self._drop_sockets_callback
        if callback is None:
            raise RuntimeError("the emulator is not running: start it before dropping sockets")
        callback(kind)

    def cut_trade_socket(self, count: int = 1, *, executed: bool = False) -> None:
        """The next ``count`` trade-socket order requests abort their socket
        instead of answering: after the request ran (``executed=True``), or
        before it reached the exchange (``executed=False``)."""
        with self._lock:
            self._trade_cuts.extend([executed] * count)

    def refuse_sockets(self, kind: str = "trade", enabled: bool = True) -> None:
        """Refuse (or accept again) new WebSocket connections of ``kind``: the
        handshake answers HTTP 503. Open sockets are left alone."""
        if kind not in SOCKET_KINDS:
            raise ValueError(f"socket kind {kind!r}: expected one of {', '.join(SOCKET_KINDS)}")
        with self._lock:
            if enabled:
                self._refused_kinds.add(kind)
            else:
                self._refused_kinds.discard(kind)

    def skip_deltas(self, count: int = 1, symbol: str = "*") -> None:
        """Swallow the next ``count`` orderbook deltas of ``symbol`` (every depth topic).

        ``u`` still advances, so a client sees it jump: a sequence gap.
        """
        with self._lock:
            self._skip_deltas[symbol] = self._skip_deltas.get(symbol, 0) + count

    def lose_acks(self, count: int = 1, delay_ms: int | None = None) -> None:
        """The next ``count`` order requests (REST or trade socket) are executed
        but answered only after ``delay_ms``, or never (None)."""
        with self._lock:
            self._lost_acks += count
            self._lost_ack_delay_ms = delay_ms

    def server_errors(self, count: int = 1, status: int = 503) -> None:
        """The next ``count`` REST requests answer HTTP ``status`` (5xx) and do nothing."""
        if not 500 <= status <= 599:
            raise ValueError(f"status {status}: expected a 5xx code")
        with self._lock:
            self._server_errors += count
            self._server_error_status = status

    def rate_limit(self, count: int = 1, channel: str = "rest") -> None:
        """The next ``count`` authenticated requests answer retCode 10006:
        REST requests (``channel="rest"``) or trade-socket order requests
        (``"trade"``)."""
        if channel not in ("rest", "trade"):
            raise ValueError(f"channel must be 'rest' or 'trade', not {channel!r}")
        with self._lock:
            if channel == "rest":
                self._rate_limited += count
            else:
                self._trade_rate_limited += count

    def stale(self, symbol: str = "*", enabled: bool = True) -> None:
        """Stop (or resume) public frames for ``symbol``; the market keeps moving."""
        with self._lock:
            if enabled:
                self._stale.add(symbol)
            else:
                self._stale.discard(symbol)

    def set_clock_skew(self, skew_ms: int) -> None:
        """Run the emulator's wall clock ``skew_ms`` ahead (negative: behind)."""
        with self._lock:
            self._clock_skew_ms = skew_ms

    def reset(self) -> None:
        """Clear every pending switch (the periodic config stays)."""
        with self._lock:
            self._skip_deltas.clear()
            self._lost_acks = 0
            self._server_errors = 0
            self._rate_limited = 0
            self._trade_rate_limited = 0
            self._stale.clear()
            self._trade_cuts.clear()
            self._refused_kinds.clear()
            self._clock_skew_ms = self.config.clock_skew_ms

    # --------------------------------------------------- server-side reads

    @property
    def clock_skew_ms(self) -> int:
        return self._clock_skew_ms

    def is_stale(self, symbol: str) -> bool:
        stale = self._stale
        return bool(stale) and ("*" in stale or symbol in stale)

    def refuses(self, kind: str) -> bool:
        """True while new sockets of ``kind`` are refused."""
        refused = self._refused_kinds
        return bool(refused) and ("all" in refused or kind in refused)

    def take_trade_cut(self) -> bool | None:
        """For one trade-socket order request: None (answer it), or whether it
        runs before its socket is aborted (used up)."""
        if not self._trade_cuts:
            return None
        with self._lock:
            return self._trade_cuts.pop(0) if self._trade_cuts else None

    def take_trade_rate_limit(self) -> bool:
        """True (and used up) when the next trade-socket order request must
        answer 10006."""
        if not self._trade_rate_limited:
            return False
        with self._lock:
            if self._trade_rate_limited:
                self._trade_rate_limited -= 1
                return True
            return False

    def take_skip_delta(self, symbol: str) -> bool:
        """True (and used up) when the next delta of ``symbol`` must be swallowed."""
        if not self._skip_deltas:
            return False
        with self._lock:
            for key in (symbol, "*"):
                remaining = self._skip_deltas.get(key, 0)
                if remaining > 0:
                    if remaining == 1:
                        del self._skip_deltas[key]
                    else:
                        self._skip_deltas[key] = remaining - 1
                    return True
        return False

    def take_rest_fault(self) -> tuple[str, int] | None:
        """For one REST request: ("5xx", status), ("rate_limit", 0) or None."""
        with self._lock:
            self._request_count += 1
            count = self._request_count
            if self._server_errors > 0:
                self._server_errors -= 1
                return "5xx", self._server_error_status
            if self.config.http_5xx_every and count % self.config.http_5xx_every == 0:
                return "5xx", 503
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return "rate_limit", 0
            if self.config.rate_limit_every and count % self.config.rate_limit_every == 0:
                return "rate_limit", 0
        return None

    def take_lost_ack(self) -> int | None:
        """For one order request: -1 when its ack is not lost, else the hold in ms."""
        with self._lock:
            self._order_request_count += 1
            if self._lost_acks > 0:
                self._lost_acks -= 1
                delay_ms = self._lost_ack_delay_ms
                return NEVER_HOLD_MS if delay_ms is None else delay_ms
            every = self.config.lose_ack_every
            if every and self._order_request_count % every == 0:
                return NEVER_HOLD_MS
        return -1
