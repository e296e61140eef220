"""Public market data of one listing, as Bybit publishes it.

``PublicMarket`` keeps the full book from the source (not the engine's copy,
which our own takes deplete), the recent trades and the ticker, and one
``DepthView`` per subscribed ``orderbook.{depth}`` topic.

A DepthView is exactly what every subscriber of that topic holds: the top
``depth`` levels last published. A delta is the difference between the new
top levels and the view, so a level leaving the window is deleted only if
the client has it, a level entering it is sent in full, and the same price
string is used in snapshot and delta (one formatter per listing). ``u`` counts
the topic's messages; a new subscriber gets a snapshot of the view with the
current ``u`` and every delta after it.
"""

from __future__ import annotations

import heapq
import uuid
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from host.emulator.listings import Listing
from host.models import BookMessage, Side, Trade

__all__ = ["DEPTHS", "DepthView", "PublicMarket"]

DEPTHS = {"linear": (1, 50, 200, 500, 1000), "spot": (1, 50, 200, 1000)}
_MAX_RECENT_TRADES = 1000
_TICKER_INTERVAL_MS = 100  # Bybit pushes linear tickers every 100 ms


@dataclass(slots=True)
class DepthView:
    depth: int
    update_id: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)


class PublicMarket:
    """Book, trades and ticker of one listing; orderbook views by depth."""

    def __init__(self, listing: Listing) -> None:
        self.listing = listing
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.seq = 0  # Bybit's cross sequence: one per source book message
        self.cts_ms = 0  # market time of the last book message
        self.recent_trades: deque[dict[str, Any]] = deque(maxlen=_MAX_RECENT_TRADES)
        self.last_price_ticks: int | None = None
        self.tick_direction = "ZeroPlusTick"
        self.volume_lots = 0
        self.turnover = Decimal(0)
        self.high_ticks: int | None = None
        self.low_ticks: int | None = None
        self.open_ticks: int | None = None
        self.views: dict[int, DepthView] = {}
        # Update ids survive a view's removal so ``u`` never goes backwards.
        self._last_update_ids: dict[int, int] = {}
        self._published_ticker: dict[str, Any] = {}
        self._ticker_ms = 0

    # ---------------------------------------------------------------- book

    def apply(self, message: BookMessage) -> None:
        if message.is_snapshot:
            self.bids = {p: s for p, s in message.bids if s > 0}
            self.asks = {p: s for p, s in message.asks if s > 0}
        else:
            for book, levels in ((self.bids, message.bids), (self.asks, message.asks)):
                for price_ticks, size_lots in levels:
                    if size_lots > 0:
                        book[price_ticks] = size_lots
                    else:
                        book.pop(price_ticks, None)
        self.seq += 1
        self.cts_ms = message.ts_exchange_ns // 1_000_000

    def best(self, side: Side) -> tuple[int, int] | None:
        book = self.bids if side is Side.BUY else self.asks
        if not book:
            return None
        price_ticks = max(book) if side is Side.BUY else min(book)
        return price_ticks, book[price_ticks]

    def top(self, depth: int) -> tuple[dict[int, int], dict[int, int]]:
        bids, asks = self.bids, self.asks
        top_bids = bids if len(bids) <= depth else {p: bids[p] for p in heapq.nlargest(depth, bids)}
        top_asks = (
            asks if len(asks) <= depth else {p: asks[p] for p in heapq.nsmallest(depth, asks)}
        )
        return dict(top_bids), dict(top_asks)

    def view(self, depth: int) -> DepthView:
        """The topic's view, created from the current book when first needed."""
        view = self.views.get(depth)
        if view is None:
            bids, asks = self.top(depth)
            update_id = self._last_update_ids.get(depth, 0) + 1
            self._last_update_ids[depth] = update_id
            view = self.views[depth] = DepthView(depth, update_id, bids, asks)
        return view

    def drop_view(self, depth: int) -> None:
        self.views.pop(depth, None)

    def advance(self, view: DepthView) -> tuple[list[list[str]], list[list[str]]] | None:
        """Move ``view`` to the current top; the delta's (b, a), or None if unchanged."""
        bids, asks = self.top(view.depth)
        bid_changes = _changes(view.bids, bids)
        ask_changes = _changes(view.asks, asks)
        if not bid_changes and not ask_changes:
            return None
        view.bids, view.asks = bids, asks
        view.update_id += 1
        self._last_update_ids[view.depth] = view.update_id
        price, qty = self.listing.price, self.listing.qty
        # A delete is the bare "0", as Bybit sends it, whatever the lot's decimals.
        return (
            [[price(p), qty(s) if s else "0"] for p, s in bid_changes],
            [[price(p), qty(s) if s else "0"] for p, s in ask_changes],
        )

    def snapshot_levels(self, view: DepthView) -> tuple[list[list[str]], list[list[str]]]:
        price, qty = self.listing.price, self.listing.qty
        return (
            [[price(p), qty(view.bids[p])] for p in sorted(view.bids, reverse=True)],
            [[price(p), qty(view.asks[p])] for p in sorted(view.asks)],
        )

    def orderbook_frame(
        self, view: DepthView, kind: str, b: list[list[str]], a: list[list[str]], ts_ms: int
    ) -> dict[str, Any]:
        return {
            "topic": f"orderbook.{view.depth}.{self.listing.symbol}",
            "type": kind,
            "ts": ts_ms,
            "data": {
                "s": self.listing.symbol,
                "b": b,
                "a": a,
                "u": view.update_id,
                "seq": self.seq,
            },
            "cts": self.cts_ms,
        }

    # -------------------------------------------------------------- trades

    def trade(self, trade: Trade) -> dict[str, Any]:
        """Record a public trade; its entry for publicTrade and recent-trade."""
        price_ticks = trade.price_ticks
        previous = self.last_price_ticks
        if previous is not None:
            if price_ticks > previous:
                self.tick_direction = "PlusTick"
            elif price_ticks < previous:
                self.tick_direction = "MinusTick"
            else:
                self.tick_direction = (
                    "ZeroPlusTick"
                    if self.tick_direction in ("PlusTick", "ZeroPlusTick")
                    else "ZeroMinusTick"
                )
        self.last_price_ticks = price_ticks
        if self.open_ticks is None:
            self.open_ticks = price_ticks
        self.high_ticks = max(self.high_ticks or price_ticks, price_ticks)
        self.low_ticks = min(self.low_ticks or price_ticks, price_ticks)
        self.volume_lots += trade.size_lots
        self.turnover += self.listing.instrument.notional(price_ticks, trade.size_lots)
        ts_ms = trade.ts_exchange_ns // 1_000_000
        entry = {
            "T": ts_ms,
            "s": self.listing.symbol,
            "S": trade.aggressor.venue_name,
            "v": self.listing.qty(trade.size_lots),
            "p": self.listing.price(price_ticks),
            "L": self.tick_direction,
            "i": trade.trade_id or str(uuid.uuid4()),
            "BT": False,
            "seq": self.seq,
        }
        self.recent_trades.append(entry)
        return entry

    # -------------------------------------------------------------- ticker

    def ticker(self) -> dict[str, Any]:
        """The full ticker (REST tickers and the stream's first snapshot)."""
        listing = self.listing
        price, qty = listing.price, listing.qty
        best_bid = self.best(Side.BUY)
        best_ask = self.best(Side.SELL)
        last = self.last_price_ticks or (best_bid[0] if best_bid else None)
        mid = (best_bid[0] + best_ask[0]) // 2 if best_bid and best_ask else last
        change = Decimal(0)
        if self.open_ticks and last:
            change = Decimal(last - self.open_ticks) / Decimal(self.open_ticks)
        ticker: dict[str, Any] = {
            "symbol": listing.symbol,
            "lastPrice": price(last) if last else "",
            "prevPrice24h": price(self.open_ticks) if self.open_ticks else "",
            "price24hPcnt": format(change.quantize(Decimal("0.000001")), "f"),
            "highPrice24h": price(self.high_ticks) if self.high_ticks else "",
            "lowPrice24h": price(self.low_ticks) if self.low_ticks else "",
            "turnover24h": format(self.turnover.quantize(Decimal("0.0001")), "f"),
            "volume24h": qty(self.volume_lots),
            "bid1Price": price(best_bid[0]) if best_bid else "",
            "bid1Size": qty(best_bid[1]) if best_bid else "",
            "ask1Price": price(best_ask[0]) if best_ask else "",
            "ask1Size": qty(best_ask[1]) if best_ask else "",
        }
        if listing.category == "linear":
            ticker.update(
                {
                    "tickDirection": self.tick_direction,
                    "markPrice": price(mid) if mid else "",
                    "indexPrice": price(mid) if mid else "",
                    "prevPrice1h": ticker["prevPrice24h"],
                    "openInterest": "0",
                    "openInterestValue": "0",
                    "fundingRate": "0.0001",
                    "nextFundingTime": "0",
                    "predictedDeliveryPrice": "",
                    "basisRate": "",
                    "deliveryFeeRate": "",
                    "deliveryTime": "0",
                    "basis": "",
                }
            )
        else:
            ticker["usdIndexPrice"] = price(mid) if mid else ""
        return ticker

    def ticker_update(self, now_ms: int) -> tuple[str, dict[str, Any]] | None:
        """The next tickers frame body ("snapshot" | "delta", data), throttled; None if
        nothing changed or too soon. Linear sends changed fields as a delta, spot
        always a full snapshot (as Bybit does)."""
        if now_ms - self._ticker_ms < _TICKER_INTERVAL_MS:
            return None
        ticker = self.ticker()
        previous = self._published_ticker
        changed = {key: value for key, value in ticker.items() if previous.get(key) != value}
        if not changed:
            return None
        self._ticker_ms = now_ms
        self._published_ticker = ticker
        if self.listing.category == "spot":
            return "snapshot", ticker
        changed["symbol"] = ticker["symbol"]
        return "delta", changed


def _changes(before: dict[int, int], after: dict[int, int]) -> list[tuple[int, int]]:
    changes = [(price, size) for price, size in after.items() if before.get(price) != size]
    changes.extend((price, 0) for price in before if price not in after)
    return changes
