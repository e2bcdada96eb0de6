"""The hub's routing and back-pressure, with clients whose sockets are in-process fakes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest
import talib

from gateway.auth.identity import AuthUser
from gateway.ws.client import Client
from gateway.ws.hub import Hub, HubSettings
from gateway.ws.owners import AccountOwners
from gateway.ws.protocol import Channel, CloseCode
from gateway.ws.wire import AsgiWire
from shared.bus import MemoryBus
from shared.domain import BacktestProgressEvent, Bar, BarEvent, Exchange, Interval, Tick, TickEvent
from shared.indicators import LiveIndicatorSet, LiveIndicatorSpec
from shared.store import Role
from tests.support.market_data import real_bars
from tests.support.samples import SAMPLE_EVENTS
from tests.support.waiting import wait_until

T0 = datetime(2021, 1, 4, 2, 0, tzinfo=UTC)


class Owners(AccountOwners):
    """Account acc-7 belongs to user 1; no database needed for routing tests."""

    def __init__(self) -> None:
        pass

    async def owner_of(self, account_id: str) -> int | None:
        return 1 if account_id == "acc-7" else None


class Socket:
    """Records frames; ``gate`` cleared makes every send hang, as a client not reading would."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.closed: tuple[int, str] | None = None

    async def send(self, frame: bytes, binary: bool) -> None:
        assert not binary
        await self.gate.wait()
        self.frames.append(json.loads(frame))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def updates(self, channel: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "update" and f["channel"] == channel]


def _client(user_id: int, socket: Socket, **knobs: Any) -> Client:
    user = AuthUser(id=user_id, username=f"u{user_id}", role=Role.VIEWER)
    return Client(user, "json", AsgiWire(socket.send), socket.close, **knobs)


def _tick(symbol: str, i: int) -> TickEvent:
    return TickEvent(
        tick=Tick(
            symbol=symbol,
            exchange=Exchange.CFFEX,
            ts=T0 + timedelta(seconds=i),
            trading_day=date(2021, 1, 4),
            last_price=5000.0 + i,
            volume=i,
            turnover=0.0,
            open_interest=1.0,
        )
    )


@pytest.fixture
async def hub() -> Any:
    running = Hub(
        MemoryBus(), Owners(), HubSettings(max_lag_s=0.3, heartbeat_s=30.0, flush_interval_s=0)
    )
    yield running
    await running.stop()


async def test_ticks_reach_only_that_symbols_subscribers(hub: Hub) -> None:
    a, b = Socket(), Socket()
    ca, cb = _client(1, a), _client(2, b)
    for client in (ca, cb):
        hub.register(client)
    hub.subscribe_ticks(ca, ["CFFEX.IF2101"])
    hub.subscribe_ticks(cb, ["CFFEX.IC2101"])
    await hub.deliver(_tick("IF2101", 1))
    await hub.deliver(_tick("IC2101", 2))
    await wait_until(lambda: bool(a.frames and b.frames))
    assert [t["symbol"] for f in a.updates("ticks") for t in f["data"]] == ["IF2101"]
    assert [t["symbol"] for f in b.updates("ticks") for t in f["data"]] == ["IC2101"]
    hub.unregister(ca)
    await hub.deliver(_tick("IF2101", 3))
    await asyncio.sleep(0.05)
    assert len(a.updates("ticks")) == 1


async def test_a_slow_client_gets_the_newest_tick_per_symbol_and_does_not_hold_up_others(
    hub: Hub,
) -> None:
    slow, quick = Socket(), Socket()
    cs, cq = _client(1, slow), _client(2, quick)
    for client in (cs, cq):
        hub.register(client)
        hub.subscribe_ticks(client, ["CFFEX.IF2101", "CFFEX.IC2101"])
    slow.gate.clear()  # the slow client stops reading
    await hub.deliver(_tick("IF2101", 0))
    await asyncio.sleep(0.01)  # its wire is now stuck in a send
    for i in range(1, 200):
        await hub.deliver(_tick("IF2101" if i % 2 else "IC2101", i))
        await asyncio.sleep(0)
    # The quick client is not held up: it has the last tick while the slow one is stuck.
    await wait_until(
        lambda: any(t["volume"] == 199 for f in quick.updates("ticks") for t in f["data"])
    )
    assert cs.ticks_delivered == 1  # the tick its writer is stuck sending
    assert cs.pending == 2  # one per symbol, not 199
    slow.gate.set()
    await wait_until(lambda: len(slow.updates("ticks")) == 2)
    last = slow.updates("ticks")[-1]["data"]
    assert sorted(t["volume"] for t in last) == [198, 199]  # the newest of each symbol
    assert cs.ticks_delivered == 3  # 197 conflated away


async def test_a_client_stuck_too_long_is_disconnected_with_4429(hub: Hub) -> None:
    stuck = Socket()
    client = _client(1, stuck)
    hub.register(client)
    hub.subscribe_ticks(client, ["CFFEX.IF2101"])
    await hub.start()
    stuck.gate.clear()
    await hub.deliver(_tick("IF2101", 1))
    await wait_until(lambda: stuck.closed is not None, timeout_s=3)
    assert stuck.closed is not None
    assert stuck.closed[0] == CloseCode.TOO_SLOW
    assert "too slow" in stuck.closed[1]
    assert hub.slow_disconnects == 1


async def test_a_backlog_of_events_beyond_the_bound_disconnects(hub: Hub) -> None:
    stuck = Socket()
    client = _client(1, stuck, max_pending=5)
    client.channels.add(Channel.BACKTESTS)
    hub.register(client)
    for i in range(6):
        await hub.deliver(
            BacktestProgressEvent(run_id=f"r{i}", user_id="1", progress=0.1, state="running")
        )
    await wait_until(lambda: stuck.closed is not None)
    assert stuck.closed is not None
    assert stuck.closed[0] == CloseCode.TOO_SLOW


async def test_account_and_user_events_reach_only_their_owner(hub: Hub) -> None:
    owner, other = Socket(), Socket()
    co, cx = _client(1, owner), _client(2, other)
    for client in (co, cx):
        client.channels.update({Channel.ORDERS, Channel.BACKTESTS})
        hub.register(client)
    await hub.deliver(SAMPLE_EVENTS["order"])  # account acc-7, owned by user 1
    await hub.deliver(
        BacktestProgressEvent(run_id="r1", user_id="2", progress=0.5, state="running")
    )
    await wait_until(lambda: bool(owner.frames) and bool(other.frames))
    assert [o["account_id"] for f in owner.updates("orders") for o in f["data"]] == ["acc-7"]
    assert other.updates("orders") == []
    assert owner.updates("backtests") == []
    assert [b["run_id"] for f in other.updates("backtests") for b in f["data"]] == ["r1"]


async def test_ticks_wait_for_the_hubs_flush_tick_and_go_out_as_one_frame() -> None:
    hub = Hub(MemoryBus(), Owners(), HubSettings(heartbeat_s=30.0, flush_interval_s=0.2))
    await hub.start()
    socket = Socket()
    client = _client(1, socket)
    hub.register(client)
    hub.subscribe_ticks(client, ["CFFEX.IF2101", "CFFEX.IC2101"])
    try:
        for i in range(50):
            await hub.deliver(_tick("IF2101" if i % 2 else "IC2101", i))
        await asyncio.sleep(0)
        assert socket.updates("ticks") == []  # nothing before the flush tick
        await wait_until(lambda: bool(socket.updates("ticks")))
        (frame,) = socket.updates("ticks")
        assert sorted(t["last_price"] for t in frame["data"]) == [5048.0, 5049.0]
        # The next flush carries what came after, and only that.
        await hub.deliver(_tick("IF2101", 51))
        await wait_until(lambda: len(socket.updates("ticks")) == 2)
        assert [t["last_price"] for t in socket.updates("ticks")[1]["data"]] == [5051.0]
        # A control message does not wait for the tick.
        client.error("bad_message", "now")
        await wait_until(lambda: socket.frames[-1]["type"] == "error")
    finally:
        hub.unregister(client)
        await hub.stop()


async def test_ticks_waiting_for_the_flush_are_dropped_on_unsubscribe() -> None:
    hub = Hub(MemoryBus(), Owners(), HubSettings(heartbeat_s=30.0, flush_interval_s=0.1))
    await hub.start()
    socket = Socket()
    client = _client(1, socket)
    hub.register(client)
    hub.subscribe_ticks(client, ["CFFEX.IF2101", "CFFEX.IC2101"])
    try:
        await hub.deliver(_tick("IF2101", 1))
        await hub.deliver(_tick("IC2101", 2))
        hub.unsubscribe_ticks(client, ["CFFEX.IF2101"])
        await wait_until(lambda: bool(socket.updates("ticks")))
        await asyncio.sleep(0.25)
        assert [t["symbol"] for f in socket.updates("ticks") for t in f["data"]] == ["IC2101"]
    finally:
        hub.unregister(client)
        await hub.stop()


async def test_clients_are_flushed_in_groups_each_once_per_interval() -> None:
    hub = Hub(MemoryBus(), Owners(), HubSettings(heartbeat_s=30.0, flush_interval_s=0.1))
    sockets = [Socket() for _ in range(40)]
    clients = [_client(i, socket) for i, socket in enumerate(sockets)]
    for client in clients:
        hub.register(client)
        hub.subscribe_ticks(client, ["CFFEX.IF2101"])
    await hub.start()
    try:
        await hub.deliver(_tick("IF2101", 1))
        first_frame: dict[int, float] = {}
        loop = asyncio.get_running_loop()
        started = loop.time()
        while len(first_frame) < len(clients) and loop.time() - started < 1.0:
            for index, socket in enumerate(sockets):
                if socket.frames and index not in first_frame:
                    first_frame[index] = loop.time() - started
            await asyncio.sleep(0.001)
        # Every client got the tick within one interval, but not all on the same flush.
        assert len(first_frame) == len(clients)
        assert max(first_frame.values()) < 0.1 + 0.05
        assert len({round(at, 2) for at in first_frame.values()}) > 1
        # The next tick reaches every client, as one more frame each.
        await hub.deliver(_tick("IF2101", 2))
        await wait_until(lambda: all(len(socket.updates("ticks")) == 2 for socket in sockets))
        assert [len(socket.updates("ticks")) for socket in sockets] == [2] * len(sockets)
    finally:
        for client in clients:
            hub.unregister(client)
        await hub.stop()


async def test_bars_go_out_with_each_clients_own_indicators(hub: Hub, shared_data: Path) -> None:
    """A client subscribed with indicators gets each closed bar with their values, equal to
    TA-Lib over the same bars (the first half seeds them, as the stored history would); a
    client without gets the bar plain; a bar already seeded is not sent again."""
    frame = real_bars(shared_data).head(400)
    bars = [
        Bar(**row)
        for row in frame.with_columns(
            pl.col("exchange").cast(pl.String), pl.col("interval").cast(pl.String)
        ).iter_rows(named=True)
    ]
    bars = [
        msgspec.structs.replace(b, exchange=Exchange(b.exchange), interval=Interval(b.interval))
        for b in bars
    ]
    specs = [
        LiveIndicatorSpec(name="sma", params={"timeperiod": 20}),
        LiveIndicatorSpec(name="macd"),
        LiveIndicatorSpec(name="atr", params={"timeperiod": 14}, id="atr"),
    ]
    live = LiveIndicatorSet(specs)
    live.seed(bars[:200])
    with_values, plain = Socket(), Socket()
    cw, cp = _client(1, with_values), _client(2, plain)
    for client in (cw, cp):
        hub.register(client)
    key = "SHFE.au1912"
    hub.subscribe_bars(cw, Interval.M1, [key], {key: live})
    hub.subscribe_bars(cp, Interval.M1, [key])
    for bar in bars[199:]:  # the seed's last bar comes again: sent plain only
        await hub.deliver(BarEvent(bar=bar))
    await wait_until(lambda: sum(len(f["data"]) for f in plain.updates("bars")) == 201)
    await wait_until(lambda: sum(len(f["data"]) for f in with_values.updates("bars")) == 200)
    sent = [item for f in with_values.updates("bars") for item in f["data"]]
    assert "indicators" not in plain.updates("bars")[0]["data"][0]
    close = frame["close"].to_numpy()
    high, low = frame["high"].to_numpy(), frame["low"].to_numpy()
    expected = {
        "sma_20": talib.SMA(close, 20),
        "macd_12_26_9.macdsignal": talib.MACD(close, 12, 26, 9)[1],
        "atr": talib.ATR(high, low, close, 14),
    }
    for offset, item in enumerate(sent, start=200):
        assert item["close"] == close[offset]
        for column, values in expected.items():
            assert item["indicators"][column] == pytest.approx(values[offset], rel=1e-9), column
