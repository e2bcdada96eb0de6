"""Column types and constraints behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from shared.domain import Exchange, Offset, OrderStatus, OrderType, Side, TimeInForce
from shared.store import NaiveDatetimeError, Role
from shared.store.tables import OrderEventRow, OrderRow, TickRow, TradeRow, UserRow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


async def _user(sessions: async_sessionmaker[AsyncSession]) -> int:
    row = UserRow(
        username="ann", password_hash="h", role=Role.TRADER, is_active=True,
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    async with sessions.begin() as session:
        session.add(row)
    return row.id


def _order(user_id: int, order_id: str, client_order_id: str) -> OrderRow:
    return OrderRow(
        id=order_id, user_id=user_id, account_id="acc-1", client_order_id=client_order_id,
        symbol="rb2405", exchange=Exchange.SHFE, side=Side.BUY, offset=Offset.OPEN,
        type=OrderType.LIMIT, time_in_force=TimeInForce.DAY, price=3650.0, trigger_price=None,
        volume=2, filled_volume=0, average_fill_price=None, status=OrderStatus.SUBMITTED,
        venue_order_id=None, strategy_id=None, reject_reason=None, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def _trade(trade_id: str, order_id: str, venue_trade_id: str | None) -> TradeRow:
    return TradeRow(
        id=trade_id, order_id=order_id, account_id="acc-1", venue_trade_id=venue_trade_id,
        symbol="rb2405", exchange=Exchange.SHFE, side=Side.BUY, offset=Offset.OPEN,
        price=3650.0, volume=1, commission=1.2, ts=NOW, trading_day=date(2026, 3, 2),
    )  # fmt: skip


def _tick(ts: datetime) -> TickRow:
    return TickRow(
        exchange=Exchange.SHFE, symbol="rb2405", ts=ts, trading_day=date(2026, 3, 2),
        last_price=3650.0, volume=1200, turnover=4.38e7, open_interest=1.5e5,
        bid_price=3649.0, bid_volume=3, ask_price=None, ask_volume=0,
        upper_limit=None, lower_limit=None,
    )  # fmt: skip


@pytest.mark.parametrize(
    "written",
    [
        datetime(2026, 3, 2, 9, 30, 0, 500_000, tzinfo=ZoneInfo("Asia/Shanghai")),
        datetime(2026, 3, 1, 23, 59, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
async def test_aware_timestamps_round_trip_as_utc(
    store_sessions: async_sessionmaker[AsyncSession], written: datetime
) -> None:
    async with store_sessions.begin() as session:
        session.add(_tick(written))
    async with store_sessions() as session:
        stored = await session.scalar(select(TickRow.ts))
    assert stored == written
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)
    assert stored.tzinfo is UTC
    assert stored.microsecond == written.microsecond


async def test_naive_timestamps_are_refused(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(StatementError, match="naive") as raised:
        async with store_sessions.begin() as session:
            session.add(_tick(datetime(2026, 3, 2, 9, 30)))  # noqa: DTZ001
    assert isinstance(raised.value.orig, NaiveDatetimeError)
    async with store_sessions() as session:
        assert await session.scalar(select(TickRow.ts)) is None


async def test_enums_json_and_foreign_keys(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    user_id = await _user(store_sessions)
    payload = {"status": OrderStatus.FILLED, "at": NOW, "volume": 2, "note": "成交"}
    async with store_sessions.begin() as session:
        session.add(_order(user_id, "o-1", "c-1"))
        await session.flush()
        session.add(OrderEventRow(order_id="o-1", ts=NOW, kind="filled", payload=payload))

    async with store_sessions() as session:
        order = await session.get(OrderRow, "o-1")
        event = await session.scalar(select(OrderEventRow))
    assert order is not None
    assert (order.side, order.type, order.status) == (
        Side.BUY,
        OrderType.LIMIT,
        OrderStatus.SUBMITTED,
    )
    assert isinstance(order.exchange, Exchange)
    assert event is not None
    assert event.payload == {
        "status": "filled",
        "at": "2026-03-02T01:30:00Z",
        "volume": 2,
        "note": "成交",
    }

    # Foreign keys are enforced on SQLite too (PRAGMA foreign_keys).
    with pytest.raises(IntegrityError):
        async with store_sessions.begin() as session:
            session.add(OrderEventRow(order_id="no-such-order", ts=NOW, kind="x", payload={}))


async def test_client_order_id_is_unique_per_account(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    user_id = await _user(store_sessions)
    async with store_sessions.begin() as session:
        session.add(_order(user_id, "o-1", "c-1"))
    with pytest.raises(IntegrityError):
        async with store_sessions.begin() as session:
            session.add(_order(user_id, "o-2", "c-1"))
    other_account = _order(user_id, "o-3", "c-1")
    other_account.account_id = "acc-2"
    async with store_sessions.begin() as session:
        session.add(other_account)


async def test_venue_trade_id_is_unique_per_account_when_present(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    user_id = await _user(store_sessions)
    async with store_sessions.begin() as session:
        session.add(_order(user_id, "o-1", "c-1"))
        await session.flush()
        session.add_all([_trade("t-1", "o-1", "V1"), _trade("t-2", "o-1", None)])
        session.add(_trade("t-3", "o-1", None))  # several trades without a venue id are fine
    with pytest.raises(IntegrityError):
        async with store_sessions.begin() as session:
            session.add(_trade("t-4", "o-1", "V1"))
