"""Own recording format, the recorder against a local websocket, replay and
the replay/record commands."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

from host.marketdata.commands import mmhost_register_commands
from host.marketdata.common import MarketDataError
from host.marketdata.recording import (
    RecordingWriter,
    read_recording,
    record,
    recording_header,
)
from host.marketdata.replay import detect, replay_stats
from host.models import BookMessage, Trade

REPO = Path(__file__).resolve().parents[2]
USDM = sorted((REPO / "host" / "data" / "binance_usdm").glob("btcusdt_*.gz"))


def _book(kind: str, update_id: int, bids: list, asks: list) -> str:
    return json.dumps(
        {
            "topic": "orderbook.50.BTCUSDT",
            "type": kind,
            "ts": 1_700_000_000_000 + update_id,
            "data": {"s": "BTCUSDT", "b": bids, "a": asks, "u": update_id, "seq": update_id},
        }
    )


TRADE = json.dumps(
    {
        "topic": "publicTrade.BTCUSDT",
        "type": "snapshot",
        "ts": 1_700_000_000_100,
        "data": [{"T": 1_700_000_000_099, "s": "BTCUSDT", "S": "Sell", "v": "0.002", "p": "100.1"}],
    }
)


class FakeBybit:
    """A Bybit-V5-style public websocket on 127.0.0.1, in its own thread.

    The first connection sends a snapshot and one delta, then drops; later
    connections send a fresh snapshot (new update ids, as after a restart),
    a delta and a trade, then stay open.
    """

    def __init__(self) -> None:
        self.connections = 0
        self.subscriptions: list[list[str]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.connections += 1
        first = self.connections == 1
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                break
            request_body = json.loads(message.data)
            if request_body.get("op") != "subscribe":
                continue
            self.subscriptions.append(request_body["args"])
            await socket.send_str('{"success":true,"ret_msg":"","op":"subscribe","conn_id":"c"}')
            if first:
                await socket.send_str(_book("snapshot", 1, [["100.0", "1"]], [["100.2", "1"]]))
                await socket.send_str(_book("delta", 2, [["100.1", "2"]], []))
                await socket.close()
            else:
                await socket.send_str(_book("snapshot", 50, [["100.0", "3"]], [["100.3", "1"]]))
                await socket.send_str(_book("delta", 51, [], [["100.3", "0"], ["100.4", "4"]]))
                await socket.send_str(TRADE)
        return socket

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/v5/public/linear", self._socket)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v5/public/linear"

    def start(self) -> FakeBybit:
        self._thread.start()
        assert self._ready.wait(timeout=10), "websocket test server did not start"
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@pytest.fixture
def fake_bybit() -> Iterator[FakeBybit]:
    server = FakeBybit().start()
    yield server
    server.stop()


def test_recorder_writes_frames_and_survives_a_dropped_socket(
    fake_bybit: FakeBybit, tmp_path: Path
) -> None:
    out = tmp_path / "rec.gz"
    stats = asyncio.run(
        record(
            url=fake_bybit.url,
            venue="bybit-linear",
            symbols=["BTCUSDT"],
            out=out,
            duration_s=20,  # a bound, not a wait: max_frames ends it
            max_frames=7,  # 3 frames on the first socket, 4 on the second
            reconnect_delay_s=0.01,
        )
    )
    assert stats.frames == 7 and stats.connects == 2
    assert fake_bybit.subscriptions[0] == ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"]
    header = recording_header(out)
    assert header is not None and header["venue"] == "bybit-linear"
    events = list(read_recording([out]))
    assert sum(isinstance(event, BookMessage) for event in events) == 4
    assert sum(isinstance(event, Trade) for event in events) == 1
    result = replay_stats([out])
    assert (result.messages, result.trades, result.gaps, result.crossed) == (4, 1, 0, 0)
    assert result.resyncs == 1
    book = result.books["bybit-linear:BTCUSDT"]
    assert (book["best_bid_price"], book["best_ask_price"]) == ("100", "100.4")


def test_record_command_json(fake_bybit: FakeBybit, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    parser = _parser()
    out = tmp_path / "cli.gz"
    args = parser.parse_args(
        ["record", "--venue", "bybit-linear", "--symbols", "btcusdt", "--out", str(out),
         "--duration", "0.3", "--url", fake_bybit.url, "--json"]
    )  # fmt: skip
    assert args.handler(args) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["frames"] >= 3 and out.is_file()


def test_writer_reader_round_trip_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "own.gz"
    with RecordingWriter(path, {"venue": "bybit-linear"}) as writer:
        writer.write(10, "bybit-linear", _book("snapshot", 1, [["100", "1"]], [["101", "1"]]))
        writer.write(
            11, "bybit-linear", _book("delta", 2, [["100", "2"]], []).replace(",", ",\n", 1)
        )
        writer.write(12, "bybit-linear", "{broken")
        writer.write(13, "bybit-linear", '{"topic":"kline.1.BTCUSDT","data":[]}')
        writer.write(9, "bybit-linear", _book("delta", 3, [], []))  # time goes back
        writer.write(14, "elsewhere", "{}")
        writer.write(15, "bybit-linear", TRADE)
    assert detect(path).format == "mmhost"
    with pytest.raises(MarketDataError, match=r"own\.gz:4"):
        list(read_recording([path]))
    result = replay_stats([path], on_bad_line="skip")
    assert (result.messages, result.trades, result.bad_lines) == (2, 1, 2)
    assert result.out_of_order == 1 and result.unknown == 2
    assert result.first_ts_local_ns == 10 and result.last_ts_local_ns == 15


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmhost")
    mmhost_register_commands(parser.add_subparsers(dest="command"))
    return parser


def test_replay_command_json_on_the_bundled_sample(capsys) -> None:  # type: ignore[no-untyped-def]
    args = _parser().parse_args(["replay", "--data", *map(str, USDM), "--json"])
    assert args.handler(args) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["gaps"] == document["crossed"] == document["bad_lines"] == 0
    assert document["messages"] == 9018 and document["trades"] == 10701
    book = document["books"]["binance-usdm:BTCUSDT"]
    assert book["valid"] and book["best_bid_ticks"] < book["best_ask_ticks"]


def test_replay_command_usage_errors(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    parser = _parser()
    args = parser.parse_args(["replay", "--data", str(tmp_path / "missing.gz")])
    assert args.handler(args) == 2
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wt") as stream:
        stream.write('1000000000000000000 {"lastUpdateId":1,"bids":[],"asks":[]}\n')
        stream.write("1000000000000000001 {nope\n")
    args = parser.parse_args(["replay", "--data", str(bad), "--symbol", "BTCUSDT"])
    assert args.handler(args) == 2
    assert "bad.gz:2" in capsys.readouterr().err
    args = parser.parse_args(
        ["replay", "--data", str(bad), "--symbol", "BTCUSDT", "--on-bad-line", "skip"]
    )
    assert args.handler(args) == 0
    args = parser.parse_args(["replay", "--data", str(bad), "--symbol", "DOGEUSDT"])
    assert args.handler(args) == 2
    assert "Known symbols" in capsys.readouterr().err


def test_commands_have_help() -> None:
    parser = _parser()
    for name in ("replay", "record"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0
