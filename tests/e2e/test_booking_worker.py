"""Trades booked by a real Dramatiq worker, and a worker killed in the middle of a stream of
fills: afterwards every trade is booked exactly once and the books agree with the trades.

A real gateway process (PostgreSQL, Redis, QUANT_DISPATCHER=dramatiq) replays the market; a
trader sends marketable orders through the REST API, alternately opening and closing one lot.
The worker is killed with SIGKILL partway, orders keep coming (their trades wait, unbooked),
and a new worker books them.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from shared.config import Settings
from shared.store import Role, create_engine, session_factory
from shared.store.tables import AccountRow, PositionRow, TradeRow
from tests.support.gateway import TEST_SECRET, add_user
from tests.support.server import Server
from tests.support.workers import DramatiqWorker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

PASSWORD = "booking-test-password"
TRADING_PASSWORD = "booking-trading-secret-7"
BALANCE = 100_000_000.0
MULTIPLIER = 300  # IF
ORDERS = 24
KILL_AFTER = 8


def _worker(redis_url: str, prefix: str, database_url: str, var: Path, n: int) -> DramatiqWorker:
    return DramatiqWorker(
        redis_url=redis_url,
        redis_prefix=prefix,
        objects_dir=var / "objects",
        log_path=var / f"worker-{n}.log",
        extra_settings={"QUANT_DATABASE_URL": database_url},
    )


def _signed_in(server: Server) -> dict[str, str]:
    login = httpx.post(
        f"{server.url}/api/v1/auth/token", json={"username": "tom", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    answer = httpx.put(
        f"{server.url}/api/v1/auth/trading-password",
        json={"password": PASSWORD, "new_trading_password": TRADING_PASSWORD},
        headers=headers,
    )
    assert answer.status_code in {200, 204}, answer.text
    token = httpx.post(
        f"{server.url}/api/v1/auth/trading-token",
        json={"trading_password": TRADING_PASSWORD},
        headers=headers,
    )
    assert token.status_code == 201, token.text
    opened = httpx.post(
        f"{server.url}/api/v1/accounts", json={"account_id": "tom-paper"}, headers=headers
    )
    assert opened.status_code == 201, opened.text
    return {**headers, "X-Trading-Token": token.json()["trading_token"]}


def _two_sided_quote(server: Server, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.url}/api/v1/quotes/CFFEX.IF2101", headers=headers)
        if answer.status_code == 200:
            quote: dict[str, Any] = answer.json()
            if (
                quote.get("bid_price")
                and quote.get("ask_price")
                and quote["ts"][11:19] >= "01:30:05"
            ):
                return quote
        time.sleep(0.1)
    raise AssertionError("no two-sided quote in 20 s")


def _place(server: Server, headers: dict[str, str], n: int) -> dict[str, Any]:
    quote = _two_sided_quote(server, headers)
    opening = n % 2 == 0
    body = {
        "account_id": "tom-paper",
        "client_order_id": f"stream-{n}",
        "exchange": "CFFEX",
        "symbol": "IF2101",
        "side": "buy" if opening else "sell",
        "offset": "open" if opening else "close",
        "type": "limit",
        "volume": 1,
        # Ten ticks through the market: it fills on arrival.
        "price": round(quote["ask_price"] + 2.0 if opening else quote["bid_price"] - 2.0, 1),
    }
    answer = httpx.post(f"{server.url}/api/v1/orders", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    order: dict[str, Any] = answer.json()
    # Filled on arrival unless our earlier orders took the displayed volume: then with a
    # later tick. Either way before the next order, so that a close has its open.
    deadline = time.monotonic() + 10
    while order["status"] != "filled" and time.monotonic() < deadline:
        time.sleep(0.02)
        order = httpx.get(f"{server.url}/api/v1/orders/{order['id']}", headers=headers).json()
    assert order["status"] == "filled", order
    return order


async def _unbooked(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            query = select(func.count()).select_from(TradeRow).where(TradeRow.booked_at.is_(None))
            return int(await session.scalar(query) or 0)
    finally:
        await engine.dispose()


async def _books(database_url: str) -> tuple[AccountRow, list[TradeRow], list[PositionRow]]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            account = await session.get(AccountRow, "tom-paper")
            assert account is not None
            trades = list(await session.scalars(select(TradeRow).order_by(TradeRow.ts)))
            positions = list(await session.scalars(select(PositionRow)))
            return account, trades, positions
    finally:
        await engine.dispose()


def test_a_worker_killed_mid_stream_loses_no_trade_and_books_none_twice(
    postgres_url: str, redis_server: str, redis_prefix: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=postgres_url, jwt_secret=TEST_SECRET)
    asyncio.run(add_user(settings, "tom", PASSWORD, Role.TRADER))
    worker = _worker(redis_server, redis_prefix, postgres_url, tmp_path, 1)
    worker.start()
    server = Server(
        tmp_path / "gateway",
        QUANT_DATABASE_URL=postgres_url,
        QUANT_BUS="redis",
        QUANT_REDIS_URL=redis_server,
        QUANT_REDIS_PREFIX=redis_prefix,
        QUANT_DISPATCHER="dramatiq",
        QUANT_FUNCTION_TIMEOUT_S="2",
        QUANT_JWT_SECRET=TEST_SECRET,
        QUANT_BOOTSTRAP_ADMIN="false",
        QUANT_PAPER_STARTING_BALANCE=str(BALANCE),
        QUANT_OBJECTS_DIR=str(tmp_path / "objects"),
    )
    replacement = _worker(redis_server, redis_prefix, postgres_url, tmp_path, 2)
    try:
        headers = _signed_in(server)
        orders = [_place(server, headers, n) for n in range(KILL_AFTER)]
        worker.kill()
        orders += [_place(server, headers, n) for n in range(KILL_AFTER, ORDERS)]
        assert asyncio.run(_unbooked(postgres_url)) > 0, "the dead worker booked everything?"
        replacement.start()
        deadline = time.monotonic() + 60
        while asyncio.run(_unbooked(postgres_url)) and time.monotonic() < deadline:
            time.sleep(0.25)
        account, trades, positions = asyncio.run(_books(postgres_url))
    finally:
        replacement.stop()
        worker.stop()
        output = server.stop()
    assert "Traceback" not in output, output

    assert len(trades) == ORDERS  # one fill each: none lost, none stored twice
    assert all(trade.booked_at is not None and trade.booking_error is None for trade in trades)
    assert [t.order_id for t in trades] == [o["id"] for o in orders]
    # Booked once each: the account's totals are the trades' sums, not more.
    commission = sum(trade.commission for trade in trades)
    assert all(trade.commission > 0 for trade in trades)
    assert account.commission == pytest.approx(commission)
    realized = sum(
        (close.price - opened.price) * MULTIPLIER
        for opened, close in zip(trades[0::2], trades[1::2], strict=True)
    )
    assert account.realized_pnl == pytest.approx(realized)
    assert account.balance == pytest.approx(BALANCE + realized - commission)
    (position,) = positions
    assert (position.direction, position.volume, position.margin) == ("long", 0, 0.0)
    assert position.realized_pnl == pytest.approx(realized)
