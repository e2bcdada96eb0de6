"""A CTP front played by a script, at the API boundary: the request side of both openctp-ctp
APIs replaced by objects that answer the way a broker's front does, with the library's own
`CThostFtdc*Field` structs, on a callback thread of their own (as the library calls the SPI).

It keeps a small broker: the contract list, the account, and every order sent today with its
status; orders rest until the test fills (`fill`) or the trader cancels them, and an order
priced above `refuse_above` is refused by CTP (insufficient funds). A reconnect (`drop`) gives
the next login a new SessionID; `ReqQryOrder` / `ReqQryTrade` answer with the day's orders and
trades, so a restarted gateway can catch up.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import msgspec
from openctp_ctp import mdapi, tdapi

from shared.config import Settings
from shared.domain import exchange_local
from tests.support.ctp_api import ApiLifecycle
from tests.support.gateway import embedded_settings

log = logging.getLogger(__name__)
_STOP = object()


def _struct(module: Any, name: str, **fields: Any) -> Any:
    struct = getattr(module, name)()
    for key, value in fields.items():
        setattr(struct, key, value)
    return struct


def _ok() -> Any:
    return _struct(tdapi, "CThostFtdcRspInfoField", ErrorID=0, ErrorMsg="")


def _error(error_id: int, message: str) -> Any:
    return _struct(tdapi, "CThostFtdcRspInfoField", ErrorID=error_id, ErrorMsg=message)


class _CallbackThread:
    """Calls the SPI from one thread of its own, in the order the front decided."""

    def __init__(self, name: str) -> None:
        self._calls: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.spi: Any = None

    def start(self, spi: Any) -> None:
        self.spi = spi
        self._thread.start()

    def call(self, method: str, *args: Any) -> None:
        self._calls.put((method, args))

    def stop(self) -> None:
        self._calls.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while (item := self._calls.get()) is not _STOP:
            method, args = item
            try:
                getattr(self.spi, method)(*args)
            except Exception:  # the library would print it and go on
                log.exception("scripted front: %s raised in the SPI", method)


@dataclass
class Contract:
    symbol: str
    exchange: str
    product: str
    multiplier: int
    price_tick: float
    expires: date
    margin_ratio: float = 0.1


@dataclass
class _Order:
    fields: dict[str, Any]
    traded: int = 0
    status: str = tdapi.THOST_FTDC_OST_Unknown
    submit: str = tdapi.THOST_FTDC_OSS_InsertSubmitted
    message: str = ""
    sys_id: str = ""


@dataclass
class ScriptedBroker:
    """What the front knows; shared by the APIs of every connection."""

    contracts: list[Contract]
    balance: float
    clock: Any  # () -> datetime (UTC)
    trading_day: date
    refuse_above: float = 1e12
    front_id: int = 1
    sessions: itertools.count[int] = field(default_factory=lambda: itertools.count(101))
    session_id: int = 0
    orders: list[_Order] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    sys_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(5001))
    trade_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(9001))
    max_order_ref: int = 0
    requests: list[str] = field(default_factory=list)
    subscribed: list[str] = field(default_factory=list)
    trader: ScriptedTraderApi | None = None
    market: ScriptedMdApi | None = None

    def apis(self, kind: str) -> Any:
        """The `ctp_apis` factory: a fresh API per start, like the library's Create*."""
        if kind == "md":
            self.market = ScriptedMdApi(self)
            return self.market
        self.trader = ScriptedTraderApi(self)
        return self.trader

    # --- what the test makes happen ------------------------------------------------------------

    def fill(self, order_ref: str, volume: int, price: float) -> None:
        """The exchange fills ``volume`` of the order sent with ``order_ref`` (reported at once
        to a connected gateway)."""
        assert self.trader is not None
        order = self._by_ref(order_ref)
        order.traded += volume
        total = int(order.fields["VolumeTotalOriginal"])
        assert order.traded <= total
        order.status = (
            tdapi.THOST_FTDC_OST_AllTraded
            if order.traded == total
            else tdapi.THOST_FTDC_OST_PartTradedQueueing
        )
        local = exchange_local(self.clock())
        trade = {
            **{k: order.fields[k] for k in ("InstrumentID", "ExchangeID", "OrderRef", "Direction")},
            "OrderSysID": order.sys_id,
            "TradeID": f"{next(self.trade_ids):>12}",
            "OffsetFlag": order.fields["CombOffsetFlag"][0],
            "Price": price,
            "Volume": volume,
            "TradingDay": self.trading_day.strftime("%Y%m%d"),
            "TradeDate": local.strftime("%Y%m%d"),
            "TradeTime": local.strftime("%H:%M:%S"),
        }
        self.trades.append(trade)
        if self.trader.released:
            return  # nobody connected: the queries after the next login tell it
        # CTP reports the order's new state, then the trade.
        self.trader.thread.call("OnRtnOrder", self._order_struct(order))
        self.trader.thread.call("OnRtnTrade", _struct(tdapi, "CThostFtdcTradeField", **trade))

    def drop(self) -> None:
        """The front drops the connection and takes it back (the API reconnects by itself)."""
        assert self.trader is not None
        self.trader.thread.call("OnFrontDisconnected", 0x1001)
        self.trader.thread.call("OnFrontConnected")

    def tick(self, symbol: str, *, last: float, bid: float, ask: float, at: datetime) -> None:
        assert self.market is not None
        local = exchange_local(at)
        depth = _struct(
            mdapi,
            "CThostFtdcDepthMarketDataField",
            TradingDay=self.trading_day.strftime("%Y%m%d"),
            ActionDay=local.strftime("%Y%m%d"),
            InstrumentID=symbol,
            ExchangeID="",  # as CTP market data often leaves it
            UpdateTime=local.strftime("%H:%M:%S"),
            UpdateMillisec=local.microsecond // 1000,
            LastPrice=last,
            Volume=10,
            Turnover=last * 100,
            OpenInterest=1000.0,
            BidPrice1=bid,
            BidVolume1=3,
            AskPrice1=ask,
            AskVolume1=4,
            UpperLimitPrice=last * 1.1,
            LowerLimitPrice=last * 0.9,
        )
        self.market.thread.call("OnRtnDepthMarketData", depth)

    # --- the trading front's answers -----------------------------------------------------------

    def _by_ref(self, order_ref: str) -> _Order:
        for order in self.orders:
            if order.fields["OrderRef"].strip() == str(order_ref).strip():
                return order
        raise KeyError(order_ref)

    def _order_struct(self, order: _Order) -> Any:
        local = exchange_local(self.clock())
        return _struct(
            tdapi,
            "CThostFtdcOrderField",
            **order.fields,
            OrderSysID=order.sys_id,
            OrderStatus=order.status,
            OrderSubmitStatus=order.submit,
            StatusMsg=order.message,
            VolumeTraded=order.traded,
            UpdateTime=local.strftime("%H:%M:%S"),
        )

    def insert(self, request: Any, request_id: int, thread: _CallbackThread) -> int:
        self.requests.append("ReqOrderInsert")
        ref = int(str(request.OrderRef).strip())
        assert ref > self.max_order_ref, "CTP wants order refs to increase within a session"
        self.max_order_ref = ref
        local = exchange_local(self.clock())
        fields = {
            "InstrumentID": request.InstrumentID,
            "ExchangeID": request.ExchangeID,
            "FrontID": self.front_id,
            "SessionID": self.session_id,
            "OrderRef": f"{request.OrderRef:>12}",
            "Direction": request.Direction,
            "CombOffsetFlag": request.CombOffsetFlag,
            "LimitPrice": request.LimitPrice,
            "VolumeTotalOriginal": request.VolumeTotalOriginal,
            "TimeCondition": request.TimeCondition,
            "TradingDay": self.trading_day.strftime("%Y%m%d"),
            "InsertDate": local.strftime("%Y%m%d"),
            "InsertTime": local.strftime("%H:%M:%S"),
        }
        if request.LimitPrice > self.refuse_above:
            # Refused by CTP itself: the answer to the request, and the error report.
            failure = _error(31, "CTP:资金不足")
            thread.call("OnRspOrderInsert", request, failure, request_id, True)
            thread.call("OnErrRtnOrderInsert", request, failure)
            return 0
        order = _Order(fields=fields)
        self.orders.append(order)
        thread.call("OnRtnOrder", self._order_struct(order))  # CTP has it
        order.sys_id = f"{next(self.sys_ids):>12}"
        order.status = tdapi.THOST_FTDC_OST_NoTradeQueueing
        order.submit = tdapi.THOST_FTDC_OSS_Accepted
        thread.call("OnRtnOrder", self._order_struct(order))  # the exchange queued it
        return 0

    def cancel(self, request: Any, request_id: int, thread: _CallbackThread) -> int:
        self.requests.append("ReqOrderAction")
        matches = [
            order
            for order in self.orders
            if (
                order.fields["FrontID"] == request.FrontID
                and order.fields["SessionID"] == request.SessionID
                and order.fields["OrderRef"].strip() == str(request.OrderRef).strip()
            )
            or (order.sys_id and order.sys_id.strip() == str(request.OrderSysID).strip())
        ]
        if not matches:
            thread.call(
                "OnRspOrderAction", request, _error(25, "CTP:撤单找不到相应报单"), request_id, True
            )
            return 0
        order = matches[0]
        if order.status in {tdapi.THOST_FTDC_OST_AllTraded, tdapi.THOST_FTDC_OST_Canceled}:
            thread.call(
                "OnRspOrderAction",
                request,
                _error(26, "CTP:报单已全成交或已撤销"),
                request_id,
                True,
            )
            return 0
        order.status = tdapi.THOST_FTDC_OST_Canceled
        order.message = "已撤单"
        thread.call("OnRtnOrder", self._order_struct(order))
        return 0

    def query(self, name: str, request_id: int, thread: _CallbackThread) -> int:
        self.requests.append(name)
        answer, records = self._records(name)
        if not records:
            thread.call(answer, None, _ok(), request_id, True)
        for i, record in enumerate(records):
            thread.call(answer, record, _ok(), request_id, i == len(records) - 1)
        return 0

    def _records(self, name: str) -> tuple[str, list[Any]]:
        if name == "ReqQryInstrument":
            return "OnRspQryInstrument", [
                _struct(
                    tdapi,
                    "CThostFtdcInstrumentField",
                    InstrumentID=c.symbol,
                    ExchangeID=c.exchange,
                    InstrumentName=c.symbol,
                    ProductID=c.product,
                    ProductClass=tdapi.THOST_FTDC_PC_Futures,
                    VolumeMultiple=c.multiplier,
                    PriceTick=c.price_tick,
                    MinLimitOrderVolume=1,
                    LongMarginRatio=c.margin_ratio,
                    ShortMarginRatio=c.margin_ratio,
                    ExpireDate=c.expires.strftime("%Y%m%d"),
                    IsTrading=1,
                )
                for c in self.contracts
            ]
        if name == "ReqQryOrder":
            return "OnRspQryOrder", [self._order_struct(order) for order in self.orders]
        if name == "ReqQryTrade":
            return "OnRspQryTrade", [
                _struct(tdapi, "CThostFtdcTradeField", **trade) for trade in self.trades
            ]
        if name == "ReqQryTradingAccount":
            account = _struct(
                tdapi,
                "CThostFtdcTradingAccountField",
                AccountID="000001",
                CurrencyID="CNY",
                Balance=self.balance,
                Available=self.balance,
                TradingDay=self.trading_day.strftime("%Y%m%d"),
            )
            return "OnRspQryTradingAccount", [account]
        if name == "ReqQryInvestorPosition":
            return "OnRspQryInvestorPosition", self._positions()
        raise AssertionError(f"the scripted front does not answer {name}")

    def _positions(self) -> list[Any]:
        """Today's long positions the (opening buy) trades built; enough for these tests."""
        multiplier = {c.symbol: c.multiplier for c in self.contracts}
        held: dict[str, tuple[str, int, float]] = {}
        for trade in self.trades:
            assert trade["Direction"] == tdapi.THOST_FTDC_D_Buy, "the script only opens longs"
            symbol = trade["InstrumentID"]
            _, volume, cost = held.get(symbol, (trade["ExchangeID"], 0, 0.0))
            value = trade["Price"] * trade["Volume"] * multiplier[symbol]
            held[symbol] = (trade["ExchangeID"], volume + trade["Volume"], cost + value)
        return [
            _struct(
                tdapi,
                "CThostFtdcInvestorPositionField",
                InstrumentID=symbol,
                ExchangeID=exchange,
                PosiDirection=tdapi.THOST_FTDC_PD_Long,
                PositionDate=tdapi.THOST_FTDC_PSD_Today,
                Position=volume,
                TodayPosition=volume,
                PositionCost=cost,
                UseMargin=cost * 0.1,
            )
            for symbol, (exchange, volume, cost) in held.items()
        ]


class _ScriptedApi(ApiLifecycle):
    """Connected as soon as it is initialised; its callbacks come from a thread of its own."""

    def __init__(self, broker: ScriptedBroker, name: str) -> None:
        super().__init__()
        self.broker = broker
        self.thread = _CallbackThread(name)

    def Init(self) -> None:  # noqa: N802 - the library's names
        super().Init()
        self.thread.start(self.spi)
        self.thread.call("OnFrontConnected")

    def Release(self) -> None:  # noqa: N802
        super().Release()
        self.thread.stop()


class ScriptedTraderApi(_ScriptedApi):
    def __init__(self, broker: ScriptedBroker) -> None:
        super().__init__(broker, "scripted-ctp-td")

    def ReqAuthenticate(self, request: Any, request_id: int) -> int:  # noqa: N802
        self.broker.requests.append("ReqAuthenticate")
        assert request.AppID, "the session authenticates with the AppID it was given"
        self.thread.call("OnRspAuthenticate", None, _ok(), request_id, True)
        return 0

    def ReqUserLogin(self, request: Any, request_id: int) -> int:  # noqa: N802
        broker = self.broker
        broker.requests.append("ReqUserLogin")
        broker.session_id = next(broker.sessions)
        broker.max_order_ref = max(broker.max_order_ref, 0)
        login = _struct(
            tdapi,
            "CThostFtdcRspUserLoginField",
            FrontID=broker.front_id,
            SessionID=broker.session_id,
            MaxOrderRef=str(broker.max_order_ref),
            TradingDay=broker.trading_day.strftime("%Y%m%d"),
        )
        self.thread.call("OnRspUserLogin", login, _ok(), request_id, True)
        return 0

    def ReqSettlementInfoConfirm(self, request: Any, request_id: int) -> int:  # noqa: N802
        self.broker.requests.append("ReqSettlementInfoConfirm")
        self.thread.call("OnRspSettlementInfoConfirm", None, _ok(), request_id, True)
        return 0

    def ReqOrderInsert(self, request: Any, request_id: int) -> int:  # noqa: N802
        return self.broker.insert(request, request_id, self.thread)

    def ReqOrderAction(self, request: Any, request_id: int) -> int:  # noqa: N802
        return self.broker.cancel(request, request_id, self.thread)

    def ReqQryInstrument(self, request: Any, request_id: int) -> int:  # noqa: N802
        return self.broker.query("ReqQryInstrument", request_id, self.thread)

    def ReqQryOrder(self, request: Any, request_id: int) -> int:  # noqa: N802
        return self.broker.query("ReqQryOrder", request_id, self.thread)

    def ReqQryTrade(self, request: Any, request_id: int) -> int:  # noqa: N802
        return self.broker.query("ReqQryTrade", request_id, self.thread)

    def ReqQryTradingAccount(self, request: Any, request_id: int) -> int:  # noqa: N802
        return self.broker.query("ReqQryTradingAccount", request_id, self.thread)

    def ReqQryInvestorPosition(self, request: Any, request_id: int) -> int:  # noqa: N802
        return self.broker.query("ReqQryInvestorPosition", request_id, self.thread)


class ScriptedMdApi(_ScriptedApi):
    def __init__(self, broker: ScriptedBroker) -> None:
        super().__init__(broker, "scripted-ctp-md")

    def ReqUserLogin(self, request: Any, request_id: int) -> int:  # noqa: N802
        login = _struct(mdapi, "CThostFtdcRspUserLoginField", TradingDay="")
        self.thread.call("OnRspUserLogin", login, _ok(), request_id, True)
        return 0

    def SubscribeMarketData(self, symbols: list[bytes], count: int) -> int:  # noqa: N802
        assert count == len(symbols)
        self.broker.subscribed.extend(s.decode() for s in symbols)
        return 0


def ctp_settings(var_dir: Path, **overrides: object) -> Settings:
    """The embedded gateway on the CTP venue, its fronts never dialled (a scripted front
    stands in), connecting at any hour unless the test says otherwise."""
    settings = embedded_settings(
        var_dir,
        venue="ctp",
        ctp_md_fronts="tcp://127.0.0.1:1",
        ctp_td_fronts="tcp://127.0.0.1:1",
        ctp_broker_id="9999",
        ctp_user_id="000001",
        ctp_password="ctp-password",
        ctp_app_id="client_quant_1.0",
        ctp_auth_code="0000000000000000",
        ctp_flow_dir=str(var_dir / "ctp"),
        ctp_connect_window=False,
    )
    return msgspec.structs.replace(settings, **overrides)
