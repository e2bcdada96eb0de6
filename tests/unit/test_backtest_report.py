"""The report for the front end (`shared.backtest._report.build_report`): downsampling that
keeps the extremes and the deepest drawdown, drawdown periods against a brute-force loop,
monthly and yearly compounding by trading day, trade truncation and markers, empty inputs,
JSON encoding, and a real run. Expected values are worked out by hand or by plain loops."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import msgspec
import numpy as np
import polars as pl
import pytest

from shared.analytics import daily_frame
from shared.backtest import BacktestConfig, BarSeries, InstrumentTerms, run_vectorized
from shared.backtest._report import BacktestReport, build_report
from shared.strategy import get_strategy
from tests.support.market_data import real_bars

CASH = 100_000.0
T0_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
MINUTE_NS = 60_000_000_000
UTC_NS = pl.Datetime("ns", "UTC")

TRADE_SCHEMA = pl.Schema(
    {
        "symbol": pl.String(),
        "side": pl.String(),
        "size": pl.Float64(),
        "entry_time": UTC_NS,
        "exit_time": UTC_NS,
        "entry_price": pl.Float64(),
        "exit_price": pl.Float64(),
        "pnl": pl.Float64(),
        "commission": pl.Float64(),
        "entry_bar": pl.Int64(),
        "exit_bar": pl.Int64(),
    }
)
DAILY_SCHEMA = pl.Schema(
    {
        "trading_day": pl.Date(),
        "close_time": pl.Datetime("us", "UTC"),
        "equity": pl.Float64(),
        "daily_return": pl.Float64(),
        "daily_pnl": pl.Float64(),
    }
)


def ms_of_bar(i: int) -> int:
    return (T0_NS + i * MINUTE_NS) // 1_000_000


def equity_frame(values: list[float] | np.ndarray) -> pl.DataFrame:
    """Bars a minute apart, as `BacktestResult.equity_frame()` lays them out."""
    equity = np.asarray(values, dtype=np.float64)
    ts = T0_NS + np.arange(equity.size, dtype=np.int64) * MINUTE_NS
    return pl.DataFrame(
        {
            "ts": pl.Series(ts).cast(UTC_NS),
            "trading_day": pl.Series(ts // 86_400_000_000_000).cast(pl.Int32).cast(pl.Date),
            "equity": equity,
            "drawdown": equity / np.maximum.accumulate(equity) - 1.0,
        }
    )


def no_trades() -> pl.DataFrame:
    return pl.DataFrame(schema=TRADE_SCHEMA)


def no_days() -> pl.DataFrame:
    return pl.DataFrame(schema=DAILY_SCHEMA)


def walk(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return CASH * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))


def report_of(values: list[float] | np.ndarray, **kwargs: int) -> BacktestReport:
    return build_report(equity_frame(values), no_trades(), no_days(), starting_cash=CASH, **kwargs)


# Equity downsampling -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "max_points", "seed"),
    [(10_007, 200, 1), (50_000, 2000, 2), (2001, 2000, 3), (1000, 6, 4), (99, 7, 5)],
)
def test_downsampling_keeps_the_ends_the_extremes_and_the_deepest_drawdown(
    n: int, max_points: int, seed: int
) -> None:
    values = walk(n, seed)
    curve = report_of(values, max_points=max_points).equity
    assert curve.downsampled
    assert curve.total_points == n
    assert len(curve.time) <= max_points
    assert all(a < b for a, b in pairwise(curve.time))
    # Every point is a bar of the input, unchanged.
    bar_of = {ms_of_bar(i): i for i in range(n)}
    for time, equity in zip(curve.time, curve.equity, strict=True):
        assert equity == values[bar_of[time]]
    assert curve.time[0] == ms_of_bar(0)
    assert curve.equity[0] == values[0]
    assert curve.time[-1] == ms_of_bar(n - 1)
    assert curve.equity[-1] == values[-1]
    assert max(v for v in curve.equity if v is not None) == values.max()
    assert min(v for v in curve.equity if v is not None) == values.min()
    # The deepest drawdown by a plain loop, bar and depth.
    peak, deepest, deepest_bar = -math.inf, 0.0, 0
    for i, value in enumerate(values.tolist()):
        peak = max(peak, value)
        if value / peak - 1.0 < deepest:
            deepest, deepest_bar = value / peak - 1.0, i
    assert min(v for v in curve.drawdown if v is not None) == deepest
    assert curve.drawdown[curve.time.index(ms_of_bar(deepest_bar))] == deepest


def test_a_short_curve_is_given_whole() -> None:
    values = [100.0, 101.0, 99.0, 102.0]
    curve = report_of(values, max_points=6).equity
    assert not curve.downsampled
    assert curve.time == [ms_of_bar(i) for i in range(4)]
    assert curve.equity == values
    assert curve.drawdown == [0.0, 0.0, 99.0 / 101.0 - 1.0, 0.0]


def test_too_few_points_are_refused() -> None:
    with pytest.raises(ValueError, match="max_points"):
        report_of([1.0, 2.0], max_points=5)


# Drawdown periods --------------------------------------------------------------------------


def test_drawdown_periods_by_hand() -> None:
    values = [100.0, 110.0, 99.0, 105.0, 110.0, 120.0, 96.0, 130.0, 126.1]
    periods = report_of(values).drawdown_periods
    assert [(p.start, p.trough, p.end) for p in periods] == [
        (ms_of_bar(5), ms_of_bar(6), ms_of_bar(7)),
        (ms_of_bar(1), ms_of_bar(2), ms_of_bar(4)),
        (ms_of_bar(7), ms_of_bar(8), None),
    ]
    assert [p.depth for p in periods] == pytest.approx([-0.2, -0.1, 126.1 / 130.0 - 1.0])


def brute_force_periods(values: list[float]) -> list[tuple[int, int, int | None, float]]:
    """(peak bar, trough bar, recovery bar, depth) of every drawdown, by a plain loop."""
    periods: list[tuple[int, int, int | None, float]] = []
    peak, peak_bar = values[0], 0
    trough, depth = -1, 0.0
    for i, value in enumerate(values):
        if value >= peak:
            if trough >= 0:
                periods.append((peak_bar, trough, i, depth))
                trough, depth = -1, 0.0
            peak, peak_bar = value, i
        elif value / peak - 1.0 < depth:
            trough, depth = i, value / peak - 1.0
    if trough >= 0:
        periods.append((peak_bar, trough, None, depth))
    return sorted(periods, key=lambda p: (p[3], p[0]))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_drawdown_periods_match_a_brute_force_loop(seed: int) -> None:
    values = walk(5000, seed).tolist()
    values.append(min(values) * 0.99)  # end under water: the last period has no end
    periods = report_of(values, max_points=100).drawdown_periods
    expected = brute_force_periods(values)[:5]
    assert len(periods) == 5
    assert [(p.start, p.trough, p.end) for p in periods] == [
        (ms_of_bar(s), ms_of_bar(t), None if e is None else ms_of_bar(e)) for s, t, e, _ in expected
    ]
    assert [p.depth for p in periods] == [d for *_, d in expected]
    assert periods[0].end is None  # the last bar is the deepest of all
    assert all(a.depth <= b.depth for a, b in pairwise(periods))


def test_a_rising_curve_has_no_drawdown_period() -> None:
    assert report_of([1.0, 2.0, 2.0, 3.0]).drawdown_periods == []


# Monthly returns ---------------------------------------------------------------------------


def day_row(trading_day: date, close: datetime, ret: float, pnl: float = 0.0) -> dict[str, object]:
    return {
        "trading_day": trading_day,
        "close_time": close,
        "equity": 0.0,
        "daily_return": ret,
        "daily_pnl": pnl,
    }


def two_month_days() -> pl.DataFrame:
    """December 2023, then January and February 2024 by trading day. Trading day 2024-02-01
    holds only its night session, which closed on 2024-01-31 (23:00 in Shanghai): by its
    trading day it is February's."""
    rows = [
        day_row(date(2023, 12, 29), datetime(2023, 12, 29, 7, tzinfo=UTC), 0.05),
        day_row(date(2024, 1, 29), datetime(2024, 1, 29, 7, tzinfo=UTC), 0.01),
        day_row(date(2024, 1, 30), datetime(2024, 1, 30, 7, tzinfo=UTC), -0.02),
        day_row(date(2024, 1, 31), datetime(2024, 1, 31, 7, tzinfo=UTC), 0.03),
        day_row(date(2024, 2, 1), datetime(2024, 1, 31, 15, tzinfo=UTC), 0.02),
        day_row(date(2024, 2, 2), datetime(2024, 2, 2, 7, tzinfo=UTC), -0.01),
    ]
    return pl.DataFrame(rows, schema=DAILY_SCHEMA)


def test_monthly_returns_compound_by_trading_day() -> None:
    report = build_report(equity_frame([CASH]), no_trades(), two_month_days(), starting_cash=CASH)
    monthly = report.monthly_returns
    assert monthly.years == [2023, 2024]
    assert monthly.months == list(range(1, 13))
    january = 1.01 * 0.98 * 1.03 - 1.0  # 0.019494
    february = 1.02 * 0.99 - 1.0  # 0.0098, the night-only day included
    assert monthly.values[0][:11] == [None] * 11
    assert monthly.values[0][11] == pytest.approx(0.05)
    assert monthly.values[1][0] == pytest.approx(january)
    assert monthly.values[1][1] == pytest.approx(february)
    assert monthly.values[1][2:] == [None] * 10
    assert monthly.yearly == pytest.approx([0.05, (1 + january) * (1 + february) - 1.0])


def test_yearly_returns_compound_the_months() -> None:
    rng = np.random.default_rng(7)
    start = date(2021, 1, 4)
    days = [
        start + timedelta(days=i) for i in range(800) if (start + timedelta(days=i)).weekday() < 5
    ]
    returns = rng.normal(0.0, 0.01, len(days)).tolist()
    daily = pl.DataFrame(
        [
            day_row(d, datetime(d.year, d.month, d.day, 7, tzinfo=UTC), r)
            for d, r in zip(days, returns, strict=True)
        ],
        schema=DAILY_SCHEMA,
    )
    monthly = build_report(
        equity_frame([CASH]), no_trades(), daily, starting_cash=CASH
    ).monthly_returns
    growth: dict[tuple[int, int], float] = {}
    for d, r in zip(days, returns, strict=True):
        growth[d.year, d.month] = growth.get((d.year, d.month), 1.0) * (1.0 + r)
    assert monthly.years == sorted({d.year for d in days})
    for row, year in zip(monthly.values, monthly.years, strict=True):
        for month in range(1, 13):
            want = growth.get((year, month))
            got = row[month - 1]
            assert (got is None) if want is None else got == pytest.approx(want - 1.0)
        from_months = math.prod(1.0 + v for v in row if v is not None) - 1.0
        assert monthly.yearly[monthly.years.index(year)] == pytest.approx(from_months)


# Trades and markers ------------------------------------------------------------------------


def trade_row(i: int, side: str, entry_bar: int, exit_bar: int) -> dict[str, object]:
    at = datetime.fromtimestamp(T0_NS / 1e9, tz=UTC)
    return {
        "symbol": "rb2002",
        "side": side,
        "size": 1.0 + i,
        "entry_time": at + timedelta(minutes=entry_bar),
        "exit_time": at + timedelta(minutes=exit_bar),
        "entry_price": 3500.0 + i,
        "exit_price": 3510.0 + i,
        "pnl": 10.0 * i,
        "commission": 0.5,
        "entry_bar": entry_bar,
        "exit_bar": exit_bar,
    }


def test_trade_truncation_keeps_the_most_recent_by_exit() -> None:
    rows = [
        trade_row(0, "long", 0, 2),
        trade_row(1, "short", 3, 5),
        trade_row(2, "long", 1, 9),  # opened early, closed last
        trade_row(3, "short", 6, 7),
        trade_row(4, "long", 7, 8),
    ]
    trades = pl.DataFrame(rows, schema=TRADE_SCHEMA)
    report = build_report(
        equity_frame([CASH] * 10), trades, no_days(), starting_cash=CASH, max_trades=3
    )
    assert report.trade_count == 5
    assert report.trades_truncated
    assert [t.size for t in report.trades] == [4.0, 5.0, 3.0]  # exits at bars 7, 8, 9
    last = report.trades[-1]
    assert (last.entry_time, last.exit_time) == (ms_of_bar(1), ms_of_bar(9))
    assert (last.side, last.entry_price, last.exit_price, last.pnl, last.commission) == (
        "long",
        3502.0,
        3512.0,
        20.0,
        0.5,
    )
    all_kept = build_report(equity_frame([CASH] * 10), trades, no_days(), starting_cash=CASH)
    assert all_kept.trade_count == len(all_kept.trades) == 5
    assert not all_kept.trades_truncated


def test_markers_buy_and_sell_by_side() -> None:
    trades = pl.DataFrame(
        [trade_row(0, "long", 0, 2), trade_row(1, "short", 3, 5)], schema=TRADE_SCHEMA
    )
    report = build_report(equity_frame([CASH] * 6), trades, no_days(), starting_cash=CASH)
    assert [(m.time, m.price, m.side, m.kind) for m in report.markers] == [
        (ms_of_bar(0), 3500.0, "buy", "entry"),  # long entry
        (ms_of_bar(2), 3510.0, "sell", "exit"),  # long exit
        (ms_of_bar(3), 3501.0, "sell", "entry"),  # short entry
        (ms_of_bar(5), 3511.0, "buy", "exit"),  # short exit
    ]


# Empty inputs, daily P&L, JSON -------------------------------------------------------------


def test_a_single_bar_and_no_trades() -> None:
    daily = pl.DataFrame(
        [day_row(date(2024, 1, 2), datetime(2024, 1, 2, 7, tzinfo=UTC), 0.001, 100.0)],
        schema=DAILY_SCHEMA,
    )
    report = build_report(equity_frame([CASH + 100.0]), no_trades(), daily, starting_cash=CASH)
    assert report.equity.time == [ms_of_bar(0)]
    assert report.equity.equity == [CASH + 100.0]
    assert report.equity.drawdown == [0.0]
    assert report.drawdown_periods == []
    assert report.trades == []
    assert report.markers == []
    assert report.trade_count == 0
    assert not report.trades_truncated
    assert report.final_equity == CASH + 100.0
    assert report.total_return == pytest.approx(0.001)
    assert report.daily_pnl.days == ["2024-01-02"]
    assert report.daily_pnl.pnl == [100.0]


def test_no_bars_at_all() -> None:
    report = build_report(equity_frame([]), no_trades(), no_days(), starting_cash=CASH)
    assert report.equity.time == []
    assert report.drawdown_periods == []
    assert report.final_equity == CASH
    assert report.monthly_returns.years == []
    assert report.daily_pnl.days == []
    assert not report.daily_pnl.truncated


def test_daily_pnl_keeps_the_last_days() -> None:
    start = date(2020, 1, 1)
    daily = pl.DataFrame(
        [
            day_row(start + timedelta(days=i), datetime(2020, 1, 1, tzinfo=UTC), 0.0, float(i))
            for i in range(1200)
        ],
        schema=DAILY_SCHEMA,
    )
    pnl = build_report(equity_frame([CASH]), no_trades(), daily, starting_cash=CASH).daily_pnl
    assert pnl.truncated
    assert pnl.total_days == 1200
    assert len(pnl.days) == 1000
    assert pnl.days[0] == (start + timedelta(days=200)).isoformat()
    assert pnl.days[-1] == (start + timedelta(days=1199)).isoformat()
    assert pnl.pnl == [float(i) for i in range(200, 1200)]


def test_json_encoding_has_null_for_nan() -> None:
    frame = equity_frame([CASH, CASH * 1.01, CASH * 0.99]).with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(float("nan"))
        .otherwise(pl.col("drawdown"))
        .alias("drawdown")
    )
    daily = pl.DataFrame(
        [
            day_row(date(2024, 1, 2), datetime(2024, 1, 2, 7, tzinfo=UTC), 0.01, 1000.0),
            day_row(date(2024, 1, 3), datetime(2024, 1, 3, 7, tzinfo=UTC), float("nan"), math.inf),
        ],
        schema=DAILY_SCHEMA,
    )
    trades = pl.DataFrame([trade_row(0, "long", 0, 2)], schema=TRADE_SCHEMA)
    report = build_report(frame, trades, daily, starting_cash=CASH)
    assert report.equity.drawdown[1] is None
    assert report.monthly_returns.values[0][0] is None
    assert report.daily_pnl.pnl == [1000.0, None]
    encoded = msgspec.json.encode(report)
    assert b"NaN" not in encoded
    assert b"Infinity" not in encoded
    assert msgspec.json.decode(encoded, type=BacktestReport) == report


# A real run --------------------------------------------------------------------------------


def test_a_real_run(shared_data: Path) -> None:
    bars = real_bars(shared_data, "cn_futures/bar_1m/SHFE_rb2002_1m.csv")
    result = run_vectorized(
        get_strategy("sma_cross"),
        {"mode": "long_short"},
        BarSeries.from_frame(bars, "rb2002"),
        BacktestConfig(terms=InstrumentTerms(multiplier=10, price_tick=1)),
    )
    daily = daily_frame(result.daily_results())
    report = build_report(
        result.equity_frame(),
        result.trades_frame(),
        daily,
        starting_cash=result.cash,
        max_points=500,
        max_trades=50,
    )
    assert result.equity.size > 500
    assert len(report.equity.time) <= 500
    assert report.equity.equity[-1] == result.final_equity
    assert report.equity.equity[0] == result.equity[0]
    assert min(d for d in report.equity.drawdown if d is not None) == pytest.approx(
        float(np.min(result.equity / np.maximum.accumulate(result.equity) - 1.0))
    )
    assert report.trade_count == len(result.trades)
    assert len(report.trades) == min(50, len(result.trades))
    assert report.trades_truncated == (len(result.trades) > 50)
    assert len(report.markers) == 2 * len(report.trades)
    assert report.daily_pnl.total_days == daily.height
    # The months compound to the whole run's return.
    months = [v for row in report.monthly_returns.values for v in row if v is not None]
    assert math.prod(1.0 + v for v in months) - 1.0 == pytest.approx(
        result.final_equity / result.cash - 1.0
    )
    assert b"NaN" not in msgspec.json.encode(report)
