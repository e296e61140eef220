"""The bundled recording replayed through the emulator: a resting order fills
when the replayed market trades through it, and the fill arrives on pybit's
private stream."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from host.emulator import EmulatorConfig, EmulatorServer, point_pybit_at
from host.emulator.commands import BUNDLED_DATA

API_KEY = "emulator-key"
API_SECRET = "emulator-secret"


@pytest.mark.slow
def test_replayed_market_fills_a_resting_order(eventually: Any) -> None:
    from pybit.unified_trading import HTTP, WebSocket

    server = EmulatorServer(EmulatorConfig(data=BUNDLED_DATA, speed=20.0))
    urls = server.start()
    restore = point_pybit_at(urls.http)
    private = None
    try:
        http = HTTP(api_key=API_KEY, api_secret=API_SECRET, retry_codes={-1}, max_retries=1)
        lock = threading.Lock()
        executions: list[dict[str, Any]] = []

        def on_execution(message: dict[str, Any]) -> None:
            with lock:
                executions.extend(message["data"])

        private = WebSocket(
            channel_type="private", api_key=API_KEY, api_secret=API_SECRET, testnet=False
        )
        private.execution_stream(on_execution)
        book = eventually(
            lambda: http.get_orderbook(category="linear", symbol="BTCUSDT", limit=1)["result"]["b"],
            what="the recording's first book",
            interval_s=0.1,
        )
        bid = Decimal(book[0][0])
        # Real 2024-07-18 prices, not the synthetic 64 000.
        assert Decimal(50_000) < bid < Decimal(80_000)
        placed_at = []
        for offset in (0, 1, 2):
            link_id = f"rec-{offset}"
            http.place_order(
                category="linear",
                symbol="BTCUSDT",
                side="Buy",
                orderType="Limit",
                qty="0.001",
                price=str(bid - offset),
                orderLinkId=link_id,
                timeInForce="PostOnly",
            )
            placed_at.append(link_id)
        filled = eventually(
            lambda: [e for e in executions if e["orderLinkId"] in placed_at],
            timeout_s=40,
            what="a maker fill from the replayed market",
        )
        assert filled[0]["isMaker"] is True
        assert Decimal(filled[0]["execFee"]) > 0
    finally:
        if private is not None:
            private.exit()
        restore()
        server.stop()
