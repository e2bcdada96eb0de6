from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import get_args

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import (
    Bar,
    Direction,
    Event,
    Exchange,
    Instrument,
    Interval,
    Offset,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Tick,
    TickEvent,
    decode_event,
    decode_event_json,
    encode_event,
    encode_event_json,
    is_on_tick,
    price_to_ticks,
    prices_equal,
    round_to_tick,
    topic_for,
)
from tests.support.samples import SAMPLE_EVENTS

T0 = datetime(2021, 1, 4, 1, 29, tzinfo=UTC)


def _tick(**changes: object) -> Tick:
    fields: dict[str, object] = {
        "symbol": "IF2101",
        "exchange": Exchange.CFFEX,
        "ts": T0,
        "trading_day": date(2021, 1, 4),
        "last_price": 5230.2,
        "volume": 240,
        "turnover": 376560000.0,
        "open_interest": 90767.0,
    }
    fields.update(changes)
    return Tick(**fields)  # type: ignore[arg-type]


def _order(**changes: object) -> Order:
    fields: dict[str, object] = {
        "id": "o1",
        "client_order_id": "c1",
        "account_id": "acc",
        "symbol": "rb2401",
        "exchange": Exchange.SHFE,
        "side": Side.BUY,
        "offset": Offset.OPEN,
        "type": OrderType.LIMIT,
        "volume": 3,
        "price": 3800.0,
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("event", SAMPLE_EVENTS.values(), ids=SAMPLE_EVENTS.keys())
def test_every_event_round_trips_through_msgpack_and_json(event: Event) -> None:
    assert decode_event(encode_event(event)) == event
    assert decode_event_json(encode_event_json(event)) == event


def test_topics_route_account_data_per_account_and_market_data_per_symbol() -> None:
    assert {kind: topic_for(event) for kind, event in SAMPLE_EVENTS.items()} == {
        "tick": "ticks.SHFE.rb2405",
        "bar": "bars.1m.DCE.m2405",
        "order": "account.acc-7.orders",
        "trade": "account.acc-7.trades",
        "position": "account.acc-7.positions",
        "account": "account.acc-7.account",
        "risk": "account.acc-7.risk",
        "venue_status": "venue.ctp",
        "backtest_progress": "user.u-1.backtests",
    }
    assert set(SAMPLE_EVENTS) == {cls.__struct_config__.tag for cls in get_args(Event)}


def test_json_timestamps_are_utc_and_naive_ones_are_refused_on_decode() -> None:
    shanghai = timezone(timedelta(hours=8))
    tick = _tick(ts=datetime(2021, 1, 4, 9, 29, tzinfo=shanghai))
    decoded = decode_event_json(encode_event_json(TickEvent(tick=tick)))
    assert isinstance(decoded, TickEvent)
    assert decoded.tick.ts == T0
    naive = encode_event_json(TickEvent(tick=tick)).replace(b"+08:00", b"")
    with pytest.raises(msgspec.ValidationError, match="`ts` must be timezone-aware"):
        decode_event_json(naive)


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'nope'"):
        decode_event_json(b'{"type": "nope"}')


def test_order_invariants() -> None:
    with pytest.raises(ValueError, match="`price` is required"):
        _order(price=None)
    with pytest.raises(ValueError, match="`trigger_price` is required"):
        _order(type=OrderType.STOP, price=None)
    with pytest.raises(ValueError, match="`filled_volume` must be within"):
        _order(filled_volume=4)
    with pytest.raises(ValueError, match="`volume` must be positive"):
        _order(volume=0)
    assert _order(filled_volume=2).remaining_volume == 1
    assert OrderStatus.CANCELLED.is_terminal
    assert not OrderStatus.PARTIALLY_FILLED.is_terminal


def test_bar_prices_must_be_consistent() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        Bar(
            symbol="x",
            exchange=Exchange.DCE,
            interval=Interval.M1,
            start=T0,
            trading_day=date(2021, 1, 4),
            open=10,
            high=9,
            low=8,
            close=9,
        )


def test_position_today_plus_yesterday_is_the_volume() -> None:
    with pytest.raises(ValueError, match="must equal `volume`"):
        Position(
            account_id="a",
            symbol="cu2401",
            exchange=Exchange.SHFE,
            direction=Direction.SHORT,
            volume=3,
            today_volume=1,
            yesterday_volume=1,
        )


def test_instrument_validation_and_price_grid() -> None:
    rb = Instrument(
        symbol="rb2401", exchange=Exchange.SHFE, product="rb", multiplier=10, price_tick=1.0
    )
    assert rb.key == "SHFE.rb2401"
    assert rb.accepts_price(3801.0)
    assert not rb.accepts_price(3801.5)
    assert not rb.accepts_price(0.0)
    with pytest.raises(msgspec.ValidationError, match="price_tick"):
        msgspec.convert(
            {"symbol": "x", "exchange": "SHFE", "product": "x", "multiplier": 1, "price_tick": 0},
            Instrument,
        )
    with pytest.raises(msgspec.ValidationError, match="Invalid enum value 'NYSE'"):
        msgspec.convert(
            {"symbol": "x", "exchange": "NYSE", "product": "x", "multiplier": 1, "price_tick": 1},
            Instrument,
        )


def test_interval_durations() -> None:
    assert Interval.M15.duration == timedelta(minutes=15)
    assert Interval.H2.duration == timedelta(hours=2)
    assert Interval.D1.duration == timedelta(days=1)


@given(
    ticks=st.integers(min_value=1, max_value=10_000_000),
    tick_size=st.sampled_from([0.2, 0.5, 1.0, 0.02, 0.005, 5.0]),
)
def test_prices_on_the_grid_survive_float_arithmetic(ticks: int, tick_size: float) -> None:
    price = ticks * tick_size  # float product: not exactly representable in general
    assert is_on_tick(price, tick_size)
    assert price_to_ticks(price, tick_size) == ticks
    assert prices_equal(price, round_to_tick(price, tick_size), tick_size)
    assert not is_on_tick(price + tick_size / 2, tick_size)
    assert not prices_equal(price, price + tick_size, tick_size)


def test_round_to_tick_removes_float_noise() -> None:
    assert round_to_tick(5230.2000000001, 0.2) == 5230.2
    assert round_to_tick(0.1 + 0.2, 0.1) == 0.3
    assert not is_on_tick(float("nan"), 0.2)
    with pytest.raises(ValueError, match="price tick must be positive"):
        price_to_ticks(1.0, 0.0)
