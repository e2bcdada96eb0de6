"""Two gateway processes on one PostgreSQL and one Redis: one holds the venue, one only serves.

A client sees the same market on either replica, the same stored state in its snapshots, and
events published by anyone (here: the test, standing in for a worker) on the replica it is
connected to, and only its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from shared.bus import open_bus
from shared.config import Settings
from shared.domain import (
    BacktestProgressEvent,
    Direction,
    Exchange,
    Offset,
    Order,
    OrderEvent,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from shared.store import Role, create_engine, session_factory
from shared.store.tables import AccountRow, OrderRow, PositionRow, TradeRow
from tests.conftest import PostgresDatabases
from tests.support.gateway import TEST_SECRET, add_user
from tests.support.server import Server
from tests.support.services import RUN_ID
from tests.support.ws_client import next_message, ws_url

PASSWORD = "replica-test-password"
IF = "CFFEX.IF2101"
T0 = datetime(2021, 1, 4, 1, 30, tzinfo=UTC)
TODAY = date(2021, 1, 4)


@dataclass
class Cluster:
    venue: Server  # holds the simulated venue
    serving: Server  # QUANT_VENUE=none
    settings: Settings  # what the test publishes with
    users: dict[str, int]


WORKING = frozenset({OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED})


def _order(order_id: str, account_id: str, status: OrderStatus, filled: int = 0) -> OrderRow:
    # A working order rests below the replayed day's low (5,192): the venue replica replays the
    # market from its start, and a fill there would race the snapshot this module checks.
    price = 5100.0 if status in WORKING else 5200.0
    return OrderRow(
        id=order_id,
        user_id=0,  # set by the caller
        account_id=account_id,
        client_order_id=f"cli-{order_id}",
        symbol="IF2101",
        exchange=Exchange.CFFEX,
        side=Side.BUY,
        offset=Offset.OPEN,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        price=price,
        trigger_price=None,
        volume=2,
        filled_volume=filled,
        average_fill_price=price if filled else None,
        status=status,
        venue_order_id=None,
        strategy_id=None,
        reject_reason=None,
        created_at=T0,
        updated_at=T0,
    )


async def _store_trading_state(settings: Settings, users: dict[str, int]) -> None:
    """Ann: one working and one filled order, a position, a trade today and one yesterday.
    Bob: an account with a working order of his own."""
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            for name, account in (("ann", "ACC-ANN"), ("bob", "ACC-BOB")):
                session.add(
                    AccountRow(
                        account_id=account,
                        user_id=users[name],
                        trading_day=TODAY,
                        balance=1_000_000.0,
                        available=900_000.0,
                        margin=100_000.0,
                        frozen_margin=0.0,
                        commission=12.5,
                        realized_pnl=0.0,
                        unrealized_pnl=300.0,
                        updated_at=T0,
                    )
                )
            await session.flush()
            rows = [
                _order("ann-working", "ACC-ANN", OrderStatus.PARTIALLY_FILLED, filled=1),
                _order("ann-filled", "ACC-ANN", OrderStatus.FILLED, filled=2),
                _order("bob-working", "ACC-BOB", OrderStatus.SUBMITTED),
            ]
            for row in rows:
                row.user_id = users[row.id.split("-")[0]]
            session.add_all(rows)
            await session.flush()
            for trade_id, day in (("t-today", TODAY), ("t-yesterday", TODAY - timedelta(days=3))):
                session.add(
                    TradeRow(
                        id=trade_id,
                        order_id="ann-filled",
                        account_id="ACC-ANN",
                        venue_trade_id=None,
                        symbol="IF2101",
                        exchange=Exchange.CFFEX,
                        side=Side.BUY,
                        offset=Offset.OPEN,
                        price=5200.0,
                        volume=1,
                        commission=6.25,
                        ts=datetime.combine(day, T0.timetz()),
                        trading_day=day,
                        # Already in the position below: booked, not for the gateway to book.
                        booked_at=datetime.combine(day, T0.timetz()),
                    )
                )
            session.add(
                PositionRow(
                    account_id="ACC-ANN",
                    exchange=Exchange.CFFEX,
                    symbol="IF2101",
                    direction=Direction.LONG,
                    volume=3,
                    today_volume=3,
                    yesterday_volume=0,
                    average_price=5200.0,
                    realized_pnl=0.0,
                    unrealized_pnl=300.0,
                    margin=100_000.0,
                    updated_at=T0,
                )
            )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database_factory: PostgresDatabases,
    redis_server: str,
) -> Iterator[Cluster]:
    database_url = postgres_database_factory.create("replicas")
    prefix = f"qtest-{RUN_ID}-replicas"
    settings = Settings(
        database_url=database_url,
        bus="redis",
        redis_url=redis_server,
        redis_prefix=prefix,
        jwt_secret=TEST_SECRET,
    )
    users = {
        name: asyncio.run(add_user(settings, name, PASSWORD, Role.VIEWER))
        for name in ("ann", "bob")
    }
    asyncio.run(_store_trading_state(settings, users))
    common = {
        "QUANT_DATABASE_URL": database_url,
        "QUANT_BUS": "redis",
        "QUANT_REDIS_URL": redis_server,
        "QUANT_REDIS_PREFIX": prefix,
        "QUANT_JWT_SECRET": TEST_SECRET,
        "QUANT_BOOTSTRAP_ADMIN": "false",
        "QUANT_LIVE_BAR_INTERVALS": "1m",
    }
    root: Path = tmp_path_factory.mktemp("replicas")
    venue = Server(root / "venue", **common)
    try:
        serving = Server(root / "serving", QUANT_VENUE="none", **common)
    except BaseException:
        venue.stop()
        raise
    yield Cluster(venue, serving, settings, users)
    for server in (serving, venue):
        output = server.stop()
        assert "Traceback" not in output, output


def _token(server: Server, username: str) -> str:
    answer = httpx.post(
        f"{server.url}/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    value: str = answer.json()["access_token"]
    return value


async def _signed_in(server: Server, username: str) -> ClientConnection:
    ws = await connect(ws_url(server, token=_token(server, username)))
    assert (await next_message(ws))["type"] == "welcome"
    return ws


async def _subscribe(ws: ClientConnection, channel: str, **fields: object) -> dict[str, object]:
    """Subscribe and return the snapshot that follows `subscribed`."""
    await ws.send(json.dumps({"type": "subscribe", "channel": channel, **fields}))
    assert (await next_message(ws))["type"] == "subscribed"
    snapshot: dict[str, object] = await next_message(ws)
    assert (snapshot["type"], snapshot["channel"]) == ("snapshot", channel)
    return snapshot


def test_the_serving_replica_says_it_holds_no_venue(cluster: Cluster) -> None:
    ready = httpx.get(f"{cluster.serving.url}/ready").json()
    assert "another replica" in json.dumps(ready)
    assert "another replica" not in json.dumps(httpx.get(f"{cluster.venue.url}/ready").json())


async def test_ticks_from_the_venue_replica_reach_clients_of_the_serving_replica(
    cluster: Cluster,
) -> None:
    ws = await _signed_in(cluster.serving, "ann")
    async with ws:
        await _subscribe(ws, "ticks", symbols=[IF])
        update = await next_message(ws, "update", within=10)
        assert update["channel"] == "ticks"
        assert {tick["symbol"] for tick in update["data"]} == {"IF2101"}
        # The latest quote is shared through Redis: a second subscriber's snapshot has it.
        again = await _signed_in(cluster.serving, "bob")
        async with again:
            snapshot = await _subscribe(again, "ticks", symbols=[IF])
            assert [tick["symbol"] for tick in snapshot["data"]] == ["IF2101"]  # type: ignore[attr-defined]


async def test_the_serving_replica_builds_the_bar_in_progress_from_the_bus(
    cluster: Cluster,
) -> None:
    ws = await _signed_in(cluster.serving, "ann")
    async with ws:
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            snapshot = await _subscribe(ws, "bars", symbols=[IF], interval="1m")
            bars = snapshot["data"]
            assert isinstance(bars, list)
            if bars or asyncio.get_running_loop().time() > deadline:
                break
            await ws.send(json.dumps({"type": "unsubscribe", "channel": "bars"}))
            await next_message(ws, "unsubscribed")
            await asyncio.sleep(0.2)
        assert [(bar["symbol"], bar["interval"]) for bar in bars] == [("IF2101", "1m")]
        assert bars[0]["low"] <= bars[0]["close"] <= bars[0]["high"]


async def test_account_snapshots_hold_the_users_own_stored_state(cluster: Cluster) -> None:
    ann = await _signed_in(cluster.serving, "ann")
    bob = await _signed_in(cluster.venue, "bob")
    async with ann, bob:
        orders = (await _subscribe(ann, "orders"))["data"]
        assert [(o["id"], o["status"], o["filled_volume"]) for o in orders] == [  # type: ignore[attr-defined]
            ("ann-working", "partially_filled", 1)
        ]
        trades = (await _subscribe(ann, "trades"))["data"]
        assert [t["id"] for t in trades] == ["t-today"]  # type: ignore[attr-defined]
        positions = (await _subscribe(ann, "positions"))["data"]
        assert [(p["symbol"], p["direction"], p["volume"]) for p in positions] == [  # type: ignore[attr-defined]
            ("IF2101", "long", 3)
        ]
        accounts = (await _subscribe(ann, "account"))["data"]
        # The venue replica re-marks the stored position at the replayed prices, which moves
        # the available money; the balance moves only with trades.
        assert [(a["account_id"], a["balance"]) for a in accounts] == [("ACC-ANN", 1_000_000.0)]  # type: ignore[attr-defined]
        bob_orders = (await _subscribe(bob, "orders"))["data"]
        assert [o["id"] for o in bob_orders] == ["bob-working"]  # type: ignore[attr-defined]
        assert (await _subscribe(bob, "positions"))["data"] == []


async def test_events_published_on_the_bus_reach_the_owner_on_every_replica_and_no_one_else(
    cluster: Cluster,
) -> None:
    ann_serving = await _signed_in(cluster.serving, "ann")
    ann_venue = await _signed_in(cluster.venue, "ann")
    bob = await _signed_in(cluster.serving, "bob")
    async with ann_serving, ann_venue, bob:
        for ws in (ann_serving, ann_venue, bob):
            await _subscribe(ws, "orders")
            await _subscribe(ws, "backtests")
        bus = open_bus(cluster.settings)
        await bus.start()
        try:
            filled = Order(
                id="ann-working",
                client_order_id="cli-ann-working",
                account_id="ACC-ANN",
                symbol="IF2101",
                exchange=Exchange.CFFEX,
                side=Side.BUY,
                offset=Offset.OPEN,
                type=OrderType.LIMIT,
                volume=2,
                price=5200.0,
                created_at=T0,
                updated_at=T0 + timedelta(seconds=5),
                status=OrderStatus.FILLED,
                filled_volume=2,
                average_fill_price=5200.0,
            )
            await bus.publish(OrderEvent(order=filled))
            progress = BacktestProgressEvent(
                run_id="run-1", user_id=str(cluster.users["ann"]), progress=0.5, state="running"
            )
            await bus.publish(progress)
        finally:
            await bus.close()
        for ws in (ann_serving, ann_venue):
            order_update = await next_message(ws, "update", within=10)
            assert order_update["channel"] == "orders"
            assert [(o["id"], o["status"]) for o in order_update["data"]] == [
                ("ann-working", "filled")
            ]
            progress_update = await next_message(ws, "update", within=10)
            assert progress_update["channel"] == "backtests"
            assert progress_update["data"][0]["run_id"] == "run-1"
        # Bob's socket: a ping answered after the events were delivered elsewhere, and nothing
        # of Ann's before it.
        await bob.send(json.dumps({"type": "ping", "id": "after"}))
        answer = await next_message(bob)
        assert (answer["type"], answer["id"]) == ("pong", "after")
