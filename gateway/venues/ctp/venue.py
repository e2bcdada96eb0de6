"""The CTP venue: the market-data and trading sessions behind the gateway's venue port.

* Market data: each depth report becomes a `Tick` (`mapping.tick_from_depth`) with the
  exchange taken from the instrument table (CTP market data often leaves it blank). Ticks
  outside the product's sessions (the stale snapshot CTP sends on subscribing before the open,
  test ticks) are dropped and counted, so clients and bars only see trading.
* Orders: the accounts this venue trades (one: `Settings.ctp_trading_account`) route to the
  trading session (`order_route`); every other account stays on the paper exchange, which
  matches against the same live ticks.
* Connecting: only inside the `ConnectWindow` of the products' sessions unless configured
  otherwise. Outside it both APIs are released, so no client hammers a front that is down
  for the night; the sessions keep what they know (orders, subscriptions) and start again
  with new APIs when the window opens.
* After each log-in the trading session catches up (contract list, orders, trades, account,
  positions); the contract list refreshes the instrument table in place and is handed on to
  be stored.

Import this module only after `environment.prepare_locale`: it imports the library.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.tasks import cancel_and_wait
from gateway.venues._port import MarketSink, OrderRoute
from gateway.venues.broker_view import BrokerAccount, BrokerPosition, BrokerView
from gateway.venues.ctp.contracts import instruments_from_ctp
from gateway.venues.ctp.holdings import accounts_from_ctp, positions_from_ctp
from gateway.venues.ctp.mapping import tick_from_depth
from gateway.venues.ctp.md_session import MarketDataSession
from gateway.venues.ctp.queries import QueryQueue
from gateway.venues.ctp.reconnect import Backoff, ConnectWindow
from gateway.venues.ctp.td_session import TradingSession
from shared.clock import utc_now
from shared.config import Settings
from shared.domain import ComponentState, Exchange, Instrument, exchange_local
from shared.sessions import (
    ProductSessions,
    SessionCatalog,
    TradingCalendar,
    UnknownProductError,
    is_in_session,
)

log = logging.getLogger(__name__)

# "md" or "td" -> a stand-in for the library's API (tests), or None for the library's own.
ApiFactory = Callable[[str], Any]
# How often the window is looked at; a session opening is never missed by more than this.
_WINDOW_CHECK_S = 30.0
_STATE_RANK = {
    ComponentState.UP: 0,
    ComponentState.STARTING: 1,
    ComponentState.DEGRADED: 2,
    ComponentState.DOWN: 3,
}


class CtpVenue:
    name = "ctp"

    def __init__(
        self,
        settings: Settings,
        *,
        instruments: dict[str, Instrument],
        sessions: SessionCatalog,
        calendar: Callable[[], TradingCalendar],
        on_instruments: Callable[[list[Instrument]], None] | None = None,
        apis: ApiFactory | None = None,
        clock: Callable[[], datetime] = utc_now,
        backoff: Callable[[], Backoff] = Backoff,
        queries: QueryQueue | None = None,
        window_check_s: float = _WINDOW_CHECK_S,
    ) -> None:
        """``instruments`` is the gateway's instrument table ("EXCHANGE.symbol" keys), which
        the broker's contract list updates in place; ``on_instruments`` hears each update
        (to store it). ``apis`` replaces the library's APIs (tests script a front there)."""
        md_fronts, td_fronts = settings.ctp_fronts
        flow_dir = Path(settings.ctp_flow_dir)
        self.account_id = settings.ctp_trading_account
        self._instruments = instruments
        self._catalog = sessions
        self._calendar = calendar
        self._on_instruments = on_instruments
        self._apis = apis
        self._clock = clock
        self._symbols = settings.ctp_symbol_list
        self._window_check_s = window_check_s
        self._window = (
            ConnectWindow(
                [sessions.for_product(product) for product in sessions.products],
                calendar(),
            )
            if settings.ctp_connect_window
            else None
        )
        self.market = MarketDataSession(
            fronts=md_fronts,
            broker_id=settings.ctp_broker_id,
            user_id=settings.ctp_user_id,
            password=settings.ctp_password,
            flow_dir=flow_dir / "md",
            on_depth=self._on_depth,
            backoff=backoff(),
        )
        self.orders = TradingSession(
            fronts=td_fronts,
            broker_id=settings.ctp_broker_id,
            user_id=settings.ctp_user_id,
            password=settings.ctp_password,
            app_id=settings.ctp_app_id,
            auth_code=settings.ctp_auth_code,
            flow_dir=flow_dir / "td",
            calendar=calendar(),
            backoff=backoff(),
            queries=queries,
            on_instruments=self._on_contracts,
            on_account=self._on_account,
            on_positions=self._on_positions,
            clock=clock,
        )
        self.market.on_change = self.orders.on_change = self._changed
        self._sink: MarketSink | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closed_until: datetime | None = None  # outside the window: when it opens
        self._switching = False
        self._exchanges: dict[str, Exchange] = {}
        self._sessions_of: dict[str, ProductSessions | None] = {}
        self.dropped: Counter[str] = Counter()
        self._broker_accounts: list[BrokerAccount] = []
        self._broker_positions: list[BrokerPosition] = []
        self._broker_reported_at: datetime | None = None
        # Told (on the loop) whenever `state` or `detail` changes, and of the broker's
        # balance at each account report (a `BrokerLink`).
        self.on_status: Callable[[ComponentState, str], None] | None = None
        self.on_balance: Callable[[float], None] | None = None
        self._status = (ComponentState.DOWN, "not started")
        self._index_instruments()

    # --- the venue port -------------------------------------------------------------------------

    @property
    def state(self) -> ComponentState:
        return self._status[0]

    @property
    def detail(self) -> str:
        return self._status[1]

    def market_time(self) -> datetime:
        return self._clock()

    def order_route(self) -> OrderRoute:
        return OrderRoute(account_ids=frozenset({self.account_id}), orders=self.orders)

    async def start(self, sink: MarketSink) -> None:
        self._sink = sink
        self._sync_subscriptions()
        self._supervisor = asyncio.create_task(self._supervise(), name="ctp-window")
        await asyncio.sleep(0)  # the first look at the window happens now

    async def stop(self) -> None:
        if self._supervisor is not None:
            await cancel_and_wait(self._supervisor)
            self._supervisor = None
        self._disconnect("stopped")

    # --- connecting inside the window -----------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            try:
                self._look_at_the_window()
            except LookupError as exc:
                # The calendar ends before the next session: nothing to wait for until an
                # admin extends it. Said on /ready, and looked at again at the next check.
                self._disconnect("no trading session ahead in the calendar")
                self._closed_until = None
                self._status = (ComponentState.DEGRADED, f"idle: {exc}; extend the calendar")
                if self.on_status is not None:
                    self.on_status(*self._status)
            await asyncio.sleep(self._window_check_s)

    def _look_at_the_window(self) -> None:
        now = self._clock()
        if self._window is None or self._window.is_open(now):
            self._closed_until = None
            if not self.market.started:
                self._connect()
            return
        self._closed_until = self._window.next_open(now)
        if self.market.started or self.orders.started:
            self._disconnect("outside trading hours")
        self._changed()

    def _connect(self) -> None:
        apis = self._apis
        # One change told for both starts: not "down" for the moment one has started and
        # the other not yet.
        self._switching = True
        try:
            self.market.start(apis("md") if apis is not None else None)
            self.orders.start(apis("td") if apis is not None else None)
        finally:
            self._switching = False
        self._changed()

    def _disconnect(self, why: str) -> None:
        self._switching = True
        try:
            if self.market.started:
                self.market.stop(why)
            if self.orders.started:
                self.orders.stop(why)
        finally:
            self._switching = False
        self._changed()

    def _changed(self) -> None:
        if self._switching:
            return
        if self._closed_until is not None:
            opens = exchange_local(self._closed_until).strftime("%Y-%m-%d %H:%M")
            status = (
                ComponentState.UP,
                f"idle outside trading hours; connects at {opens} (Asia/Shanghai)",
            )
        else:
            state = max(self.market.state, self.orders.state, key=_STATE_RANK.__getitem__)
            status = (
                state,
                f"market data: {self.market.detail}; trading: {self.orders.detail}",
            )
        if status == self._status:
            return
        self._status = status
        if self.on_status is not None:
            self.on_status(*status)

    # --- market data ----------------------------------------------------------------------------

    def _on_depth(self, fields: dict[str, Any]) -> None:
        symbol = str(fields.get("InstrumentID") or "").strip()
        exchange = self._exchanges.get(symbol)
        if exchange is None:
            self.dropped["unknown instrument"] += 1
            return
        tick = tick_from_depth(fields, exchange=exchange, calendar=self._calendar())
        if tick is None:
            self.dropped["unusable"] += 1
            return
        product_sessions = self._sessions_of.get(symbol)
        if product_sessions is None or not is_in_session(
            product_sessions, self._calendar(), tick.ts
        ):
            self.dropped["outside the sessions"] += 1
            return
        if self._sink is not None:
            self._sink.accept(tick)

    def _sync_subscriptions(self) -> None:
        """Subscribed to what is wanted now: new contracts added, expired ones dropped."""
        wanted = self._wanted_symbols()
        self.market.unsubscribe(self.market.symbols - set(wanted))
        self.market.subscribe(wanted)

    def _wanted_symbols(self) -> list[str]:
        if self._symbols:
            return list(self._symbols)
        today = exchange_local(self._clock()).date()
        # Contracts that expired yesterday may still be listed for a day: skip them.
        return sorted(
            instrument.symbol
            for instrument in self._instruments.values()
            if instrument.expires_on is None or instrument.expires_on >= today
        )

    def _index_instruments(self) -> None:
        for instrument in self._instruments.values():
            self._exchanges[instrument.symbol] = instrument.exchange
            try:
                found: ProductSessions | None = self._catalog.for_product(
                    instrument.product, instrument.exchange
                )
            except UnknownProductError:
                found = None  # no hours known: its ticks are never taken for trading
            self._sessions_of[instrument.symbol] = found

    # --- what the broker reports ----------------------------------------------------------------

    def _on_contracts(self, records: list[dict[str, Any]]) -> None:
        instruments = instruments_from_ctp(records, self._instruments)
        for instrument in instruments:
            self._instruments[instrument.key] = instrument
        self._index_instruments()
        log.info("ctp: %d futures in the broker's contract list", len(instruments))
        self._sync_subscriptions()
        if self._on_instruments is not None and instruments:
            self._on_instruments(instruments)

    def _on_account(self, records: list[dict[str, Any]]) -> None:
        self._broker_accounts = accounts_from_ctp(records)
        self._broker_reported_at = self._clock()
        balance = broker_balance(records)
        if balance is not None and self.on_balance is not None:
            self.on_balance(balance)

    def _on_positions(self, records: list[dict[str, Any]]) -> None:
        self._broker_positions = positions_from_ctp(records, self._exchanges)
        self._broker_reported_at = self._clock()

    def broker_view(self) -> BrokerView:
        return BrokerView(
            venue=self.name,
            state=self.state,
            detail=self.detail,
            account_id=self.account_id,
            reported_at=self._broker_reported_at,
            accounts=self._broker_accounts,
            positions=self._broker_positions,
        )


def broker_balance(records: list[dict[str, Any]]) -> float | None:
    """The account's balance in CNY from a trading-account answer (one record per currency;
    brokers that leave CurrencyID blank mean CNY)."""
    for record in records:
        if str(record.get("CurrencyID") or "CNY").strip() in {"", "CNY"}:
            value = record.get("Balance")
            if isinstance(value, int | float) and 0 <= value < 1e15:
                return float(value)
    return None
