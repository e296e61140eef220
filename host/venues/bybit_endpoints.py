"""Where a Bybit venue connects, and the one place that points pybit there.

pybit reads its URLs from module globals when a client is constructed
(``_http_manager.HTTP_URL``, ``unified_trading.PUBLIC_WSS / PRIVATE_WSS``,
``_websocket_trading.TRADE_WSS``), so the URLs are process-wide. ``claim``
sets all four, once, before any client is built, and counts its users: a
second venue may share the same endpoint, but one asking for a different
endpoint while the first is still running gets a clear error instead of
silently trading on the wrong venue. ``release`` gives the claim back; the
last release restores pybit's own URLs.

Endpoints: ``mainnet``, ``testnet``, ``demo`` (Bybit demo trading: demo REST
and private stream, mainnet public data, no trade socket), or the
``http://127.0.0.1:PORT`` address of a loopback emulator. ``emulator`` (the
in-process emulator) is turned into such an address by the runtime, which
starts it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "EndpointConflictError",
    "ResolvedEndpoint",
    "claim",
    "claimed",
    "release",
    "resolve",
]

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class EndpointConflictError(RuntimeError):
    """Two venues in one process want pybit pointed at different endpoints."""


@dataclass(frozen=True, slots=True)
class ResolvedEndpoint:
    """Concrete URLs of one endpoint name.

    ``public_websocket`` keeps pybit's ``{CHANNEL_TYPE}`` field; nothing else
    holds a ``{...}`` field, so pybit's own ``.format(SUBDOMAIN=...)`` leaves
    the URLs as they are whatever its ``testnet`` / ``demo`` flags say.
    """

    name: str  # mainnet | testnet | demo | loopback
    http: str
    public_websocket: str
    private_websocket: str
    trade_websocket: str | None  # None: the endpoint has no order-entry socket

    @property
    def is_loopback(self) -> bool:
        return self.name == "loopback"


_NAMED = {
    "mainnet": ResolvedEndpoint(
        "mainnet",
        "https://api.bybit.com",
        "wss://stream.bybit.com/v5/public/{CHANNEL_TYPE}",
        "wss://stream.bybit.com/v5/private",
        "wss://stream.bybit.com/v5/trade",
    ),
    "testnet": ResolvedEndpoint(
        "testnet",
        "https://api-testnet.bybit.com",
        "wss://stream-testnet.bybit.com/v5/public/{CHANNEL_TYPE}",
        "wss://stream-testnet.bybit.com/v5/private",
        "wss://stream-testnet.bybit.com/v5/trade",
    ),
    # Demo trading has its own REST host and private stream; market data is
    # mainnet's, and there is no trade socket.
    "demo": ResolvedEndpoint(
        "demo",
        "https://api-demo.bybit.com",
        "wss://stream.bybit.com/v5/public/{CHANNEL_TYPE}",
        "wss://stream-demo.bybit.com/v5/private",
        None,
    ),
}


def resolve(endpoint: str) -> ResolvedEndpoint:
    """The URLs of ``endpoint`` (a name or a loopback ``http://`` address).

    :raises ValueError: naming the accepted values.
    """
    text = endpoint.strip()
    named = _NAMED.get(text.lower())
    if named is not None:
        return named
    if text.lower() == "emulator":
        raise ValueError(
            "endpoint 'emulator' must be replaced by the runtime with the address of the "
            "emulator it started (http://127.0.0.1:PORT)"
        )
    parts = urlsplit(text)
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS and parts.port:
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        http = f"http://{host}:{parts.port}"
        websocket = f"ws://{host}:{parts.port}"
        return ResolvedEndpoint(
            "loopback",
            http,
            websocket + "/v5/public/{CHANNEL_TYPE}",
            websocket + "/v5/private",
            websocket + "/v5/trade",
        )
    raise ValueError(
        f"endpoint {endpoint!r}: expected mainnet, testnet, demo or the "
        "http://127.0.0.1:PORT address of an emulator"
    )


_lock = threading.Lock()
_current: ResolvedEndpoint | None = None
_users = 0
_saved: tuple[str, str, str, str] | None = None


def claim(endpoint: str | ResolvedEndpoint) -> ResolvedEndpoint:
    """Point every pybit client built from now on at ``endpoint``; count the user.

    :raises EndpointConflictError: another running venue holds a different endpoint.
    :raises ValueError: an endpoint ``resolve`` does not accept.
    """
    global _current, _users, _saved
    resolved = endpoint if isinstance(endpoint, ResolvedEndpoint) else resolve(endpoint)
    from pybit import _http_manager, _websocket_trading, unified_trading

    with _lock:
        if _current is not None and _users > 0:
            if _current != resolved:
                raise EndpointConflictError(
                    f"pybit's URLs are process-wide and point at {_current.name} "
                    f"({_current.http}) for a running venue; a second Bybit venue cannot use "
                    f"{resolved.name} ({resolved.http}) in the same process"
                )
            _users += 1
            return resolved
        if _saved is None:
            _saved = (
                _http_manager.HTTP_URL,
                unified_trading.PUBLIC_WSS,
                unified_trading.PRIVATE_WSS,
                _websocket_trading.TRADE_WSS,
            )
        _http_manager.HTTP_URL = resolved.http
        unified_trading.PUBLIC_WSS = resolved.public_websocket
        unified_trading.PRIVATE_WSS = resolved.private_websocket
        # pybit has one global for the trade socket; an endpoint without one
        # keeps pybit's default, and the venue never opens it there.
        if resolved.trade_websocket is not None:
            _websocket_trading.TRADE_WSS = resolved.trade_websocket
        _current, _users = resolved, 1
        return resolved


def release(endpoint: ResolvedEndpoint) -> None:
    """Give back one claim; the last one restores pybit's original URLs."""
    global _current, _users, _saved
    from pybit import _http_manager, _websocket_trading, unified_trading

    with _lock:
        if _current != endpoint or _users <= 0:
            return
        _users -= 1
        if _users == 0 and _saved is not None:
            (
                _http_manager.HTTP_URL,
                unified_trading.PUBLIC_WSS,
                unified_trading.PRIVATE_WSS,
                _websocket_trading.TRADE_WSS,
            ) = _saved
            _saved = None
            _current = None


def claimed() -> tuple[ResolvedEndpoint | None, int]:
    """The endpoint pybit points at for running venues, and how many hold it."""
    with _lock:
        return _current, _users
