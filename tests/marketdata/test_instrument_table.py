"""The built-in instrument table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from host.instruments import MARKETS, UnknownInstrumentError, lookup


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT", "btcusdt"])
def test_every_market_has_btc_and_eth(market: str, symbol: str) -> None:
    instrument = lookup(market, symbol)
    assert instrument.venue == market and instrument.symbol == symbol.upper()
    assert instrument.tick_size > 0 and instrument.lot_size > 0 and instrument.min_qty_lots >= 1


def test_known_values() -> None:
    assert lookup("binance-usdm", "BTCUSDT").tick_size == Decimal("0.10")
    assert lookup("binance-spot", "BTCUSDT").lot_size == Decimal("0.00001")
    assert lookup("bybit-spot", "BTCUSDT").lot_size == Decimal("0.000001")
    assert lookup("bybit-linear", "ETHUSDT").lot_size == Decimal("0.01")


def test_unknown_symbol_names_close_matches() -> None:
    with pytest.raises(UnknownInstrumentError, match="did you mean BTCUSDT"):
        lookup("bybit-linear", "BTCUSD")
    with pytest.raises(UnknownInstrumentError, match="did you mean bybit-spot"):
        lookup("bybit-spt", "BTCUSDT")
