"""Accounts, their positions and trades, as stored; booking runs are in `booking`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

import msgspec
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.domain import Account, Position, Trade
from shared.store.account_state import account_of, position_of, trade_of
from shared.store.booking import BookingRun, book_accounts
from shared.store.tables import AccountRow, PositionRow, TradeRow


class AccountExistsError(ValueError):
    pass


class UnknownAccountError(LookupError):
    pass


class AccountStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def open(
        self, user_id: int, account_id: str, *, balance: float, trading_day: date, now: datetime
    ) -> Account:
        """A new account holding ``balance`` in cash (a paper account's starting money)."""
        account = Account(
            account_id=account_id,
            trading_day=trading_day,
            updated_at=now,
            balance=balance,
            available=balance,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(AccountRow(user_id=user_id, **msgspec.structs.asdict(account)))
        except IntegrityError:
            raise AccountExistsError(f"account {account_id!r} already exists") from None
        return account

    async def get(self, account_id: str) -> Account | None:
        async with self._sessions() as session:
            row = await session.get(AccountRow, account_id)
            return None if row is None else account_of(row)

    async def list_all(self) -> list[tuple[int, Account]]:
        """(owner's user id, account) for every account."""
        async with self._sessions() as session:
            rows = await session.scalars(select(AccountRow).order_by(AccountRow.account_id))
            return [(row.user_id, account_of(row)) for row in rows]

    async def positions(self, account_id: str) -> list[Position]:
        query = (
            select(PositionRow)
            .where(PositionRow.account_id == account_id)
            .order_by(PositionRow.exchange, PositionRow.symbol, PositionRow.direction)
        )
        async with self._sessions() as session:
            return [position_of(row) for row in await session.scalars(query)]

    async def trades(
        self,
        account_ids: Sequence[str],
        *,
        trading_day: date | None = None,
        symbol: str | None = None,
        limit: int = 500,
    ) -> list[Trade]:
        """The accounts' trades, newest first; booked ones carry their commission."""
        query = select(TradeRow).where(TradeRow.account_id.in_(account_ids))
        if trading_day is not None:
            query = query.where(TradeRow.trading_day == trading_day)
        if symbol is not None:
            query = query.where(TradeRow.symbol == symbol)
        query = query.order_by(TradeRow.ts.desc(), TradeRow.id.desc()).limit(limit)
        async with self._sessions() as session:
            return [trade_of(row) for row in await session.scalars(query)]

    async def unbooked(self, account_id: str) -> list[Trade]:
        async with self._sessions() as session:
            return [trade_of(row) for row in await session.scalars(_unbooked(account_id))]

    async def book(
        self,
        account_id: str,
        prices: Mapping[str, float],
        now: datetime,
        *,
        trading_day: date | None = None,
    ) -> BookingRun:
        """One account's booking run (`shared.store.booking.book_accounts`)."""
        runs, unknown = await book_accounts(
            self._sessions, {account_id: prices}, now, trading_day=trading_day
        )
        if unknown:
            raise UnknownAccountError(f"no account {account_id!r}")
        return runs[0]


def _unbooked(account_id: str) -> Select[TradeRow]:
    return (
        select(TradeRow)
        .where(TradeRow.account_id == account_id, TradeRow.booked_at.is_(None))
        .order_by(TradeRow.ts, TradeRow.id)
    )


__all__ = [
    "AccountExistsError",
    "AccountStore",
    "BookingRun",
    "UnknownAccountError",
]
