"""Request authentication and rate limits, as Bybit V5 applies them.

* REST: ``X-BAPI-SIGN`` = HMAC-SHA256(secret, timestamp + api_key + recv_window +
  payload), payload being the raw query string of a GET or the raw body of a
  POST exactly as received (pybit sorts GET keys and puts spaces in JSON,
  ccxt keeps insertion order and is compact: re-serialising would break one
  of them). The timestamp must satisfy
  ``server_time - recv_window <= timestamp < server_time + 1000`` against
  the *wall* clock (plus any injected skew), never the replay clock.
* WebSocket: ``{"op": "auth", "args": [api_key, expires, signature]}`` with the
  signature over ``"GET/realtime" + expires``; ``expires`` must be in the future.
* Rate limits: a fixed one-second window per (api key, endpoint), reported in
  ``X-Bapi-Limit`` / ``X-Bapi-Limit-Status`` / ``X-Bapi-Limit-Reset-Timestamp``.

Secrets and signatures never reach a log or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from host.emulator.exchange import BybitError

__all__ = ["Credentials", "RateLimiter", "sign", "wall_clock_ms"]

DEFAULT_RECV_WINDOW_MS = 5000
_FUTURE_TOLERANCE_MS = 1000
_ORDER_QUERIES = frozenset({"/v5/order/realtime", "/v5/order/history"})


def sign(secret: str, text: str | bytes) -> str:
    """Hex HMAC-SHA256 of ``text`` under ``secret``."""
    data = text.encode() if isinstance(text, str) else text
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def wall_clock_ms(skew_ms: int = 0) -> int:
    return int(time.time() * 1000) + skew_ms


@dataclass(frozen=True, slots=True)
class Credentials:
    """The emulator's one account key pair."""

    api_key: str
    api_secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(api_key={self.api_key!r}, api_secret='***')"

    def check_rest(self, headers: dict[str, str], payload: bytes, now_ms: int) -> None:
        """Raise BybitError 10003 / 10002 / 10004 / 10001 for a bad signed request."""
        api_key = headers.get("X-BAPI-API-KEY", "")
        signature = headers.get("X-BAPI-SIGN", "")
        timestamp_text = headers.get("X-BAPI-TIMESTAMP", "")
        recv_window_text = headers.get("X-BAPI-RECV-WINDOW", "") or str(DEFAULT_RECV_WINDOW_MS)
        if not api_key:
            raise BybitError(10003, "API key is invalid.")
        if not hmac.compare_digest(api_key, self.api_key):
            raise BybitError(10003, "API key is invalid.")
        try:
            timestamp_ms = int(timestamp_text)
            recv_window_ms = int(recv_window_text)
        except ValueError:
            raise BybitError(
                10001, "params error: X-BAPI-TIMESTAMP and X-BAPI-RECV-WINDOW must be integers"
            ) from None
        check_timestamp(timestamp_ms, recv_window_ms, now_ms)
        prefix = f"{timestamp_text}{api_key}{recv_window_text}".encode()
        expected = sign(self.api_secret, prefix + payload)
        if not hmac.compare_digest(expected, signature.lower()):
            raise BybitError(
                10004,
                "error sign! please check your signature generation "
                "(timestamp + api_key + recv_window + raw payload)",
            )

    def check_websocket(self, args: list[object], now_ms: int) -> str:
        """Validate WS ``auth`` args; returns an error text, "" when accepted."""
        if len(args) != 3:
            return "Params Error: expected [api_key, expires, signature]"
        api_key, expires, signature = (str(arg) for arg in args)
        if not hmac.compare_digest(api_key, self.api_key):
            return "Invalid apikey"
        try:
            expires_ms = int(expires)
        except ValueError:
            return "Params Error: expires must be an integer"
        if expires_ms <= now_ms:
            return "Params Error: request expired"
        if not hmac.compare_digest(sign(self.api_secret, f"GET/realtime{expires}"), signature):
            return "Invalid sign"
        return ""


def check_timestamp(timestamp_ms: int, recv_window_ms: int, now_ms: int) -> None:
    if not (now_ms - recv_window_ms <= timestamp_ms < now_ms + _FUTURE_TOLERANCE_MS):
        raise BybitError(
            10002,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{timestamp_ms}],server_timestamp[{now_ms}],"
            f"recv_window[{recv_window_ms}]",
        )


class RateLimiter:
    """A fixed one-second window per (api key, endpoint).

    :param limit_per_s: requests allowed per window; order endpoints use
        ``order_limit_per_s`` (Bybit's default is 10/s per uid for order writes).
    """

    def __init__(
        self,
        limit_per_s: int = 50,
        order_limit_per_s: int = 10,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.limit_per_s = limit_per_s
        self.order_limit_per_s = order_limit_per_s
        self._clock_ms = clock_ms
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}  # -> (window start, used)

    def limit_for(self, path: str) -> int:
        is_order_write = path.startswith("/v5/order/") and path not in _ORDER_QUERIES
        return self.order_limit_per_s if is_order_write else self.limit_per_s

    def take(self, api_key: str, path: str) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed, the X-Bapi-Limit* headers)."""
        now_ms = self._clock_ms()
        limit = self.limit_for(path)
        start_ms, used = self._windows.get((api_key, path), (now_ms, 0))
        if now_ms - start_ms >= 1000:
            start_ms, used = now_ms, 0
        allowed = used < limit
        if allowed:
            used += 1
        self._windows[(api_key, path)] = (start_ms, used)
        return allowed, limit_headers(limit, limit - used, start_ms + 1000)


def limit_headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    return {
        "X-Bapi-Limit": str(limit),
        "X-Bapi-Limit-Status": str(max(remaining, 0)),
        "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
    }
