"""The gateway's trading side, assembled: order service, order routing, accounts and booking.

The paper exchange sees every tick the clients see (a `MarketTee`) and lives in the venue's
time, so that a replay of 2021 trades in 2021, inside that day's sessions. With a live venue
(CTP) the accounts it trades route their orders to the broker (`OrderRouter`), while every
other account keeps trading on paper against the live market. A replica without a venue takes
no orders.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from functions.dispatch import Dispatcher
from gateway.orders.booker import Booker
from gateway.orders.desk import TradingDesk
from gateway.orders.risk_watch import RiskWatch
from gateway.orders.routing import OrderRouter
from gateway.orders.service import OrderService
from gateway.tasks import BackgroundTasks
from gateway.venues import BrokerLink, MarketSink, MarketTee, Venue
from gateway.venues.paper import PaperBroker
from shared.bus import EventBus
from shared.clock import utc_now
from shared.config import Settings
from shared.domain import (
    Account,
    ComponentState,
    Instrument,
    Order,
    VenueStatusEvent,
    exchange_local,
)
from shared.sessions import TradingCalendar, load_sessions
from shared.store.accounts import AccountExistsError, AccountStore
from shared.store.order_journal import OrderJournal
from shared.store.orders import OrderStore
from shared.store.risk_settings import RiskSettingsStore
from shared.store.users import UserRepository

log = logging.getLogger(__name__)

# Night sessions open at 21:00 and belong to the next trading day; the day's settlement is
# done well before 17:00. An order or account dated after this time is the next day's.
_NEXT_DAY_FROM = time(17, 0)
_BEFORE_ANY_TICK = datetime.min.replace(tzinfo=UTC)


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
        router: OrderRouter,
        bus: EventBus,
        calendar: Callable[[], TradingCalendar],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.desk = desk
        self.orders = orders
        self.order_store = order_store
        self.accounts = accounts
        self.booker = booker
        self.router = router
        self._bus = bus
        self._calendar = calendar
        self.clock = clock
        self._market_day: date | None = None
        self.background = BackgroundTasks()

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
        calendar = self._calendar()
        self.router.expire_live(
            self.orders.working(),
            day,
            self.clock(),
            day_of=lambda order: trading_day_at(calendar, order.created_at),
        )
        # A new day may lift a daily-loss switch to reducing-only: stored in the background.
        self.background.spawn(self.desk.persist_state_changes(), "storing risk state changes")
        for account_id in self.desk.account_ids:
            self.booker.request(account_id)

    async def reconcile(self, working: list[Order]) -> None:
        """After a restart: hand the venues the orders the database holds as working."""
        if not working:
            return
        calendar = self._calendar()
        self.router.reconcile(
            working,
            self.clock(),
            day_of=lambda order: trading_day_at(calendar, order.created_at),
        )
        await self.orders.drained()

    def link(self, broker: BrokerLink, *, owner_id: int, venue_name: str) -> None:
        """Hear the live venue: its state goes to the traded account's owner on the
        `account` channel, and its first balance report opens the account it trades."""
        account_id = broker.account_id

        def status(state: ComponentState, detail: str) -> None:
            event = VenueStatusEvent(
                venue=venue_name,
                state=state,
                detail=detail,
                ts=utc_now(),
                account_id=account_id,
            )
            self.background.spawn(self._bus.publish(event), "publishing the venue state")

        def balance(amount: float) -> None:
            if account_id not in self.desk.account_ids:
                self.background.spawn(
                    self._open_live_account(owner_id, account_id, amount),
                    "opening the live account",
                )

        broker.on_status = status
        broker.on_balance = balance

    async def _open_live_account(self, owner_id: int, account_id: str, balance: float) -> None:
        if account_id in self.desk.account_ids:
            return
        await self.desk.open_account(
            owner_id, account_id, balance=balance, trading_day=self.trading_day(), now=self.clock()
        )
        log.info("trading: opened %s with the broker's balance %.2f", account_id, balance)

    async def open_paper_account(self, user_id: int, account_id: str) -> Account:
        if account_id in self.router.live_accounts:
            raise AccountExistsError(f"{account_id} is the account the live venue trades")
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
    instruments: dict[str, Instrument],
) -> AsyncIterator[Trading]:
    """Loaded and started; the caller starts the venue with `market_sink` afterwards.

    ``instruments`` is the gateway's instrument table, shared with the venue (a live venue
    adds the broker's contracts to it)."""
    clock = venue_clock(venue)
    route = venue.order_route()
    owner_id = await _live_owner(settings, sessions) if route is not None else None
    # The broker announces new trading days to `Trading`, which is built after it.
    days: list[Callable[[date], None]] = []
    broker = PaperBroker(
        instruments,
        load_sessions(),
        calendar(),
        market_slippage_ticks=settings.paper_slippage_ticks,
        on_new_day=lambda day: days[0](day) if days else None,
    )
    router = OrderRouter(broker, route)
    order_store = OrderStore(sessions)
    accounts = AccountStore(sessions)
    desk = TradingDesk(
        accounts, order_store, instruments, risk_settings=RiskSettingsStore(sessions)
    )
    await desk.load()
    booker = Booker(
        dispatcher,
        bus,
        quote_of=router.quote,
        on_booked=desk.on_booked,
        mark_interval_s=settings.mark_interval_s,
    )
    orders = OrderService(
        order_store,
        OrderJournal(engine),
        router,
        bus,
        quote_of=router.quote,
        risk_for=desk.risk_for,
        clock=clock,
        new_id=new_order_id,
        on_trade=lambda trade: booker.request(trade.account_id),
    )
    router.bind(orders)
    working = [
        order for account_id in desk.account_ids for order in await order_store.working(account_id)
    ]
    await orders.start(working)
    try:
        await booker.start(desk.account_ids)
        watch = RiskWatch(desk, bus)
        await watch.start()
        trading: Trading | None = None
        try:
            trading = Trading(
                settings=settings,
                desk=desk,
                orders=orders,
                order_store=order_store,
                accounts=accounts,
                booker=booker,
                router=router,
                bus=bus,
                calendar=calendar,
                clock=clock,
            )
            days.append(trading.on_new_day)
            if isinstance(venue, BrokerLink) and owner_id is not None:
                trading.link(venue, owner_id=owner_id, venue_name=venue.name)
            await trading.reconcile(working)
            yield trading
        finally:
            if trading is not None:
                # Writes it started (risk states, the venue's state) finish while the
                # database and the bus are still there.
                await trading.background.wait()
            await watch.stop()
            await booker.stop()
    finally:
        await orders.stop()


async def _live_owner(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> int:
    """The user who owns the account a live venue trades; refusing to start without one."""
    owner = await UserRepository(sessions).get_by_username(settings.ctp_account_owner)
    if owner is None:
        raise RuntimeError(
            f"QUANT_CTP_ACCOUNT_OWNER={settings.ctp_account_owner!r} names no user: create "
            "that user (quant user create) or name an existing one"
        )
    return owner.id


def market_sink(feed: MarketSink, trading: Trading | None) -> MarketSink:
    return feed if trading is None else MarketTee(feed, trading.router)
