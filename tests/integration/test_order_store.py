"""Orders in the database (SQLite and PostgreSQL): idempotent placing, events through the state
machine with the trail kept, fills booked once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from shared.domain import (
    Exchange,
    Offset,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Trade,
    TriggerCondition,
    TriggerSource,
)
from shared.orders import (
    Accepted,
    Cancelled,
    Filled,
    IllegalTransitionError,
    Rejected,
)
from shared.store import Role, UserRepository
from shared.store.orders import OrderStore, UnknownOrderError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)


def _order(order_id: str, client_order_id: str, **fields: object) -> Order:
    base: dict[str, object] = {
        "id": order_id,
        "client_order_id": client_order_id,
        "account_id": "acc-7",
        "symbol": "rb2605",
        "exchange": Exchange.SHFE,
        "side": Side.BUY,
        "offset": Offset.OPEN,
        "type": OrderType.LIMIT,
        "price": 3500.0,
        "volume": 5,
        "created_at": T0,
        "updated_at": T0,
    }
    return Order(**{**base, **fields})  # type: ignore[arg-type]


@pytest.fixture
async def store(store_sessions: async_sessionmaker[AsyncSession]) -> OrderStore:
    await UserRepository(store_sessions).create("trader", "hash", Role.TRADER)
    return OrderStore(store_sessions)


async def test_placing_is_idempotent_on_the_client_order_id(store: OrderStore) -> None:
    first, created = await store.place(1, _order("o1", "web-1"))
    assert created
    retry, created = await store.place(1, _order("o2", "web-1", price=3600.0))
    assert not created
    assert retry == first  # the first order, not the retry's
    assert await store.get("o2") is None
    other, created = await store.place(1, _order("o3", "web-1", account_id="acc-8"))
    assert created  # the key is per account
    assert other.id == "o3"


async def test_events_go_through_the_state_machine_and_are_all_kept(store: OrderStore) -> None:
    await store.place(1, _order("o1", "web-1"))
    accepted = await store.record("o1", Accepted(ts=T0 + timedelta(seconds=1), venue_order_id="v9"))
    assert (accepted.status, accepted.venue_order_id) == (OrderStatus.SUBMITTED, "v9")
    fill = Filled(ts=T0 + timedelta(seconds=2), trade_id="t1", price=3500.0, volume=2)
    await store.record("o1", fill)
    again = await store.record("o1", fill)  # the venue said it twice
    assert (again.status, again.filled_volume, again.trade_ids) == (
        OrderStatus.PARTIALLY_FILLED,
        2,
        ("t1",),
    )
    with pytest.raises(IllegalTransitionError):  # a partly filled order cannot be rejected
        await store.record("o1", Rejected(ts=T0 + timedelta(seconds=3), reason="late"))
    stored = await store.get("o1")
    assert stored == again  # the refused event changed nothing
    events = await store.events("o1")
    assert [type(e).__name__ for e in events] == ["Accepted", "Filled", "Filled", "Rejected"]
    assert events[1] == fill  # decoded back to the same event
    with pytest.raises(UnknownOrderError):
        await store.record("nope", fill)


async def test_working_orders_are_the_unfinished_ones_oldest_first(store: OrderStore) -> None:
    for index in range(3):
        await store.place(1, _order(f"o{index}", f"c{index}", created_at=T0 + timedelta(index)))
    await store.record("o1", Cancelled(ts=T0 + timedelta(days=2)))
    assert [o.id for o in await store.working("acc-7")] == ["o0", "o2"]
    assert await store.working("acc-8") == []


async def test_trigger_fields_round_trip(store: OrderStore) -> None:
    order = _order(
        "o1",
        "c1",
        type=OrderType.CONDITIONAL,
        trigger_price=3490.0,
        trigger_source=TriggerSource.BID,
        trigger_condition=TriggerCondition.AT_OR_BELOW,
    )
    await store.place(1, order)
    assert await store.get("o1") == order
    assert await store.by_client_id("acc-7", "c1") == order


async def test_a_fill_is_booked_once_by_its_venue_id(store: OrderStore) -> None:
    await store.place(1, _order("o1", "c1"))
    trade = Trade(
        id="tr-1",
        order_id="o1",
        account_id="acc-7",
        symbol="rb2605",
        exchange=Exchange.SHFE,
        side=Side.BUY,
        offset=Offset.OPEN,
        price=3500.0,
        volume=2,
        ts=T0,
        trading_day=date(2026, 11, 24),
        commission=3.5,
        venue_trade_id="5678",
    )
    assert await store.add_trade(trade)
    assert not await store.add_trade(Trade(**{**_fields(trade), "id": "tr-2"}))
    assert await store.trades("o1") == [trade]


def _fields(trade: Trade) -> dict[str, object]:
    return {name: getattr(trade, name) for name in trade.__struct_fields__}


# SQLite serializes every write; the row lock is what keeps PostgreSQL right.
@pytest.mark.parametrize(
    "store_engine", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_concurrent_callbacks_for_one_order_all_count(store: OrderStore) -> None:
    await store.place(1, _order("o1", "c1", volume=10))
    fills = [
        Filled(ts=T0 + timedelta(seconds=i), trade_id=f"t{i}", price=3500.0, volume=1)
        for i in range(10)
    ]
    await asyncio.gather(*(store.record("o1", fill) for fill in fills))
    final = await store.get("o1")
    assert final is not None
    assert (final.filled_volume, final.status) == (10, OrderStatus.FILLED)
    assert sorted(final.trade_ids) == sorted(f.trade_id for f in fills)
