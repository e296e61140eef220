"""Point the real, unmodified Bybit clients at an emulator.

pybit builds its URLs from module globals read when a client is constructed
(``_http_manager.HTTP_URL`` in ``HTTP.__post_init__``, ``unified_trading.
PUBLIC_WSS / PRIVATE_WSS`` and ``_websocket_trading.TRADE_WSS`` in the
WebSocket constructors). ``point_pybit_at`` rewrites all four, once, before
any client is built, and returns a function that puts the originals back.
The replacements contain no ``{...}`` fields except ``{CHANNEL_TYPE}``, so
pybit's own ``.format(SUBDOMAIN=..., DOMAIN=..., TLD=...)`` leaves them as
they are whatever ``testnet`` / ``domain`` / ``tld`` says.

ccxt keeps its URLs per instance in ``exchange.urls["api"]``: every REST
entry (and, for ccxt.pro, every WebSocket entry) is replaced by
``point_ccxt_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["point_ccxt_at", "point_pybit_at"]


def point_pybit_at(http_url: str, websocket_url: str | None = None) -> Callable[[], None]:
    """Redirect every pybit client built from now on to the emulator.

    :param http_url: ``"http://127.0.0.1:PORT"``.
    :param websocket_url: ``"ws://127.0.0.1:PORT"``; derived from ``http_url`` when None.
    :returns: a function restoring pybit's original URLs.

    pybit's URLs are process-wide: call this once, before constructing clients,
    and never while another thread builds clients for a real venue.
    """
    from pybit import _http_manager, _websocket_trading, unified_trading

    http_url = http_url.rstrip("/")
    websocket_url = (websocket_url or "ws" + http_url.removeprefix("http")).rstrip("/")
    saved = (
        _http_manager.HTTP_URL,
        unified_trading.PUBLIC_WSS,
        unified_trading.PRIVATE_WSS,
        _websocket_trading.TRADE_WSS,
    )
    _http_manager.HTTP_URL = http_url
    unified_trading.PUBLIC_WSS = websocket_url + "/v5/public/{CHANNEL_TYPE}"
    unified_trading.PRIVATE_WSS = websocket_url + "/v5/private"
    _websocket_trading.TRADE_WSS = websocket_url + "/v5/trade"

    def restore() -> None:
        (
            _http_manager.HTTP_URL,
            unified_trading.PUBLIC_WSS,
            unified_trading.PRIVATE_WSS,
            _websocket_trading.TRADE_WSS,
        ) = saved

    return restore


def point_ccxt_at(exchange: Any, http_url: str, websocket_url: str | None = None) -> Any:
    """Redirect one ccxt bybit instance (sync, async or pro) to the emulator; returns it."""
    http_url = http_url.rstrip("/")
    websocket_url = (websocket_url or "ws" + http_url.removeprefix("http")).rstrip("/")
    api = exchange.urls["api"]
    redirected: dict[str, Any] = {}
    for key, value in api.items():
        if key == "ws" and isinstance(value, dict):
            redirected[key] = _redirect_ws(value, websocket_url)
        else:
            redirected[key] = http_url
    exchange.urls["api"] = redirected
    return exchange


def _redirect_ws(urls: Any, websocket_url: str) -> Any:
    if isinstance(urls, dict):
        return {key: _redirect_ws(value, websocket_url) for key, value in urls.items()}
    path = str(urls).split("/", 3)[-1]  # "wss://host/v5/public/linear" -> "v5/public/linear"
    return f"{websocket_url}/{path}"
