"""Every translation between CTP and the domain, as pure functions.

No threads, no I/O, no API objects. A CTP callback copies the fields it needs out of the
struct at once with `fields_of` (structs die with the callback and cannot be copied or
pickled); these functions take those plain values and return domain objects.

What the openctp-ctp binding gives (checked against 6.7.11.0): char-array fields come back as
`str`, decoded from GB18030 by the C runtime under the `zh_CN.GB18030` locale; single-char
enum fields (`OrderStatus`, `Direction`, ...) as one-character `str`; numbers as `int` /
`float`. Setting a field from Python writes the string's UTF-8 bytes, so Chinese text set in a
test does not round-trip (it reads back as GB18030 mojibake) and an over-long string raises
`TypeError`. `error_message` still accepts raw `bytes` for bindings or recordings that keep
them.

Dates and times (all exchange-local, Asia/Shanghai; the domain stores UTC):

* `TradingDay` is the session's trading day everywhere except **CZCE market data at night**,
  where it is the calendar date (the same as `ActionDay`); a CZCE evening tick therefore gets
  the trading day after its `ActionDay`.
* `ActionDay` is the calendar date on SHFE, INE, CFFEX (and GFEX) and CZCE, but **DCE puts the
  trading day in `ActionDay` during the night session** (vn.py, for one, ignores DCE's
  `ActionDay` for this reason). `TradeDate` / `InsertDate` follow the same exchange habits.
* So a stamped date is trusted only when it is consistent with the time of day: an evening
  time (>= 20:00) happens on the evening of the trading day *before* `TradingDay`, strictly
  earlier than it (Friday night belongs to Monday, so that evening is a Friday); a time from
  00:00 to 03:00 is the morning after that evening (Saturday for Monday's trading day). A
  stamped date that is not earlier than the trading day at those times is the trading day
  itself, and the calendar date is derived from the trading calendar instead. Day-session
  times happen on the trading day.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from shared.domain import EXCHANGE_TZ, Exchange, Offset, Order, OrderType, Side, Tick, TimeInForce
from shared.orders import (
    Accepted,
    Cancelled,
    CancelRejected,
    Filled,
    OrderLifecycleEvent,
    Rejected,
)
from shared.sessions import TradingCalendar

# --- CTP single-character constants --------------------------------------------------------
# Copied from openctp_ctp.tdapi (THOST_FTDC_*) so this module never imports the library (whose
# import needs the locale prepared); tests assert each equals the library's constant.

# TThostFtdcDirectionType
D_BUY: Final = "0"
D_SELL: Final = "1"
# TThostFtdcOffsetFlagType
OF_OPEN: Final = "0"
OF_CLOSE: Final = "1"
OF_CLOSE_TODAY: Final = "3"
OF_CLOSE_YESTERDAY: Final = "4"
# TThostFtdcHedgeFlagType
HF_SPECULATION: Final = "1"
# TThostFtdcOrderPriceTypeType
OPT_ANY_PRICE: Final = "1"
OPT_LIMIT_PRICE: Final = "2"
# TThostFtdcTimeConditionType
TC_IOC: Final = "1"
TC_GFD: Final = "3"
# TThostFtdcVolumeConditionType
VC_AV: Final = "1"
VC_CV: Final = "3"
# TThostFtdcForceCloseReasonType
FCC_NOT_FORCE_CLOSE: Final = "0"
# TThostFtdcContingentConditionType
CC_IMMEDIATELY: Final = "1"
# TThostFtdcOrderStatusType
OST_ALL_TRADED: Final = "0"
OST_PART_TRADED_QUEUEING: Final = "1"
OST_PART_TRADED_NOT_QUEUEING: Final = "2"
OST_NO_TRADE_QUEUEING: Final = "3"
OST_NO_TRADE_NOT_QUEUEING: Final = "4"
OST_CANCELED: Final = "5"
OST_UNKNOWN: Final = "a"
OST_NOT_TOUCHED: Final = "b"
OST_TOUCHED: Final = "c"
# TThostFtdcOrderSubmitStatusType
OSS_INSERT_SUBMITTED: Final = "0"
OSS_CANCEL_SUBMITTED: Final = "1"
OSS_ACCEPTED: Final = "3"
OSS_INSERT_REJECTED: Final = "4"
OSS_CANCEL_REJECTED: Final = "5"

# Which of the constants above mirror which library names (for the test that checks them).
LIBRARY_CONSTANTS: Final[Mapping[str, str]] = {
    "THOST_FTDC_D_Buy": D_BUY,
    "THOST_FTDC_D_Sell": D_SELL,
    "THOST_FTDC_OF_Open": OF_OPEN,
    "THOST_FTDC_OF_Close": OF_CLOSE,
    "THOST_FTDC_OF_CloseToday": OF_CLOSE_TODAY,
    "THOST_FTDC_OF_CloseYesterday": OF_CLOSE_YESTERDAY,
    "THOST_FTDC_HF_Speculation": HF_SPECULATION,
    "THOST_FTDC_OPT_AnyPrice": OPT_ANY_PRICE,
    "THOST_FTDC_OPT_LimitPrice": OPT_LIMIT_PRICE,
    "THOST_FTDC_TC_IOC": TC_IOC,
    "THOST_FTDC_TC_GFD": TC_GFD,
    "THOST_FTDC_VC_AV": VC_AV,
    "THOST_FTDC_VC_CV": VC_CV,
    "THOST_FTDC_FCC_NotForceClose": FCC_NOT_FORCE_CLOSE,
    "THOST_FTDC_CC_Immediately": CC_IMMEDIATELY,
    "THOST_FTDC_OST_AllTraded": OST_ALL_TRADED,
    "THOST_FTDC_OST_PartTradedQueueing": OST_PART_TRADED_QUEUEING,
    "THOST_FTDC_OST_PartTradedNotQueueing": OST_PART_TRADED_NOT_QUEUEING,
    "THOST_FTDC_OST_NoTradeQueueing": OST_NO_TRADE_QUEUEING,
    "THOST_FTDC_OST_NoTradeNotQueueing": OST_NO_TRADE_NOT_QUEUEING,
    "THOST_FTDC_OST_Canceled": OST_CANCELED,
    "THOST_FTDC_OST_Unknown": OST_UNKNOWN,
    "THOST_FTDC_OST_NotTouched": OST_NOT_TOUCHED,
    "THOST_FTDC_OST_Touched": OST_TOUCHED,
    "THOST_FTDC_OSS_InsertSubmitted": OSS_INSERT_SUBMITTED,
    "THOST_FTDC_OSS_CancelSubmitted": OSS_CANCEL_SUBMITTED,
    "THOST_FTDC_OSS_Accepted": OSS_ACCEPTED,
    "THOST_FTDC_OSS_InsertRejected": OSS_INSERT_REJECTED,
    "THOST_FTDC_OSS_CancelRejected": OSS_CANCEL_REJECTED,
}

# --- copying out of structs ----------------------------------------------------------------

DEPTH_FIELDS: Final = (
    "TradingDay",
    "ActionDay",
    "InstrumentID",
    "ExchangeID",
    "UpdateTime",
    "UpdateMillisec",
    "LastPrice",
    "Volume",
    "Turnover",
    "OpenInterest",
    "BidPrice1",
    "BidVolume1",
    "AskPrice1",
    "AskVolume1",
    "UpperLimitPrice",
    "LowerLimitPrice",
)
ORDER_FIELDS: Final = (
    "InstrumentID",
    "ExchangeID",
    "FrontID",
    "SessionID",
    "OrderRef",
    "OrderSysID",
    "OrderStatus",
    "OrderSubmitStatus",
    "StatusMsg",
    "TradingDay",
    "InsertDate",
    "InsertTime",
    "UpdateTime",
    "CancelTime",
    "VolumeTotalOriginal",
    "VolumeTraded",
)
TRADE_FIELDS: Final = (
    "InstrumentID",
    "ExchangeID",
    "OrderRef",
    "OrderSysID",
    "TradeID",
    "Price",
    "Volume",
    "TradingDay",
    "TradeDate",
    "TradeTime",
)
RSP_INFO_FIELDS: Final = ("ErrorID", "ErrorMsg")


def fields_of(struct: object, names: Iterable[str]) -> dict[str, Any]:
    """The named attributes of a CTP struct as plain values, copied now: the struct belongs to
    the library and is gone when the callback returns."""
    return {name: getattr(struct, name) for name in names}


# --- time ----------------------------------------------------------------------------------

# CTP's night sessions run 21:00 (auction from 20:55) to 02:30 at the latest; nothing trades
# between 03:00 and 08:55. These bounds split a time of day into evening / after-midnight / day.
_EVENING_FROM: Final = time(20, 0)
_MORNING_UNTIL: Final = time(3, 0)
_ONE_DAY: Final = timedelta(days=1)


def parse_ctp_date(raw: object) -> date | None:
    """`YYYYMMDD` -> date; None for empty or malformed values (CTP leaves dates blank)."""
    text = str(raw).strip() if raw is not None else ""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_ctp_time(raw: object, millisec: object = 0) -> time | None:
    """`HH:MM:SS` (+ milliseconds) -> time; None for empty or malformed values."""
    parts = str(raw).strip().split(":") if raw is not None else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    millis = _as_int(millisec or 0)
    if millis is None or not 0 <= millis < 1000:
        return None
    try:
        return time(int(parts[0]), int(parts[1]), int(parts[2]), millis * 1000)
    except ValueError:
        return None


def _as_int(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    return None


def is_evening(moment: time) -> bool:
    return moment >= _EVENING_FROM


def is_after_midnight(moment: time) -> bool:
    return moment < _MORNING_UNTIL


def calendar_date(
    moment: time, trading_day: date, stamped: date | None, calendar: TradingCalendar
) -> date:
    """The calendar date on which `moment` of `trading_day` happened (see the module docstring).

    `stamped` is the date the venue wrote (ActionDay, TradeDate, InsertDate), trusted only
    when it is earlier than the trading day at a night time, i.e. a real calendar date.
    """
    if is_evening(moment):
        if stamped is not None and stamped < trading_day:
            return stamped
        return calendar.previous_trading_day(trading_day)
    if is_after_midnight(moment):
        if stamped is not None and stamped < trading_day:
            return stamped
        return calendar.previous_trading_day(trading_day) + _ONE_DAY
    return trading_day


def exchange_moment(
    moment: time, trading_day: date, stamped: date | None, calendar: TradingCalendar
) -> datetime:
    """The UTC instant of an exchange-local time of day belonging to `trading_day`."""
    day = calendar_date(moment, trading_day, stamped, calendar)
    return datetime.combine(day, moment, tzinfo=EXCHANGE_TZ).astimezone(UTC)


# --- ticks ---------------------------------------------------------------------------------

# CTP fills a price it has no value for with DBL_MAX (1.797e308); some fields use 0 instead.
# Anything this large, non-finite or not positive is "no value".
_ABSENT_PRICE: Final = 1e300


def ctp_price(raw: object) -> float | None:
    """A CTP price, or None for its "no value" markers (DBL_MAX, 0, NaN, negative)."""
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value <= 0 or value >= _ABSENT_PRICE:
        return None
    return value


def _amount(raw: object) -> float:
    # Turnover and open interest are required on a Tick; an absent one is 0, never DBL_MAX.
    value = ctp_price(raw)
    return 0.0 if value is None else value


def _count(raw: object) -> int:
    value = _as_int(raw)
    return 0 if value is None else max(value, 0)


def tick_from_depth(
    d: Mapping[str, Any], *, exchange: Exchange, calendar: TradingCalendar
) -> Tick | None:
    """A `Tick` from OnRtnDepthMarketData fields (`DEPTH_FIELDS`), or None for garbage.

    `exchange` comes from the caller's instrument table: CTP market data often leaves
    `ExchangeID` blank. Garbage is a tick without an instrument, a parseable time or trading
    day, or without any price at all (no last price and no quotes). A tick with quotes but no
    trade yet keeps `last_price = 0.0`, which the bar cleaning and the matching engine already
    treat as "no price". Prices CTP marks as absent become None; bid/ask volumes beside an
    absent price become 0. Note that CZCE reports `Turnover` without the contract multiplier
    (price x volume); it is passed through as the exchange reports it.
    """
    symbol = str(d.get("InstrumentID") or "").strip()
    moment = parse_ctp_time(d.get("UpdateTime"), d.get("UpdateMillisec", 0))
    stated_day = parse_ctp_date(d.get("TradingDay"))
    action_day = parse_ctp_date(d.get("ActionDay"))
    if not symbol or moment is None:
        return None
    last = ctp_price(d.get("LastPrice"))
    bid = ctp_price(d.get("BidPrice1"))
    ask = ctp_price(d.get("AskPrice1"))
    if last is None and bid is None and ask is None:
        return None
    trading_day = stated_day
    # CZCE's market data carries the calendar date as TradingDay at night.
    if (
        exchange is Exchange.CZCE
        and is_evening(moment)
        and action_day is not None
        and (stated_day is None or stated_day <= action_day)
    ):
        trading_day = calendar.next_trading_day(action_day)
    if trading_day is None:
        return None
    volume = _as_int(d.get("Volume", 0))
    if volume is None or volume < 0:
        return None
    return Tick(
        symbol=symbol,
        exchange=exchange,
        ts=exchange_moment(moment, trading_day, action_day, calendar),
        trading_day=trading_day,
        last_price=0.0 if last is None else last,
        volume=volume,
        turnover=_amount(d.get("Turnover")),
        open_interest=_amount(d.get("OpenInterest")),
        bid_price=bid,
        bid_volume=_count(d.get("BidVolume1")) if bid is not None else 0,
        ask_price=ask,
        ask_volume=_count(d.get("AskVolume1")) if ask is not None else 0,
        upper_limit=ctp_price(d.get("UpperLimitPrice")),
        lower_limit=ctp_price(d.get("LowerLimitPrice")),
    )


# --- orders out ----------------------------------------------------------------------------

_ORDER_REF_MAX = 12  # TThostFtdcOrderRefType is char[13]
_DIRECTIONS: Final = {Side.BUY: D_BUY, Side.SELL: D_SELL}
_OFFSETS: Final = {
    Offset.OPEN: OF_OPEN,
    Offset.CLOSE: OF_CLOSE,
    Offset.CLOSE_TODAY: OF_CLOSE_TODAY,
    Offset.CLOSE_YESTERDAY: OF_CLOSE_YESTERDAY,
}
# Exchanges that take CTP's AnyPrice (market) orders; SHFE and INE refuse them, and GFEX is
# left out until confirmed.
MARKET_ORDER_EXCHANGES: Final = frozenset({Exchange.CFFEX, Exchange.DCE, Exchange.CZCE})


def venue_order_key(front_id: int, session_id: int, order_ref: str) -> str:
    """The id CTP itself uses for an order before the exchange numbers it:
    FrontID_SessionID_OrderRef (CTP pads OrderRef with spaces; they are stripped)."""
    return f"{front_id}_{session_id}_{str(order_ref).strip()}"


def exchange_order_id(exchange_id: str, order_sys_id: str) -> str | None:
    """`ExchangeID:OrderSysID` (CTP right-aligns OrderSysID with spaces), None before the
    exchange has numbered the order."""
    sys_id = str(order_sys_id or "").strip()
    return f"{str(exchange_id).strip()}:{sys_id}" if sys_id else None


def input_order(
    order: Order,
    *,
    broker_id: str,
    investor_id: str,
    order_ref: str,
    user_id: str | None = None,
) -> dict[str, Any]:
    """The `CThostFtdcInputOrderField` values for `order` (set them onto the struct).

    Limit orders: GFD for DAY, IOC + any volume for FAK, IOC + complete volume for FOK.
    Market orders are AnyPrice with IOC (an exchange never rests a market order; DAY is
    treated as FAK) and only where the exchange accepts them. Stop and conditional orders
    are held by the gateway and sent as limit/market orders when triggered: never here.
    """
    if not order_ref.strip() or len(order_ref) > _ORDER_REF_MAX:
        raise ValueError(f"order_ref must be 1..{_ORDER_REF_MAX} characters, got {order_ref!r}")
    if order.type is OrderType.LIMIT:
        assert order.price is not None  # Order guarantees a limit price
        price_type, price = OPT_LIMIT_PRICE, order.price
        immediate = order.time_in_force is not TimeInForce.DAY
    elif order.type is OrderType.MARKET:
        if order.exchange not in MARKET_ORDER_EXCHANGES:
            raise ValueError(
                f"{order.exchange} does not accept market orders through CTP; "
                "send a limit order at the limit price instead"
            )
        price_type, price, immediate = OPT_ANY_PRICE, 0.0, True
    else:
        raise ValueError(f"{order.type} orders are held locally, not sent to CTP as such")
    return {
        "BrokerID": broker_id,
        "InvestorID": investor_id,
        "UserID": user_id if user_id is not None else investor_id,
        "InstrumentID": order.symbol,
        "ExchangeID": str(order.exchange),
        "OrderRef": order_ref,
        "OrderPriceType": price_type,
        "LimitPrice": float(price),
        "Direction": _DIRECTIONS[order.side],
        "CombOffsetFlag": _OFFSETS[order.offset],
        "CombHedgeFlag": HF_SPECULATION,
        "VolumeTotalOriginal": order.volume,
        "TimeCondition": TC_IOC if immediate else TC_GFD,
        "VolumeCondition": VC_CV if order.time_in_force is TimeInForce.FOK else VC_AV,
        "MinVolume": 1,
        "ContingentCondition": CC_IMMEDIATELY,
        "StopPrice": 0.0,
        "ForceCloseReason": FCC_NOT_FORCE_CLOSE,
        "IsAutoSuspend": 0,
        "UserForceClose": 0,
    }


# --- callbacks in ----------------------------------------------------------------------------


def _order_moment(
    o: Mapping[str, Any], time_field: str, calendar: TradingCalendar, received_at: datetime
) -> datetime:
    trading_day = parse_ctp_date(o.get("TradingDay"))
    moment = parse_ctp_time(o.get(time_field))
    if trading_day is None or moment is None:
        return received_at  # the callback carries no usable time: when we heard of it
    stamped = parse_ctp_date(o.get("InsertDate")) if time_field == "InsertTime" else None
    return exchange_moment(moment, trading_day, stamped, calendar)


# Statuses of an order CTP has taken (Canceled included: it was taken before it ended).
_TAKEN_STATUSES: Final = frozenset(
    {
        OST_UNKNOWN,
        OST_ALL_TRADED,
        OST_PART_TRADED_QUEUEING,
        OST_PART_TRADED_NOT_QUEUEING,
        OST_NO_TRADE_QUEUEING,
        OST_NO_TRADE_NOT_QUEUEING,
        OST_CANCELED,
    }
)


def events_from_rtn_order(
    o: Mapping[str, Any], *, calendar: TradingCalendar, received_at: datetime
) -> list[OrderLifecycleEvent]:
    """The lifecycle events one OnRtnOrder (`ORDER_FIELDS`) says happened.

    * `OrderSubmitStatus` InsertRejected -> Rejected (CTP reports a refused insert with
      status Canceled; the state machine also accepts the Cancelled that may follow).
    * Canceled otherwise -> Cancelled (after an Accepted when the exchange had numbered the
      order, so its venue id is kept).
    * Unknown (CTP has taken it, the exchange not yet), queued, partly traded, all traded or
      not queueing -> Accepted with the order's CTP id `FrontID_SessionID_OrderRef`: known
      from CTP's first report, it is stored at once, so a restarted gateway can still find and
      cancel the order. (The exchange's number, which trades carry, is the session's to map.)
      Fills come from OnRtnTrade only, never from `VolumeTraded`, so none is counted twice.
    * `OrderSubmitStatus` CancelRejected -> CancelRejected as well.
    * Touched / NotTouched (CTP-side conditional orders, which this gateway never sends) and
      unknown status characters -> nothing.

    `received_at` (UTC) stands in when the report carries no usable time.
    """
    status = str(o.get("OrderStatus") or "")
    submit = str(o.get("OrderSubmitStatus") or "")
    reason = error_message(None, o.get("StatusMsg") or "")
    inserted = _order_moment(o, "InsertTime", calendar, received_at)
    if submit == OSS_INSERT_REJECTED:
        return [Rejected(ts=inserted, reason=reason or "order insert rejected")]
    events: list[OrderLifecycleEvent] = []
    if status in _TAKEN_STATUSES:
        key = venue_order_key(
            int(o.get("FrontID") or 0), int(o.get("SessionID") or 0), o["OrderRef"]
        )
        events.append(Accepted(ts=inserted, venue_order_id=key))
    if status == OST_CANCELED:
        time_field = "CancelTime" if parse_ctp_time(o.get("CancelTime")) else "UpdateTime"
        cancelled = _order_moment(o, time_field, calendar, received_at)
        events.append(Cancelled(ts=max(cancelled, inserted), reason=reason or None))
    elif submit == OSS_CANCEL_REJECTED:
        events.append(CancelRejected(ts=received_at, reason=reason or "cancel rejected"))
    return events


def event_from_rtn_trade(t: Mapping[str, Any], *, calendar: TradingCalendar) -> Filled:
    """A `Filled` from OnRtnTrade (`TRADE_FIELDS`): trade id `ExchangeID:TradeID` (CTP pads
    TradeID with spaces), time from TradeDate/TradeTime placed within TradingDay (DCE
    stamps night trades with the trading day, see the module docstring)."""
    trading_day = parse_ctp_date(t.get("TradingDay"))
    moment = parse_ctp_time(t.get("TradeTime"))
    if trading_day is None or moment is None:
        raise ValueError(
            f"trade without a usable TradingDay/TradeTime: {t.get('TradingDay')!r} "
            f"{t.get('TradeTime')!r}"
        )
    trade_id = str(t.get("TradeID") or "").strip()
    if not trade_id:
        raise ValueError("trade without a TradeID")
    return Filled(
        ts=exchange_moment(moment, trading_day, parse_ctp_date(t.get("TradeDate")), calendar),
        trade_id=f"{str(t.get('ExchangeID') or '').strip()}:{trade_id}",
        price=float(t["Price"]),
        volume=int(t["Volume"]),
    )


def event_from_insert_error(rsp_info: Mapping[str, Any], *, ts: datetime) -> Rejected:
    """A `Rejected` from OnRspOrderInsert / OnErrRtnOrderInsert (`RSP_INFO_FIELDS`); these
    carry no time, so `ts` is when the callback arrived (UTC)."""
    return Rejected(ts=ts, reason=error_message(rsp_info.get("ErrorID"), rsp_info.get("ErrorMsg")))


def event_from_action_error(rsp_info: Mapping[str, Any], *, ts: datetime) -> CancelRejected:
    """A `CancelRejected` from OnRspOrderAction / OnErrRtnOrderAction (`RSP_INFO_FIELDS`)."""
    return CancelRejected(
        ts=ts, reason=error_message(rsp_info.get("ErrorID"), rsp_info.get("ErrorMsg"))
    )


# --- errors ----------------------------------------------------------------------------------

# From CTP's error.xml (ids are stable across versions; the library ships no list).
CTP_ERRORS: Final[Mapping[int, str]] = {
    3: "invalid login",
    6: "not logged in yet",
    8: "front not active",
    9: "no privilege",
    15: "bad order field",
    16: "instrument not found",
    17: "instrument not trading",
    21: "the exchange seat is not connected",
    22: "duplicate order ref",
    23: "bad order action field",
    24: "duplicate cancel: already sent",
    25: "cancel: order not found",
    26: "cancel: order already filled or cancelled",
    28: "no trading right",
    29: "close only",
    30: "close volume exceeds the position",
    31: "insufficient funds",
    42: "settlement not confirmed",
    44: "the exchange is in continuous trading",
    48: "invalid investor or password",
    49: "login from a disallowed IP address",
    50: "close-today volume exceeds today's position",
    51: "close-yesterday volume exceeds yesterday's position",
    63: "client authentication failed",
    64: "client not authenticated",
    75: "too many failed logins: login forbidden",
    80: "price type not supported by the exchange",
    90: "query not ready, retry later",
}


def decode_ctp_text(raw: object) -> str:
    """CTP text as `str`: bytes are GB18030 (what the C API writes); a `str` is already
    decoded by the binding. NULs and padding are dropped."""
    if isinstance(raw, bytes | bytearray):
        text = bytes(raw).split(b"\0", 1)[0].decode("gb18030", errors="replace")
    else:
        text = "" if raw is None else str(raw)
    return text.strip()


def error_message(error_id: object, error_msg: object) -> str:
    """A readable message: the English meaning of a known error id, with the venue's own
    (decoded) text after it; the decoded text alone for unknown ids."""
    text = decode_ctp_text(error_msg)
    code = _as_int(error_id)
    known = CTP_ERRORS.get(code) if code is not None else None
    if known is None:
        if code:
            return f"CTP error {code}: {text}" if text else f"CTP error {code}"
        return text
    return f"{known} (CTP {code}: {text})" if text else f"{known} (CTP {code})"
