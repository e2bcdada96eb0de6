"""Orders through the service: risk, the row before the venue, the paper broker's answers
recorded and published, on SQLite and PostgreSQL, with the shipped IF2101 ticks as the market."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from itertools import count
from typing import TYPE_CHECKING

import pytest

from gateway.orders import OrderFinishedError, OrderRefusedError, OrderRequest, OrderService
from gateway.venues._sources import load_ticks
from gateway.venues.paper import PaperBroker
from gateway.venues.simulated import DEFAULT_REPLAY_FILE
from shared.bus import MemoryBus
from shared.domain import (
    Account,
    Event,
    Exchange,
    Offset,
    OrderEvent,
    OrderStatus,
    OrderType,
    Side,
    Tick,
    Trade,
)
from shared.instruments import ProductCatalogue, shipped_products
from shared.orders import Cancelled
from shared.risk import RiskEngine, Rule
from shared.sessions import load_calendar, load_sessions
from shared.store import Role, UserRepository
from shared.store.order_journal import OrderJournal
from shared.store.orders import OrderStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


TICKS = load_ticks(DEFAULT_REPLAY_FILE)
CONTRACT = ProductCatalogue(shipped_products()).contract("CFFEX.IF2101")


class Market:
    """The replayed market: the latest quote per contract, fed to the paper broker."""

    def __init__(self, broker: PaperBroker) -> None:
        self._broker = broker
        self.quotes: dict[str, Tick] = {}
        self.position = 0

    def play(self, count: int) -> Tick:
        for tick in TICKS[self.position : self.position + count]:
            self.quotes[f"{tick.exchange}.{tick.symbol}"] = tick
            self._broker.accept(tick)
        self.position += count
        return TICKS[self.position - 1]

    def now(self) -> datetime:
        return TICKS[max(0, self.position - 1)].ts


class Harness:
    def __init__(
        self,
        service: OrderService,
        market: Market,
        store: OrderStore,
        bus: MemoryBus,
        stored_trades: list[Trade],
    ) -> None:
        self.stored_trades = stored_trades
        self.service = service
        self.market = market
        self.store = store
        self.bus = bus


@pytest.fixture
async def harness(
    store_engine: AsyncEngine, store_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Harness]:
    await UserRepository(store_sessions).create("trader", "hash", Role.TRADER)
    store = OrderStore(store_sessions)
    broker = PaperBroker({CONTRACT.key: CONTRACT}, load_sessions(), load_calendar())
    market = Market(broker)
    risk = RiskEngine("paper-1", {CONTRACT.key: CONTRACT})
    risk.on_account(
        Account(account_id="paper-1", trading_day=TICKS[0].trading_day, updated_at=TICKS[0].ts,
                balance=10_000_000.0)
    )  # fmt: skip
    ids = count(1)
    stored_trades: list[Trade] = []
    bus = MemoryBus()
    await bus.start()
    service = OrderService(
        store,
        OrderJournal(store_engine),
        broker,
        bus,
        quote_of=market.quotes.get,
        risk_for=lambda account_id: risk,
        clock=market.now,
        new_id=lambda: f"id-{next(ids)}",
        on_trade=stored_trades.append,
    )
    broker.bind(service)
    await service.start()
    try:
        yield Harness(service, market, store, bus, stored_trades)
    finally:
        await service.stop()
        await bus.close()


def _request(client_order_id: str, **fields: object) -> OrderRequest:
    base: dict[str, object] = {
        "account_id": "paper-1",
        "client_order_id": client_order_id,
        "exchange": Exchange.CFFEX,
        "symbol": "IF2101",
        "side": Side.BUY,
        "offset": Offset.OPEN,
        "type": OrderType.LIMIT,
        "volume": 1,
    }
    return OrderRequest(**{**base, **fields})  # type: ignore[arg-type]


async def _published(bus: MemoryBus, count: int, ready: asyncio.Event) -> list[Event]:
    """The next ``count`` events on the account topics."""
    async with await bus.subscribe("account.") as subscription:
        ready.set()
        events: list[Event] = []
        async for event in subscription:
            events.append(event)
            if len(events) == count:
                return events
    return events


async def test_a_marketable_order_fills_is_booked_once_and_a_retry_sends_nothing(
    harness: Harness,
) -> None:
    quote = harness.market.play(100)
    assert quote.ask_price is not None
    request = _request("web-1", price=quote.ask_price + 1.0)
    ready = asyncio.Event()
    listening = asyncio.create_task(_published(harness.bus, 2, ready))
    await ready.wait()
    order = await harness.service.place(1, request)
    published = await asyncio.wait_for(listening, 5)
    assert [type(e).__name__ for e in published] == ["OrderEvent", "OrderEvent"]
    assert isinstance(published[1], OrderEvent)
    assert published[1].order == order
    assert order.status is OrderStatus.FILLED
    assert order.average_fill_price == pytest.approx(quote.ask_price)
    (trade,) = await harness.store.trades(order.id)
    assert harness.stored_trades == [trade]  # handed on for booking, once
    assert (trade.price, trade.volume, trade.trading_day) == (quote.ask_price, 1, quote.trading_day)
    assert trade.venue_trade_id == order.trade_ids[0]
    kinds = [type(e).__name__ for e in await harness.store.events(order.id)]
    assert kinds == ["Accepted", "Filled"]
    again = await harness.service.place(1, request)
    assert again == order
    assert len(await harness.store.trades(order.id)) == 1
    assert len(harness.stored_trades) == 1


async def test_risk_refusals_are_stored_as_rejected_with_the_rule(harness: Harness) -> None:
    harness.market.play(100)
    with pytest.raises(OrderRefusedError) as refused:
        await harness.service.place(1, _request("web-2", price=5230.1))  # off the 0.2 grid
    assert refused.value.rejection.rule is Rule.PRICE_TICK
    stored = await harness.store.by_client_id("paper-1", "web-2")
    assert stored is not None
    assert stored.status is OrderStatus.REJECTED
    assert stored.reject_reason is not None
    assert stored.reject_reason.startswith("price_tick: price 5230.1")


async def test_a_resting_order_fills_later_from_the_market_or_is_cancelled(
    harness: Harness,
) -> None:
    quote = harness.market.play(100)
    assert quote.bid_price is not None
    low = min(t.last_price for t in TICKS[100:]) + 0.2
    resting = await harness.service.place(1, _request("web-3", price=low))
    far = await harness.service.place(1, _request("web-4", price=quote.bid_price - 200.0))
    assert (resting.status, far.status) == (OrderStatus.SUBMITTED, OrderStatus.SUBMITTED)
    harness.market.play(len(TICKS) - 100)  # the rest of the day: the low comes
    await harness.service.drained()
    filled = await harness.store.get(resting.id)
    assert filled is not None
    assert filled.status is OrderStatus.FILLED
    assert len(await harness.store.trades(resting.id)) == 1
    cancelled = await harness.service.cancel(far.id)
    assert cancelled.status is OrderStatus.CANCELLED
    kinds = [type(e).__name__ for e in await harness.store.events(far.id)]
    assert kinds == ["Accepted", "CancelRequested", "Cancelled"]
    with pytest.raises(OrderFinishedError):
        await harness.service.cancel(far.id)


async def test_a_command_does_not_wait_for_a_busy_market_to_fall_quiet(harness: Harness) -> None:
    """Answers keep coming while an order is placed; the order waits only for those queued
    before its own, so it returns although the queue never empties."""
    quote = harness.market.play(100)
    assert quote.bid_price is not None
    stop = asyncio.Event()

    async def busy_market() -> None:
        while not stop.is_set():
            # Answers for an order this gateway does not know: taken, logged, dropped.
            harness.service.on_order_event("elsewhere", Cancelled(ts=quote.ts))
            await asyncio.sleep(0)

    noise = asyncio.create_task(busy_market())
    try:
        request = _request("web-9", price=quote.bid_price - 100.0)
        # Generous: a place() that waited for the queue to empty would never return, and a
        # loaded CI machine once needed more than 10 s to log the noise ahead of the order.
        order = await asyncio.wait_for(harness.service.place(1, request), 60)
        assert order.status is OrderStatus.SUBMITTED
    finally:
        stop.set()
        await noise
