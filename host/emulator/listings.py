"""What the emulator lists: Bybit instruments, their number formats and their
``instruments-info`` entries.

Tick, lot and minimum quantity come from ``host.instruments`` (Bybit's values).
Bybit's minimum order values (5 USDT notional on linear, 1 USDT on spot) are
not in that table, so they are added here.

Number formats follow Bybit: linear prints a fixed number of decimals (the
tick's and the lot's: ``"64000.10"``, ``"0.500"``); spot drops trailing zeros
(``"64000.1"``). Either way one function formats a listing's numbers, so a
level's string is identical in a snapshot and in every delta.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from host.instruments import lookup
from host.models import Instrument

__all__ = ["DEFAULT_SYMBOLS", "Listing", "build_listings"]

# (category, symbol) listed by default.
DEFAULT_SYMBOLS: tuple[tuple[str, str], ...] = (
    ("linear", "BTCUSDT"),
    ("linear", "ETHUSDT"),
    ("spot", "BTCUSDT"),
)

_MIN_NOTIONAL_QUOTE = {"linear": Decimal(5), "spot": Decimal(1)}
# Synthetic markets start near these prices (quote currency).
START_PRICES = {"BTCUSDT": Decimal("64000"), "ETHUSDT": Decimal("3400")}
_LAUNCH_TIME_MS = "1584230400000"


@dataclass(frozen=True, slots=True)
class Listing:
    """One emulated Bybit instrument: category + symbol + grid + formats."""

    category: str  # "linear" | "spot"
    instrument: Instrument

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def key(self) -> tuple[str, str]:
        return (self.category, self.instrument.symbol)

    def price(self, price_ticks: int) -> str:
        value = self.instrument.tick_size * price_ticks
        return format(value if self.category == "linear" else value.normalize(), "f")

    def qty(self, size_lots: int) -> str:
        value = self.instrument.lot_size * size_lots
        return format(value if self.category == "linear" else value.normalize(), "f")

    def money(self, value: Decimal) -> str:
        """A quote-currency amount: 8 decimals, plain notation."""
        return format(value.quantize(Decimal("0.00000001")), "f")

    def info(self) -> dict[str, Any]:
        """This listing's entry in ``/v5/market/instruments-info``."""
        instrument = self.instrument
        tick = format(instrument.tick_size, "f")
        lot = format(instrument.lot_size, "f")
        min_qty = self.qty(instrument.min_qty_lots)
        if self.category == "spot":
            return {
                "symbol": instrument.symbol,
                "baseCoin": instrument.base,
                "quoteCoin": instrument.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": lot,
                    "quotePrecision": "0.00000001",
                    "minOrderQty": min_qty,
                    "maxOrderQty": "1000",
                    "minOrderAmt": format(instrument.min_notional, "f"),
                    "maxOrderAmt": "2000000",
                },
                "priceFilter": {"tickSize": tick},
                "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
            }
        price_scale = max(0, -int(instrument.tick_size.as_tuple().exponent))
        return {
            "symbol": instrument.symbol,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": instrument.base,
            "quoteCoin": instrument.quote,
            "launchTime": _LAUNCH_TIME_MS,
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(price_scale),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": tick, "maxPrice": "1999999.80", "tickSize": tick},
            "lotSizeFilter": {
                "maxOrderQty": "1000",
                "minOrderQty": min_qty,
                "qtyStep": lot,
                "postOnlyMaxOrderQty": "1000",
                "maxMktOrderQty": "100",
                "minNotionalValue": format(instrument.min_notional, "f"),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": instrument.quote,
            "copyTrading": "both",
            "upperFundingRate": "0.00375",
            "lowerFundingRate": "-0.00375",
            "isPreListing": False,
            "preListingInfo": None,
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            "displayName": "",
        }


def build_listings(
    symbols: tuple[tuple[str, str], ...] = DEFAULT_SYMBOLS,
) -> dict[tuple[str, str], Listing]:
    """Listings by (category, symbol), from ``host.instruments``' Bybit markets."""
    listings: dict[tuple[str, str], Listing] = {}
    for category, symbol in symbols:
        instrument = lookup(f"bybit-{category}", symbol)
        instrument = dataclasses.replace(instrument, min_notional=_MIN_NOTIONAL_QUOTE[category])
        listings[(category, symbol)] = Listing(category, instrument)
    return listings
