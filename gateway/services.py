"""Everything long-lived the gateway holds, started and stopped in one place.

Start order: database (migrated in the embedded mode) -> object store -> bus -> quote cache
-> dispatcher -> market recorder -> market feed (with live bars) -> trading (accounts, orders,
paper exchange, booking) -> venue -> WebSocket hub.
Stop order is the reverse, so clients are told first, nothing publishes into a closed bus, and
the recorder writes the last rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from functions.deps import Deps, build_deps
from functions.dispatch import Dispatcher, open_dispatcher
from gateway.auth.tokens import TokenIssuer
from gateway.backtests.runner import BacktestRunner
from gateway.bootstrap import ensure_database_schema, ensure_first_admin
from gateway.market.bar_follower import BarFollower
from gateway.market.feed import MarketFeed
from gateway.market.live_bars import LiveBars
from gateway.market.recorder import MarketRecorder
from gateway.orders.trading import Trading, market_sink, running_trading
from gateway.tasks import BackgroundTasks, ShutdownWatch
from gateway.venues import Venue, open_venue
from gateway.ws.hub import Hub, HubSettings
from gateway.ws.owners import AccountOwners
from shared.bus import EventBus, open_bus
from shared.clock import Clock, utc_now
from shared.config import Settings
from shared.domain import Instrument
from shared.instruments import ProductCatalogue, shipped_products
from shared.quotes import QuoteCache, open_quote_cache
from shared.result_cache import ResultCache, open_result_cache
from shared.sessions import TradingCalendar, load_calendar, load_sessions
from shared.store import AuditLog, UserRepository, create_engine, session_factory
from shared.store.account_state import AccountStateReader
from shared.store.catalogue import CatalogueRepository, instrument_table, load_shipped_catalogue
from shared.store.checkpoint import WalCheckpointer
from shared.store.engine import sqlite_file
from shared.store.holidays import HolidayRepository
from shared.store.market_data import BarStore, TickStore

log = logging.getLogger(__name__)


class Services:
    """The gateway's long-lived parts. A plain class on purpose: Litestar injects it per
    request, and a dataclass or Struct would be re-validated field by field each time."""

    __slots__ = (
        "account_state",
        "audit",
        "backtests",
        "bars",
        "bus",
        "calendar",
        "calendar_updates",
        "clock",
        "deps",
        "dispatcher",
        "engine",
        "feed",
        "hub",
        "live_bars",
        "quotes",
        "results",
        "sessions",
        "settings",
        "started_at",
        "ticks",
        "tokens",
        "trading",
        "users",
        "venue",
    )

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        users: UserRepository,
        audit: AuditLog,
        deps: Deps,
        bus: EventBus,
        quotes: QuoteCache,
        results: ResultCache,
        dispatcher: Dispatcher,
        feed: MarketFeed,
        venue: Venue,
        hub: Hub,
        live_bars: LiveBars | None,
        tokens: TokenIssuer,
        calendar: TradingCalendar,
        trading: Trading | None,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.bars = BarStore(engine)
        self.ticks = TickStore(engine)
        self.account_state = AccountStateReader(sessions)
        self.sessions = sessions
        self.users = users
        self.audit = audit
        self.deps = deps
        self.bus = bus
        self.quotes = quotes
        # Computed answers (indicators), by a key naming what they depend on.
        self.results = results
        self.dispatcher = dispatcher
        self.feed = feed
        self.venue = venue
        self.hub = hub
        # The bars in progress that subscribers' snapshots show: built by the feed from the
        # venue's ticks, or, on a replica without a venue, from the ticks on the bus.
        self.live_bars = live_bars
        self.tokens = tokens
        # The calendar in force: loaded from the database at start, replaced (never mutated)
        # when an admin updates the holidays; updates take the lock so the last one stored is
        # the one in force.
        self.calendar = calendar
        self.calendar_updates = asyncio.Lock()
        # None on a replica without a venue: orders go to the replica that holds it.
        self.trading = trading
        self.clock = clock
        self.started_at = clock()
        self.backtests = BacktestRunner(
            sessions=sessions, engine=engine, dispatcher=dispatcher, bus=bus, clock=clock
        )


async def _started_recorder(
    settings: Settings, engine: AsyncEngine, stack: contextlib.AsyncExitStack
) -> MarketRecorder | None:
    recorder = _recorder(settings, engine)
    if recorder is not None:
        await recorder.start()
        stack.push_async_callback(recorder.stop)
    return recorder


def _recorder(settings: Settings, engine: AsyncEngine) -> MarketRecorder | None:
    recorded = settings.recorded
    if not recorded:
        return None
    return MarketRecorder(
        TickStore(engine) if "ticks" in recorded else None,
        BarStore(engine) if "bars" in recorded else None,
    )


def token_issuer(settings: Settings) -> TokenIssuer:
    return TokenIssuer(
        settings.jwt_secret,
        access_ttl=timedelta(seconds=settings.access_token_ttl_s),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_s),
        trading_ttl=timedelta(seconds=settings.trading_token_ttl_s),
    )


async def _open_database(settings: Settings, stack: contextlib.AsyncExitStack) -> AsyncEngine:
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    stack.push_async_callback(engine.dispose)
    if (database_file := sqlite_file(settings.database_url)) is not None:
        checkpointer = WalCheckpointer(database_file)
        await checkpointer.start()
        stack.push_async_callback(checkpointer.stop)
    return engine


async def _venue(  # noqa: PLR0917 - the parts of the gateway a venue uses
    settings: Settings,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    stack: contextlib.AsyncExitStack,
    calendar: Callable[[], TradingCalendar],
    ctp_apis: Callable[[str], Any] | None,
) -> tuple[Venue, dict[str, Instrument]]:
    """The venue, and the instrument table it shares with trading (a live venue adds the
    broker's contracts to it, stored in the background)."""
    instruments = await instrument_table(sessions)
    background = BackgroundTasks()
    stack.push_async_callback(background.wait)
    catalogue = CatalogueRepository(sessions)
    venue = open_venue(
        settings,
        engine,
        instruments=instruments,
        sessions=load_sessions(),
        calendar=calendar,
        on_instruments=lambda found: background.spawn(
            catalogue.upsert_instruments(found), "storing the broker's contracts"
        ),
        ctp_apis=ctp_apis,
    )
    return venue, instruments


async def _hub(
    settings: Settings,
    bus: EventBus,
    sessions: async_sessionmaker[AsyncSession],
    trading: Trading | None,
    stack: contextlib.AsyncExitStack,
) -> Hub:
    owners = AccountOwners(sessions)
    if trading is not None:
        trading.desk.on_open.append(owners.learn)
    hub = Hub(
        bus,
        owners,
        HubSettings(
            heartbeat_s=settings.ws_heartbeat_s,
            idle_timeout_s=settings.ws_idle_timeout_s,
            flush_interval_s=settings.ws_flush_interval_s,
            max_lag_s=settings.ws_max_lag_s,
        ),
    )
    await hub.start()
    stack.push_async_callback(hub.stop)
    return hub


def _shutdown_watch(stack: contextlib.AsyncExitStack) -> ShutdownWatch:
    """Ends last when pushed first; its `begin`, pushed last, runs first on the way out."""
    watch = ShutdownWatch()
    stack.push_async_callback(watch.end)
    return watch


def _settle_memory() -> None:
    # What start-up built (imports, catalogues, calendars) lives as long as the process:
    # moved out of the collector's sight, a full collection no longer rescans it, which
    # would otherwise show as pauses in the WebSocket stream.
    gc.collect()
    gc.freeze()
    # A streaming server allocates and drops small objects by the million; collecting
    # young objects every 700 allocations costs more than the few cycles it finds.
    gc.set_threshold(50_000, 20, 20)


async def _start_backtests(services: Services, stack: contextlib.AsyncExitStack) -> None:
    if services.settings.dispatcher == "inline":
        # Inline runs lived in this process: any left queued or running died with it.
        await services.backtests.runs.interrupted(now=services.clock())
    stack.push_async_callback(services.backtests.stop)


@contextlib.asynccontextmanager
async def running_services(
    settings: Settings, *, ctp_apis: Callable[[str], Any] | None = None
) -> AsyncIterator[Services]:
    """Everything the gateway runs, started in order and stopped in reverse. ``ctp_apis``
    stands in for the CTP library's APIs (tests script a front there)."""
    await asyncio.to_thread(ensure_database_schema, settings)
    async with contextlib.AsyncExitStack() as stack:
        watch = _shutdown_watch(stack)
        engine = await _open_database(settings, stack)
        sessions = session_factory(engine)
        users = UserRepository(sessions)
        await ensure_first_admin(settings, users)
        # Rows already stored win, so an operator's corrections survive restarts.
        holidays = HolidayRepository(sessions)
        await holidays.seed_if_empty(load_calendar())
        calendar = await holidays.calendar()
        await load_shipped_catalogue(sessions, is_trading_day=calendar.is_trading_day)

        deps = build_deps(settings)
        stack.push_async_callback(deps.objects.close)

        bus = open_bus(settings)
        await bus.start()
        stack.push_async_callback(bus.close)

        quotes = open_quote_cache(settings)
        stack.push_async_callback(quotes.close)
        results = open_result_cache(settings)
        stack.push_async_callback(results.close)

        dispatcher = open_dispatcher(settings, deps)
        await dispatcher.start()
        stack.push_async_callback(dispatcher.close)

        recorder = await _started_recorder(settings, engine, stack)

        # The calendar in force is read on each use: an admin may replace it while running.
        holder: list[Services] = []

        def current_calendar() -> TradingCalendar:
            return holder[0].calendar if holder else calendar

        venue, instruments = await _venue(
            settings, engine, sessions, stack, current_calendar, ctp_apis
        )
        live_bars = (
            LiveBars(load_sessions(), calendar, ProductCatalogue(shipped_products()), intervals)
            if (intervals := settings.bar_intervals)
            else None
        )
        serving_only = settings.venue == "none"
        feed = MarketFeed(
            bus,
            quotes,
            bars=None if serving_only else live_bars,
            recorder=recorder,
            market_time=venue.market_time,
        )
        await feed.start()
        stack.push_async_callback(feed.stop)
        if serving_only and live_bars is not None:
            follower = BarFollower(bus, live_bars)
            await follower.start()
            stack.push_async_callback(follower.stop)

        trading = (
            None
            if serving_only
            else await stack.enter_async_context(
                running_trading(
                    settings,
                    engine,
                    sessions,
                    dispatcher=dispatcher,
                    bus=bus,
                    venue=venue,
                    calendar=current_calendar,
                    instruments=instruments,
                )
            )
        )

        await venue.start(market_sink(feed, trading))
        stack.push_async_callback(venue.stop)

        hub = await _hub(settings, bus, sessions, trading, stack)

        _settle_memory()
        log.info(
            "gateway ready: mode=%s database=%s bus=%s dispatcher=%s objects=%s venue=%s",
            settings.mode,
            engine.url.render_as_string(hide_password=True),
            settings.bus,
            settings.dispatcher,
            settings.objects,
            venue.name,
        )
        services = Services(
            settings=settings,
            engine=engine,
            sessions=sessions,
            users=users,
            audit=AuditLog(sessions),
            deps=deps,
            bus=bus,
            quotes=quotes,
            results=results,
            dispatcher=dispatcher,
            feed=feed,
            venue=venue,
            hub=hub,
            live_bars=live_bars,
            tokens=token_issuer(settings),
            calendar=calendar,
            trading=trading,
        )
        holder.append(services)
        await _start_backtests(services, stack)
        stack.push_async_callback(watch.begin)
        yield services


# Handlers take ``services: ServicesDependency``; Litestar injects it by name.
ServicesDependency = NamedDependency[Services]
