"""The real ccxt async bybit client against the emulator."""

from __future__ import annotations

import asyncio

import ccxt.async_support as ccxt_async
import pytest

from host.emulator import EmulatorServer, point_ccxt_at

API_KEY = "emulator-key"
API_SECRET = "emulator-secret"


def test_point_ccxt_at_replaces_every_rest_url() -> None:
    exchange = point_ccxt_at(ccxt_async.bybit(), "http://127.0.0.1:1234")
    assert set(exchange.urls["api"].values()) == {"http://127.0.0.1:1234"}
    asyncio.run(exchange.close())


def test_ccxt_loads_markets_fetches_balance_places_and_cancels(emulator: EmulatorServer) -> None:
    async def scenario() -> None:
        exchange = point_ccxt_at(
            ccxt_async.bybit({"apiKey": API_KEY, "secret": API_SECRET}), emulator.urls.http
        )
        try:
            markets = await exchange.load_markets()
            assert {"BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT"} <= set(markets)
            assert markets["BTC/USDT:USDT"]["precision"]["price"] == 0.1
            balance = await exchange.fetch_balance()
            assert balance["USDT"]["total"] > 0
            book = await exchange.fetch_order_book("BTC/USDT:USDT", 5)
            price = book["bids"][0][0] - 500
            order = await exchange.create_order(
                "BTC/USDT:USDT", "limit", "buy", 0.002, price, {"orderLinkId": "ccxt-1"}
            )
            open_orders = await exchange.fetch_open_orders("BTC/USDT:USDT")
            assert order["id"] in {o["id"] for o in open_orders}
            await exchange.cancel_order(order["id"], "BTC/USDT:USDT")
            open_orders = await exchange.fetch_open_orders("BTC/USDT:USDT")
            assert order["id"] not in {o["id"] for o in open_orders}
        finally:
            await exchange.close()

    asyncio.run(scenario())


def test_ccxt_wrong_secret_raises_authentication_error(emulator: EmulatorServer) -> None:
    async def scenario() -> None:
        exchange = point_ccxt_at(
            ccxt_async.bybit(
                {
                    "apiKey": API_KEY,
                    "secret": "wrong",
                    "options": {"enableUnifiedAccount": True, "enableUnifiedMargin": False},
                }
            ),
            emulator.urls.http,
        )
        try:
            with pytest.raises(ccxt_async.AuthenticationError):
                await exchange.fetch_balance()
        finally:
            await exchange.close()

    asyncio.run(scenario())


def test_ccxt_rate_limit_is_its_rate_limit_error(emulator: EmulatorServer) -> None:
    async def scenario() -> None:
        exchange = point_ccxt_at(
            ccxt_async.bybit(
                {
                    "apiKey": API_KEY,
                    "secret": API_SECRET,
                    "options": {"enableUnifiedAccount": True, "enableUnifiedMargin": False},
                }
            ),
            emulator.urls.http,
        )
        try:
            emulator.faults.rate_limit(1)
            with pytest.raises(ccxt_async.RateLimitExceeded):
                await exchange.fetch_balance()
        finally:
            await exchange.close()

    asyncio.run(scenario())
