"""A user's trading state as stored: what a client sees first when it subscribes to the
orders, trades, positions or account channel, before the live updates.

Rows become the same domain Structs the bus carries, so a snapshot and the updates after it
have one shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import Select, and_, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.domain import Account, Order, OrderStatus, Position, RiskStatus, Trade
from shared.store.engine import DatabaseUnavailableError
from shared.store.tables import AccountRow, OrderRow, PositionRow, TradeRow

_RowT = TypeVar("_RowT")
_WORKING = tuple(status for status in OrderStatus if not status.is_terminal)


class AccountStateReader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def working_orders(self, user_id: int) -> list[Order]:
        """Orders not yet filled, cancelled, rejected or expired, oldest first."""
        query = (
            select(OrderRow)
            .where(OrderRow.user_id == user_id, OrderRow.status.in_(_WORKING))
            .order_by(OrderRow.created_at, OrderRow.id)
        )
        return [order_of(row) for row in await self._rows(query)]

    async def trades_today(self, user_id: int) -> list[Trade]:
        """Trades of each of the user's accounts on that account's current trading day."""
        query = (
            select(TradeRow)
            .join(
                AccountRow,
                and_(
                    AccountRow.account_id == TradeRow.account_id,
                    AccountRow.trading_day == TradeRow.trading_day,
                ),
            )
            .where(AccountRow.user_id == user_id)
            .order_by(TradeRow.ts, TradeRow.id)
        )
        return [trade_of(row) for row in await self._rows(query)]

    async def open_positions(self, user_id: int) -> list[Position]:
        query = (
            select(PositionRow)
            .join(AccountRow, AccountRow.account_id == PositionRow.account_id)
            .where(AccountRow.user_id == user_id, PositionRow.volume > 0)
            .order_by(PositionRow.account_id, PositionRow.exchange, PositionRow.symbol)
        )
        return [position_of(row) for row in await self._rows(query)]

    async def accounts(self, user_id: int) -> list[Account]:
        query = (
            select(AccountRow).where(AccountRow.user_id == user_id).order_by(AccountRow.account_id)
        )
        return [account_of(row) for row in await self._rows(query)]

    async def risk_statuses(self, user_id: int) -> list[RiskStatus]:
        """Each account's stored trading state; warnings are live only (the gateway that
        trades the account publishes them as they arise)."""
        query = (
            select(AccountRow).where(AccountRow.user_id == user_id).order_by(AccountRow.account_id)
        )
        return [
            RiskStatus(
                account_id=row.account_id,
                state=row.trading_state,
                state_reason=row.trading_state_reason,
            )
            for row in await self._rows(query)
        ]

    async def _rows(self, query: Select[_RowT]) -> Sequence[_RowT]:
        try:
            async with self._sessions() as session:
                return (await session.scalars(query)).all()
        except (OperationalError, InterfaceError, OSError) as exc:
            raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc


def order_of(row: OrderRow) -> Order:
    return Order(
        id=row.id,
        client_order_id=row.client_order_id,
        account_id=row.account_id,
        symbol=row.symbol,
        exchange=row.exchange,
        side=row.side,
        offset=row.offset,
        type=row.type,
        volume=row.volume,
        created_at=row.created_at,
        updated_at=row.updated_at,
        price=row.price,
        trigger_price=row.trigger_price,
        time_in_force=row.time_in_force,
        status=row.status,
        filled_volume=row.filled_volume,
        average_fill_price=row.average_fill_price,
        venue_order_id=row.venue_order_id,
        strategy_id=row.strategy_id,
        reject_reason=row.reject_reason,
        trade_ids=tuple(row.trade_ids),
        trigger_source=row.trigger_source,
        trigger_condition=row.trigger_condition,
    )


def trade_of(row: TradeRow) -> Trade:
    return Trade(
        id=row.id,
        order_id=row.order_id,
        account_id=row.account_id,
        symbol=row.symbol,
        exchange=row.exchange,
        side=row.side,
        offset=row.offset,
        price=row.price,
        volume=row.volume,
        ts=row.ts,
        trading_day=row.trading_day,
        commission=row.commission,
        venue_trade_id=row.venue_trade_id,
    )


def position_of(row: PositionRow) -> Position:
    return Position(
        account_id=row.account_id,
        symbol=row.symbol,
        exchange=row.exchange,
        direction=row.direction,
        volume=row.volume,
        today_volume=row.today_volume,
        yesterday_volume=row.yesterday_volume,
        average_price=row.average_price,
        realized_pnl=row.realized_pnl,
        unrealized_pnl=row.unrealized_pnl,
        margin=row.margin,
    )


def account_of(row: AccountRow) -> Account:
    return Account(
        account_id=row.account_id,
        trading_day=row.trading_day,
        updated_at=row.updated_at,
        balance=row.balance,
        available=row.available,
        margin=row.margin,
        frozen_margin=row.frozen_margin,
        commission=row.commission,
        realized_pnl=row.realized_pnl,
        unrealized_pnl=row.unrealized_pnl,
    )
