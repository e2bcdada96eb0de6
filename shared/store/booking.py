"""Booking runs as stored: several accounts' pending trades in one transaction.

For each account: its trades not yet booked go through `shared.orders.book_trades` (rolling
it to a later trading day first where one has begun), its positions are re-marked at the
prices given, and the trades are marked booked, all in the same transaction. The accounts'
rows are locked first (`_locks.lock_row`), so two runs for one account queue; a run that dies
halfway leaves nothing behind, and the next one books each trade once.

Plain multi-row statements, not the ORM: a busy gateway books hundreds of fills a second, and
a unit of work per account would cost more than the booking itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import msgspec
from sqlalchemy import and_, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.domain import Account, CommissionRates, Instrument, Position, Trade
from shared.orders import Books, PositionKey, Refusal, book_trades
from shared.store._locks import lock_rows
from shared.store.tables import AccountRow, InstrumentRow, PositionRow, TradeRow

if TYPE_CHECKING:
    from sqlalchemy import Table

_ACCOUNT_MONEY = (
    "balance",
    "available",
    "margin",
    "frozen_margin",
    "commission",
    "realized_pnl",
    "unrealized_pnl",
    "trading_day",
    "updated_at",
)
_POSITION_VALUES = (
    "volume",
    "today_volume",
    "yesterday_volume",
    "average_price",
    "realized_pnl",
    "unrealized_pnl",
    "margin",
)


class BookingRun(msgspec.Struct, frozen=True, kw_only=True):
    account: Account
    positions: list[Position]  # every position of the account, as now stored
    booked: list[Trade]  # booked by this run, with their commission, oldest first
    refused: list[Refusal] = msgspec.field(default_factory=list)


async def book_accounts(
    sessions: async_sessionmaker[AsyncSession],
    marks: Mapping[str, Mapping[str, float]],
    now: datetime,
    *,
    trading_day: date | None = None,
) -> tuple[list[BookingRun], list[str]]:
    """Book the pending trades of each account in ``marks`` (account id -> "EXCHANGE.symbol"
    -> price to mark at) and roll each to ``trading_day`` when that is later than its own.
    Returns the runs, and the ids of accounts that do not exist."""
    ids = sorted(marks)
    async with sessions.begin() as session:
        await lock_rows(session, AccountRow.account_id, ids)
        accounts = {
            row.account_id: _account(row)
            for row in await session.execute(
                select(AccountRow.__table__).where(AccountRow.account_id.in_(ids))
            )
        }
        trades = await _unbooked(session, list(accounts))
        positions = await _positions(session, list(accounts))
        keys = {key for held in positions.values() for key, _ in held}
        keys |= {f"{t.exchange}.{t.symbol}" for pending in trades.values() for t in pending}
        instruments = await _instruments(session, keys)
        runs: list[BookingRun] = []
        writes = _Writes()
        for account_id, account in accounts.items():
            held = positions.get(account_id, {})
            pending = trades.get(account_id, [])
            prices = marks[account_id]
            rolling = trading_day is not None and trading_day > account.trading_day
            if not pending and not prices and not rolling:
                runs.append(BookingRun(account=account, positions=_ordered(held), booked=[]))
                continue
            books = book_trades(
                account, held, pending, instruments, prices=prices, trading_day=trading_day
            )
            after = msgspec.structs.replace(
                books.account, updated_at=max(books.account.updated_at, now)
            )
            writes.add(
                account_id,
                account=after,
                before=held,
                after=books.positions,
                pending=pending,
                books=books,
                now=now,
            )
            runs.append(
                BookingRun(
                    account=after,
                    positions=_ordered(books.positions),
                    booked=books.booked,
                    refused=books.refused,
                )
            )
        await writes.apply(session)
    return runs, [account_id for account_id in ids if account_id not in accounts]


class _Writes:
    """Everything a run changes, written as a few multi-row statements."""

    def __init__(self) -> None:
        self.accounts: list[dict[str, Any]] = []
        self.trades: list[dict[str, Any]] = []
        self.new_positions: list[dict[str, Any]] = []
        self.changed_positions: list[dict[str, Any]] = []
        self.gone_positions: list[dict[str, Any]] = []

    def add(
        self,
        account_id: str,
        *,
        account: Account,
        before: Mapping[PositionKey, Position],
        after: Mapping[PositionKey, Position],
        pending: Sequence[Trade],
        books: Books,
        now: datetime,
    ) -> None:
        self.accounts.append(
            {"key": account_id, **{f"new_{n}": getattr(account, n) for n in _ACCOUNT_MONEY}}
        )
        commission = {trade.id: trade.commission for trade in books.booked}
        errors = {refusal.trade_id: refusal.reason for refusal in books.refused}
        self.trades += [
            {
                "key": trade.id,
                "new_booked_at": now,
                "new_commission": commission.get(trade.id, trade.commission),
                "new_booking_error": errors.get(trade.id),
            }
            for trade in pending
        ]
        for position_key, position in after.items():
            if position_key not in before:
                self.new_positions.append({**msgspec.structs.asdict(position), "updated_at": now})
            elif position != before[position_key]:
                self.changed_positions.append(_position_change(position, now))
        self.gone_positions += [
            {"k_account": p.account_id, "k_exchange": p.exchange, "k_symbol": p.symbol,
             "k_direction": p.direction}
            for position_key, p in before.items()
            if position_key not in after
        ]  # fmt: skip

    async def apply(self, session: AsyncSession) -> None:
        if self.accounts:
            await session.execute(_UPDATE_ACCOUNT, self.accounts)
        if self.trades:
            await session.execute(_UPDATE_TRADE, self.trades)
        if self.gone_positions:
            await session.execute(_DELETE_POSITION, self.gone_positions)
        if self.changed_positions:
            await session.execute(_UPDATE_POSITION, self.changed_positions)
        if self.new_positions:
            await session.execute(insert(_POSITIONS), self.new_positions)


def _bound(row: type[Any], names: Sequence[str]) -> dict[str, Any]:
    # Bound names differ from the columns': SQLAlchemy reserves those for the SET clause.
    columns = row.__table__.c
    return {name: bindparam(f"new_{name}", type_=columns[name].type) for name in names}


_ACCOUNTS = cast("Table", AccountRow.__table__)
_TRADES = cast("Table", TradeRow.__table__)
_POSITIONS = cast("Table", PositionRow.__table__)

_UPDATE_ACCOUNT = (
    update(_ACCOUNTS)
    .where(AccountRow.account_id == bindparam("key"))
    .values(_bound(AccountRow, _ACCOUNT_MONEY))
)
_UPDATE_TRADE = (
    update(_TRADES)
    .where(TradeRow.id == bindparam("key"))
    .values(_bound(TradeRow, ("booked_at", "commission", "booking_error")))
)
_POSITION_ROW = and_(
    PositionRow.account_id == bindparam("k_account"),
    PositionRow.exchange == bindparam("k_exchange", type_=PositionRow.__table__.c.exchange.type),
    PositionRow.symbol == bindparam("k_symbol"),
    PositionRow.direction == bindparam("k_direction", type_=PositionRow.__table__.c.direction.type),
)
_UPDATE_POSITION = (
    update(_POSITIONS)
    .where(_POSITION_ROW)
    .values(_bound(PositionRow, (*_POSITION_VALUES, "updated_at")))
)
_DELETE_POSITION = delete(_POSITIONS).where(_POSITION_ROW)


def _position_change(position: Position, now: datetime) -> dict[str, Any]:
    values = {f"new_{name}": getattr(position, name) for name in _POSITION_VALUES}
    return {
        **values,
        "new_updated_at": now,
        "k_account": position.account_id,
        "k_exchange": position.exchange,
        "k_symbol": position.symbol,
        "k_direction": position.direction,
    }


async def _unbooked(session: AsyncSession, account_ids: list[str]) -> dict[str, list[Trade]]:
    query = (
        select(TradeRow.__table__)
        .where(TradeRow.account_id.in_(account_ids), TradeRow.booked_at.is_(None))
        .order_by(TradeRow.ts, TradeRow.id)
    )
    found: dict[str, list[Trade]] = defaultdict(list)
    for row in await session.execute(query):
        trade = _struct(Trade, row)
        found[trade.account_id].append(trade)
    return found


async def _positions(
    session: AsyncSession, account_ids: list[str]
) -> dict[str, dict[PositionKey, Position]]:
    query = select(PositionRow.__table__).where(PositionRow.account_id.in_(account_ids))
    found: dict[str, dict[PositionKey, Position]] = defaultdict(dict)
    for row in await session.execute(query):
        position = _struct(Position, row)
        found[position.account_id][
            (f"{position.exchange}.{position.symbol}", position.direction)
        ] = position
    return found


async def _instruments(session: AsyncSession, keys: set[str]) -> dict[str, Instrument]:
    if not keys:
        return {}
    pairs = [tuple(key.split(".", 1)) for key in keys]
    query = select(InstrumentRow.__table__).where(
        tuple_(InstrumentRow.exchange, InstrumentRow.symbol).in_(pairs)
    )
    found: dict[str, Instrument] = {}
    for row in await session.execute(query):
        values = row._mapping
        rates = CommissionRates(
            **{name: values[f"commission_{name}"] for name in CommissionRates.__struct_fields__}
        )
        instrument = Instrument(
            **{name: values[name] for name in Instrument.__struct_fields__ if name != "commission"},
            commission=rates,
        )
        found[instrument.key] = instrument
    return found


def _account(row: Any) -> Account:
    return _struct(Account, row)


_S = TypeVar("_S", bound=msgspec.Struct)


def _struct(kind: type[_S], row: Any) -> _S:
    """The Struct of a row, from the columns named like its fields."""
    values = row._mapping
    return kind(**{name: values[name] for name in kind.__struct_fields__})


def _ordered(positions: Mapping[PositionKey, Position]) -> list[Position]:
    return sorted(positions.values(), key=lambda p: (p.exchange, p.symbol, p.direction))
