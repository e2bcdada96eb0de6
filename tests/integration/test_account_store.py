"""Booking runs as stored, on SQLite and PostgreSQL: each trade booked once, rolls to a new
trading day, and runs of one account that queue instead of booking the same trade twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from shared.domain import (
    CommissionRates,
    Direction,
    Exchange,
    Instrument,
    Offset,
    Order,
    OrderType,
    Side,
    Trade,
)
from shared.store import Role, UserRepository
from shared.store.accounts import AccountExistsError, AccountStore, UnknownAccountError
from shared.store.catalogue import CatalogueRepository
from shared.store.orders import OrderStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
DAY1, DAY2 = date(2026, 11, 24), date(2026, 11, 25)
RB = Instrument(
    symbol="rb2701",
    exchange=Exchange.SHFE,
    product="rb",
    multiplier=10,
    price_tick=1.0,
    long_margin_ratio=0.1,
    short_margin_ratio=0.1,
    commission=CommissionRates(open_by_money=0.0001, close_by_money=0.0001,
                               close_today_by_money=0.0003),
)  # fmt: skip


class Books:
    def __init__(self, accounts: AccountStore, orders: OrderStore) -> None:
        self.accounts = accounts
        self.orders = orders
        self._n = 0

    async def fill(self, side: Side, offset: Offset, price: float, volume: int, day: date) -> Trade:
        """An order and its fill, stored the way the order service stores them (unbooked)."""
        self._n += 1
        ts = T0 + timedelta(days=(day - DAY1).days, seconds=self._n)
        order = Order(
            id=f"o{self._n}",
            client_order_id=f"c{self._n}",
            account_id="acc-7",
            symbol=RB.symbol,
            exchange=RB.exchange,
            side=side,
            offset=offset,
            type=OrderType.LIMIT,
            price=price,
            volume=volume,
            created_at=ts,
            updated_at=ts,
        )
        await self.orders.place(1, order)
        trade = Trade(
            id=f"t{self._n}",
            order_id=order.id,
            account_id="acc-7",
            symbol=RB.symbol,
            exchange=RB.exchange,
            side=side,
            offset=offset,
            price=price,
            volume=volume,
            ts=ts,
            trading_day=day,
            venue_trade_id=f"v{self._n}",
        )
        assert await self.orders.add_trade(trade)
        return trade


@pytest.fixture
async def books(store_sessions: async_sessionmaker[AsyncSession]) -> Books:
    await UserRepository(store_sessions).create("trader", "hash", Role.TRADER)
    await CatalogueRepository(store_sessions).upsert_instruments([RB])
    accounts = AccountStore(store_sessions)
    await accounts.open(1, "acc-7", balance=1_000_000.0, trading_day=DAY1, now=T0)
    return Books(accounts, OrderStore(store_sessions))


async def test_each_trade_is_booked_once_however_often_the_run_is_asked_for(books: Books) -> None:
    first = await books.fill(Side.BUY, Offset.OPEN, 3500.0, 2, DAY1)
    run = await books.accounts.book("acc-7", {}, T0)
    assert [t.id for t in run.booked] == [first.id]
    fee = 3500.0 * 2 * 10 * 0.0001
    assert run.booked[0].commission == pytest.approx(fee)
    assert run.account.balance == pytest.approx(1_000_000.0 - fee)
    again = await books.accounts.book("acc-7", {RB.key: 3510.0}, T0)
    assert again.booked == []  # nothing new: only the mark moved
    (position,) = again.positions
    assert position.unrealized_pnl == pytest.approx((3510.0 - 3500.0) * 2 * 10)
    assert again.account.balance == pytest.approx(run.account.balance)
    (stored,) = await books.accounts.trades(["acc-7"])
    assert stored.commission == pytest.approx(fee)
    assert await books.accounts.unbooked("acc-7") == []


async def test_runs_of_one_account_at_the_same_time_book_each_trade_once(books: Books) -> None:
    for n in range(6):
        await books.fill(Side.BUY, Offset.OPEN, 3500.0 + n, 1, DAY1)
    runs = await asyncio.gather(*(books.accounts.book("acc-7", {}, T0) for _ in range(4)))
    booked = [trade.id for run in runs for trade in run.booked]
    assert sorted(booked) == [f"t{n}" for n in range(1, 7)]
    (position,) = await books.accounts.positions("acc-7")
    assert position.volume == 6
    account = await books.accounts.get("acc-7")
    assert account is not None
    assert account.commission == pytest.approx(sum((3500.0 + n) * 10 * 0.0001 for n in range(6)))


async def test_a_new_trading_day_rolls_the_books_and_drops_closed_positions(books: Books) -> None:
    await books.fill(Side.BUY, Offset.OPEN, 3500.0, 2, DAY1)
    await books.fill(Side.SELL, Offset.OPEN, 3500.0, 1, DAY1)
    await books.fill(Side.BUY, Offset.CLOSE_TODAY, 3490.0, 1, DAY1)
    day1 = await books.accounts.book("acc-7", {}, T0)
    assert {(p.direction, p.volume) for p in day1.positions} == {
        (Direction.LONG, 2),
        (Direction.SHORT, 0),
    }
    day2 = await books.accounts.book("acc-7", {}, T0 + timedelta(days=1), trading_day=DAY2)
    (position,) = day2.positions
    assert (position.direction, position.yesterday_volume, position.today_volume) == (
        Direction.LONG,
        2,
        0,
    )
    assert (day2.account.trading_day, day2.account.commission, day2.account.realized_pnl) == (
        DAY2,
        0.0,
        0.0,
    )
    assert [p.direction for p in await books.accounts.positions("acc-7")] == [Direction.LONG]
    # A close on day 2 takes yesterday's lots, at the close-yesterday fee.
    close = await books.fill(Side.SELL, Offset.CLOSE_YESTERDAY, 3520.0, 1, DAY2)
    run = await books.accounts.book("acc-7", {}, T0 + timedelta(days=1))
    assert [t.id for t in run.booked] == [close.id]
    assert run.booked[0].commission == pytest.approx(3520.0 * 10 * 0.0001)


async def test_a_trade_the_books_refuse_is_kept_with_its_reason(books: Books) -> None:
    refused = await books.fill(Side.SELL, Offset.CLOSE, 3500.0, 1, DAY1)
    fine = await books.fill(Side.BUY, Offset.OPEN, 3500.0, 1, DAY1)
    run = await books.accounts.book("acc-7", {}, T0)
    assert [t.id for t in run.booked] == [fine.id]
    assert [r.trade_id for r in run.refused] == [refused.id]
    assert await books.accounts.unbooked("acc-7") == []  # set aside, not retried forever
    assert (await books.accounts.book("acc-7", {}, T0)).refused == []


async def test_accounts_are_opened_once_and_unknown_ones_are_named(books: Books) -> None:
    with pytest.raises(AccountExistsError, match="acc-7"):
        await books.accounts.open(1, "acc-7", balance=1.0, trading_day=DAY1, now=T0)
    with pytest.raises(UnknownAccountError, match="acc-9"):
        await books.accounts.book("acc-9", {}, T0)
    assert [(user, account.account_id) for user, account in await books.accounts.list_all()] == [
        (1, "acc-7")
    ]
