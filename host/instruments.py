"""Built-in instrument table: tick and lot by market and symbol.

A market names a venue and a product line: ``binance-usdm``,
``binance-spot``, ``bybit-linear``, ``bybit-spot``. ``Instrument.venue``
carries the market name, so books of the same symbol on Bybit spot and Bybit
linear never share a key.

Sources: Binance values are those of the bundled recordings (checked against
every price and quantity in them, see ``/work/shared/data/binance/README.md``).
LINKUSDT on ``binance-spot`` and ``huobi-spot`` comes from the two-venue
snapshot data (see the comment at its rows). Bybit values are from Bybit V5
``/v5/market/instruments-info`` at the time of writing (priceFilter.tickSize,
lotSizeFilter.qtyStep / basePrecision, minOrderQty); venues change these, so
live trading should refresh them from the venue at start-up rather than trust
this table.
"""

from __future__ import annotations

import difflib
from decimal import Decimal

from host.models import Instrument

__all__ = ["MARKETS", "UnknownInstrumentError", "lookup", "register"]


class UnknownInstrumentError(KeyError):
    """No instrument for (market, symbol); the message names close matches."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def _instrument(
    market: str, symbol: str, tick: str, lot: str, min_qty: str, base: str
) -> Instrument:
    _, _, category = market.partition("-")
    tick_size = Decimal(tick)
    lot_size = Decimal(lot)
    return Instrument(
        venue=market,
        symbol=symbol,
        tick_size=tick_size,
        lot_size=lot_size,
        base=base,
        quote="USDT",
        category=category,
        min_qty_lots=int(Decimal(min_qty) / lot_size),
    )


_TABLE: dict[tuple[str, str], Instrument] = {
    (instrument.venue, instrument.symbol): instrument
    for instrument in (
        _instrument("binance-usdm", "BTCUSDT", "0.10", "0.001", "0.001", "BTC"),
        _instrument("binance-usdm", "ETHUSDT", "0.01", "0.001", "0.001", "ETH"),
        _instrument("binance-spot", "BTCUSDT", "0.01", "0.00001", "0.00001", "BTC"),
        _instrument("binance-spot", "ETHUSDT", "0.01", "0.0001", "0.0001", "ETH"),
        _instrument("bybit-linear", "BTCUSDT", "0.10", "0.001", "0.001", "BTC"),
        _instrument("bybit-linear", "ETHUSDT", "0.01", "0.01", "0.01", "ETH"),
        _instrument("bybit-spot", "BTCUSDT", "0.01", "0.000001", "0.000048", "BTC"),
        _instrument("bybit-spot", "ETHUSDT", "0.01", "0.00001", "0.00062", "ETH"),
        # LINK/USDT of the two-venue snapshot data (/work/shared/data/two-venue):
        # grids read off the data, not the venues' filters. Binance prices and
        # sizes have at most 3 decimals. Huobi prices have 4; its sizes have 2,
        # except 1,065 float-summed values (26.88178831780013) that the reader
        # rounds half-even to the 0.01 lot and counts. Minimum size: one lot.
        _instrument("binance-spot", "LINKUSDT", "0.001", "0.001", "0.001", "LINK"),
        _instrument("huobi-spot", "LINKUSDT", "0.0001", "0.01", "0.01", "LINK"),
    )
}

MARKETS: tuple[str, ...] = ("binance-usdm", "binance-spot", "bybit-linear", "bybit-spot")


def lookup(market: str, symbol: str) -> Instrument:
    """The instrument of ``symbol`` on ``market`` (symbol case-insensitive).

    :raises UnknownInstrumentError: naming close matches, e.g. ``BTCUSD`` ->
        ``BTCUSDT``, or the known markets for an unknown market.
    """
    key = (market, symbol.upper())
    instrument = _TABLE.get(key)
    if instrument is not None:
        return instrument
    markets = sorted({known_market for known_market, _ in _TABLE})
    if market not in markets:
        close = difflib.get_close_matches(market, markets, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownInstrumentError(
            f"unknown market {market!r}{hint} Known markets: {', '.join(markets)}"
        )
    symbols = sorted(
        known_symbol for known_market, known_symbol in _TABLE if known_market == market
    )
    close = difflib.get_close_matches(symbol.upper(), symbols, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownInstrumentError(
        f"unknown symbol {symbol!r} on {market}{hint} Known symbols: {', '.join(symbols)}. "
        "Add it with host.instruments.register(...)."
    )


def register(instrument: Instrument) -> None:
    """Add or replace an instrument (keyed by its venue and symbol)."""
    _TABLE[(instrument.venue, instrument.symbol.upper())] = instrument
