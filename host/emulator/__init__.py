"""Loopback Bybit V5 emulator: REST and WebSocket on 127.0.0.1, fault injection.

Serves the real pybit and ccxt clients from one ``MatchingEngine`` per
listing, fed by a recording or a synthetic random walk. See docs/emulator.md.

    from host.emulator import EmulatorServer
    with EmulatorServer() as server:
        urls = server.urls
        server.faults.skip_deltas(1)
"""

from host.emulator.clients import point_ccxt_at, point_pybit_at
from host.emulator.faults import FaultConfig, Faults
from host.emulator.server import EmulatorConfig, EmulatorServer, EmulatorUrls

__all__ = [
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorUrls",
    "FaultConfig",
    "Faults",
    "point_ccxt_at",
    "point_pybit_at",
]
