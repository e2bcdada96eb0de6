"""Accounts, their positions and the booking of their trades, as stored.

`book` is the `orders` function's whole job: in one transaction it takes the account's
trades not yet booked, moves each into its position and the account's money
(`shared.orders.book_trade`), re-marks every position at the prices given, and marks the
trades booked. The account row is locked meanwhile (`_locks.lock_row`), so two runs for one account
queue; a run that dies halfway leaves nothing behind, and the next one books each trade once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

import msgspec
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.domain import Account, Exchange, Instrument, Position, Trade
from shared.orders import PositionKey, Refusal, book_trades
from shared.store._locks import lock_row
from shared.store.account_state import account_of, position_of, trade_of
from shared.store.catalogue import instrument_of
from shared.store.tables import AccountRow, InstrumentRow, PositionRow, TradeRow


class AccountExistsError(ValueError):
    pass


class UnknownAccountError(LookupError):
    pass


class BookingRun(msgspec.Struct, frozen=True, kw_only=True):
    account: Account
    positions: list[Position]  # every position of the account, as now stored
    booked: list[Trade]  # booked by this run, with their commission, oldest first
    refused: list[Refusal] = msgspec.field(default_factory=list)


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
        """Book the account's pending trades, roll it to ``trading_day`` when that is later
        than its own, and mark its positions at ``prices`` ("EXCHANGE.symbol" -> price;
        positions without one keep their last mark)."""
        async with self._sessions.begin() as session:
            await lock_row(session, AccountRow.account_id, account_id)
            account_row = await session.get(AccountRow, account_id)
            if account_row is None:
                raise UnknownAccountError(f"no account {account_id!r}")
            account = account_of(account_row)
            trade_rows = {row.id: row for row in await session.scalars(_unbooked(account_id))}
            position_rows = {
                (f"{row.exchange}.{row.symbol}", row.direction): row
                for row in await session.scalars(
                    select(PositionRow).where(PositionRow.account_id == account_id)
                )
            }
            positions = {key: position_of(row) for key, row in position_rows.items()}
            rolling = trading_day is not None and trading_day > account.trading_day
            if not trade_rows and not prices and not rolling:
                return BookingRun(account=account, positions=_ordered(positions), booked=[])
            trades = [trade_of(row) for row in trade_rows.values()]
            instruments = await _instruments(
                session, {key for key, _ in positions} | {_key(row) for row in trade_rows.values()}
            )
            books = book_trades(
                account, positions, trades, instruments, prices=prices, trading_day=trading_day
            )
            for trade_row in trade_rows.values():
                trade_row.booked_at = now
            for trade in books.booked:
                trade_rows[trade.id].commission = trade.commission
            for refusal in books.refused:
                trade_rows[refusal.trade_id].booking_error = refusal.reason
            account = msgspec.structs.replace(
                books.account, updated_at=max(books.account.updated_at, now)
            )
            _write_account(account_row, account)
            for key, position_row in position_rows.items():
                if key not in books.positions:
                    await session.delete(position_row)  # closed, and a trading day has passed
            for key, position in books.positions.items():
                _write_position(session, position_rows.get(key), position, now)
        return BookingRun(
            account=account,
            positions=_ordered(books.positions),
            booked=books.booked,
            refused=books.refused,
        )


def _ordered(positions: Mapping[PositionKey, Position]) -> list[Position]:
    return sorted(positions.values(), key=_position_order)


def _unbooked(account_id: str) -> Select[TradeRow]:
    return (
        select(TradeRow)
        .where(TradeRow.account_id == account_id, TradeRow.booked_at.is_(None))
        .order_by(TradeRow.ts, TradeRow.id)
    )


def _key(row: TradeRow) -> str:
    return f"{row.exchange}.{row.symbol}"


def _position_order(position: Position) -> tuple[str, str, str]:
    return (position.exchange, position.symbol, position.direction)


async def _instruments(session: AsyncSession, keys: set[str]) -> dict[str, Instrument]:
    found: dict[str, Instrument] = {}
    for key in sorted(keys):
        exchange, _, symbol = key.partition(".")
        row = await session.get(InstrumentRow, (Exchange(exchange), symbol))
        if row is not None:
            found[key] = instrument_of(row)
    return found


def _write_account(row: AccountRow, account: Account) -> None:
    row.balance = account.balance
    row.available = account.available
    row.margin = account.margin
    row.frozen_margin = account.frozen_margin
    row.commission = account.commission
    row.realized_pnl = account.realized_pnl
    row.unrealized_pnl = account.unrealized_pnl
    row.updated_at = account.updated_at


def _write_position(
    session: AsyncSession, row: PositionRow | None, position: Position, now: datetime
) -> None:
    values = msgspec.structs.asdict(position)
    if row is None:
        session.add(PositionRow(**values, updated_at=now))
        return
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now


__all__ = [
    "AccountExistsError",
    "AccountStore",
    "BookingRun",
    "UnknownAccountError",
]
