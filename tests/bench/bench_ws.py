"""The WebSocket hub under load: a real gateway process and thousands of real connections.

Three figures, each against what the issue names:
- fan-out: 1,000 clients each subscribed to 50 of 500 symbols while the venue emits 10,000
  ticks/s; venue-to-client latency p50/p99 (target p99 < 50 ms) and the slowest client's p99;
- efficiency: ticks delivered per CPU-second of the gateway, against the naive loop (one `send`
  per tick per client) serving the same clients from the same bus in the same process;
- idle: 10,000 connections held by one gateway process, its RSS (target < 500 MB).

The load generator (this process) and the gateway share the machine's two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import uvloop

from shared.store import Role
from tests.bench._table import Row
from tests.bench.ws_load import LeanClient, open_lean
from tests.bench.ws_server import EXCHANGE, symbol_names
from tests.support.gateway import add_user, embedded_settings
from tests.support.load_gateway import LoadGateway

SYMBOLS = 500
RATE = 10_000
FANOUT_CLIENTS = 1_000
PER_CLIENT = 50
IDLE_CLIENTS = 10_000
WARM_UP_S = 3.0
MEASURE_S = 10.0
SAMPLE_EVERY = 16  # frames decoded in full for latency; the others are only counted
PASSWORD = "bench-password"
LATENCY_TARGET_MS = 50.0
RSS_TARGET_MB = 500.0
_T = TypeVar("_T")


class _TickTime(msgspec.Struct):
    ts: datetime


class _Frame(msgspec.Struct):
    type: str
    data: list[_TickTime] = []


_decode_frame = msgspec.json.Decoder(_Frame).decode
_decode_tick = msgspec.json.Decoder(_TickTime).decode


@dataclass
class _Stats:
    frames: int = 0
    ticks: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)


def _hub_reader(stats: _Stats) -> Callable[[bytes], None]:
    def on_frame(payload: bytes) -> None:
        stats.frames += 1
        if payload.startswith(b'{"type":"update","channel":"ticks"'):
            stats.ticks += payload.count(b'"ts":')
            if stats.frames % SAMPLE_EVERY == 0:
                now = time.time()
                stats.latencies_ms += [
                    (now - tick.ts.timestamp()) * 1000 for tick in _decode_frame(payload).data
                ]
        elif payload.startswith(b'{"type":"snapshot"'):
            stats.subscribed.set()

    return on_frame


def _naive_reader(stats: _Stats) -> Callable[[bytes], None]:
    def on_frame(payload: bytes) -> None:
        stats.frames += 1
        stats.ticks += 1
        if stats.frames % (SAMPLE_EVERY * 20) == 0:
            stats.latencies_ms.append((time.time() - _decode_tick(payload).ts.timestamp()) * 1000)

    return on_frame


def _gateway(var_dir: Path, **settings: str) -> LoadGateway:
    return LoadGateway(
        var_dir,
        username="bench",
        password=PASSWORD,
        symbols=SYMBOLS,
        rate=RATE,
        naive_clients=FANOUT_CLIENTS,
        **settings,
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _subscriptions(rng: random.Random) -> list[str]:
    names = symbol_names(SYMBOLS)
    return [f"{EXCHANGE}.{name}" for name in rng.sample(names, PER_CLIENT)]


async def _connect_all(
    count: int, connect: Callable[[int], object], batch: int = 200
) -> list[LeanClient]:
    clients: list[LeanClient] = []
    for first in range(0, count, batch):
        opened = await asyncio.gather(
            *(connect(i) for i in range(first, min(count, first + batch)))
        )  # type: ignore[arg-type]
        clients += opened
    return clients


@dataclass
class _Run:
    ticks: int
    cpu_s: float
    latencies_ms: list[float]
    per_client_p99_ms: list[float]
    disconnected: int
    load_cpu_s: float  # the load generator's own, to tell whether it kept up


async def _measure(gateway: LoadGateway, clients: list[LeanClient], stats: list[_Stats]) -> _Run:
    await asyncio.sleep(WARM_UP_S)
    for item in stats:
        item.ticks = 0
        item.latencies_ms.clear()
    cpu_before, load_before = gateway.cpu_seconds(), time.process_time()
    await asyncio.sleep(MEASURE_S)
    cpu = gateway.cpu_seconds() - cpu_before
    load_cpu = time.process_time() - load_before
    run = _Run(
        ticks=sum(item.ticks for item in stats),
        cpu_s=cpu,
        latencies_ms=[ms for item in stats for ms in item.latencies_ms],
        per_client_p99_ms=[_percentile(item.latencies_ms, 0.99) for item in stats],
        disconnected=sum(client.closed.done() for client in clients),
        load_cpu_s=load_cpu,
    )
    for client in clients:
        client.close()
    await asyncio.sleep(1.0)
    return run


async def _hub_fanout(gateway: LoadGateway) -> _Run:
    rng = random.Random(7)
    stats = [_Stats() for _ in range(FANOUT_CLIENTS)]

    async def connect(i: int) -> LeanClient:
        client = await open_lean(gateway.port, f"/ws?token={gateway.token}", _hub_reader(stats[i]))
        symbols = _subscriptions(rng)
        client.send_text(
            msgspec.json.encode(
                {"type": "subscribe", "channel": "ticks", "symbols": symbols}
            ).decode()
        )
        return client

    clients = await _connect_all(FANOUT_CLIENTS, connect)
    await asyncio.wait_for(asyncio.gather(*(s.subscribed.wait() for s in stats)), 60)
    return await _measure(gateway, clients, stats)


async def _naive_fanout(gateway: LoadGateway) -> _Run:
    rng = random.Random(7)
    stats = [_Stats() for _ in range(FANOUT_CLIENTS)]
    headers = {"Authorization": f"Bearer {gateway.token}"}

    async def connect(i: int) -> LeanClient:
        client = await open_lean(gateway.port, "/naive-ws", _naive_reader(stats[i]), headers)
        client.send_text(msgspec.json.encode({"symbols": _subscriptions(rng)}).decode())
        return client

    clients = await _connect_all(FANOUT_CLIENTS, connect)
    return await _measure(gateway, clients, stats)


async def _idle(gateway: LoadGateway) -> tuple[float, float, int]:
    """RSS before and with IDLE_CLIENTS authenticated connections, and how many got in."""
    before = gateway.rss_mb()
    welcomed = 0
    all_welcomed = asyncio.Event()

    def reader(payload: bytes) -> None:
        nonlocal welcomed
        if payload.startswith(b'{"type":"welcome"'):
            welcomed += 1
            if welcomed == IDLE_CLIENTS:
                all_welcomed.set()

    async def connect(_: int) -> LeanClient:
        return await open_lean(gateway.port, f"/ws?token={gateway.token}", reader)

    clients = await _connect_all(IDLE_CLIENTS, connect)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_welcomed.wait(), 60)
    await asyncio.sleep(2.0)
    held = sum(not client.closed.done() for client in clients)
    after = gateway.rss_mb()
    for client in clients:
        client.close()
    return before, after, held


def _load(main: Coroutine[Any, Any, _T]) -> _T:
    """Run the load generator on uvloop (installed with uvicorn's extras): the client side
    must not be what limits the figures."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp:
        var_dir = Path(tmp)
        asyncio.run(add_user(embedded_settings(var_dir), "bench", PASSWORD, Role.VIEWER))
        gateway = _gateway(var_dir)
        try:
            ours = _load(_hub_fanout(gateway))
            naive = _load(_naive_fanout(gateway))
        finally:
            gateway.stop()
        gateway = _gateway(var_dir)
        try:
            rss_before, rss_after, held = _load(_idle(gateway))
        finally:
            gateway.stop()
    sys.stderr.write(
        f"bench_ws: hub {ours.ticks:,} ticks in {MEASURE_S:g} s on {ours.cpu_s:.2f} CPU-s, "
        f"{ours.disconnected} clients disconnected (load generator {ours.load_cpu_s:.2f} CPU-s); "
        f"naive {naive.ticks:,} ticks on {naive.cpu_s:.2f} CPU-s; "
        f"idle RSS {rss_before:.0f} -> {rss_after:.0f} MB with {held:,} connections held\n"
    )
    worst = max(ours.per_client_p99_ms)
    label = f"{FANOUT_CLIENTS:,} clients x {PER_CLIENT} of {SYMBOLS} symbols, {RATE:,} ticks/s"
    return [
        Row(
            f"ws fan-out p50 latency ({label})",
            _percentile(ours.latencies_ms, 0.5),
            "target",
            LATENCY_TARGET_MS,
            "ms",
            higher_is_better=False,
        ),
        Row(
            f"ws fan-out p99 latency ({label})",
            _percentile(ours.latencies_ms, 0.99),
            "target",
            LATENCY_TARGET_MS,
            "ms",
            higher_is_better=False,
        ),
        Row(
            f"ws fan-out slowest client's p99 ({ours.disconnected} disconnected)",
            worst,
            "target",
            LATENCY_TARGET_MS,
            "ms",
            higher_is_better=False,
        ),
        Row(
            "ws delivered ticks per gateway CPU-second",
            ours.ticks / ours.cpu_s,
            "naive send per tick per client",
            naive.ticks / naive.cpu_s,
            "ticks/CPU-s",
            higher_is_better=True,
        ),
        Row(
            f"ws gateway RSS with {held:,} idle connections",
            rss_after,
            "target",
            RSS_TARGET_MB,
            "MB",
            higher_is_better=False,
        ),
    ]
