"""The numpy array path of the analytics: equal to the object path and to plain-Python reference
loops written from the documented formulas, drawdown selection, input checks, empty trades."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.analytics import (
    AnalyticsError,
    ClosedTrade,
    Drawdown,
    EquityCurve,
    EquitySeries,
    Metrics,
    Settings,
    TradeTable,
    compute_metrics,
    compute_metrics_arrays,
)
from shared.domain import Direction

BEIJING = ZoneInfo("Asia/Shanghai")
CASH = Settings(starting_cash=100.0)
T0 = datetime(2024, 1, 2, 1, tzinfo=UTC)
NS = 1_000_000_000  # nanoseconds in a second


# --- plain-Python references, one loop per documented definition ------------------------------


def _reference_episodes(curve: EquityCurve) -> list[dict[str, Any]]:
    """Episodes walked point by point: peak = last point at the high-water mark, trough = first
    lowest point below it, end = first point back at or above it (else the last point)."""
    equity, days, times = curve.equity, curve.trading_days, curve.timestamps
    ordinal = [sorted(set(days)).index(d) for d in days]
    found: list[dict[str, Any]] = []
    peak, trough = 0, None

    def close(end: int, *, recovered: bool) -> None:
        assert trough is not None
        found.append(
            {
                "peak_time": times[peak],
                "trough_time": times[trough],
                "recovery_time": times[end] if recovered else None,
                "peak_day": days[peak],
                "trough_day": days[trough],
                "recovery_day": days[end] if recovered else None,
                "peak_equity": equity[peak],
                "trough_equity": equity[trough],
                "depth": (equity[peak] - equity[trough]) / equity[peak],
                "amount": equity[peak] - equity[trough],
                "duration_days": ordinal[end] - ordinal[peak],
                "duration": times[end] - times[peak],
            }
        )

    for i in range(1, len(equity)):
        if equity[i] >= equity[peak]:
            if trough is not None:
                close(i, recovered=True)
                trough = None
            peak = i
        elif trough is None or equity[i] < equity[trough]:
            trough = i
    if trough is not None:
        close(len(equity) - 1, recovered=False)
    return found


def _as_dict(drawdown: Drawdown) -> dict[str, Any]:
    return {name: getattr(drawdown, name) for name in drawdown.__struct_fields__}


def _reference_exposure(curve: EquityCurve, trades: list[ClosedTrade]) -> float:
    if curve.in_market is not None:
        return sum(curve.in_market) / len(curve.in_market)
    inside = [any(t.entry_time <= ts < t.exit_time for t in trades) for ts in curve.timestamps]
    return sum(inside) / len(inside)


def _reference_daily(curve: EquityCurve, cash: float) -> list[tuple[date, float, float]]:
    """(trading day, close, return) from the last point of each trading day."""
    rows: list[tuple[date, float, float]] = []
    previous = cash
    for i, day in enumerate(curve.trading_days):
        if i + 1 == len(curve.trading_days) or curve.trading_days[i + 1] != day:
            rows.append((day, curve.equity[i], curve.equity[i] / previous - 1.0))
            previous = curve.equity[i]
    return rows


# --- random inputs --------------------------------------------------------------------------


@st.composite
def curves(draw: st.DrawFn) -> EquityCurve:
    points_per_day = draw(st.lists(st.integers(1, 4), min_size=1, max_size=10))
    # A few round values make ties (equal highs, equal troughs) frequent.
    value = st.one_of(
        st.sampled_from([90.0, 100.0, 110.0]), st.floats(50.0, 200.0, allow_nan=False)
    )
    zone = draw(st.sampled_from([UTC, BEIJING]))
    timestamps: list[datetime] = []
    days: list[date] = []
    for index, count in enumerate(points_per_day):
        day = date(2024, 3, 1) + timedelta(days=index + index // 5 * 2)
        for k in range(count):
            timestamps.append(
                datetime(day.year, day.month, day.day, 9, tzinfo=zone)
                + k * (timedelta(minutes=37, microseconds=draw(st.integers(0, 999))))
            )
            days.append(day)
    size = len(days)
    equity = draw(st.lists(value, min_size=size, max_size=size))
    flags = draw(st.none() | st.lists(st.booleans(), min_size=size, max_size=size))
    prices = st.floats(1.0, 50.0, allow_nan=False)
    benchmark = draw(st.none() | st.lists(prices, min_size=size, max_size=size))
    return EquityCurve(
        timestamps=tuple(timestamps),
        equity=tuple(equity),
        trading_days=tuple(days),
        in_market=None if flags is None else tuple(flags),
        benchmark=None if benchmark is None else tuple(benchmark),
    )


@st.composite
def trade_lists(draw: st.DrawFn, curve: EquityCurve) -> list[ClosedTrade]:
    """Trades in any order, overlapping, touching or empty, on or between the points."""
    start, stop = curve.timestamps[0], curve.timestamps[-1]
    span_us = (stop - start) // timedelta(microseconds=1)
    instant = st.integers(-60_000_000, span_us + 60_000_000).map(
        lambda us: start + timedelta(microseconds=us)
    )
    on_point = st.sampled_from(curve.timestamps)
    trades: list[ClosedTrade] = []
    for _ in range(draw(st.integers(0, 6))):
        a, b = sorted((draw(instant | on_point), draw(instant | on_point)))
        price = draw(st.floats(100.0, 5_000.0))
        trades.append(
            ClosedTrade(
                entry_time=a,
                exit_time=b,
                side=draw(st.sampled_from(Direction)),
                size=draw(st.floats(1.0, 10.0)),
                entry_price=price,
                exit_price=price * draw(st.floats(0.9, 1.1)),
                pnl=draw(st.floats(-500.0, 500.0)),
                commission=draw(st.floats(0.0, 5.0)),
                multiplier=draw(st.sampled_from([1.0, 5.0, 10.0])),
            )
        )
    return trades


@st.composite
def backtests(draw: st.DrawFn) -> tuple[EquityCurve, list[ClosedTrade], Settings]:
    curve = draw(curves())
    cash = Settings(starting_cash=draw(st.floats(50.0, 200.0)), risk_free_rate=0.02)
    return curve, draw(trade_lists(curve)), cash


# --- the array path against the object path and the references -------------------------------


@settings(max_examples=300, deadline=None)
@given(backtests(), st.integers(0, 4))
def test_array_path_equals_object_path_and_references(
    drawn: tuple[EquityCurve, list[ClosedTrade], Settings], keep: int
) -> None:
    curve, trades, cash = drawn
    series = EquitySeries.from_curve(curve)
    table = TradeTable.from_trades(trades)
    m = compute_metrics_arrays(series, table, cash, max_drawdowns=keep)
    assert m == compute_metrics(curve, trades, cash, max_drawdowns=keep)

    daily = _reference_daily(curve, cash.starting_cash)
    assert [(r.trading_day, r.equity) for r in m.daily] == [(d, e) for d, e, _ in daily]
    assert [r.daily_return for r in m.daily] == [r for _, _, r in daily]
    for row in m.daily:
        assert row.close_time.utcoffset() == timedelta(0)
        assert row.close_time in curve.timestamps  # an instant of the input, shown in UTC

    episodes = _reference_episodes(curve)
    assert m.drawdown_count == len(episodes)
    deepest = [e["depth"] for e in episodes]
    chosen = sorted(sorted(range(len(episodes)), key=lambda k: -deepest[k])[:keep])
    assert [_as_dict(d) for d in m.drawdowns] == [episodes[k] for k in chosen]
    if episodes:
        first_deepest = episodes[deepest.index(max(deepest))]
        assert m.max_drawdown is not None
        assert _as_dict(m.max_drawdown) == first_deepest
        assert m.average_drawdown_pct == pytest.approx(sum(deepest) / len(episodes), rel=1e-12)
        amounts = [e["amount"] for e in episodes]
        assert m.average_drawdown_amount == pytest.approx(sum(amounts) / len(amounts), rel=1e-12)
        spans = [e["duration_days"] for e in episodes]
        assert m.average_drawdown_days == pytest.approx(sum(spans) / len(spans))
        durations = sum((e["duration"] for e in episodes), timedelta())
        assert m.average_drawdown_duration == durations / len(episodes)
    else:
        assert (m.max_drawdown, m.average_drawdown_pct, m.drawdowns) == (None, None, ())

    assert m.exposure == pytest.approx(_reference_exposure(curve, trades), abs=1e-15)
    t = m.trades
    pnl = [x.pnl for x in trades]
    assert (t.count, t.wins, t.losses) == (
        len(pnl),
        sum(p > 0 for p in pnl),
        sum(p < 0 for p in pnl),
    )
    assert t.total_commission == pytest.approx(math.fsum(x.commission for x in trades))
    if trades:
        holding = sum((x.exit_time - x.entry_time for x in trades), timedelta())
        assert t.average_holding_time == holding / len(trades)
        notional = math.fsum(
            (x.entry_price * x.size * x.multiplier) + (x.exit_price * x.size * x.multiplier)
            for x in trades
        )
        assert t.traded_notional == pytest.approx(notional, rel=1e-12)
    if curve.benchmark is not None:
        assert m.buy_and_hold_return == curve.benchmark[-1] / curve.benchmark[0] - 1.0


# --- the deepest N drawdowns ----------------------------------------------------------------

# One point a day; peaks back at 100 between episodes of depth 0.1, 0.3, 0.2, 0.3, 0.05 (the
# last never recovers). Episode k runs peak -> trough -> recovery on days 2k, 2k+1, 2k+2.
DEPTHS = [0.1, 0.3, 0.2, 0.3, 0.05]
EPISODE_EQUITY = [100.0]
for _depth in DEPTHS:
    EPISODE_EQUITY += [100.0 * (1 - _depth), 100.0]
EPISODE_EQUITY.pop()  # the last episode ends below 100
EPISODE_DAYS = [date(2024, 1, 1) + timedelta(days=k) for k in range(len(EPISODE_EQUITY))]
EPISODES = EquitySeries(
    timestamps=np.array([k * 86_400 * NS for k in range(19_723, 19_723 + 10)], dtype=np.int64),
    equity=np.array(EPISODE_EQUITY),
    trading_days=np.arange(19_723, 19_733, dtype=np.int32),  # 2024-01-01 onwards
)


def _troughs(metrics: Metrics) -> list[date]:
    return [d.trough_day for d in metrics.drawdowns]


def test_max_drawdowns_keeps_the_deepest_in_chronological_order() -> None:
    days = [date(2024, 1, 1) + timedelta(days=k) for k in range(10)]
    # Troughs fall on days 1, 3, 5, 7, 9 (odd points).
    m = compute_metrics_arrays(EPISODES, TradeTable.empty(), CASH, max_drawdowns=2)
    assert _troughs(m) == [days[3], days[7]]  # the two 0.3 episodes, earlier first
    m = compute_metrics_arrays(EPISODES, TradeTable.empty(), CASH, max_drawdowns=3)
    # 0.3, 0.3 then 0.2; listed by time, not by depth.
    assert _troughs(m) == [days[3], days[5], days[7]]
    assert [d.depth for d in m.drawdowns] == pytest.approx([0.3, 0.2, 0.3])
    assert m.drawdown_count == 5
    # Averages over all five, whichever are kept: depth (0.1+0.3+0.2+0.3+0.05)/5 = 0.19,
    # amount 19, duration 2 trading days each except the open last one (1 day, to the end).
    assert m.average_drawdown_pct == pytest.approx(0.19)
    assert m.average_drawdown_amount == pytest.approx(19.0)
    assert m.average_drawdown_days == pytest.approx((2 * 4 + 1) / 5)
    assert m.average_drawdown_duration == timedelta(days=9) / 5
    # The maximum is the first of the two 0.3 episodes.
    assert m.max_drawdown is not None
    assert m.max_drawdown.trough_day == days[3]
    assert m.max_drawdown_pct == pytest.approx(0.3)


def test_max_drawdowns_zero_and_more_than_there_are() -> None:
    none_kept = compute_metrics_arrays(EPISODES, TradeTable.empty(), CASH, max_drawdowns=0)
    assert none_kept.drawdowns == ()
    assert none_kept.drawdown_count == 5
    assert none_kept.max_drawdown is not None
    assert none_kept.max_drawdown_pct == pytest.approx(0.3)
    assert none_kept.average_drawdown_pct == pytest.approx(0.19)
    every = compute_metrics_arrays(EPISODES, TradeTable.empty(), CASH, max_drawdowns=50)
    assert [d.depth for d in every.drawdowns] == pytest.approx(DEPTHS)
    assert every.drawdowns[-1].recovery_time is None
    assert all(d.recovery_time is not None for d in every.drawdowns[:-1])
    with pytest.raises(AnalyticsError, match="max_drawdowns"):
        compute_metrics_arrays(EPISODES, TradeTable.empty(), CASH, max_drawdowns=-1)


def test_default_keeps_ten_of_many_episodes() -> None:
    # 30 episodes of depth 1%, 2%, ..., 30% in a shuffled order; the default keeps the ten
    # deepest (21%..30%) and lists them by time.
    depths = [(7 * k) % 30 + 1 for k in range(30)]
    equity = [100.0]
    for percent in depths:
        equity += [100.0 - percent, 100.0]
    count = len(equity)
    series = EquitySeries(
        timestamps=np.arange(count, dtype=np.int64) * 60 * NS,
        equity=np.array(equity),
        trading_days=np.full(count, 19_723, dtype=np.int32),
    )
    m = compute_metrics_arrays(series, TradeTable.empty(), CASH)
    kept = [round(d.depth * 100) for d in m.drawdowns]
    assert kept == [p for p in depths if p > 20]
    assert m.drawdown_count == 30
    assert m.average_drawdown_pct == pytest.approx(15.5 / 100)  # mean of 1..30 percent


# --- output times -----------------------------------------------------------------------------


def test_outputs_are_utc_and_nanoseconds_are_floored() -> None:
    base = 1_704_157_200 * NS  # 2024-01-02 01:00 UTC
    series = EquitySeries(
        timestamps=np.array([base, base + 1_999, base + 2 * 3600 * NS + 999], dtype=np.int64),
        equity=np.array([100.0, 90.0, 95.0]),
        trading_days=np.array([19_724, 19_724, 19_725], dtype=np.int32),
    )
    m = compute_metrics_arrays(series, TradeTable.empty(), CASH)
    assert [r.trading_day for r in m.daily] == [date(2024, 1, 2), date(2024, 1, 3)]
    t = datetime(2024, 1, 2, 1, tzinfo=UTC)
    assert m.daily[0].close_time == t + timedelta(microseconds=1)  # 1,999 ns -> 1 us
    assert m.daily[0].close_time.tzinfo is UTC
    dd = m.max_drawdown
    assert dd is not None
    assert (dd.peak_time, dd.trough_time) == (t, t + timedelta(microseconds=1))
    assert dd.peak_time.tzinfo is UTC
    assert (dd.recovery_time, dd.recovery_day, dd.duration_days) == (None, None, 1)


def test_from_curve_keeps_the_instant_of_any_zone() -> None:
    local = datetime(2024, 1, 2, 21, tzinfo=BEIJING)  # 13:00 UTC, the night session
    curve = EquityCurve(timestamps=(local,), equity=(100.0,), trading_days=(date(2024, 1, 3),))
    series = EquitySeries.from_curve(curve)
    assert series.timestamps.tolist() == [
        int(datetime(2024, 1, 2, 13, tzinfo=UTC).timestamp()) * NS
    ]
    assert series.trading_days.tolist() == [(date(2024, 1, 3) - date(1970, 1, 1)).days]
    assert compute_metrics(curve, [], CASH).daily[0].close_time == local


def test_average_holding_time_beyond_the_int64_sum() -> None:
    # 100 trades held 200 years each: every holding fits an int64 of nanoseconds (~292 years)
    # but their sum does not; the mean must still be exactly 200 years.
    held = datetime(2250, 1, 1, tzinfo=UTC) - datetime(2050, 1, 1, tzinfo=UTC)
    trade = ClosedTrade(
        entry_time=datetime(2050, 1, 1, tzinfo=UTC),
        exit_time=datetime(2250, 1, 1, tzinfo=UTC),
        side=Direction.LONG,
        size=1.0,
        entry_price=10.0,
        exit_price=11.0,
        pnl=1.0,
        commission=0.0,
    )
    curve = EquityCurve(timestamps=(T0,), equity=(100.0,), trading_days=(date(2024, 1, 2),))
    assert compute_metrics(curve, [trade] * 100, CASH).trades.average_holding_time == held


# --- empty trades -----------------------------------------------------------------------------


def test_empty_trade_table() -> None:
    empty = TradeTable.empty()
    assert empty.entry_time.dtype == np.int64
    assert empty.side.dtype == np.int8
    assert empty.pnl.dtype == np.float64
    assert all(getattr(empty, name).shape == (0,) for name in empty.__slots__)
    m = compute_metrics_arrays(EPISODES, empty, CASH)
    t = m.trades
    assert (t.count, t.wins, t.losses, t.gross_profit, t.gross_loss) == (0, 0, 0, 0.0, 0.0)
    assert (t.win_rate, t.best_trade, t.sqn, t.kelly, t.average_holding_time) == (None,) * 5
    assert (m.exposure, m.turnover, m.total_commission) == (0.0, 0.0, 0.0)
    flagged = replace(EPISODES, in_market=np.array([True, False] * 5))
    assert compute_metrics_arrays(flagged, empty, CASH).exposure == 0.5


# --- input checks -----------------------------------------------------------------------------

SERIES = EquitySeries(
    timestamps=np.array([0, 60 * NS, 120 * NS], dtype=np.int64),
    equity=np.array([100.0, 101.0, 99.0]),
    trading_days=np.array([1, 1, 2], dtype=np.int32),
)
TRADES = TradeTable(
    entry_time=np.array([0, 60 * NS], dtype=np.int64),
    exit_time=np.array([60 * NS, 120 * NS], dtype=np.int64),
    side=np.array([1, -1], dtype=np.int8),
    size=np.array([1.0, 2.0]),
    entry_price=np.array([10.0, 11.0]),
    exit_price=np.array([11.0, 10.0]),
    pnl=np.array([0.9, 1.9]),
    commission=np.array([0.1, 0.1]),
    multiplier=np.array([1.0, 1.0]),
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"equity": np.array([100.0, 101.0])}, "`equity` has 2 values for 3 timestamps"),
        ({"trading_days": np.array([1, 1], np.int32)}, "`trading_days` has 2 values"),
        ({"in_market": np.array([True])}, "`in_market` has 1 values"),
        ({"benchmark": np.array([1.0] * 4)}, "`benchmark` has 4 values"),
        ({"timestamps": np.array([0, 60, 60], np.int64)}, "`timestamps` must be strictly"),
        ({"trading_days": np.array([2, 1, 2], np.int32)}, "`trading_days` must be non-decr"),
        ({"equity": np.array([100.0, math.nan, 99.0])}, "`equity` must be finite and > 0"),
        ({"equity": np.array([100.0, math.inf, 99.0])}, "`equity` must be finite and > 0"),
        ({"equity": np.array([100.0, 0.0, 99.0])}, "`equity` must be finite and > 0"),
        ({"benchmark": np.array([1.0, -1.0, 1.0])}, "`benchmark` must be finite and > 0"),
        ({"benchmark": np.array([1.0, math.nan, 1.0])}, "`benchmark` must be finite and > 0"),
        ({"equity": np.array([1.0, 2.0, 3.0], np.float32)}, "`equity` must be a 1-D float64"),
        ({"timestamps": np.array([0.0, 1.0, 2.0])}, "`timestamps` must be a 1-D int64"),
        ({"trading_days": np.ones((3, 1), np.int32)}, "`trading_days` must be a 1-D int32"),
        ({"in_market": np.array([1, 0, 1])}, "`in_market` must be a 1-D bool"),
    ],
)
def test_bad_series_name_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(AnalyticsError, match=message):
        compute_metrics_arrays(replace(SERIES, **changes), TRADES, CASH)


def test_an_empty_series_is_rejected() -> None:
    empty = EquitySeries(
        timestamps=np.array([], np.int64),
        equity=np.array([], np.float64),
        trading_days=np.array([], np.int32),
    )
    with pytest.raises(AnalyticsError, match="`equity` must hold at least one point"):
        compute_metrics_arrays(empty, TRADES, CASH)


def test_day_on_day_overflow_is_rejected() -> None:
    huge = replace(SERIES, equity=np.array([1e-300, 1e-300, 1e300]))
    with pytest.raises(AnalyticsError, match="`equity` changes beyond the float range"):
        compute_metrics_arrays(huge, TRADES, Settings(starting_cash=1e-300))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pnl": np.array([1.0])}, "`pnl` has 1 values for 2 trades"),
        ({"exit_time": np.array([60 * NS, 0], np.int64)}, "`exit_time` must not precede"),
        ({"side": np.array([1, 0], np.int8)}, "`side` must be \\+1"),
        ({"side": np.array([1, 1])}, "`side` must be a 1-D int8"),
        ({"size": np.array([1.0, 0.0])}, "`size` must be finite and > 0"),
        ({"entry_price": np.array([1.0, math.nan])}, "`entry_price` must be finite and > 0"),
        ({"exit_price": np.array([-1.0, 1.0])}, "`exit_price` must be finite and > 0"),
        ({"multiplier": np.array([1.0, math.inf])}, "`multiplier` must be finite and > 0"),
        ({"pnl": np.array([1.0, math.nan])}, "`pnl` must be finite"),
        ({"commission": np.array([-math.inf, 0.0])}, "`commission` must be finite"),
        ({"size": np.array([1e200, 1.0]), "entry_price": np.array([1e200, 1.0])}, "notional"),
    ],
)
def test_bad_trades_name_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(AnalyticsError, match=message):
        compute_metrics_arrays(SERIES, replace(TRADES, **changes), CASH)


def test_converters_reject_naive_datetimes() -> None:
    naive = datetime(2024, 1, 2, 9)  # noqa: DTZ001 - a naive datetime is the input under test
    with pytest.raises(AnalyticsError, match="`timestamps` must be timezone-aware"):
        EquitySeries.from_curve(
            EquityCurve(timestamps=(naive,), equity=(1.0,), trading_days=(date(2024, 1, 2),))
        )
    trade = ClosedTrade(
        entry_time=T0,
        exit_time=naive,
        side=Direction.LONG,
        size=1.0,
        entry_price=1.0,
        exit_price=1.0,
        pnl=0.0,
        commission=0.0,
    )
    with pytest.raises(AnalyticsError, match="`exit_time` must be timezone-aware"):
        TradeTable.from_trades([trade])
    with pytest.raises(AnalyticsError, match="`timestamps` must lie within"):
        EquitySeries.from_curve(
            EquityCurve(
                timestamps=(datetime(1500, 1, 1, tzinfo=UTC),),
                equity=(1.0,),
                trading_days=(date(1500, 1, 1),),
            )
        )
