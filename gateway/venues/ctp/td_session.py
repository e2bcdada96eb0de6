"""The CTP trading session: connect, authenticate, log in, confirm the settlement, send orders
and cancels, turn the venue's reports into lifecycle events, and run the paced queries.

It mirrors `md_session`: openctp-ctp calls the SPI on threads of its own, and each callback
only copies what it needs out of the struct (structs die with the callback) and hands plain
values to the loop with `call_soon_threadsafe`. Everything else, state and the order maps
included, lives on the loop. On every `OnFrontConnected` (the API reconnects by itself) the
session walks authenticate -> login -> settlement confirmation again; a refusal at any step
is retried from the start after a backoff, while the front stays connected.

Orders are known to CTP by FrontID_SessionID_OrderRef until the exchange numbers them
(ExchangeID + OrderSysID); trades carry only the exchange's numbering. The session keeps both
maps from the gateway's order id, so a report finds its order and a cancel can name it.

Import this module only after `environment.prepare_locale`: it imports the library.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from openctp_ctp import tdapi

from gateway.venues._port import OrderSink
from gateway.venues.ctp._session import CtpSession
from gateway.venues.ctp.contracts import INSTRUMENT_FIELDS
from gateway.venues.ctp.mapping import (
    ORDER_FIELDS,
    RSP_INFO_FIELDS,
    TRADE_FIELDS,
    error_message,
    event_from_action_error,
    event_from_insert_error,
    event_from_rtn_trade,
    events_from_rtn_order,
    exchange_order_id,
    fields_of,
    input_order,
    venue_order_key,
)
from gateway.venues.ctp.md_session import disconnect_reason
from gateway.venues.ctp.queries import QueryFailedError, QueryPriority, QueryQueue
from gateway.venues.ctp.reconnect import Backoff
from shared.domain import ComponentState, Order
from shared.orders import CancelRejected, OrderLifecycleEvent, Rejected
from shared.sessions import TradingCalendar

log = logging.getLogger(__name__)

POSITION_FIELDS: Final = (
    "InstrumentID",
    "ExchangeID",
    "PosiDirection",
    "HedgeFlag",
    "PositionDate",
    "Position",
    "TodayPosition",
    "YdPosition",
    "LongFrozen",
    "ShortFrozen",
    "OpenCost",
    "PositionCost",
    "PositionProfit",
    "CloseProfit",
    "UseMargin",
    "Commission",
    "SettlementPrice",
    "PreSettlementPrice",
    "TradingDay",
)
ACCOUNT_FIELDS: Final = (
    "AccountID",
    "CurrencyID",
    "PreBalance",
    "Balance",
    "Available",
    "CurrMargin",
    "FrozenMargin",
    "FrozenCash",
    "FrozenCommission",
    "Commission",
    "CloseProfit",
    "PositionProfit",
    "Deposit",
    "Withdraw",
    "WithdrawQuota",
    "TradingDay",
)

LOGIN_FIELDS: Final = ("FrontID", "SessionID", "MaxOrderRef", "TradingDay")
# ReqOrderInsert / ReqOrderAction return codes other than 0.
_SEND_CODES = {-1: "network failure", -2: "too many requests waiting", -3: "too many per second"}
# Trades whose order the session has not yet learned the exchange's number of (CTP normally
# reports the numbered order first; this covers the rare other order). Bounded: a replay of
# another process's day must not grow it without end.
_PENDING_TRADES_MAX = 1000
# The session's own request ids start far above the query queue's (which count from 1), so
# an OnRspError for a login or an order is never taken for a query's.
_OWN_REQUEST_IDS_FROM = 1 << 30


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _send_failure(code: int) -> str:
    return f"code {code}: {_SEND_CODES.get(code, 'unknown')}"


class TradingSession(CtpSession):
    """An `OrderVenue` over CTP; every lifecycle event goes to ``sink`` on the loop.

    After every log-in the session catches up with the broker (`catch_up`): the contract
    list (once a trading day) for ``on_instruments``, the day's orders and trades, which
    reach the sink like the live reports (so what happened while the gateway was away is
    applied, and repeats change nothing), then the account for ``on_account``.
    ``on_positions`` hears the records (`POSITION_FIELDS`) of every positions query that
    succeeds, the one after each fill included. ``queries`` replaces the default
    `QueryQueue` (tests pace it faster).
    """

    def __init__(
        self,
        *,
        fronts: Sequence[str],
        broker_id: str,
        user_id: str,
        password: str,
        app_id: str,
        auth_code: str,
        flow_dir: Path,
        calendar: TradingCalendar,
        sink: OrderSink | None = None,
        backoff: Backoff | None = None,
        investor_id: str | None = None,
        queries: QueryQueue | None = None,
        on_positions: Callable[[list[dict[str, Any]]], None] | None = None,
        on_instruments: Callable[[list[dict[str, Any]]], None] | None = None,
        on_account: Callable[[list[dict[str, Any]]], None] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        super().__init__(
            "ctp td", fronts=fronts, flow_dir=flow_dir, first_request_id=_OWN_REQUEST_IDS_FROM
        )
        self._broker_id = broker_id
        self._user_id = user_id
        self._investor_id = investor_id or user_id
        self._password = password
        self._app_id = app_id
        self._auth_code = auth_code
        self._sink = sink or _Unbound()
        self._calendar = calendar
        self._backoff = backoff or Backoff()
        self._queries = queries or QueryQueue()
        self._on_positions = on_positions
        self._on_instruments = on_instruments
        self._on_account = on_account
        self._clock = clock
        self._trading_day = ""  # as the last log-in stated it
        self._contracts_day: str | None = None  # the trading day the contracts were asked on
        self._catching_up: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()
        self._connected = False
        self._logged_in = False  # and the settlement confirmed: orders may go
        self._front_id = 0
        self._session_id = 0
        self._next_ref = 1
        # order id <-> (FrontID, SessionID, OrderRef) key, and the exchange's number.
        self._by_key: dict[str, str] = {}
        self._refs: dict[str, tuple[int, int, str]] = {}
        self._orders: dict[str, Order] = {}
        self._by_exchange_id: dict[str, str] = {}
        self._exchange_ids: dict[str, tuple[str, str]] = {}
        self._pending_trades: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._runner: asyncio.Task[None] | None = None

    def bind(self, sink: OrderSink) -> None:
        """Where lifecycle events go from now on (the order service)."""
        self._sink = sink

    def _create_api(self, flow_prefix: str) -> Any:
        return tdapi.CThostFtdcTraderApi.CreateFtdcTraderApi(flow_prefix)

    def _create_spi(self, loop: asyncio.AbstractEventLoop) -> Any:
        self._runner = loop.create_task(self._queries.run(), name="ctp-td-queries")
        return _Spi(self, loop)

    def _before_init(self, api: Any) -> None:
        # Private topic (our orders and trades): RESUME, so the reports missed while
        # disconnected arrive after the reconnect. Public: only what comes from now on.
        api.SubscribePrivateTopic(tdapi.THOST_TERT_RESUME)
        api.SubscribePublicTopic(tdapi.THOST_TERT_QUICK)

    def _stopping(self) -> None:
        self._cancel_catch_up()
        if self._runner is not None:
            self._runner.cancel()
            self._runner = None
        self._queries.fail_all("session stopped")
        self._connected = False
        self._logged_in = False

    # --- the OrderVenue side -------------------------------------------------------------------

    def adopt(self, orders: list[Order]) -> list[Order]:
        """Orders an earlier run of the gateway sent (the database's working orders): known
        again by their CTP id, so that the reports the broker replays or the catch-up finds
        reach them and a cancel can name them. Returns those without a CTP id: the gateway
        stopped before CTP acknowledged them, and nothing here can tell whether it did."""
        unknown: list[Order] = []
        for order in orders:
            ref = _parse_key(order.venue_order_id)
            if ref is None:
                unknown.append(order)
                continue
            self._by_key[venue_order_key(*ref)] = order.id
            self._refs[order.id] = ref
            self._orders[order.id] = order
        return unknown

    def knows(self, order_id: str) -> bool:
        """Whether the order was sent through this session (or adopted by it)."""
        return order_id in self._refs

    def submit(self, order: Order, now: datetime) -> None:
        if not self._logged_in:
            self._reject(order.id, now, f"CTP trading session not ready: {self.detail}")
            return
        order_ref = str(self._next_ref)
        try:
            values = input_order(
                order,
                broker_id=self._broker_id,
                investor_id=self._investor_id,
                user_id=self._user_id,
                order_ref=order_ref,
            )
        except ValueError as refused:
            self._reject(order.id, now, str(refused))
            return
        self._next_ref += 1
        request = tdapi.CThostFtdcInputOrderField()
        for name, value in values.items():
            setattr(request, name, value)
        # Remembered before sending: the first report may arrive before ReqOrderInsert returns.
        key = venue_order_key(self._front_id, self._session_id, order_ref)
        self._by_key[key] = order.id
        self._refs[order.id] = (self._front_id, self._session_id, order_ref)
        self._orders[order.id] = order
        code = self._api.ReqOrderInsert(request, self._next_request_id())
        if code != 0:
            self._forget(order.id)
            self._reject(order.id, now, f"order not sent to CTP ({_send_failure(code)})")

    def cancel(self, order_id: str, now: datetime) -> None:
        ref = self._refs.get(order_id)
        if ref is None:
            self._sink.on_order_event(
                order_id, CancelRejected(ts=now, reason="cancel: order unknown to this CTP session")
            )
            return
        if not self._logged_in:
            self._sink.on_order_event(
                order_id,
                CancelRejected(ts=now, reason=f"CTP trading session not ready: {self.detail}"),
            )
            return
        front_id, session_id, order_ref = ref
        order = self._orders[order_id]
        request = tdapi.CThostFtdcInputOrderActionField()
        request.BrokerID = self._broker_id
        request.InvestorID = self._investor_id
        request.UserID = self._user_id
        request.InstrumentID = order.symbol
        request.ExchangeID = str(order.exchange)
        request.FrontID = front_id
        request.SessionID = session_id
        request.OrderRef = order_ref
        request.ActionFlag = tdapi.THOST_FTDC_AF_Delete
        numbered = self._exchange_ids.get(order_id)
        if numbered is not None:
            # The exchange's number identifies the order even after the session that sent
            # it is gone.
            request.ExchangeID, request.OrderSysID = numbered
        code = self._api.ReqOrderAction(request, self._next_request_id())
        if code != 0:
            self._sink.on_order_event(
                order_id,
                CancelRejected(ts=now, reason=f"cancel not sent to CTP ({_send_failure(code)})"),
            )

    # --- queries -------------------------------------------------------------------------------

    def query_positions(
        self, priority: QueryPriority = QueryPriority.ROUTINE
    ) -> asyncio.Future[list[Any]]:
        """The investor's positions (`POSITION_FIELDS` per record)."""

        def send(request_id: int) -> int:
            if not self._logged_in:
                return -1  # the queue fails the query: nothing to ask until logged in
            request = tdapi.CThostFtdcQryInvestorPositionField()
            request.BrokerID = self._broker_id
            request.InvestorID = self._investor_id
            return int(self._api.ReqQryInvestorPosition(request, request_id))

        future = self._queries.submit("positions", send, priority)
        future.add_done_callback(self._positions_answered)
        return future

    def query_account(self) -> asyncio.Future[list[Any]]:
        """The trading account (`ACCOUNT_FIELDS`; one record per currency)."""

        def send(request_id: int) -> int:
            if not self._logged_in:
                return -1
            request = tdapi.CThostFtdcQryTradingAccountField()
            request.BrokerID = self._broker_id
            request.InvestorID = self._investor_id
            return int(self._api.ReqQryTradingAccount(request, request_id))

        return self._queries.submit("account", send, QueryPriority.ACCOUNT)

    def _query(
        self, name: str, make: Callable[[], Any], send_name: str
    ) -> asyncio.Future[list[Any]]:
        """A routine query whose request carries the broker and investor (``make`` builds
        the struct, ``send_name`` is the API method)."""

        def send(request_id: int) -> int:
            if not self._logged_in:
                return -1
            request = make()
            request.BrokerID = self._broker_id
            request.InvestorID = self._investor_id
            return int(getattr(self._api, send_name)(request, request_id))

        return self._queries.submit(name, send, QueryPriority.ROUTINE)

    async def catch_up(self) -> None:
        """Ask the broker what the gateway may have missed; see the class docstring. A
        failed query is logged and skipped (the next log-in asks again)."""
        self.caught_up.clear()
        try:
            await self._catch_up()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A report the mapping cannot take must not end the session's catch-up silently.
            log.exception("ctp td: catching up failed; the next log-in tries again")

    async def _catch_up(self) -> None:
        if self._on_instruments is not None and self._contracts_day != self._trading_day:

            def send(request_id: int) -> int:
                if not self._logged_in:
                    return -1
                request = tdapi.CThostFtdcQryInstrumentField()  # empty: every contract
                return int(self._api.ReqQryInstrument(request, request_id))

            contracts = await self._answer(
                self._queries.submit("instruments", send, QueryPriority.ROUTINE), "contracts"
            )
            if contracts is not None:
                self._contracts_day = self._trading_day
                self._on_instruments(contracts)
        orders = await self._answer(
            self._query("orders", tdapi.CThostFtdcQryOrderField, "ReqQryOrder"), "orders"
        )
        for record in orders or ():
            self.rtn_order(record)
        trades = await self._answer(
            self._query("trades", tdapi.CThostFtdcQryTradeField, "ReqQryTrade"), "trades"
        )
        for record in trades or ():
            self.rtn_trade(record, refresh_positions=False)
        account = await self._answer(self.query_account(), "account")
        if account is not None and self._on_account is not None:
            self._on_account(account)
        await self._answer(self.query_positions(), "positions")
        self.caught_up.set()

    @staticmethod
    async def _answer(future: asyncio.Future[list[Any]], what: str) -> list[Any] | None:
        try:
            return await future
        except QueryFailedError as exc:
            log.warning("ctp td: catching up, the %s query failed: %s", what, exc)
            return None

    def _cancel_catch_up(self) -> None:
        if self._catching_up is not None:
            self._catching_up.cancel()
            self._catching_up = None

    def _positions_answered(self, future: asyncio.Future[list[Any]]) -> None:
        # Also retrieves the exception, so an unawaited refresh that failed is only logged.
        if future.cancelled():
            return
        failure = future.exception()
        if failure is not None:
            log.warning("ctp td: positions query failed: %s", failure)
        elif self._on_positions is not None:
            self._on_positions(future.result())

    # --- on the loop, from the SPI ------------------------------------------------------------

    def connected(self) -> None:
        self._connected = True
        self._set(ComponentState.STARTING, "front connected, logging in")
        self._begin_log_in()

    def _begin_log_in(self) -> None:
        # Without an AppID the broker takes no client authentication (openctp's simulation,
        # old fronts): straight to the login.
        if self._app_id:
            self._authenticate()
        else:
            self._login()

    def disconnected(self, code: int) -> None:
        self._connected = False
        self._logged_in = False
        self._cancel_retry()
        self._cancel_catch_up()
        reason = f"front disconnected: {disconnect_reason(code)}"
        # Queries in flight will never be answered. Orders are not failed: they may still
        # work at the exchange, and the resumed private topic reports them after reconnect.
        self._queries.fail_all(reason)
        self._set(ComponentState.DOWN, reason)

    def authenticate_answered(self, error_id: int, error_text: str) -> None:
        if error_id != 0:
            self._refused(f"authentication refused: {error_text}")
            return
        self._set(ComponentState.STARTING, "authenticated, logging in")
        self._login()

    def login_answered(self, error_id: int, error_text: str, login: dict[str, Any]) -> None:
        """``login``: the `LOGIN_FIELDS` of CThostFtdcRspUserLoginField (empty if none)."""
        if error_id != 0:
            self._refused(f"login refused: {error_text}")
            return
        front_id, session_id = int(login["FrontID"]), int(login["SessionID"])
        max_order_ref = str(login["MaxOrderRef"])
        self._trading_day = str(login["TradingDay"]).strip()
        self._front_id = front_id
        self._session_id = session_id
        ref = max_order_ref.strip()
        # Order refs are unique per session; CTP tells where this session's stand.
        self._next_ref = int(ref) + 1 if ref.isdigit() else 1
        self._set(ComponentState.STARTING, "logged in, confirming the settlement")
        self._confirm_settlement()

    def settlement_answered(self, error_id: int, error_text: str) -> None:
        if error_id != 0:
            self._refused(f"settlement confirmation refused: {error_text}")
            return
        self._backoff.reset()
        self._logged_in = True
        self._set(
            ComponentState.UP,
            f"logged in (front {self._front_id}, session {self._session_id})",
        )
        self._cancel_catch_up()
        assert self._loop is not None
        self._catching_up = self._loop.create_task(self.catch_up(), name="ctp-td-catch-up")

    def rtn_order(self, fields: dict[str, Any]) -> None:
        key = venue_order_key(int(fields["FrontID"]), int(fields["SessionID"]), fields["OrderRef"])
        order_id = self._by_key.get(key)
        if order_id is None:
            # Another session's order (another terminal, an earlier run replayed by RESUME).
            log.debug("ctp td: report for an order not sent by this session (%s)", key)
            return
        venue_id = exchange_order_id(str(fields["ExchangeID"]), str(fields["OrderSysID"]))
        if venue_id is not None and order_id not in self._exchange_ids:
            self._by_exchange_id[venue_id] = order_id
            self._exchange_ids[order_id] = (
                str(fields["ExchangeID"]).strip(),
                str(fields["OrderSysID"]),
            )
        for event in events_from_rtn_order(
            fields, calendar=self._calendar, received_at=self._clock()
        ):
            self._sink.on_order_event(order_id, event)
        if venue_id is not None:
            for trade in self._pending_trades.pop(venue_id, []):
                self.rtn_trade(trade)

    def rtn_trade(self, fields: dict[str, Any], *, refresh_positions: bool = True) -> None:
        venue_id = exchange_order_id(str(fields["ExchangeID"]), str(fields["OrderSysID"]))
        order_id = self._by_exchange_id.get(venue_id) if venue_id is not None else None
        if refresh_positions:
            # Positions changed whichever order traded; the queue folds a burst into one.
            self.query_positions(QueryPriority.POSITIONS_AFTER_FILL)
        if order_id is None:
            if venue_id is not None:
                self._pending_trades.setdefault(venue_id, []).append(fields)
                while len(self._pending_trades) > _PENDING_TRADES_MAX:
                    self._pending_trades.popitem(last=False)
            log.debug("ctp td: trade for an order not (yet) known (%s)", venue_id)
            return
        try:
            event = event_from_rtn_trade(fields, calendar=self._calendar)
        except ValueError:
            log.exception("ctp td: unusable trade report for order %s: %r", order_id, fields)
            return
        self._sink.on_order_event(order_id, event)

    def insert_error(self, order_ref: str, rsp_info: dict[str, Any]) -> None:
        key = venue_order_key(self._front_id, self._session_id, order_ref)
        order_id = self._by_key.get(key)
        if order_id is None:
            log.warning("ctp td: insert error for an unknown order (%s): %r", key, rsp_info)
            return
        self._sink.on_order_event(order_id, event_from_insert_error(rsp_info, ts=self._clock()))

    def action_error(self, action: dict[str, Any], rsp_info: dict[str, Any]) -> None:
        order_id = None
        if str(action.get("OrderRef") or "").strip():
            key = venue_order_key(
                int(action["FrontID"]), int(action["SessionID"]), action["OrderRef"]
            )
            order_id = self._by_key.get(key)
        if order_id is None:
            venue_id = exchange_order_id(
                str(action.get("ExchangeID") or ""), str(action.get("OrderSysID") or "")
            )
            order_id = self._by_exchange_id.get(venue_id) if venue_id is not None else None
        if order_id is None:
            log.warning("ctp td: cancel error for an unknown order: %r %r", action, rsp_info)
            return
        self._sink.on_order_event(order_id, event_from_action_error(rsp_info, ts=self._clock()))

    def query_record(self, request_id: int, record: dict[str, Any] | None, last: bool) -> None:
        self._queries.on_record(request_id, record, last=last)

    def query_error(self, request_id: int, message: str) -> None:
        self._queries.on_error(request_id, message)

    # --- requests -------------------------------------------------------------------------------

    def _authenticate(self) -> None:
        request = tdapi.CThostFtdcReqAuthenticateField()
        request.BrokerID = self._broker_id
        request.UserID = self._user_id
        request.AppID = self._app_id
        request.AuthCode = self._auth_code
        self._sent(self._api.ReqAuthenticate(request, self._next_request_id()), "authentication")

    def _login(self) -> None:
        request = tdapi.CThostFtdcReqUserLoginField()
        request.BrokerID = self._broker_id
        request.UserID = self._user_id
        request.Password = self._password
        self._sent(self._api.ReqUserLogin(request, self._next_request_id()), "login")

    def _confirm_settlement(self) -> None:
        request = tdapi.CThostFtdcSettlementInfoConfirmField()
        request.BrokerID = self._broker_id
        request.InvestorID = self._investor_id
        code = self._api.ReqSettlementInfoConfirm(request, self._next_request_id())
        self._sent(code, "settlement confirmation")

    def _sent(self, code: int, what: str) -> None:
        if code != 0:
            self._refused(f"{what} not sent ({_send_failure(code)})")

    def _refused(self, why: str) -> None:
        """A step of the log-in refused or not sent: start over from authentication later."""
        self._logged_in = False
        delay = self._backoff.next_delay()
        self._set(ComponentState.DEGRADED, f"{why}; retrying in {delay:.0f}s")

        def again() -> None:
            if self._connected and not self._logged_in:
                self._begin_log_in()

        self._retry_after(delay, again)

    def _reject(self, order_id: str, now: datetime, reason: str) -> None:
        self._sink.on_order_event(order_id, Rejected(ts=now, reason=reason))

    def _forget(self, order_id: str) -> None:
        ref = self._refs.pop(order_id, None)
        if ref is not None:
            self._by_key.pop(venue_order_key(*ref), None)
        self._orders.pop(order_id, None)


class _Unbound:
    """The sink before `bind`: nothing may be reported yet."""

    def on_order_event(self, order_id: str, event: OrderLifecycleEvent) -> None:
        kind = type(event).__name__
        raise RuntimeError(f"CTP trading session: no order sink bound for {kind} of {order_id}")


def _parse_key(venue_order_id: str | None) -> tuple[int, int, str] | None:
    """(FrontID, SessionID, OrderRef) from a `venue_order_key`, None for anything else."""
    parts = (venue_order_id or "").split("_")
    if len(parts) != 3 or not parts[2]:
        return None
    try:
        return int(parts[0]), int(parts[1]), parts[2]
    except ValueError:
        return None


def _error(info: Any) -> tuple[int, str]:
    """ErrorID and the decoded message of a CThostFtdcRspInfoField (None means success)."""
    if info is None:
        return 0, ""
    error_id = int(info.ErrorID)
    return error_id, error_message(error_id, info.ErrorMsg) if error_id else ""


# The library is untyped: its SPI base class is `Any` to mypy.
class _Spi(tdapi.CThostFtdcTraderSpi):  # type: ignore[misc]
    """Runs on the library's threads: copy, hand over, return. (Method names are the
    library's; it calls them with positional arguments.)"""

    def __init__(self, session: TradingSession, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._session = session
        self._loop = loop

    def _call(self, method: Callable[..., None], *args: Any) -> None:
        self._loop.call_soon_threadsafe(self._deliver, method, args)

    def _deliver(self, method: Callable[..., None], args: tuple[Any, ...]) -> None:
        # A callback the library made before the session stopped (or restarted) is stale.
        if self._session.spi is self:
            method(*args)

    def OnFrontConnected(self) -> None:  # noqa: N802
        self._call(self._session.connected)

    def OnFrontDisconnected(self, reason: int) -> None:  # noqa: N802
        self._call(self._session.disconnected, int(reason))

    def OnRspAuthenticate(self, _auth: Any, info: Any, _request_id: int, _last: bool) -> None:  # noqa: N802
        self._call(self._session.authenticate_answered, *_error(info))

    def OnRspUserLogin(self, login: Any, info: Any, _request_id: int, _last: bool) -> None:  # noqa: N802
        error_id, text = _error(info)
        fields = fields_of(login, LOGIN_FIELDS) if login is not None else {}
        self._call(self._session.login_answered, error_id, text, fields)

    def OnRspSettlementInfoConfirm(  # noqa: N802
        self, _confirm: Any, info: Any, _request_id: int, _last: bool
    ) -> None:
        self._call(self._session.settlement_answered, *_error(info))

    def OnRtnOrder(self, order: Any) -> None:  # noqa: N802
        if order is not None:
            self._call(self._session.rtn_order, fields_of(order, ORDER_FIELDS))

    def OnRtnTrade(self, trade: Any) -> None:  # noqa: N802
        if trade is not None:
            self._call(self._session.rtn_trade, fields_of(trade, TRADE_FIELDS))

    def OnRspOrderInsert(  # noqa: N802
        self, input_order: Any, info: Any, _request_id: int, _last: bool
    ) -> None:
        self._insert_error(input_order, info)

    def OnErrRtnOrderInsert(self, input_order: Any, info: Any) -> None:  # noqa: N802
        self._insert_error(input_order, info)

    def _insert_error(self, input_order: Any, info: Any) -> None:
        if input_order is None or info is None or int(info.ErrorID) == 0:
            return
        self._call(
            self._session.insert_error,
            str(input_order.OrderRef),
            fields_of(info, RSP_INFO_FIELDS),
        )

    def OnRspOrderAction(  # noqa: N802
        self, action: Any, info: Any, _request_id: int, _last: bool
    ) -> None:
        self._action_error(action, info)

    def OnErrRtnOrderAction(self, action: Any, info: Any) -> None:  # noqa: N802
        self._action_error(action, info)

    def _action_error(self, action: Any, info: Any) -> None:
        if action is None or info is None or int(info.ErrorID) == 0:
            return
        names = ("FrontID", "SessionID", "OrderRef", "ExchangeID", "OrderSysID")
        self._call(
            self._session.action_error, fields_of(action, names), fields_of(info, RSP_INFO_FIELDS)
        )

    def OnRspQryInvestorPosition(  # noqa: N802
        self, position: Any, info: Any, request_id: int, last: bool
    ) -> None:
        self._query_answer(position, POSITION_FIELDS, info, request_id, last)

    def OnRspQryTradingAccount(  # noqa: N802
        self, account: Any, info: Any, request_id: int, last: bool
    ) -> None:
        self._query_answer(account, ACCOUNT_FIELDS, info, request_id, last)

    def OnRspQryInstrument(  # noqa: N802
        self, instrument: Any, info: Any, request_id: int, last: bool
    ) -> None:
        self._query_answer(instrument, INSTRUMENT_FIELDS, info, request_id, last)

    def OnRspQryOrder(self, order: Any, info: Any, request_id: int, last: bool) -> None:  # noqa: N802
        self._query_answer(order, ORDER_FIELDS, info, request_id, last)

    def OnRspQryTrade(self, trade: Any, info: Any, request_id: int, last: bool) -> None:  # noqa: N802
        self._query_answer(trade, TRADE_FIELDS, info, request_id, last)

    def OnRspError(self, info: Any, request_id: int, _last: bool) -> None:  # noqa: N802
        # A request the front could not take; if it was the query in flight, it failed.
        error_id, text = _error(info)
        if error_id:
            self._call(self._session.query_error, int(request_id), text)

    def _query_answer(
        self, record: Any, names: tuple[str, ...], info: Any, request_id: int, last: bool
    ) -> None:
        error_id, text = _error(info)
        if error_id:
            self._call(self._session.query_error, int(request_id), text)
            return
        fields = fields_of(record, names) if record is not None else None
        self._call(self._session.query_record, int(request_id), fields, bool(last))
