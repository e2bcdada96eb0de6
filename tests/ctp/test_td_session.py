"""The CTP trading session at the SPI, with the real openctp-ctp structs.

The request side is replaced by a recorder at the API boundary (what the session asked CTP
for, field by field); the callbacks are driven from another thread, as the library does. The
session authenticates, logs in and confirms the settlement on every connect, retries a
refusal with backoff, sends orders and cancels with the refs CTP expects, turns the reports
into lifecycle events for the sink, and runs its queries through the paced queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest
from openctp_ctp import tdapi

from gateway.venues.ctp.queries import QueryFailedError, QueryQueue
from gateway.venues.ctp.reconnect import Backoff
from gateway.venues.ctp.td_session import TradingSession
from shared.domain import ComponentState, Exchange, Offset, Order, OrderStatus, OrderType, Side
from shared.orders import Accepted, CancelRejected, Filled, OrderLifecycleEvent, Rejected
from shared.sessions import load_calendar
from tests.support.ctp_api import ApiLifecycle

NOW = datetime(2024, 1, 5, 13, 5, tzinfo=UTC)  # Friday 21:05 in Shanghai


async def _until(check: Any, within: float = 8.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.02)


# What the recorder copies out of each request struct.
_REQUEST_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "ReqAuthenticate": ("BrokerID", "UserID", "AppID", "AuthCode"),
    "ReqUserLogin": ("BrokerID", "UserID", "Password"),
    "ReqSettlementInfoConfirm": ("BrokerID", "InvestorID"),
    "ReqOrderInsert": (
        "BrokerID",
        "InvestorID",
        "UserID",
        "InstrumentID",
        "ExchangeID",
        "OrderRef",
        "Direction",
        "CombOffsetFlag",
        "OrderPriceType",
        "LimitPrice",
        "VolumeTotalOriginal",
        "TimeCondition",
    ),
    "ReqOrderAction": (
        "BrokerID",
        "InvestorID",
        "InstrumentID",
        "ExchangeID",
        "FrontID",
        "SessionID",
        "OrderRef",
        "OrderSysID",
        "ActionFlag",
    ),
    "ReqQryInvestorPosition": ("BrokerID", "InvestorID"),
    "ReqQryTradingAccount": ("BrokerID", "InvestorID"),
    "ReqQryOrder": ("BrokerID", "InvestorID"),
    "ReqQryTrade": ("BrokerID", "InvestorID"),
    "ReqQryInstrument": ("InstrumentID",),
}


class RecordingApi(ApiLifecycle):
    """The request side of the API, at its boundary: each request's name, fields and id."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, dict[str, Any], int]] = []
        self.codes: dict[str, int] = {}  # a request name -> the code it returns (default 0)
        self.answered: set[int] = set()

    def __getattr__(self, name: str) -> Any:
        if name not in _REQUEST_FIELDS:
            raise AttributeError(name)

        def request(struct: Any, request_id: int) -> int:
            fields = {field: getattr(struct, field) for field in _REQUEST_FIELDS[name]}
            self.requests.append((name, fields, request_id))
            return self.codes.get(name, 0)

        return request

    def sent(self, name: str) -> list[tuple[dict[str, Any], int]]:
        return [(fields, rid) for sent, fields, rid in self.requests if sent == name]

    def unanswered(self, name: str) -> int | None:
        """The id of the latest ``name`` request not marked answered (in `answered`)."""
        ids = [rid for _, rid in self.sent(name) if rid not in self.answered]
        return ids[-1] if ids else None


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, OrderLifecycleEvent]] = []

    def on_order_event(self, order_id: str, event: OrderLifecycleEvent) -> None:
        self.events.append((order_id, event))


def _rsp_info(error_id: int = 0, message: str = "") -> Any:
    info = tdapi.CThostFtdcRspInfoField()
    info.ErrorID = error_id
    info.ErrorMsg = message
    return info


def _struct(name: str, **fields: Any) -> Any:
    struct = getattr(tdapi, name)()
    for field, value in fields.items():
        setattr(struct, field, value)
    return struct


def _order(order_id: str = "o-1") -> Order:
    return Order(
        id=order_id,
        client_order_id=f"c-{order_id}",
        account_id="acc",
        symbol="j2405",
        exchange=Exchange.DCE,
        side=Side.BUY,
        offset=Offset.OPEN,
        type=OrderType.LIMIT,
        price=2450.0,
        volume=3,
        created_at=NOW,
        updated_at=NOW,
    )


def _rtn_order(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "BrokerID": "9999",
        "InvestorID": "u1",
        "InstrumentID": "j2405",
        "ExchangeID": "DCE",
        "FrontID": 1,
        "SessionID": 7,
        "OrderRef": "          13",  # CTP right-aligns the ref it echoes
        "OrderSysID": "",
        "OrderStatus": "a",
        "OrderSubmitStatus": "0",
        "StatusMsg": "submitted",
        "TradingDay": "20240108",
        "InsertDate": "20240108",
        "InsertTime": "21:05:00",
        "Direction": "0",
        "LimitPrice": 2450.0,
        "VolumeTotalOriginal": 3,
        "VolumeTraded": 0,
    }
    fields.update(overrides)
    return _struct("CThostFtdcOrderField", **fields)


def _rtn_trade() -> Any:
    return _struct(
        "CThostFtdcTradeField",
        BrokerID="9999",
        InvestorID="u1",
        InstrumentID="j2405",
        ExchangeID="DCE",
        OrderRef="          13",
        OrderSysID="       12345",
        TradeID="     9001",
        Direction="0",
        OffsetFlag="0",
        Price=2450.0,
        Volume=3,
        TradingDay="20240108",
        TradeDate="20240108",
        TradeTime="21:05:01",
    )


def _session(
    tmp_path: Path, sink: RecordingSink, **kwargs: Any
) -> tuple[TradingSession, RecordingApi]:
    settings: dict[str, Any] = {
        "fronts": ("tcp://192.0.2.1:41205",),
        "broker_id": "9999",
        "user_id": "u1",
        "password": "secret",
        "app_id": "client_quant_1.0",
        "auth_code": "0000000000000000",
        "flow_dir": tmp_path / "td",
        "sink": sink,
        "calendar": load_calendar(),
        "backoff": Backoff(first_s=0.05, jitter=0.0),
        "queries": QueryQueue(min_interval_s=0.01),
        "clock": lambda: NOW,
    }
    session = TradingSession(**{**settings, **kwargs})
    api = RecordingApi()
    session.start(api)
    return session, api


async def _log_in(session: TradingSession, api: RecordingApi, *, catch_up: bool = True) -> None:
    """Connect and answer each step of the log-in (FrontID 1, SessionID 7, MaxOrderRef 12)."""
    spi = session.spi
    before = len(api.requests)
    await asyncio.to_thread(spi.OnFrontConnected)
    await _until(lambda: api.requests[before:] != [])
    assert api.requests[before][0] == "ReqAuthenticate"
    await asyncio.to_thread(spi.OnRspAuthenticate, None, _rsp_info(), 1, True)
    await _until(lambda: len(api.requests) > before + 1)
    assert api.requests[before + 1][0] == "ReqUserLogin"
    login = _struct(
        "CThostFtdcRspUserLoginField",
        FrontID=1,
        SessionID=7,
        MaxOrderRef="12",
        TradingDay="20240108",
    )
    await asyncio.to_thread(spi.OnRspUserLogin, login, _rsp_info(), 2, True)
    await _until(lambda: len(api.requests) > before + 2)
    assert api.requests[before + 2][0] == "ReqSettlementInfoConfirm"
    await asyncio.to_thread(spi.OnRspSettlementInfoConfirm, None, _rsp_info(), 3, True)
    await _until(lambda: session.state is ComponentState.UP)
    if catch_up:
        await _answer_catch_up(session, api)


# The catch-up after a log-in, in the order it asks: (request, the SPI method that answers).
_CATCH_UP = (
    ("ReqQryOrder", "OnRspQryOrder"),
    ("ReqQryTrade", "OnRspQryTrade"),
    ("ReqQryTradingAccount", "OnRspQryTradingAccount"),
    ("ReqQryInvestorPosition", "OnRspQryInvestorPosition"),
)


async def _answer_catch_up(
    session: TradingSession,
    api: RecordingApi,
    records: Mapping[str, list[Any]] | None = None,
) -> None:
    """Answer each catch-up query (with ``records`` by request name, none by default)."""
    spi = session.spi
    for name, answer in _CATCH_UP:
        await _until(lambda name=name: api.unanswered(name) is not None)
        request_id = api.unanswered(name)
        api.answered.add(request_id)
        rows = (records or {}).get(name, [])
        method = getattr(spi, answer)
        for i, row in enumerate(rows):
            await asyncio.to_thread(method, row, _rsp_info(), request_id, i == len(rows) - 1)
        if not rows:
            await asyncio.to_thread(method, None, _rsp_info(), request_id, True)
    await asyncio.wait_for(session.caught_up.wait(), 5)


async def test_authenticates_logs_in_confirms_and_retries_a_refusal(tmp_path: Path) -> None:
    session, api = _session(tmp_path, RecordingSink())
    spi = session.spi
    try:
        assert session.detail.startswith("connecting to")
        await asyncio.to_thread(spi.OnFrontConnected)
        await _until(lambda: len(api.sent("ReqAuthenticate")) == 1)
        assert api.sent("ReqAuthenticate")[0][0] == {
            "BrokerID": "9999",
            "UserID": "u1",
            "AppID": "client_quant_1.0",
            "AuthCode": "0000000000000000",
        }
        assert api.sent("ReqUserLogin") == []

        await asyncio.to_thread(spi.OnRspAuthenticate, None, _rsp_info(63, "CTP:bad"), 1, True)
        await _until(lambda: session.state is ComponentState.DEGRADED)
        assert "client authentication failed" in session.detail
        assert "retrying" in session.detail
        await _until(lambda: len(api.sent("ReqAuthenticate")) == 2)  # after the backoff

        await asyncio.to_thread(spi.OnRspAuthenticate, None, _rsp_info(), 2, True)
        await _until(lambda: len(api.sent("ReqUserLogin")) == 1)
        assert api.sent("ReqUserLogin")[0][0] == {
            "BrokerID": "9999",
            "UserID": "u1",
            "Password": "secret",
        }
        login = _struct("CThostFtdcRspUserLoginField", FrontID=1, SessionID=7, MaxOrderRef="12")
        await asyncio.to_thread(spi.OnRspUserLogin, login, _rsp_info(), 3, True)
        await _until(lambda: len(api.sent("ReqSettlementInfoConfirm")) == 1)
        assert api.sent("ReqSettlementInfoConfirm")[0][0] == {
            "BrokerID": "9999",
            "InvestorID": "u1",
        }
        assert "confirming the settlement" in session.detail  # not UP before that
        await asyncio.to_thread(spi.OnRspSettlementInfoConfirm, None, _rsp_info(), 4, True)
        await _until(lambda: session.state is ComponentState.UP)
        assert "session 7" in session.detail
    finally:
        session.stop()
    assert session.state is ComponentState.DOWN


async def test_an_order_is_sent_accepted_filled_and_positions_are_queried(
    tmp_path: Path,
) -> None:
    sink = RecordingSink()
    refreshed: list[list[dict[str, Any]]] = []
    session, api = _session(tmp_path, sink, on_positions=refreshed.append)
    spi = session.spi
    try:
        await _log_in(session, api)
        assert refreshed == [[]]  # the catch-up's positions: none yet
        refreshed.clear()
        session.submit(_order(), NOW)
        [(sent, _)] = api.sent("ReqOrderInsert")
        assert sent == {
            "BrokerID": "9999",
            "InvestorID": "u1",
            "UserID": "u1",
            "InstrumentID": "j2405",
            "ExchangeID": "DCE",
            "OrderRef": "13",  # MaxOrderRef "12" + 1
            "Direction": tdapi.THOST_FTDC_D_Buy,
            "CombOffsetFlag": tdapi.THOST_FTDC_OF_Open,
            "OrderPriceType": tdapi.THOST_FTDC_OPT_LimitPrice,
            "LimitPrice": 2450.0,
            "VolumeTotalOriginal": 3,
            "TimeCondition": tdapi.THOST_FTDC_TC_GFD,
        }

        # CTP's own acknowledgement: the order is taken, under CTP's id for it.
        await asyncio.to_thread(spi.OnRtnOrder, _rtn_order())
        await _until(lambda: len(sink.events) == 1)
        order_id, accepted = sink.events[0]
        assert order_id == "o-1"
        assert isinstance(accepted, Accepted)
        assert accepted.venue_order_id == "1_7_13"
        # Another session's order with the same ref: not ours, ignored.
        await asyncio.to_thread(spi.OnRtnOrder, _rtn_order(SessionID=8, OrderStatus="3"))
        queued = _rtn_order(OrderSysID="       12345", OrderStatus="3", OrderSubmitStatus="3")
        await asyncio.to_thread(spi.OnRtnOrder, queued)
        await _until(lambda: len(sink.events) == 2)
        assert sink.events[1] == ("o-1", accepted)  # the exchange's queue: the same id

        # The trade carries only the exchange's number, which the queued report gave.
        await asyncio.to_thread(spi.OnRtnTrade, _rtn_trade())
        await _until(lambda: len(sink.events) == 3)
        order_id, filled = sink.events[2]
        assert order_id == "o-1"
        assert isinstance(filled, Filled)
        assert (filled.trade_id, filled.price, filled.volume) == ("DCE:9001", 2450.0, 3)

        # The fill asked for fresh positions.
        await _until(lambda: len(api.sent("ReqQryInvestorPosition")) == 2)  # after catch-up's
        fields, request_id = api.sent("ReqQryInvestorPosition")[1]
        assert fields == {"BrokerID": "9999", "InvestorID": "u1"}
        position = _struct(
            "CThostFtdcInvestorPositionField",
            InstrumentID="j2405",
            ExchangeID="DCE",
            PosiDirection=tdapi.THOST_FTDC_PD_Long,
            Position=3,
            TodayPosition=3,
            YdPosition=0,
        )
        await asyncio.to_thread(
            spi.OnRspQryInvestorPosition, position, _rsp_info(), request_id, True
        )
        await _until(lambda: len(refreshed) == 1)
        assert [(r["InstrumentID"], r["Position"]) for r in refreshed[0]] == [("j2405", 3)]

        # Asked for directly, the answer resolves the future.
        answer = session.query_positions()
        await _until(lambda: len(api.sent("ReqQryInvestorPosition")) == 3)
        _, request_id = api.sent("ReqQryInvestorPosition")[2]
        await asyncio.to_thread(
            spi.OnRspQryInvestorPosition, position, _rsp_info(), request_id, True
        )
        records = await asyncio.wait_for(answer, 5)
        assert records[0]["PosiDirection"] == tdapi.THOST_FTDC_PD_Long

        session.submit(_order("o-2"), NOW)
        assert api.sent("ReqOrderInsert")[1][0]["OrderRef"] == "14"
    finally:
        session.stop()


async def test_cancels_and_refusals_reach_the_sink(tmp_path: Path) -> None:
    sink = RecordingSink()
    session, api = _session(tmp_path, sink)
    spi = session.spi
    try:
        session.submit(_order("early"), NOW)  # not logged in: refused at once, nothing sent
        assert api.sent("ReqOrderInsert") == []
        [(order_id, rejected)] = sink.events
        assert order_id == "early"
        assert isinstance(rejected, Rejected)
        assert "not ready" in rejected.reason
        sink.events.clear()

        await _log_in(session, api)
        session.submit(_order(), NOW)
        queued = _rtn_order(OrderSysID="       12345", OrderStatus="3", OrderSubmitStatus="3")
        await asyncio.to_thread(spi.OnRtnOrder, queued)
        await _until(lambda: len(sink.events) == 1)

        session.cancel("o-1", NOW)
        [(action, _)] = api.sent("ReqOrderAction")
        assert action == {
            "BrokerID": "9999",
            "InvestorID": "u1",
            "InstrumentID": "j2405",
            "ExchangeID": "DCE",
            "FrontID": 1,
            "SessionID": 7,
            "OrderRef": "13",
            "OrderSysID": "       12345",
            "ActionFlag": tdapi.THOST_FTDC_AF_Delete,
        }
        refused = _struct(
            "CThostFtdcOrderActionField",
            FrontID=1,
            SessionID=7,
            OrderRef="          13",
            ExchangeID="DCE",
            OrderSysID="       12345",
        )
        await asyncio.to_thread(spi.OnErrRtnOrderAction, refused, _rsp_info(26, "CTP:done"))
        await _until(lambda: len(sink.events) == 2)
        order_id, cancel_rejected = sink.events[1]
        assert order_id == "o-1"
        assert isinstance(cancel_rejected, CancelRejected)
        assert cancel_rejected.reason.startswith("cancel: order already filled or cancelled")

        session.cancel("nobody-knows", NOW)  # unknown: refused at once
        order_id, unknown = sink.events[2]
        assert order_id == "nobody-knows"
        assert isinstance(unknown, CancelRejected)
        assert len(api.sent("ReqOrderAction")) == 1

        session.submit(_order("o-2"), NOW)  # OrderRef 14
        input_order = _struct("CThostFtdcInputOrderField", OrderRef="          14")
        await asyncio.to_thread(spi.OnErrRtnOrderInsert, input_order, _rsp_info(31, "CTP:funds"))
        await _until(lambda: len(sink.events) == 4)
        order_id, no_funds = sink.events[3]
        assert order_id == "o-2"
        assert isinstance(no_funds, Rejected)
        assert "insufficient funds" in no_funds.reason

        api.codes["ReqOrderInsert"] = -1  # the network failed: refused at once
        session.submit(_order("o-3"), NOW)
        order_id, unsent = sink.events[4]
        assert order_id == "o-3"
        assert isinstance(unsent, Rejected)
        assert "network failure" in unsent.reason
    finally:
        session.stop()


async def test_a_disconnect_is_down_with_the_reason_and_fails_pending_queries(
    tmp_path: Path,
) -> None:
    sink = RecordingSink()
    session, api = _session(tmp_path, sink)
    spi = session.spi
    try:
        await _log_in(session, api)
        answer = session.query_account()
        await _until(lambda: len(api.sent("ReqQryTradingAccount")) == 2)  # in flight

        await asyncio.to_thread(spi.OnFrontDisconnected, 0x1001)
        await _until(lambda: session.state is ComponentState.DOWN)
        assert "network read failed" in session.detail
        assert "0x1001" in session.detail
        with pytest.raises(QueryFailedError, match="disconnected"):
            await asyncio.wait_for(answer, 5)
        api.answered.update(rid for _, rid in api.sent("ReqQryTradingAccount"))  # failed

        session.submit(_order(), NOW)
        [(_, rejected)] = sink.events
        assert isinstance(rejected, Rejected)
        assert "0x1001" in rejected.reason

        await _log_in(session, api)  # the API reconnected: the whole log-in again
        assert len(api.sent("ReqAuthenticate")) == 2
    finally:
        session.stop()


async def test_after_a_restart_adopted_orders_learn_what_happened_meanwhile(
    tmp_path: Path,
) -> None:
    """The database's working orders are adopted by their CTP id; the catch-up after the
    log-in finds one of them part-filled at the exchange, and a cancel still names it."""
    sink = RecordingSink()
    session, api = _session(tmp_path, sink)
    try:
        sent_before = msgspec.structs.replace(
            _order("o-9"), status=OrderStatus.SUBMITTED, venue_order_id="1_5_9"
        )
        never_acknowledged = _order("o-10")  # PENDING_NEW, no CTP id
        assert session.adopt([sent_before, never_acknowledged]) == [never_acknowledged]
        assert session.knows("o-9")
        assert not session.knows("o-10")

        await _log_in(session, api, catch_up=False)  # a new session: SessionID 7
        part_filled = _rtn_order(
            SessionID=5,
            OrderRef="           9",
            OrderSysID="         777",
            OrderStatus="1",
            OrderSubmitStatus="3",
        )
        trade = _rtn_trade()
        trade.OrderRef, trade.OrderSysID, trade.TradeID, trade.Volume = (
            "           9",
            "         777",
            "      55",
            1,
        )
        await _answer_catch_up(session, api, {"ReqQryOrder": [part_filled], "ReqQryTrade": [trade]})
        events = [(order_id, type(event).__name__) for order_id, event in sink.events]
        assert events == [("o-9", "Accepted"), ("o-9", "Filled")]
        filled = sink.events[1][1]
        assert isinstance(filled, Filled)
        assert (filled.trade_id, filled.volume) == ("DCE:55", 1)

        session.cancel("o-9", NOW)
        [(cancel, _)] = api.sent("ReqOrderAction")
        assert (cancel["FrontID"], cancel["SessionID"], cancel["OrderRef"]) == (1, 5, "9")
        assert (cancel["ExchangeID"], cancel["OrderSysID"]) == ("DCE", "         777")
    finally:
        session.stop()


async def test_the_contract_list_is_asked_once_a_trading_day(tmp_path: Path) -> None:
    contracts: list[list[dict[str, Any]]] = []
    session, api = _session(tmp_path, RecordingSink(), on_instruments=contracts.append)
    spi = session.spi
    try:
        for _ in range(2):  # a reconnect on the same trading day: not asked again
            await _log_in(session, api, catch_up=False)
            if not contracts:
                await _until(lambda: api.unanswered("ReqQryInstrument") is not None)
                request_id = api.unanswered("ReqQryInstrument")
                api.answered.add(request_id)
                future = _struct(
                    "CThostFtdcInstrumentField",
                    InstrumentID="j2405",
                    ExchangeID="DCE",
                    ProductID="j",
                    ProductClass="1",
                    VolumeMultiple=100,
                    PriceTick=0.5,
                )
                await asyncio.to_thread(
                    spi.OnRspQryInstrument, future, _rsp_info(), request_id, True
                )
            await _answer_catch_up(session, api)
            await asyncio.to_thread(spi.OnFrontDisconnected, 0x2001)
            await _until(lambda: session.state is ComponentState.DOWN)
        assert len(api.sent("ReqQryInstrument")) == 1
        [[record]] = contracts
        assert (record["InstrumentID"], record["VolumeMultiple"], record["PriceTick"]) == (
            "j2405",
            100,
            0.5,
        )
    finally:
        session.stop()


async def test_without_an_app_id_the_login_comes_first(tmp_path: Path) -> None:
    """Fronts that take no client authentication (openctp's simulation): straight to login;
    the private topic resumes so that reports missed while away are delivered."""
    session, api = _session(
        tmp_path,
        RecordingSink(),
        fronts=("tcp://192.0.2.1:41205", "tcp://192.0.2.2:41205"),
        app_id="",
        auth_code="",
    )
    try:
        assert api.fronts == ["tcp://192.0.2.1:41205", "tcp://192.0.2.2:41205"]
        assert ("private", tdapi.THOST_TERT_RESUME) in api.topics
        assert api.initialised
        await asyncio.to_thread(session.spi.OnFrontConnected)
        await _until(lambda: api.requests != [])
        assert [name for name, _, _ in api.requests] == ["ReqUserLogin"]
    finally:
        session.stop()
    assert api.released


async def test_the_real_api_connects_and_after_a_drop_reports_why_and_connects_again(
    tmp_path: Path,
) -> None:
    """The library's own trading API against a local listener standing in for the front (a
    bare listener cannot complete CTP's handshake, so the log-in is tested at the SPI)."""
    connections: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    listener = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    session = TradingSession(
        fronts=(f"tcp://127.0.0.1:{port}",),
        broker_id="9999",
        user_id="u1",
        password="secret",
        app_id="client_quant_1.0",
        auth_code="0000000000000000",
        flow_dir=tmp_path / "flow" / "td",
        calendar=load_calendar(),
        sink=RecordingSink(),
    )
    session.start()  # the real CThostFtdcTraderApi
    try:
        assert session.state is ComponentState.STARTING
        await _until(lambda: len(connections) >= 1)
        connections[0].close()  # the front goes away
        await _until(lambda: session.state is ComponentState.DOWN)
        assert "network read failed (0x1001)" in session.detail
        await _until(lambda: len(connections) >= 2)  # the API came back by itself
    finally:
        session.stop()
        listener.close()
        for writer in connections:
            writer.close()
        await listener.wait_closed()
    assert session.state is ComponentState.DOWN
    assert (tmp_path / "flow" / "td").is_dir()
