"""The interface every venue adapter offers the engine.

A venue takes order actions and answers with events: ``OrderUpdate`` and
``Fill`` go to the sink, never back as return values, because on a real venue
the answer arrives later and maybe never. ``submit`` must not block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from host.models import Fill, Instrument, OrderAction, OrderUpdate


class VenueEventSink(Protocol):
    """Where a venue delivers news about our orders (the engine)."""

    def on_order_update(self, update: OrderUpdate) -> None: ...

    def on_fill(self, fill: Fill) -> None: ...


class Venue(Protocol):
    name: str
    instruments: dict[str, Instrument]

    def submit(self, actions: Sequence[OrderAction]) -> None:
        """Send actions; answers arrive at the sink. Never raises for a venue reject."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...
