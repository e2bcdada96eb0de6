"""The gateway's trading side, assembled: order service, paper exchange, accounts and booking.

The paper exchange is the order venue of the simulated venue: it sees every tick the clients
see (a `MarketTee`) and lives in the venue's time, so that a replay of 2021 trades in 2021,
inside that day's sessions. A replica without a venue takes no orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from functions.dispatch import Dispatcher
from gateway.orders.booker import Booker
from gateway.orders.desk import TradingDesk
from gateway.orders.risk_watch import RiskWatch
from gateway.orders.service import OrderService
from gateway.venues import MarketSink, MarketTee, Venue
from gateway.venues.paper import PaperBroker
from shared.bus import EventBus
from shared.clock import utc_now
from shared.config import Settings
from shared.domain import Account, Order, exchange_local
from shared.sessions import TradingCalendar, load_sessions
from shared.store.accounts import AccountStore
from shared.store.catalogue import CatalogueRepository
from shared.store.order_journal import OrderJournal
from shared.store.orders import OrderStore
from shared.store.risk_settings import RiskSettingsStore

# Night sessions open at 21:00 and belong to the next trading day; the day's settlement is
# done well before 17:00. An order or account dated after this time is the next day's.
_NEXT_DAY_FROM = time(17, 0)
_BEFORE_ANY_TICK = datetime.min.replace(tzinfo=UTC)
_ALL_INSTRUMENTS = 1_000_000


def trading_day_at(calendar: TradingCalendar, ts: datetime) -> date:
    local = exchange_local(ts)
    day = local.date()
    if local.time() >= _NEXT_DAY_FROM or not calendar.is_trading_day(day):
        return calendar.next_trading_day(day)
    return day


def new_order_id() -> str:
    return uuid.uuid4().hex


class Trading:
    """What the REST handlers use to trade."""

    def __init__(
        self,
        *,
        settings: Settings,
        desk: TradingDesk,
        orders: OrderService,
        order_store: OrderStore,
        accounts: AccountStore,
        booker: Booker,
        broker: PaperBroker,
        calendar: Callable[[], TradingCalendar],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.desk = desk
        self.orders = orders
        self.order_store = order_store
        self.accounts = accounts
        self.booker = booker
        self.broker = broker
        self._calendar = calendar
        self.clock = clock
        self._market_day: date | None = None
        self._background: set[asyncio.Task[object]] = set()

    def trading_day(self) -> date:
        return trading_day_at(self._calendar(), self.clock())

    def on_new_day(self, day: date) -> None:
        """The market moved to trading day ``day`` (or a replay started its day over): the
        day's orders have expired; daily risk counts start again, and each account's next
        booking run rolls it to the new day."""
        if self._market_day is not None:
            for account_id in self.desk.account_ids:
                self.desk.risk_for(account_id).new_trading_day()
        self._market_day = day
        self.booker.trading_day = day
        # A new day may lift a daily-loss switch to reducing-only: stored in the background.
        task = asyncio.get_running_loop().create_task(self.desk.persist_state_changes())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        for account_id in self.desk.account_ids:
            self.booker.request(account_id)

    async def reconcile(self, working: list[Order]) -> None:
        """After a restart: hand the venue the orders the database holds as working."""
        if not working:
            return
        calendar = self._calendar()
        self.broker.reconcile(
            working,
            self.clock(),
            day_of=lambda order: trading_day_at(calendar, order.created_at),
        )
        await self.orders.drained()

    async def open_paper_account(self, user_id: int, account_id: str) -> Account:
        return await self.desk.open_account(
            user_id,
            account_id,
            balance=self.settings.paper_starting_balance,
            trading_day=self.trading_day(),
            now=self.clock(),
        )


def venue_clock(venue: Venue) -> Callable[[], datetime]:
    """The venue's time; the wall clock until a replay has played its first tick."""

    def now() -> datetime:
        market = venue.market_time()
        return utc_now() if market == _BEFORE_ANY_TICK else market

    return now


@contextlib.asynccontextmanager
async def running_trading(
    settings: Settings,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    *,
    dispatcher: Dispatcher,
    bus: EventBus,
    venue: Venue,
    calendar: Callable[[], TradingCalendar],
) -> AsyncIterator[Trading]:
    """Loaded and started; the caller starts the venue with `market_sink` afterwards."""
    instruments = {
        instrument.key: instrument
        for instrument in await CatalogueRepository(sessions).list_instruments(
            limit=_ALL_INSTRUMENTS
        )
    }
    clock = venue_clock(venue)
    # The broker announces new trading days to `Trading`, which is built after it.
    days: list[Callable[[date], None]] = []
    broker = PaperBroker(
        instruments,
        load_sessions(),
        calendar(),
        market_slippage_ticks=settings.paper_slippage_ticks,
        on_new_day=lambda day: days[0](day) if days else None,
    )
    order_store = OrderStore(sessions)
    accounts = AccountStore(sessions)
    desk = TradingDesk(
        accounts, order_store, instruments, risk_settings=RiskSettingsStore(sessions)
    )
    await desk.load()
    booker = Booker(
        dispatcher,
        bus,
        quote_of=broker.quote,
        on_booked=desk.on_booked,
        mark_interval_s=settings.mark_interval_s,
    )
    orders = OrderService(
        order_store,
        OrderJournal(engine),
        broker,
        bus,
        quote_of=broker.quote,
        risk_for=desk.risk_for,
        clock=clock,
        new_id=new_order_id,
        on_trade=lambda trade: booker.request(trade.account_id),
    )
    broker.bind(orders)
    working = [
        order for account_id in desk.account_ids for order in await order_store.working(account_id)
    ]
    await orders.start(working)
    try:
        await booker.start(desk.account_ids)
        watch = RiskWatch(desk, bus)
        await watch.start()
        try:
            trading = Trading(
                settings=settings,
                desk=desk,
                orders=orders,
                order_store=order_store,
                accounts=accounts,
                booker=booker,
                broker=broker,
                calendar=calendar,
                clock=clock,
            )
            days.append(trading.on_new_day)
            await trading.reconcile(working)
            yield trading
        finally:
            await watch.stop()
            await booker.stop()
    finally:
        await orders.stop()


def market_sink(feed: MarketSink, trading: Trading | None) -> MarketSink:
    return feed if trading is None else MarketTee(feed, trading.broker)
