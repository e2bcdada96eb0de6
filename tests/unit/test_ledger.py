"""The account's books: trades into positions and money, and marking to new prices."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import (
    Account,
    CommissionRates,
    Direction,
    Exchange,
    Instrument,
    Offset,
    Position,
    Side,
    Trade,
)
from shared.orders import book_trade, book_trades, mark_account, position_key, roll_account

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
IF = Instrument(
    symbol="IF2612",
    exchange=Exchange.CFFEX,
    product="IF",
    multiplier=300,
    price_tick=0.2,
    long_margin_ratio=0.12,
    short_margin_ratio=0.12,
    commission=CommissionRates(open_by_money=0.000023, close_by_money=0.000023,
                               close_today_by_money=0.000345),
)  # fmt: skip
_ids = count(1)


def _trade(side: Side, offset: Offset, price: float, volume: int, seconds: int = 0) -> Trade:
    return Trade(
        id=f"t{next(_ids)}",
        order_id="o",
        account_id="acc-7",
        symbol=IF.symbol,
        exchange=IF.exchange,
        side=side,
        offset=offset,
        price=price,
        volume=volume,
        ts=T0 + timedelta(seconds=seconds),
        trading_day=date(2026, 11, 24),
    )


def _account(balance: float = 2_000_000.0) -> Account:
    return Account(
        account_id="acc-7", trading_day=date(2026, 11, 24), updated_at=T0, balance=balance
    )


def test_an_open_then_a_close_move_the_money_by_the_rules() -> None:
    opened = book_trade(_account(), None, _trade(Side.BUY, Offset.OPEN, 5000.0, 2, 1), IF)
    open_fee = 5000.0 * 300 * 0.000023 * 2
    assert opened.trade.commission == pytest.approx(open_fee)
    account = opened.account
    assert account.balance == pytest.approx(2_000_000.0 - open_fee)
    assert account.margin == pytest.approx(5000.0 * 2 * 300 * 0.12)
    assert account.available == pytest.approx(account.balance - account.margin)
    assert account.updated_at == T0 + timedelta(seconds=1)

    closed = book_trade(account, opened.position, _trade(Side.SELL, Offset.CLOSE, 5010.0, 1, 2), IF)
    close_fee = 5010.0 * 300 * 0.000345  # CFFEX: earlier lots first, but all lots are today's
    assert closed.trade.commission == pytest.approx(close_fee)
    account = closed.account
    assert account.realized_pnl == pytest.approx(10.0 * 300)
    assert account.balance == pytest.approx(2_000_000.0 - open_fee + 3000.0 - close_fee)
    assert account.unrealized_pnl == pytest.approx(10.0 * 300)  # the lot left, at 5010
    assert account.margin == pytest.approx(5010.0 * 300 * 0.12)
    assert account.equity == pytest.approx(account.balance + 3000.0)

    remarked, positions = mark_account(
        account,
        {position_key(closed.trade): closed.position},
        {IF.key: 4990.0},
        {IF.key: IF},
    )
    assert remarked.unrealized_pnl == pytest.approx(-10.0 * 300)
    assert remarked.balance == account.balance  # marking moves no cash
    assert remarked.available == pytest.approx(
        remarked.balance + remarked.unrealized_pnl - remarked.margin
    )
    assert positions[IF.key, Direction.LONG].margin == pytest.approx(4990.0 * 300 * 0.12)


def test_marking_leaves_positions_without_a_price_as_they_were() -> None:
    held = Position(
        account_id="acc-7", symbol="IF2612", exchange=Exchange.CFFEX, direction=Direction.SHORT,
        volume=1, today_volume=1, average_price=5000.0, unrealized_pnl=5.0, margin=7.0,
    )  # fmt: skip
    account, positions = mark_account(_account(), {(IF.key, Direction.SHORT): held}, {}, {})
    assert positions[IF.key, Direction.SHORT] is held
    assert (account.unrealized_pnl, account.margin) == (5.0, 7.0)


_steps = st.lists(
    st.tuples(
        st.sampled_from(["open", "close"]),
        st.integers(min_value=1, max_value=4),
        st.integers(min_value=24_000, max_value=26_000).map(lambda ticks: ticks * 0.2),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(steps=_steps, final=st.integers(min_value=24_000, max_value=26_000))
def test_equity_is_the_cash_and_what_is_held_whatever_the_trades(
    steps: list[tuple[str, int, float]], final: int
) -> None:
    start = 5_000_000.0
    account = _account(start)
    position: Position | None = None
    cash = fees = 0.0
    for action, wanted, price in steps:
        held = position.volume if position else 0
        volume = min(wanted, held) if action == "close" else wanted
        if not volume:
            continue
        side, offset = (Side.BUY, Offset.OPEN) if action == "open" else (Side.SELL, Offset.CLOSE)
        entry = book_trade(account, position, _trade(side, offset, price, volume), IF)
        account, position = entry.account, entry.position
        cash += (-1 if side is Side.BUY else 1) * price * volume * IF.multiplier
        fees += entry.trade.commission
        assert account.available == pytest.approx(
            account.balance + account.unrealized_pnl - account.margin
        )
    if position is None:
        return
    price = final * 0.2
    account, _ = mark_account(account, {(IF.key, Direction.LONG): position}, {IF.key: price},
                              {IF.key: IF})  # fmt: skip
    held_value = position.volume * price * IF.multiplier
    assert account.equity == pytest.approx(start + cash - fees + held_value, rel=1e-12, abs=1e-6)


RB = Instrument(
    symbol="rb2701",
    exchange=Exchange.SHFE,
    product="rb",
    multiplier=10,
    price_tick=1.0,
    long_margin_ratio=0.1,
    short_margin_ratio=0.1,
    commission=CommissionRates(open_by_money=0.0001, close_by_money=0.0001,
                               close_today_by_money=0.0003),
)  # fmt: skip
DAY1, DAY2 = date(2026, 11, 24), date(2026, 11, 25)


def _rb(side: Side, offset: Offset, price: float, volume: int, day: date) -> Trade:
    return Trade(
        id=f"t{next(_ids)}",
        order_id="o",
        account_id="acc-7",
        symbol=RB.symbol,
        exchange=RB.exchange,
        side=side,
        offset=offset,
        price=price,
        volume=volume,
        ts=datetime(day.year, day.month, day.day, 2, tzinfo=UTC),
        trading_day=day,
    )


def test_a_run_across_two_days_rolls_the_books_between_them() -> None:
    trades = [
        _rb(Side.BUY, Offset.OPEN, 3500.0, 3, DAY1),
        _rb(Side.BUY, Offset.OPEN, 3510.0, 1, DAY2),
        _rb(Side.SELL, Offset.CLOSE_YESTERDAY, 3520.0, 2, DAY2),
    ]
    books = book_trades(_account(), {}, trades, {RB.key: RB}, prices={RB.key: 3530.0})
    assert [t.id for t in books.booked] == [t.id for t in trades]
    assert books.refused == []
    (position,) = books.positions.values()
    # Day 1's three lots became earlier lots; two of them closed, day 2's lot is today's.
    assert (position.volume, position.yesterday_volume, position.today_volume) == (2, 1, 1)
    assert books.account.trading_day == DAY2
    fees = [t.commission for t in books.booked]
    assert fees[2] == pytest.approx(3520.0 * 2 * 10 * 0.0001)  # the close-yesterday rate
    # The day's figures start again on day 2; the balance kept day 1's fee.
    assert books.account.commission == pytest.approx(fees[1] + fees[2])
    # Closes realize against the position's average price: (3 x 3500 + 3510) / 4.
    realized = (3520.0 - 3502.5) * 2 * 10
    assert books.account.realized_pnl == pytest.approx(realized)
    assert books.account.balance == pytest.approx(2_000_000.0 - sum(fees) + realized)
    assert position.margin == pytest.approx(3530.0 * 2 * 10 * 0.1)  # marked at the price given


def test_a_trade_the_books_refuse_is_set_aside_and_the_rest_still_book() -> None:
    trades = [
        _rb(Side.SELL, Offset.CLOSE, 3500.0, 1, DAY1),  # closes a position that is not there
        _rb(Side.BUY, Offset.OPEN, 3500.0, 1, DAY1),
        Trade(**{**msgspec.structs.asdict(_rb(Side.BUY, Offset.OPEN, 1.0, 1, DAY1)),
                 "symbol": "zz9999"}),
    ]  # fmt: skip
    books = book_trades(_account(), {}, trades, {RB.key: RB}, prices={})
    assert [t.id for t in books.booked] == [trades[1].id]
    assert [r.trade_id for r in books.refused] == [trades[0].id, trades[2].id]
    assert "not in the catalogue" in books.refused[1].reason


def test_a_new_day_drops_closed_positions_and_refuses_to_go_back() -> None:
    opened = _rb(Side.BUY, Offset.OPEN, 3500.0, 1, DAY1)
    closed = _rb(Side.SELL, Offset.CLOSE_TODAY, 3505.0, 1, DAY1)
    day1 = book_trades(_account(), {}, [opened, closed], {RB.key: RB}, prices={})
    assert [p.volume for p in day1.positions.values()] == [0]
    day2 = book_trades(day1.account, day1.positions, [], {RB.key: RB}, prices={}, trading_day=DAY2)
    assert day2.positions == {}
    assert (day2.account.trading_day, day2.account.realized_pnl) == (DAY2, 0.0)
    assert day2.account.balance == pytest.approx(day1.account.balance)
    # An earlier day given is no roll at all.
    same = book_trades(day2.account, {}, [], {RB.key: RB}, prices={}, trading_day=DAY1)
    assert same.account == day2.account
    with pytest.raises(ValueError, match="cannot roll"):
        roll_account(day2.account, {}, DAY1)
