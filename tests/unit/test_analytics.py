"""Backtest analytics against hand-computed values (the arithmetic is in the comments)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.analytics import (
    AnalyticsError,
    ClosedTrade,
    EquityCurve,
    Metrics,
    Settings,
    compute_metrics,
    daily_frame,
)
from shared.domain import Direction

BEIJING = ZoneInfo("Asia/Shanghai")
CASH_100 = Settings(starting_cash=100.0)


def _close(day: date) -> datetime:
    """15:00 Beijing on `day` (07:00 UTC), the day session's close."""
    return datetime(day.year, day.month, day.day, 15, tzinfo=BEIJING).astimezone(UTC)


def _daily_curve(
    days: list[date], equity: list[float], benchmark: list[float] | None = None
) -> EquityCurve:
    return EquityCurve(
        timestamps=tuple(_close(d) for d in days),
        equity=tuple(equity),
        trading_days=tuple(days),
        benchmark=None if benchmark is None else tuple(benchmark),
    )


# Tue 2024-01-02 .. Fri 2024-01-05, one point per trading day.
WEEK = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]
# Starting cash 100, closes 100, 110, 99, 121:
#   r = [100/100-1, 110/100-1, 99/110-1, 121/99-1] = [0, 0.1, -0.1, 2/9]
#   mean m = (2/9)/4 = 1/18; deviations -1/18, 2/45, -7/45, 1/6;
#   squares 1/324 + 4/2025 + 49/2025 + 1/36 = (25 + 16 + 196 + 225)/8100 = 462/8100
#   var (ddof=1) = 154/8100, std = sqrt(154)/90.
BASIC = _daily_curve(WEEK, [100.0, 110.0, 99.0, 121.0])


def _floats(value: Any) -> list[float]:
    """Every float inside a (nested) builtins structure."""
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list | tuple):
        return [f for v in value for f in _floats(v)]
    return []


def _assert_nan_free(metrics: Metrics) -> None:
    assert all(math.isfinite(f) for f in _floats(msgspec.to_builtins(metrics)))


def test_returns_and_ratios_by_hand() -> None:
    m = compute_metrics(BASIC, [], CASH_100)
    assert [row.daily_return for row in m.daily] == pytest.approx([0.0, 0.1, -0.1, 2 / 9])
    assert [row.daily_pnl for row in m.daily] == pytest.approx([0.0, 10.0, -11.0, 22.0])
    assert m.trading_day_count == 4
    assert m.total_return == pytest.approx(0.21)  # 121 / 100 - 1
    assert m.annual_return == pytest.approx(14.0)  # (1/18) * 252
    assert m.cagr == pytest.approx(1.21**63 - 1)  # (121/100) ** (252 / 4) - 1
    # volatility = sqrt(154)/90 * sqrt(252) = 0.137885 * 15.874508 = 2.188861
    assert m.volatility == pytest.approx(math.sqrt(154) / 90 * math.sqrt(252))
    assert m.volatility == pytest.approx(2.188861, rel=1e-6)
    # Sharpe = (1/18) / (sqrt(154)/90) * sqrt(252) = 5 * sqrt(252/154) = 5 * sqrt(18/11)
    assert m.sharpe == pytest.approx(5 * math.sqrt(18 / 11))
    assert m.sharpe == pytest.approx(6.396021, rel=1e-6)
    # Downside over all 4 days: min(r, 0) = [0, 0, -0.1, 0] -> sqrt(0.01 / 4) = 0.05;
    # Sortino = (1/18) / 0.05 * sqrt(252) = (10/9) * 15.874508 = 17.638342
    assert m.sortino == pytest.approx(10 / 9 * math.sqrt(252))
    # Calmar = CAGR / 0.1 (max drawdown 110 -> 99)
    assert m.calmar == pytest.approx((1.21**63 - 1) / 0.1)
    _assert_nan_free(m)


def test_risk_free_rate_is_split_evenly_over_the_periods() -> None:
    # rf = 2.52% a year -> 0.0001 a day; the std of r - rf equals the std of r.
    # Sharpe = (1/18 - 0.0001) / (sqrt(154)/90) * sqrt(252)
    m = compute_metrics(BASIC, [], Settings(starting_cash=100.0, risk_free_rate=0.0252))
    assert m.sharpe == pytest.approx((1 / 18 - 0.0001) / (math.sqrt(154) / 90) * math.sqrt(252))
    # Downside: min(r - 0.0001, 0) = [-0.0001, 0, -0.1001, 0] -> sqrt((1e-8 + 0.1001**2) / 4)
    downside = math.sqrt((0.0001**2 + 0.1001**2) / 4)
    assert m.sortino == pytest.approx((1 / 18 - 0.0001) / downside * math.sqrt(252))


def test_drawdown_recovered_by_hand() -> None:
    m = compute_metrics(BASIC, [], CASH_100)
    dd = m.max_drawdown
    assert dd is not None
    # Peak 110 on Jan 3, trough 99 on Jan 4, back to >= 110 (121) on Jan 5.
    assert (dd.peak_day, dd.trough_day, dd.recovery_day) == tuple(WEEK[1:])
    assert dd.peak_time == _close(WEEK[1])
    assert dd.recovery_time == _close(WEEK[3])
    assert dd.depth == pytest.approx(0.1)  # (110 - 99) / 110
    assert dd.amount == pytest.approx(11.0)  # 110 - 99
    assert dd.duration_days == 2  # Jan 3 -> Jan 5 is two trading days
    assert dd.duration == timedelta(days=2)
    assert (m.max_drawdown_pct, m.max_drawdown_amount) == (dd.depth, dd.amount)
    assert m.drawdowns == (dd,)
    assert m.average_drawdown_pct == pytest.approx(0.1)
    assert m.average_drawdown_days == 2.0


def test_drawdown_episodes_and_a_curve_that_never_recovers() -> None:
    # Thu Jan 4, Fri Jan 5, Mon Jan 8, Tue 9, Wed 10, Thu 11 (a weekend inside episode 1).
    days = [date(2024, 1, d) for d in (4, 5, 8, 9, 10, 11)]
    m = compute_metrics(_daily_curve(days, [100.0, 90.0, 100.0, 120.0, 90.0, 96.0]), [], CASH_100)
    first, second = m.drawdowns
    # Episode 1: peak 100 (Jan 4) -> trough 90 (Jan 5) -> back to 100 on Jan 8.
    #   depth 10/100 = 0.1, amount 10, 2 trading days, 4 calendar days (over the weekend).
    assert (first.peak_day, first.trough_day, first.recovery_day) == (days[0], days[1], days[2])
    assert (first.depth, first.amount) == pytest.approx((0.1, 10.0))
    assert (first.duration_days, first.duration) == (2, timedelta(days=4))
    # Episode 2: peak 120 (Jan 9) -> trough 90 (Jan 10); 96 < 120 on Jan 11: never recovers.
    #   depth 30/120 = 0.25, amount 30, measured to the last point: 2 trading / 2 calendar days.
    assert (second.peak_day, second.trough_day) == (days[3], days[4])
    assert second.recovery_day is None
    assert second.recovery_time is None
    assert (second.depth, second.amount) == pytest.approx((0.25, 30.0))
    assert (second.duration_days, second.duration) == (2, timedelta(days=2))
    assert m.max_drawdown == second
    assert (m.max_drawdown_pct, m.max_drawdown_amount) == pytest.approx((0.25, 30.0))
    # Averages over the 2 episodes: (0.1 + 0.25)/2, (10 + 30)/2, (2 + 2)/2, (4d + 2d)/2.
    assert m.average_drawdown_pct == pytest.approx(0.175)
    assert m.average_drawdown_amount == pytest.approx(20.0)
    assert m.average_drawdown_days == 2.0
    assert m.average_drawdown_duration == timedelta(days=3)
    _assert_nan_free(m)


def test_night_session_points_belong_to_the_next_trading_day() -> None:
    def at(day: int, hour: int) -> datetime:
        return datetime(2024, 1, day, hour, tzinfo=BEIJING).astimezone(UTC)

    tue, wed, mon = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 8)
    curve = EquityCurve(
        timestamps=(at(2, 15), at(2, 21), at(2, 23), at(3, 10), at(3, 15), at(5, 21), at(8, 10)),
        equity=(100.0, 105.0, 103.0, 108.0, 107.0, 110.0, 104.0),
        # Tue 21:00 and 23:00 are Wednesday's night session; Fri 21:00 is Monday's.
        trading_days=(tue, wed, wed, wed, wed, mon, mon),
    )
    m = compute_metrics(curve, [], CASH_100)
    assert [row.trading_day for row in m.daily] == [tue, wed, mon]
    # Closes: Tue 100; Wed's last point 107 (not 103, the last point on calendar Jan 2);
    # Mon's last point 104. Returns 0, 107/100 - 1 = 0.07, 104/107 - 1; P&L 0, 7, -3.
    assert [row.equity for row in m.daily] == [100.0, 107.0, 104.0]
    assert [row.daily_return for row in m.daily] == pytest.approx([0.0, 0.07, 104 / 107 - 1])
    assert [row.daily_pnl for row in m.daily] == pytest.approx([0.0, 7.0, -3.0])
    assert m.daily[1].close_time == at(3, 15)
    frame = daily_frame(m.daily)
    assert frame.height == 3
    assert frame["trading_day"].to_list() == [tue, wed, mon]
    assert frame.schema["trading_day"] == pl.Date
    assert frame["equity"].to_list() == [100.0, 107.0, 104.0]
    # The 110 -> 104 drop is one episode: peak Fri night (trading day Mon), 0 trading days.
    dd = m.max_drawdown
    assert dd is not None
    assert (dd.peak_day, dd.duration_days, dd.recovery_day) == (mon, 0, None)
    assert dd.depth == pytest.approx(6 / 110)


def test_flat_curve_has_no_sharpe_or_sortino() -> None:
    m = compute_metrics(_daily_curve(WEEK, [100.0] * 4), [], CASH_100)
    # Every daily return is 0: std 0, no day below rf = 0, no drawdown.
    assert m.total_return == 0.0
    assert m.annual_return == 0.0
    assert m.cagr == 0.0
    assert m.volatility == 0.0
    assert m.sharpe is None
    assert m.sortino is None
    assert m.calmar is None
    assert m.max_drawdown is None
    assert (m.max_drawdown_pct, m.max_drawdown_amount) == (0.0, 0.0)
    assert m.average_drawdown_pct is None
    assert m.average_drawdown_duration is None
    assert m.drawdowns == ()
    _assert_nan_free(m)


def test_single_trading_day() -> None:
    day = date(2024, 1, 3)
    times = [datetime(2024, 1, 3, h, tzinfo=BEIJING) for h in (9, 11, 14)]
    curve = EquityCurve(
        timestamps=tuple(times),
        equity=(100.0, 95.0, 102.0),
        trading_days=(day,) * 3,
        benchmark=(10.0, 10.0, 11.0),
    )
    m = compute_metrics(curve, [], CASH_100)
    assert len(m.daily) == 1
    assert m.daily[0].equity == 102.0
    assert m.total_return == pytest.approx(0.02)
    assert m.annual_return == pytest.approx(0.02 * 252)
    assert m.cagr == pytest.approx(1.02**252 - 1)  # one trading day is one period
    # One daily return: no sample std, so no volatility, Sharpe, Sortino, alpha or beta.
    assert (m.volatility, m.sharpe, m.sortino, m.alpha, m.beta) == (None,) * 5
    assert m.buy_and_hold_return == pytest.approx(0.1)  # 11 / 10 - 1
    # Intraday drawdown 100 -> 95, recovered at 14:00 on the same trading day.
    dd = m.max_drawdown
    assert dd is not None
    assert dd.depth == pytest.approx(0.05)
    assert (dd.duration_days, dd.duration) == (0, timedelta(hours=5))
    assert m.calmar == pytest.approx((1.02**252 - 1) / 0.05)
    _assert_nan_free(m)


def test_benchmark_alpha_beta_by_hand() -> None:
    # b = [0, 0, 110/100 - 1, 0] = [0, 0, 0.1, 0]; mean 0.025; var (ddof=1) = 0.0075/3 = 0.0025.
    # r deviations from 1/18: -1/18, 2/45, -7/45, 1/6 (sum 0), so
    #   sum (r - m)(b - 0.025) = -0.025 * (7/45) + 0.075 * (-7/45) = -0.7/45;
    #   cov = -0.7/135; beta = (-0.7/135) / 0.0025 = -56/27.
    # alpha = (1/18 - beta * 0.025) * 252 = (1.5/27 + 1.4/27) * 252 = 730.8/27.
    curve = _daily_curve(WEEK, [100.0, 110.0, 99.0, 121.0], [100.0, 100.0, 110.0, 110.0])
    m = compute_metrics(curve, [], CASH_100)
    assert m.beta == pytest.approx(-56 / 27)
    assert m.alpha == pytest.approx(730.8 / 27)
    assert m.buy_and_hold_return == pytest.approx(0.1)  # 110 / 100 - 1


def test_benchmark_equal_to_the_strategy_has_beta_one_alpha_zero() -> None:
    curve = _daily_curve(WEEK, [100.0, 110.0, 99.0, 121.0], [200.0, 220.0, 198.0, 242.0])
    m = compute_metrics(curve, [], CASH_100)
    assert m.beta == pytest.approx(1.0)
    assert m.alpha == pytest.approx(0.0, abs=1e-12)
    assert m.buy_and_hold_return == pytest.approx(0.21)


def test_flat_benchmark_has_no_beta() -> None:
    m = compute_metrics(_daily_curve(WEEK, [100.0, 110.0, 99.0, 121.0], [5.0] * 4), [], CASH_100)
    assert (m.alpha, m.beta, m.buy_and_hold_return) == (None, None, 0.0)


T0 = datetime(2024, 1, 2, 1, tzinfo=UTC)  # 09:00 Beijing


def _trade(
    pnl: float, side: Direction, exit_price: float, hours: int, commission: float = 1.0
) -> ClosedTrade:
    # Entry 1000, 1 lot of 10 units: entry notional 10,000.
    return ClosedTrade(
        entry_time=T0,
        exit_time=T0 + timedelta(hours=hours),
        side=side,
        size=1.0,
        entry_price=1000.0,
        exit_price=exit_price,
        pnl=pnl,
        commission=commission,
        multiplier=10.0,
    )


# P&L after a commission of 1: gross = (exit - entry) * 10 for longs, (entry - exit) * 10 shorts.
TRADES = [
    _trade(30.0, Direction.LONG, 1003.1, 1),  # gross +31
    _trade(-10.0, Direction.SHORT, 1000.9, 2),  # gross -9
    _trade(20.0, Direction.LONG, 1002.1, 3),  # gross +21
    _trade(-20.0, Direction.LONG, 998.1, 4),  # gross -19
    _trade(5.0, Direction.SHORT, 999.4, 5),  # gross +6
]


def test_trade_statistics_by_hand() -> None:
    m = compute_metrics(BASIC, TRADES, CASH_100)
    t = m.trades
    assert (t.count, t.wins, t.losses) == (5, 3, 2)
    assert t.win_rate == pytest.approx(0.6)  # 3 / 5
    assert (t.best_trade, t.worst_trade) == (30.0, -20.0)
    assert t.average_trade == pytest.approx(5.0)  # (30 - 10 + 20 - 20 + 5) / 5
    # Percentages on the entry notional 1000 * 1 * 10 = 10,000.
    assert t.best_trade_pct == pytest.approx(0.003)
    assert t.worst_trade_pct == pytest.approx(-0.002)
    assert t.average_trade_pct == pytest.approx(0.0005)
    assert (t.gross_profit, t.gross_loss) == (55.0, 30.0)  # 30+20+5, 10+20
    assert t.profit_factor == pytest.approx(55 / 30)
    assert t.expectancy == pytest.approx(5.0)
    # Deviations from 5: 25, -15, 15, -25, 0 -> squares sum 1700, var 1700/4 = 425;
    # SQN = sqrt(5) * 5 / sqrt(425) = 5 / sqrt(85) = 0.542326
    assert t.sqn == pytest.approx(5 / math.sqrt(85))
    # avg win 55/3, avg loss 30/2 = 15, payoff 11/9; Kelly = 0.6 - 0.4 / (11/9) = 3/11
    assert t.kelly == pytest.approx(3 / 11)
    assert t.average_holding_time == timedelta(hours=3)  # (1+2+3+4+5) / 5
    assert t.total_commission == 5.0
    assert m.total_commission == 5.0
    # Notional: entries 5 * 10,000 = 50,000; exits (1003.1+1000.9+1002.1+998.1+999.4) * 10
    # = 50,036; turnover = 100,036 / mean close equity (100+110+99+121)/4 = 107.5.
    assert t.traded_notional == pytest.approx(100_036.0)
    assert m.turnover == pytest.approx(100_036.0 / 107.5)


def test_all_winning_trades_have_no_profit_factor_or_kelly() -> None:
    wins = [_trade(10.0, Direction.LONG, 1001.1, 1), _trade(20.0, Direction.LONG, 1002.1, 1)]
    t = compute_metrics(BASIC, wins, CASH_100).trades
    assert t.win_rate == 1.0
    assert t.gross_loss == 0.0
    assert t.profit_factor is None
    assert t.kelly is None
    # std([10, 20], ddof=1) = sqrt(50); SQN = sqrt(2) * 15 / sqrt(50) = 15 / 5 = 3
    assert t.sqn == pytest.approx(3.0)


def test_a_single_trade_has_no_sqn() -> None:
    t = compute_metrics(BASIC, [_trade(-5.0, Direction.SHORT, 1000.4, 2)], CASH_100).trades
    assert (t.count, t.win_rate, t.sqn, t.kelly, t.profit_factor) == (1, 0.0, None, None, 0.0)


def test_no_trades() -> None:
    m = compute_metrics(BASIC, [], CASH_100)
    t = m.trades
    assert (t.count, t.wins, t.losses) == (0, 0, 0)
    assert t.win_rate is None
    assert (t.best_trade, t.worst_trade, t.average_trade) == (None, None, None)
    assert (t.best_trade_pct, t.average_trade_pct) == (None, None)
    assert (t.profit_factor, t.expectancy, t.sqn, t.kelly) == (None, None, None, None)
    assert t.average_holding_time is None
    assert (m.total_commission, m.exposure, m.turnover) == (0.0, 0.0, 0.0)
    _assert_nan_free(m)


def test_exposure_from_trade_intervals_or_given_flags() -> None:
    times = tuple(T0 + timedelta(hours=h) for h in range(6))
    day = date(2024, 1, 2)
    curve = EquityCurve(timestamps=times, equity=(100.0,) * 6, trading_days=(day,) * 6)
    trades = [
        # [t1, t3): in the market at t1, t2; flat at t3 (the exit bar).
        msgspec.structs.replace(TRADES[0], entry_time=times[1], exit_time=times[3]),
        # [t4, t5 + 30 min): in the market at t4, t5.
        msgspec.structs.replace(
            TRADES[1], entry_time=times[4], exit_time=times[5] + timedelta(minutes=30)
        ),
    ]
    assert compute_metrics(curve, trades, CASH_100).exposure == pytest.approx(4 / 6)
    flagged = msgspec.structs.replace(curve, in_market=(True,) + (False,) * 5)
    assert compute_metrics(flagged, trades, CASH_100).exposure == pytest.approx(1 / 6)


def test_bad_inputs_raise() -> None:
    naive = datetime(2024, 1, 2, 9)  # noqa: DTZ001 - a naive datetime is the input under test
    with pytest.raises(AnalyticsError, match="timezone-aware"):
        compute_metrics(
            EquityCurve(timestamps=(naive,), equity=(1.0,), trading_days=(WEEK[0],)),
            [],
            CASH_100,
        )
    with pytest.raises(AnalyticsError, match="trading_days"):
        compute_metrics(EquityCurve(timestamps=(T0,), equity=(1.0,), trading_days=()), [], CASH_100)
    backwards = EquityCurve(
        timestamps=(T0, T0 + timedelta(hours=1)),
        equity=(1.0, 1.0),
        trading_days=(WEEK[1], WEEK[0]),
    )
    with pytest.raises(AnalyticsError, match="non-decreasing"):
        compute_metrics(backwards, [], CASH_100)
    with pytest.raises(AnalyticsError, match="equity"):
        compute_metrics(_daily_curve(WEEK[:1], [math.nan]), [], CASH_100)
    with pytest.raises(AnalyticsError, match="starting_cash"):
        compute_metrics(BASIC, [], Settings(starting_cash=0.0))


@st.composite
def curves(draw: st.DrawFn) -> tuple[EquityCurve, Settings]:
    points_per_day = draw(st.lists(st.integers(1, 3), min_size=1, max_size=12))
    values = st.floats(1.0, 1_000.0, allow_nan=False, allow_infinity=False)
    timestamps: list[datetime] = []
    days: list[date] = []
    for index, count in enumerate(points_per_day):
        day = date(2024, 1, 1) + timedelta(days=index)
        for k in range(count):
            timestamps.append(_close(day) + timedelta(minutes=k))
            days.append(day)
    equity = draw(st.lists(values, min_size=len(days), max_size=len(days)))
    curve = EquityCurve(
        timestamps=tuple(timestamps), equity=tuple(equity), trading_days=tuple(days)
    )
    return curve, Settings(starting_cash=draw(values))


@settings(max_examples=200, deadline=None)
@given(curves())
def test_properties(drawn: tuple[EquityCurve, Settings]) -> None:
    curve, cash = drawn
    m = compute_metrics(curve, [], cash)
    assert len(m.daily) == len(set(curve.trading_days))
    compounded = math.prod(1.0 + row.daily_return for row in m.daily) - 1.0
    assert compounded == pytest.approx(m.total_return, rel=1e-9, abs=1e-9)
    assert 0.0 <= m.max_drawdown_pct < 1.0
    for dd in m.drawdowns:
        assert dd.amount == pytest.approx(dd.peak_equity - dd.trough_equity)
        assert dd.depth == pytest.approx(dd.amount / dd.peak_equity)
        assert dd.trough_equity < dd.peak_equity
        assert dd.peak_time < dd.trough_time
        assert dd.recovery_time is None or dd.recovery_time > dd.trough_time
        assert dd.duration_days >= 0
    assert all(dd.recovery_time is not None for dd in m.drawdowns[:-1])
    if m.max_drawdown is not None:
        assert m.max_drawdown_pct == max(dd.depth for dd in m.drawdowns)
    _assert_nan_free(m)


def test_cagr_beyond_the_float_range_is_none() -> None:
    # 17x in one trading day annualised: 17 ** 252 = 10 ** 310 > the largest float (~1.8e308).
    m = compute_metrics(_daily_curve(WEEK[:1], [17.0]), [], Settings(starting_cash=1.0))
    assert m.cagr is None
    assert m.calmar is None
    assert m.total_return == 16.0


pnls = st.lists(st.floats(-1_000.0, 1_000.0, allow_nan=False), min_size=0, max_size=20)


@settings(max_examples=200, deadline=None)
@given(pnls)
def test_trade_properties(values: list[float]) -> None:
    trades = [_trade(p, Direction.LONG, 1000.0, 1, commission=0.5) for p in values]
    m = compute_metrics(BASIC, trades, CASH_100)
    t = m.trades
    assert t.count == len(values)
    assert t.wins + t.losses <= t.count
    assert t.gross_profit - t.gross_loss == pytest.approx(math.fsum(values), abs=1e-6)
    if values:
        assert t.win_rate is not None
        assert 0.0 <= t.win_rate <= 1.0
        assert t.expectancy == pytest.approx(math.fsum(values) / len(values), abs=1e-9)
    if t.gross_loss == 0.0:
        assert t.profit_factor is None
    assert t.total_commission == pytest.approx(0.5 * len(values))
    _assert_nan_free(m)
