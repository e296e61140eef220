"""Public and private sockets frame by frame (raw websocket-client, the library
under pybit), and pybit's own reconnect after a dropped socket."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import websocket

from host.emulator import EmulatorServer
from host.emulator.auth import sign

API_KEY = "emulator-key"
API_SECRET = "emulator-secret"


def connect(url: str) -> websocket.WebSocket:
    return websocket.create_connection(url, timeout=5)


def receive_until(
    socket: websocket.WebSocket, accept: Any, timeout_s: float = 5.0
) -> list[dict[str, Any]]:
    """Frames up to and including the first one ``accept`` likes (deadline-bounded)."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        socket.settimeout(max(deadline - time.monotonic(), 0.01))
        frame = json.loads(socket.recv())
        frames.append(frame)
        if accept(frame):
            return frames
    raise AssertionError(f"no accepted frame within {timeout_s} s; got {frames[-3:]}")


def test_public_ping_has_bybit_shape(emulator: EmulatorServer) -> None:
    socket = connect(emulator.urls.public_linear)
    try:
        socket.send(json.dumps({"op": "ping", "req_id": "p1"}))
        pong = json.loads(socket.recv())
        assert pong["op"] == "ping" and pong["ret_msg"] == "pong" and pong["success"] is True
        assert pong["req_id"] == "p1" and pong["conn_id"]
    finally:
        socket.close()


def test_private_auth_and_ping(emulator: EmulatorServer) -> None:
    socket = connect(emulator.urls.private)
    try:
        expires = int(time.time() * 1000) + 5000
        socket.send(
            json.dumps(
                {
                    "op": "auth",
                    "args": [API_KEY, expires, sign(API_SECRET, f"GET/realtime{expires}")],
                }
            )
        )
        assert json.loads(socket.recv())["success"] is True
        socket.send(json.dumps({"op": "ping", "req_id": "p2"}))
        pong = json.loads(socket.recv())
        assert pong["op"] == "pong" and pong["req_id"] == "p2" and pong["args"][0].isdigit()
        socket.send(
            json.dumps(
                {"op": "auth", "args": [API_KEY, expires, sign("wrong", f"GET/realtime{expires}")]}
            )
        )
        assert json.loads(socket.recv())["success"] is False
    finally:
        socket.close()


def test_private_subscribe_needs_auth(emulator: EmulatorServer) -> None:
    socket = connect(emulator.urls.private)
    try:
        socket.send(json.dumps({"op": "subscribe", "req_id": "s1", "args": ["order"]}))
        reply = json.loads(socket.recv())
        assert reply["success"] is False and reply["req_id"] == "s1"
    finally:
        socket.close()


def test_orderbook_stream_contract(emulator: EmulatorServer) -> None:
    """Snapshot first, u consecutive, deletes only of levels held, strings stable."""
    socket = connect(emulator.urls.public_linear)
    try:
        socket.send(
            json.dumps(
                {
                    "op": "subscribe",
                    "req_id": "b1",
                    "args": ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"],
                }
            )
        )
        frames = receive_until(
            socket, lambda f: f.get("topic") == "orderbook.50.BTCUSDT" and f["type"] == "snapshot"
        )
        assert frames[0]["op"] == "subscribe" and frames[0]["success"] is True
        assert not any(f.get("topic", "").startswith("orderbook") for f in frames[1:-1])
        snapshot = frames[-1]["data"]
        bids = {price: size for price, size in snapshot["b"]}
        asks = {price: size for price, size in snapshot["a"]}
        assert len(bids) == 50 and len(asks) == 50
        last_u = snapshot["u"]
        deltas = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            frame = json.loads(socket.recv())
            topic = frame.get("topic")
            assert topic in ("orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"), topic
            if topic != "orderbook.50.BTCUSDT":
                continue
            assert frame["type"] == "delta"
            data = frame["data"]
            assert data["u"] == last_u + 1
            last_u = data["u"]
            deltas += 1
            for side, levels in ((bids, data["b"]), (asks, data["a"])):
                for price, size in levels:
                    assert "." in price and price.split(".")[1].__len__() == 2
                    if size == "0":
                        assert price in side, f"delete of a level the client lacks: {price}"
                        del side[price]
                    else:
                        side[price] = size
            assert len(bids) <= 50 and len(asks) <= 50
            assert max(map(float, bids)) < min(map(float, asks))
        assert deltas > 10
    finally:
        socket.close()


def test_gap_injection_makes_u_jump(emulator: EmulatorServer) -> None:
    socket = connect(emulator.urls.public_linear)
    try:
        socket.send(json.dumps({"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]}))
        frames = receive_until(socket, lambda f: f.get("type") == "snapshot")
        assert frames[-1]["type"] == "snapshot"
        last_u = receive_until(socket, lambda f: f.get("type") == "delta")[-1]["data"]["u"]
        emulator.faults.skip_deltas(1, symbol="BTCUSDT")
        deadline = time.monotonic() + 5
        jumped = False
        while not jumped and time.monotonic() < deadline:
            u = json.loads(socket.recv())["data"]["u"]
            jumped = u > last_u + 1
            last_u = u
        assert jumped, "expected a delta whose u skips one"
    finally:
        socket.close()


def test_stale_feed_stops_frames_then_resumes(emulator: EmulatorServer) -> None:
    socket = connect(emulator.urls.public_linear)
    try:
        socket.send(json.dumps({"op": "subscribe", "args": ["orderbook.1.ETHUSDT"]}))
        receive_until(socket, lambda f: f.get("type") == "snapshot")
        emulator.faults.stale("ETHUSDT")
        # Drain what was queued before the switch, then expect silence.
        socket.settimeout(0.2)
        with pytest.raises(websocket.WebSocketTimeoutException):
            for _ in range(1000):
                socket.recv()
        emulator.faults.stale("ETHUSDT", enabled=False)
        receive_until(socket, lambda f: f.get("type") == "delta", timeout_s=3)
    finally:
        socket.close()


def test_unknown_topic_is_refused_and_nothing_is_sent(emulator: EmulatorServer) -> None:
    socket = connect(emulator.urls.public_spot)
    try:
        socket.send(json.dumps({"op": "subscribe", "req_id": "x", "args": ["orderbook.7.BTCUSDT"]}))
        reply = json.loads(socket.recv())
        assert reply["success"] is False and reply["req_id"] == "x"
        socket.settimeout(0.3)
        with pytest.raises(websocket.WebSocketTimeoutException):
            socket.recv()
    finally:
        socket.close()


def test_dropped_public_socket_pybit_reconnects_and_gets_a_new_snapshot(
    emulator: EmulatorServer, eventually: Any
) -> None:
    from pybit.unified_trading import WebSocket

    lock = threading.Lock()
    snapshots: list[int] = []

    def on_book(message: dict[str, Any]) -> None:
        # pybit labels every orderbook message "snapshot"; the raw u tells them apart.
        with lock:
            snapshots.append(message["data"]["u"])

    stream = WebSocket(channel_type="linear", testnet=False, retries=5)
    try:
        stream.orderbook_stream(50, "BTCUSDT", on_book)
        eventually(lambda: snapshots, what="first book message")
        assert emulator.call(lambda hub: hub.streams.drop("public")) >= 1
        # After the reconnect pybit resubscribes and the emulator sends a fresh
        # snapshot; the connection count going back up proves the reconnect.
        eventually(
            lambda: emulator.call(
                lambda hub: any(
                    c.kind == "public" and "orderbook.50.BTCUSDT" in c.active
                    for c in hub.streams.connections
                )
            ),
            timeout_s=10,
            what="pybit reconnect",
        )
        count = len(snapshots)
        eventually(lambda: len(snapshots) > count, what="messages after reconnect")
    finally:
        stream.exit()
