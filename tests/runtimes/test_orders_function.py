"""The `orders` function books trades the same way inline, on a Dramatiq worker and on the
Lambda runtime: each process opens the shared database, books each pending trade once, and
answers with the account, its positions and the trades booked."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from functions.envelope import FunctionCallError
from functions.orders import AccountMarks, BookRequest, book_trades
from shared.domain import (
    CommissionRates,
    Exchange,
    Instrument,
    Offset,
    Order,
    OrderType,
    Side,
    Trade,
)
from shared.store import Role, UserRepository, create_engine, session_factory
from shared.store.accounts import AccountStore
from shared.store.catalogue import CatalogueRepository
from shared.store.orders import OrderStore

if TYPE_CHECKING:
    from functions.dispatch import Dispatcher
    from shared.config import Settings

pytestmark = [pytest.mark.redis, pytest.mark.slow]

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
DAY = date(2026, 11, 24)
RB = Instrument(
    symbol="rb2701",
    exchange=Exchange.SHFE,
    product="rb",
    multiplier=10,
    price_tick=1.0,
    long_margin_ratio=0.1,
    short_margin_ratio=0.1,
    commission=CommissionRates(open_by_money=0.0001, close_by_money=0.0001),
)
_setup = asyncio.Lock()


async def _account_with_fills(settings: Settings, account_id: str, fills: int) -> None:
    """An account, and ``fills`` one-lot buys stored unbooked, as the order service leaves them."""
    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        async with _setup:
            users = UserRepository(sessions)
            user = await users.get_by_username("runtime") or await users.create(
                "runtime", "hash", Role.TRADER
            )
            await CatalogueRepository(sessions).upsert_instruments([RB])
        await AccountStore(sessions).open(
            user.id, account_id, balance=1_000_000.0, trading_day=DAY, now=T0
        )
        orders = OrderStore(sessions)
        for n in range(fills):
            ts = T0 + timedelta(seconds=n)
            order = Order(
                id=f"{account_id}-o{n}", client_order_id=f"c{n}", account_id=account_id,
                symbol=RB.symbol, exchange=RB.exchange, side=Side.BUY, offset=Offset.OPEN,
                type=OrderType.LIMIT, price=3500.0 + n, volume=1, created_at=ts, updated_at=ts,
            )  # fmt: skip
            await orders.place(user.id, order)
            trade = Trade(
                id=f"{account_id}-t{n}", order_id=order.id, account_id=account_id,
                symbol=RB.symbol, exchange=RB.exchange, side=Side.BUY, offset=Offset.OPEN,
                price=3500.0 + n, volume=1, ts=ts, trading_day=DAY,
                venue_trade_id=f"{account_id}-v{n}",
            )  # fmt: skip
            await orders.add_trade(trade)
    finally:
        await engine.dispose()


async def test_every_runtime_books_each_trade_once(
    dispatcher: Dispatcher, settings: Settings
) -> None:
    account_id = f"acc-{dispatcher.kind}"
    await _account_with_fills(settings, account_id, 3)
    request = BookRequest(
        accounts=[
            AccountMarks(account_id=account_id, prices={RB.key: 3510.0}),
            AccountMarks(account_id="nobody"),
        ]
    )
    first = await dispatcher.call(book_trades, request)
    (run,) = first.results
    assert first.unknown == ["nobody"]
    assert [t.id for t in run.booked] == [f"{account_id}-t{n}" for n in range(3)]
    fees = [(3500.0 + n) * 10 * 0.0001 for n in range(3)]
    assert [t.commission for t in run.booked] == pytest.approx(fees)
    (position,) = run.positions
    assert (position.volume, position.average_price) == (3, pytest.approx(3501.0))
    assert position.unrealized_pnl == pytest.approx((3510.0 - 3501.0) * 3 * 10)
    assert run.account.balance == pytest.approx(1_000_000.0 - sum(fees))
    again = await dispatcher.call(book_trades, request)
    assert again.results[0].booked == []  # booked once, however often asked
    assert again.results[0].account.balance == pytest.approx(run.account.balance)


async def test_a_request_naming_an_account_twice_is_refused_by_name(
    dispatcher: Dispatcher,
) -> None:
    twice = BookRequest(accounts=[AccountMarks(account_id="a"), AccountMarks(account_id="a")])
    with pytest.raises(FunctionCallError) as caught:
        await dispatcher.call(book_trades, twice)
    assert caught.value.error.code == "invalid_request"
    assert caught.value.error.fields == ["accounts"]
