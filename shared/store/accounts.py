"""Accounts, their positions and the booking of their trades, as stored.

`book` is the `orders` function's whole job: in one transaction it takes the account's
trades not yet booked, moves each into its position and the account's money
(`shared.orders.book_trade`), re-marks every position at the prices given, and marks the
trades booked. The account row is locked meanwhile (PostgreSQL), so two runs for one account
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
from shared.orders import BookingError, book_trade, mark_account, position_key
from shared.store.account_state import account_of, position_of, trade_of
from shared.store.catalogue import instrument_of
from shared.store.tables import AccountRow, InstrumentRow, PositionRow, TradeRow


class AccountExistsError(ValueError):
    pass


class UnknownAccountError(LookupError):
    pass


class RefusedTrade(msgspec.Struct, frozen=True, kw_only=True):
    """A trade the books could not take (set aside so that later trades still book)."""

    trade_id: str
    reason: str


class BookingRun(msgspec.Struct, frozen=True, kw_only=True):
    account: Account
    positions: list[Position]  # every position of the account, as now stored
    booked: list[Trade]  # booked by this run, with their commission, oldest first
    refused: list[RefusedTrade] = msgspec.field(default_factory=list)


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

    async def book(self, account_id: str, prices: Mapping[str, float], now: datetime) -> BookingRun:
        """Book the account's pending trades and mark its positions at ``prices``
        ("EXCHANGE.symbol" -> price; positions without one keep their last mark)."""
        async with self._sessions.begin() as session:
            account_row = await session.get(AccountRow, account_id, with_for_update=True)
            if account_row is None:
                raise UnknownAccountError(f"no account {account_id!r}")
            account = account_of(account_row)
            trade_rows = list(await session.scalars(_unbooked(account_id)))
            position_rows = {
                (f"{row.exchange}.{row.symbol}", row.direction): row
                for row in await session.scalars(
                    select(PositionRow).where(PositionRow.account_id == account_id)
                )
            }
            positions = {key: position_of(row) for key, row in position_rows.items()}
            if not trade_rows and not prices:  # nothing to book or mark: leave the rows be
                return BookingRun(
                    account=account,
                    positions=sorted(positions.values(), key=_position_order),
                    booked=[],
                )
            instruments = await _instruments(
                session, {key for key, _ in positions} | {_key(row) for row in trade_rows}
            )
            booked: list[Trade] = []
            refused: list[RefusedTrade] = []
            for row in trade_rows:
                trade = trade_of(row)
                row.booked_at = now
                instrument = instruments.get(_key(row))
                if instrument is None:
                    row.booking_error = f"{_key(row)} is not in the catalogue"
                    refused.append(RefusedTrade(trade_id=trade.id, reason=row.booking_error))
                    continue
                held = position_key(trade)
                try:
                    entry = book_trade(account, positions.get(held), trade, instrument)
                except BookingError as exc:
                    row.booking_error = str(exc)
                    refused.append(RefusedTrade(trade_id=trade.id, reason=str(exc)))
                    continue
                account, positions[held] = entry.account, entry.position
                row.commission = entry.trade.commission
                booked.append(entry.trade)
            account, positions = mark_account(account, positions, prices, instruments)
            account = msgspec.structs.replace(account, updated_at=max(account.updated_at, now))
            _write_account(account_row, account)
            for key, position in positions.items():
                _write_position(session, position_rows.get(key), position, now)
        return BookingRun(
            account=account,
            positions=sorted(positions.values(), key=_position_order),
            booked=booked,
            refused=refused,
        )


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
    "RefusedTrade",
    "UnknownAccountError",
]
