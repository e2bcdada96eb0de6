"""CTP <-> domain mapping, driven by hand-written callback recordings (tests/events/ctp).

Each recording is set field by field onto the real `CThostFtdc*Field` struct, copied back out
with `fields_of` (as a callback does), and then mapped, so a field name the library does not
have, or a value it would not hold, fails here.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openctp_ctp import mdapi, tdapi

from gateway.venues.ctp import mapping
from gateway.venues.ctp.mapping import (
    DEPTH_FIELDS,
    ORDER_FIELDS,
    RSP_INFO_FIELDS,
    TRADE_FIELDS,
    error_message,
    event_from_action_error,
    event_from_insert_error,
    event_from_rtn_trade,
    events_from_rtn_order,
    exchange_moment,
    fields_of,
    input_order,
    tick_from_depth,
    venue_order_key,
)
from shared.domain import (
    EXCHANGE_TZ,
    Exchange,
    Offset,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from shared.orders import (
    Accepted,
    Cancelled,
    CancelRejected,
    Filled,
    OrderLifecycleEvent,
    Rejected,
    apply,
)
from shared.sessions import TradingCalendar, load_calendar

EVENTS = Path(__file__).resolve().parent.parent / "events" / "ctp"
CALENDAR: TradingCalendar = load_calendar()
RECEIVED = datetime(2024, 1, 8, tzinfo=UTC)  # arrival time stand-in, later than every event
MODULES = {"mdapi": mdapi, "tdapi": tdapi}
STRUCT_FIELDS = {
    "CThostFtdcDepthMarketDataField": DEPTH_FIELDS,
    "CThostFtdcOrderField": ORDER_FIELDS,
    "CThostFtdcTradeField": TRADE_FIELDS,
    "CThostFtdcRspInfoField": RSP_INFO_FIELDS,
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="ascii"))
    return data


def replay(callback: dict[str, Any]) -> dict[str, Any]:
    """Build the real struct from a recorded callback, then copy it out as a callback would."""
    module_name, class_name = callback["struct"].split(".")
    struct = getattr(MODULES[module_name], class_name)()
    for name, value in callback["fields"].items():
        assert hasattr(struct, name), f"{class_name} has no field {name}"
        setattr(struct, name, value)
    names = STRUCT_FIELDS.get(class_name, tuple(callback["fields"]))
    return fields_of(struct, names)


def new_order(spec: dict[str, Any], *, ts: datetime) -> Order:
    return Order(
        id="o-1",
        client_order_id="c-1",
        account_id="acc",
        symbol=spec["symbol"],
        exchange=Exchange(spec["exchange"]),
        side=Side(spec["side"]),
        offset=Offset(spec["offset"]),
        type=OrderType(spec["type"]),
        price=spec.get("price"),
        volume=spec["volume"],
        created_at=ts,
        updated_at=ts,
    )


def as_rows(events: list[OrderLifecycleEvent]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for event in events:
        stamp = event.ts.isoformat()
        if isinstance(event, Accepted):
            rows.append(["accepted", stamp, event.venue_order_id])
        elif isinstance(event, Filled):
            rows.append(["filled", stamp, event.trade_id, event.price, event.volume])
        elif isinstance(event, Cancelled):
            rows.append(["cancelled", stamp, event.reason])
        elif isinstance(event, Rejected):
            rows.append(["rejected", stamp, event.reason])
        else:
            rows.append([type(event).__name__, stamp])
    return rows


# --- the library ---------------------------------------------------------------------------


def test_copied_constants_equal_the_library_constants() -> None:
    for name, value in mapping.LIBRARY_CONSTANTS.items():
        assert getattr(tdapi, name) == value, name


def test_char_fields_come_back_as_str() -> None:
    order = tdapi.CThostFtdcOrderField()
    order.OrderStatus = tdapi.THOST_FTDC_OST_Canceled
    order.OrderRef = "           7"
    copied = fields_of(order, ("OrderStatus", "OrderRef", "StatusMsg", "FrontID"))
    assert copied == {"OrderStatus": "5", "OrderRef": "           7", "StatusMsg": "", "FrontID": 0}


def test_every_named_field_exists_on_its_struct() -> None:
    for class_name, names in STRUCT_FIELDS.items():
        module = mdapi if class_name == "CThostFtdcDepthMarketDataField" else tdapi
        struct = getattr(module, class_name)()
        assert all(hasattr(struct, name) for name in names), class_name


# --- ticks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "exchange"),
    [
        ("tick_shfe_day.json", Exchange.SHFE),
        ("tick_dce_night.json", Exchange.DCE),
        ("tick_czce_night.json", Exchange.CZCE),
        ("tick_sentinels.json", Exchange.SHFE),
    ],
)
def test_recorded_ticks(name: str, exchange: Exchange) -> None:
    recording = load(name)
    for callback, expected in zip(recording["callbacks"], recording["expected"], strict=True):
        tick = tick_from_depth(replay(callback), exchange=exchange, calendar=CALENDAR)
        if expected is None:
            assert tick is None
            continue
        assert tick is not None
        assert tick.exchange is exchange
        assert tick.symbol == callback["fields"]["InstrumentID"]
        assert tick.ts == datetime.fromisoformat(expected["ts"])
        assert tick.ts.tzinfo is UTC
        assert tick.trading_day == date.fromisoformat(expected["trading_day"])
        for key in ("last_price", "bid_price", "ask_price", "upper_limit", "lower_limit"):
            if key in expected:
                assert getattr(tick, key) == expected[key], key


def test_sentinel_quotes_have_no_volume_and_garbage_is_dropped() -> None:
    auction = replay(load("tick_sentinels.json")["callbacks"][1])
    tick = tick_from_depth(auction, exchange=Exchange.SHFE, calendar=CALENDAR)
    assert tick is not None
    assert (tick.bid_price, tick.bid_volume, tick.ask_price, tick.ask_volume) == (None, 0, None, 0)
    assert (
        tick_from_depth({**auction, "InstrumentID": ""}, exchange=Exchange.SHFE, calendar=CALENDAR)
        is None
    )
    assert (
        tick_from_depth({**auction, "UpdateTime": ""}, exchange=Exchange.SHFE, calendar=CALENDAR)
        is None
    )


def test_quotes_without_a_trade_keep_a_zero_last_price() -> None:
    auction = replay(load("tick_sentinels.json")["callbacks"][1])
    quoted = {**auction, "LastPrice": 0.0, "BidPrice1": 5800.0, "BidVolume1": 4}
    tick = tick_from_depth(quoted, exchange=Exchange.SHFE, calendar=CALENDAR)
    assert tick is not None
    assert (tick.last_price, tick.bid_price, tick.bid_volume) == (0.0, 5800.0, 4)


def test_shfe_after_midnight_uses_action_day() -> None:
    fields = replay(load("tick_shfe_day.json")["callbacks"][0])
    saturday = {
        **fields,
        "TradingDay": "20240108",
        "ActionDay": "20240106",
        "UpdateTime": "01:15:00",
    }
    tick = tick_from_depth(saturday, exchange=Exchange.SHFE, calendar=CALENDAR)
    assert tick is not None
    assert tick.ts == datetime(2024, 1, 5, 17, 15, 0, 500_000, tzinfo=UTC)  # Sat 01:15 local
    assert tick.trading_day == date(2024, 1, 8)


def test_dce_after_midnight_on_a_weekend_is_saturday_morning() -> None:
    fields = replay(load("tick_dce_night.json")["callbacks"][0])
    late = {**fields, "UpdateTime": "00:30:00"}  # Friday night's session past midnight
    tick = tick_from_depth(late, exchange=Exchange.DCE, calendar=CALENDAR)
    assert tick is not None
    assert tick.ts.astimezone(EXCHANGE_TZ) == datetime(2024, 1, 6, 0, 30, tzinfo=EXCHANGE_TZ)


NIGHT_TIMES = st.builds(
    time,
    hour=st.sampled_from([20, 21, 22, 23, 0, 1, 2]),
    minute=st.integers(0, 59),
    second=st.integers(0, 59),
)


@given(
    moment=NIGHT_TIMES,
    trading_day=st.sampled_from(CALENDAR.trading_days(date(2023, 1, 1), date(2024, 12, 31))),
)
def test_dce_night_times_fall_before_the_trading_days_open(moment: time, trading_day: date) -> None:
    stamp = trading_day.strftime("%Y%m%d")
    fields = {
        "InstrumentID": "i2405",
        "TradingDay": stamp,
        "ActionDay": stamp,  # DCE's habit at night
        "UpdateTime": moment.strftime("%H:%M:%S"),
        "UpdateMillisec": 0,
        "LastPrice": 1000.0,
        "Volume": 1,
    }
    tick = tick_from_depth(fields, exchange=Exchange.DCE, calendar=CALENDAR)
    assert tick is not None
    day_open = datetime.combine(trading_day, time(9, 0), tzinfo=EXCHANGE_TZ)
    evening = datetime.combine(
        CALENDAR.previous_trading_day(trading_day), time(20), tzinfo=EXCHANGE_TZ
    )
    assert evening <= tick.ts < day_open
    assert tick.ts - evening < timedelta(hours=7)  # never a whole day off
    assert tick.ts.astimezone(EXCHANGE_TZ).time() == moment


# --- orders out ----------------------------------------------------------------------------


def order_of(**changes: Any) -> Order:
    ts = datetime(2024, 1, 4, 2, tzinfo=UTC)
    base: dict[str, Any] = {
        "symbol": "IF2401",
        "exchange": "CFFEX",
        "side": "sell",
        "offset": "close_today",
        "type": "limit",
        "price": 3500.2,
        "volume": 2,
    }
    tif = changes.pop("tif", TimeInForce.DAY)
    order = new_order({**base, **changes}, ts=ts)
    return msgspec.structs.replace(order, time_in_force=tif)


def test_input_order_limit_day_sets_a_real_struct() -> None:
    values = input_order(order_of(), broker_id="9999", investor_id="000001", order_ref="15")
    struct = tdapi.CThostFtdcInputOrderField()
    for name, value in values.items():
        setattr(struct, name, value)  # every name exists and every value fits
    assert fields_of(struct, values) == values
    assert values["OrderPriceType"] == tdapi.THOST_FTDC_OPT_LimitPrice
    assert values["TimeCondition"] == tdapi.THOST_FTDC_TC_GFD
    assert values["VolumeCondition"] == tdapi.THOST_FTDC_VC_AV
    assert values["Direction"] == tdapi.THOST_FTDC_D_Sell
    assert values["CombOffsetFlag"] == tdapi.THOST_FTDC_OF_CloseToday
    assert values["CombHedgeFlag"] == tdapi.THOST_FTDC_HF_Speculation
    assert values["ForceCloseReason"] == tdapi.THOST_FTDC_FCC_NotForceClose
    assert values["ContingentCondition"] == tdapi.THOST_FTDC_CC_Immediately
    assert (values["LimitPrice"], values["VolumeTotalOriginal"], values["MinVolume"]) == (
        3500.2,
        2,
        1,
    )
    assert values["UserID"] == "000001"


@pytest.mark.parametrize(
    ("tif", "volume_condition"),
    [(TimeInForce.FAK, tdapi.THOST_FTDC_VC_AV), (TimeInForce.FOK, tdapi.THOST_FTDC_VC_CV)],
)
def test_input_order_fak_and_fok(tif: TimeInForce, volume_condition: str) -> None:
    values = input_order(order_of(tif=tif), broker_id="b", investor_id="i", order_ref="1")
    assert values["TimeCondition"] == tdapi.THOST_FTDC_TC_IOC
    assert values["VolumeCondition"] == volume_condition


@pytest.mark.parametrize("exchange", ["CFFEX", "DCE", "CZCE"])
def test_input_order_market_where_allowed(exchange: str) -> None:
    order = order_of(exchange=exchange, type="market", price=None, offset="open", side="buy")
    values = input_order(order, broker_id="b", investor_id="i", order_ref="1")
    assert values["OrderPriceType"] == tdapi.THOST_FTDC_OPT_AnyPrice
    assert values["LimitPrice"] == 0.0
    assert values["TimeCondition"] == tdapi.THOST_FTDC_TC_IOC
    assert values["CombOffsetFlag"] == tdapi.THOST_FTDC_OF_Open
    assert values["Direction"] == tdapi.THOST_FTDC_D_Buy


@pytest.mark.parametrize("exchange", ["SHFE", "INE"])
def test_input_order_market_refused_on_shfe_and_ine(exchange: str) -> None:
    order = order_of(exchange=exchange, type="market", price=None)
    with pytest.raises(ValueError, match="does not accept market orders"):
        input_order(order, broker_id="b", investor_id="i", order_ref="1")


def test_input_order_offsets_and_bad_refs() -> None:
    for offset, flag in [
        ("close", tdapi.THOST_FTDC_OF_Close),
        ("close_yesterday", tdapi.THOST_FTDC_OF_CloseYesterday),
    ]:
        values = input_order(order_of(offset=offset), broker_id="b", investor_id="i", order_ref="1")
        assert values["CombOffsetFlag"] == flag
    with pytest.raises(ValueError, match="order_ref"):
        input_order(order_of(), broker_id="b", investor_id="i", order_ref="1234567890123")


def test_venue_order_key_strips_the_padded_ref() -> None:
    assert venue_order_key(1, -1742335999, "           7") == "1_-1742335999_7"


# --- callbacks in --------------------------------------------------------------------------


def map_callback(callback: dict[str, Any]) -> list[OrderLifecycleEvent]:
    fields = replay(callback)
    if callback["callback"] == "OnRtnOrder":
        return events_from_rtn_order(fields, calendar=CALENDAR, received_at=RECEIVED)
    if callback["callback"] == "OnRtnTrade":
        return [event_from_rtn_trade(fields, calendar=CALENDAR)]
    raise AssertionError(callback["callback"])


@pytest.mark.parametrize(
    "name",
    ["order_life_dce_night.json", "order_cancel_czce.json", "order_insert_rejected_cffex.json"],
)
def test_recorded_order_lives(name: str) -> None:
    recording = load(name)
    mapped = [map_callback(callback) for callback in recording["callbacks"]]
    assert [as_rows(events) for events in mapped] == recording["expected_events"]
    order = new_order(recording["order"], ts=datetime(2024, 1, 1, tzinfo=UTC))
    for events in mapped:
        for event in events:
            order = apply(order, event)
    expected = recording["expected_order"]
    assert order.status == OrderStatus(expected["status"])
    assert order.filled_volume == expected["filled_volume"]
    assert order.venue_order_id == expected["venue_order_id"]


def test_trades_reported_before_the_acknowledgement_still_fill() -> None:
    recording = load("order_life_dce_night.json")
    mapped = [map_callback(callback) for callback in recording["callbacks"]]
    order = new_order(recording["order"], ts=datetime(2024, 1, 1, tzinfo=UTC))
    for events in [mapped[2], mapped[4], mapped[1], *mapped]:  # trades first, then repeats
        for event in events:
            order = apply(order, event)
    assert (order.status, order.filled_volume) == (OrderStatus.FILLED, 3)
    assert order.average_fill_price == pytest.approx((2450.0 + 2 * 2449.5) / 3)


def test_err_rtn_order_insert_31() -> None:
    recording = load("err_rtn_order_insert_31.json")
    input_fields = replay(recording["callbacks"][0])
    assert input_fields["OrderRef"] == "          14"
    rsp = replay(recording["callbacks"][1])
    assert rsp["ErrorID"] == 31
    event = event_from_insert_error(rsp, ts=RECEIVED)
    assert event.reason == recording["expected_reason"]
    order = apply(new_order(recording["order"], ts=datetime(2024, 1, 1, tzinfo=UTC)), event)
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == recording["expected_reason"]
    # What CTP sends is GB18030 text; decoded from the raw bytes it reads as Chinese.
    raw = bytes.fromhex(recording["ErrorMsg_gb18030_hex"])
    assert error_message(31, raw) == "insufficient funds (CTP 31: CTP:资金不足)"


def test_action_error_is_a_cancel_rejection() -> None:
    event = event_from_action_error({"ErrorID": 26, "ErrorMsg": "CTP:already done"}, ts=RECEIVED)
    assert isinstance(event, CancelRejected)
    assert event.reason.startswith("cancel: order already filled or cancelled (CTP 26")


def test_cancel_rejected_submit_status() -> None:
    recording = load("order_cancel_czce.json")
    fields = {
        **replay(recording["callbacks"][1]),
        "OrderSubmitStatus": "5",
        "StatusMsg": "too late",
    }
    events = events_from_rtn_order(fields, calendar=CALENDAR, received_at=RECEIVED)
    assert [type(e) for e in events] == [Accepted, CancelRejected]


def test_unknown_and_conditional_statuses_say_nothing() -> None:
    fields = replay(load("order_cancel_czce.json")["callbacks"][1])
    for status in ("b", "c", "z"):
        assert (
            events_from_rtn_order(
                {**fields, "OrderStatus": status}, calendar=CALENDAR, received_at=RECEIVED
            )
            == []
        )


# --- errors --------------------------------------------------------------------------------


def test_error_messages() -> None:
    assert error_message(22, "CTP:dup") == "duplicate order ref (CTP 22: CTP:dup)"
    assert error_message(50, b"") == "close-today volume exceeds today's position (CTP 50)"
    assert error_message(9999, "something new") == "CTP error 9999: something new"
    assert error_message(0, "") == ""
    assert error_message(None, "CTP:\xe5".encode("latin-1")) == "CTP:\ufffd"  # a torn byte
    assert (
        error_message(3, "不合法的登录".encode("gb18030") + b"\0junk")
        == "invalid login (CTP 3: 不合法的登录)"
    )


def test_exchange_moment_day_session_ignores_a_stale_stamp() -> None:
    moment = exchange_moment(time(14, 59, 59), date(2024, 1, 5), date(2024, 1, 4), CALENDAR)
    assert moment == datetime(2024, 1, 5, 6, 59, 59, tzinfo=UTC)
