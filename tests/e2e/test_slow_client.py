"""A client that stops reading, against a real gateway process fed by a fast load venue.

Its socket's buffers fill up, the gateway stops writing to it and keeps only the newest tick per
symbol, the client on the next socket keeps getting fresh ticks, and after
`QUANT_WS_MAX_LAG_S` the slow one is closed with 4429.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import httpx
import msgspec
import pytest

from shared.store import Role
from tests.bench.ws_load import LeanClient, open_lean
from tests.bench.ws_server import EXCHANGE, symbol_names
from tests.support.gateway import add_user, embedded_settings
from tests.support.load_gateway import LoadGateway

SYMBOLS = 400
RATE = 8_000  # ticks/s: 2 MB/s of JSON towards each client of all symbols
MAX_LAG_S = 5.0
PASSWORD = "slow-client-password"


class _Tick(msgspec.Struct):
    symbol: str
    ts: datetime
    volume: int  # the load venue's running tick number


class _Frame(msgspec.Struct):
    type: str
    channel: str | None = None
    seq: int = 0
    data: list[_Tick] = []


_decode = msgspec.json.Decoder(_Frame).decode


class _Reader:
    def __init__(self) -> None:
        self.frames: list[_Frame] = []
        self.arrived: list[float] = []
        self.subscribed = asyncio.Event()

    def __call__(self, payload: bytes) -> None:
        frame = _decode(payload)
        if frame.type == "snapshot":
            self.subscribed.set()
        if frame.type == "update" and frame.channel == "ticks":
            self.frames.append(frame)
            self.arrived.append(time.time())


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[LoadGateway]:
    await add_user(embedded_settings(tmp_path), "slowpoke", PASSWORD, Role.VIEWER)
    running = await asyncio.to_thread(
        LoadGateway,
        tmp_path,
        username="slowpoke",
        password=PASSWORD,
        symbols=SYMBOLS,
        rate=RATE,
        QUANT_WS_MAX_LAG_S=str(MAX_LAG_S),
    )
    yield running
    await asyncio.to_thread(running.stop)


async def _subscribed(gateway: LoadGateway, reader: _Reader, **options: int) -> LeanClient:
    client = await open_lean(gateway.port, f"/ws?token={gateway.token}", reader, **options)
    keys = [f"{EXCHANGE}.{name}" for name in symbol_names(SYMBOLS)]
    client.send_text(
        msgspec.json.encode({"type": "subscribe", "channel": "ticks", "symbols": keys}).decode()
    )
    await asyncio.wait_for(reader.subscribed.wait(), 10)
    return client


async def _until(check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def _volume_steps(frames: list[_Frame]) -> set[int]:
    """How far apart a symbol's consecutive ticks are, in ticks of the whole venue."""
    last: dict[str, int] = {}
    steps: set[int] = set()
    for frame in frames:
        for tick in frame.data:
            if tick.symbol in last:
                steps.add(tick.volume - last[tick.symbol])
            last[tick.symbol] = tick.volume
    return steps


def _websocket_state(gateway: LoadGateway) -> str:
    detail: str = httpx.get(f"{gateway.url}/ready").json()["components"]["websocket"]["detail"]
    return detail


async def test_a_client_that_stops_reading_is_conflated_then_closed_and_holds_up_nobody(
    gateway: LoadGateway,
) -> None:
    quick_reader, slow_reader = _Reader(), _Reader()
    quick = await _subscribed(gateway, quick_reader)
    slow = await _subscribed(gateway, slow_reader, receive_buffer=4096)
    assert _websocket_state(gateway).startswith("2 clients, 0 behind")

    # Stuck for a moment: the gateway notices, keeps the newest tick per symbol meanwhile,
    # and sends those once the client reads again.
    slow.pause_reading()
    await _until(lambda: "1 behind" in _websocket_state(gateway), timeout_s=15)
    await asyncio.sleep(0.5)
    slow.resume_reading()
    await _until(lambda: "0 behind" in _websocket_state(gateway), timeout_s=MAX_LAG_S)
    backlog = len(slow_reader.frames)
    await _until(lambda: len(slow_reader.frames) > backlog + 10, timeout_s=5)
    for frame in slow_reader.frames:
        assert len({tick.symbol for tick in frame.data}) == len(frame.data)
    assert max(_volume_steps(slow_reader.frames)) > SYMBOLS  # ticks replaced, not queued
    seqs = [frame.seq for frame in slow_reader.frames]
    assert seqs == sorted(seqs)
    assert not slow.closed.done()

    # Stuck for longer than QUANT_WS_MAX_LAG_S: closed with 4429, and nobody else noticed.
    slow.pause_reading()
    paused_at = time.time()
    await _until(lambda: "1 closed as too slow" in _websocket_state(gateway), timeout_s=30)
    dropped_at = time.time()
    slow.resume_reading()  # read the backlog, then the close frame
    code = await asyncio.wait_for(slow.closed, 15)
    assert code == 4429
    during = [
        (arrived, frame)
        for arrived, frame in zip(quick_reader.arrived, quick_reader.frames, strict=True)
        if paused_at <= arrived <= dropped_at
    ]
    assert during, "the quick client got nothing while the slow one was stuck"
    ages = sorted(arrived - tick.ts.timestamp() for arrived, f in during for tick in f.data)
    assert ages[int(len(ages) * 0.99)] < 0.5
    assert not quick.closed.done()
    quick.close()
