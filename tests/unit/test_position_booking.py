"""Booking trades into positions: today and yesterday lots per exchange, P&L, commission."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import (
    CommissionRates,
    Direction,
    Exchange,
    Instrument,
    Offset,
    Position,
    Side,
    Trade,
)
from shared.orders import (
    BookingError,
    book,
    close_offsets,
    commission,
    mark,
    position_direction,
    roll_day,
)

TS = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
REBAR = Instrument(
    symbol="rb2605",
    exchange=Exchange.SHFE,
    product="rb",
    multiplier=10,
    price_tick=1.0,
    long_margin_ratio=0.07,
    short_margin_ratio=0.08,
    commission=CommissionRates(
        open_by_money=0.0001, close_by_money=0.0001, close_today_by_money=0.0003
    ),
)
MEAL = Instrument(
    symbol="m2605",
    exchange=Exchange.DCE,
    product="m",
    multiplier=10,
    price_tick=1.0,
    long_margin_ratio=0.07,
    short_margin_ratio=0.07,
    commission=CommissionRates(open_by_volume=1.5, close_by_volume=1.5, close_today_by_volume=0.0),
)
_ids = count()


def _trade(instrument: Instrument, side: Side, offset: Offset, price: float, volume: int) -> Trade:
    return Trade(
        id=f"t{next(_ids)}",
        order_id="o",
        account_id="acc-7",
        symbol=instrument.symbol,
        exchange=instrument.exchange,
        side=side,
        offset=offset,
        price=price,
        volume=volume,
        ts=TS,
        trading_day=date(2026, 11, 24),
    )


def _held(instrument: Instrument, today: int, yesterday: int, average: float) -> Position:
    return Position(
        account_id="acc-7",
        symbol=instrument.symbol,
        exchange=instrument.exchange,
        direction=Direction.LONG,
        volume=today + yesterday,
        today_volume=today,
        yesterday_volume=yesterday,
        average_price=average,
    )


def test_opens_average_and_land_in_today_and_a_new_day_makes_them_yesterdays() -> None:
    first = book(None, _trade(REBAR, Side.BUY, Offset.OPEN, 3500.0, 3), REBAR)
    assert first.position.direction is Direction.LONG
    assert first.commission == pytest.approx(3 * 3500.0 * 10 * 0.0001)
    position = roll_day(first.position)
    after = book(position, _trade(REBAR, Side.BUY, Offset.OPEN, 3520.0, 2), REBAR).position
    assert (after.volume, after.today_volume, after.yesterday_volume) == (5, 2, 3)
    assert after.average_price == pytest.approx((3500.0 * 3 + 3520.0 * 2) / 5)


def test_shfe_closes_today_and_yesterday_as_told_with_the_close_today_rate() -> None:
    position = _held(REBAR, today=2, yesterday=3, average=3510.0)
    booking = book(position, _trade(REBAR, Side.SELL, Offset.CLOSE_TODAY, 3530.0, 1), REBAR)
    assert (booking.closed_today, booking.closed_yesterday) == (1, 0)
    assert booking.realized_pnl == pytest.approx((3530.0 - 3510.0) * 10)
    assert booking.commission == pytest.approx(3530.0 * 10 * 0.0003)
    assert (booking.position.today_volume, booking.position.yesterday_volume) == (1, 3)
    assert booking.position.average_price == 3510.0  # closing leaves the cost of the rest
    plain = book(position, _trade(REBAR, Side.SELL, Offset.CLOSE, 3530.0, 3), REBAR)
    assert (plain.closed_today, plain.closed_yesterday) == (0, 3)  # a plain close is yesterday's
    assert plain.commission == pytest.approx(3 * 3530.0 * 10 * 0.0001)


@pytest.mark.parametrize(
    ("offset", "volume", "message"),
    [(Offset.CLOSE_TODAY, 3, "closing 3 of today's lots, 2 held"), (Offset.CLOSE, 4, "earlier")],
)
def test_shfe_refuses_a_close_of_lots_not_held(offset: Offset, volume: int, message: str) -> None:
    position = _held(REBAR, today=2, yesterday=3, average=3510.0)
    with pytest.raises(BookingError, match=message):
        book(position, _trade(REBAR, Side.SELL, offset, 3530.0, volume), REBAR)


def test_dce_closes_earlier_lots_first_whatever_the_offset_says() -> None:
    position = _held(MEAL, today=2, yesterday=3, average=3000.0)
    booking = book(position, _trade(MEAL, Side.SELL, Offset.CLOSE, 3010.0, 4), MEAL)
    assert (booking.closed_today, booking.closed_yesterday) == (1, 3)
    assert booking.commission == pytest.approx(3 * 1.5 + 1 * 0.0)
    with pytest.raises(BookingError, match="closing 2, 1 held"):
        book(booking.position, _trade(MEAL, Side.SELL, Offset.CLOSE, 3010.0, 2), MEAL)


def test_a_short_is_opened_by_selling_and_closed_by_buying() -> None:
    assert position_direction(Side.SELL, Offset.OPEN) is Direction.SHORT
    assert position_direction(Side.BUY, Offset.CLOSE_TODAY) is Direction.SHORT
    opened = book(None, _trade(MEAL, Side.SELL, Offset.OPEN, 3000.0, 2), MEAL).position
    marked = mark(opened, 2990.0, MEAL)
    assert marked.unrealized_pnl == pytest.approx(2 * 10 * 10.0)
    assert marked.margin == pytest.approx(2990.0 * 2 * 10 * 0.07)
    closed = book(marked, _trade(MEAL, Side.BUY, Offset.CLOSE, 2980.0, 2), MEAL)
    assert closed.realized_pnl == pytest.approx(2 * 10 * 20.0)
    assert (closed.position.volume, closed.position.average_price) == (0, 0.0)
    assert (closed.position.unrealized_pnl, closed.position.margin) == (0.0, 0.0)
    with pytest.raises(BookingError, match="changes the long position"):
        book(closed.position, _trade(MEAL, Side.SELL, Offset.CLOSE, 2980.0, 1), MEAL)


def test_auto_close_splits_on_shfe_by_what_is_held() -> None:
    position = _held(REBAR, today=2, yesterday=3, average=3510.0)
    assert close_offsets(position, 4) == [(Offset.CLOSE_YESTERDAY, 3), (Offset.CLOSE_TODAY, 1)]
    assert close_offsets(position, 4, today_first=True) == [
        (Offset.CLOSE_TODAY, 2),
        (Offset.CLOSE_YESTERDAY, 2),
    ]
    assert close_offsets(_held(MEAL, 2, 3, 3000.0), 4) == [(Offset.CLOSE, 4)]
    with pytest.raises(BookingError):
        close_offsets(position, 6)


def test_commission_by_turnover_and_by_lot() -> None:
    trade = _trade(MEAL, Side.BUY, Offset.OPEN, 3000.0, 4)
    assert commission(MEAL, trade) == pytest.approx(4 * 1.5)
    assert commission(REBAR, _trade(REBAR, Side.BUY, Offset.OPEN, 3500.0, 2)) == pytest.approx(
        2 * 3500.0 * 10 * 0.0001
    )


_steps = st.lists(
    st.tuples(
        st.sampled_from(["open", "close", "new_day"]),
        st.integers(min_value=1, max_value=5),
        st.integers(min_value=2900, max_value=3100).map(float),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(steps=_steps, final_price=st.integers(min_value=2900, max_value=3100).map(float))
def test_profit_and_loss_is_conserved_over_any_sequence_of_trades(
    steps: list[tuple[str, int, float]], final_price: float
) -> None:
    """Realized plus unrealized P&L equals the cash paid and received plus what is held,
    valued at the final price, whatever the order of opens, closes and new days."""
    position: Position | None = None
    cash = 0.0
    realized = 0.0
    for action, wanted, price in steps:
        if action == "new_day":
            position = roll_day(position) if position else None
            continue
        held = position.volume if position else 0
        volume = min(wanted, held) if action == "close" else wanted
        if not volume:
            continue
        side, offset = (Side.BUY, Offset.OPEN) if action == "open" else (Side.SELL, Offset.CLOSE)
        booking = book(position, _trade(MEAL, side, offset, price, volume), MEAL)
        position = booking.position
        realized += booking.realized_pnl
        cash += (-1 if side is Side.BUY else 1) * price * volume * MEAL.multiplier
        assert position.volume == position.today_volume + position.yesterday_volume
        assert position.realized_pnl == pytest.approx(realized)
    if position is None:
        return
    marked = mark(position, final_price, MEAL)
    held_value = position.volume * final_price * MEAL.multiplier
    assert realized + marked.unrealized_pnl == pytest.approx(cash + held_value, abs=1e-6)
