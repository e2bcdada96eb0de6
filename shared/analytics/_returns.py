"""Daily results and return/risk ratios, all on daily returns by trading day.

Notation: N trading days d_1..d_N (distinct `trading_days` of the series, in order); C_i the
equity at the last point of d_i (its close); C_0 = `starting_cash`; P = `periods_per_year`;
rf_d = `risk_free_rate` / P (the annual rate split evenly, no compounding).

- daily return r_i = C_i / C_{i-1} - 1 and daily P&L = C_i - C_{i-1}, i = 1..N (the first day is
  measured from the starting cash, so total return = prod(1 + r_i) - 1 exactly).
- total return = C_N / C_0 - 1.
- annual return = mean(r) * P (arithmetic, not compounded).
- CAGR = (C_N / C_0) ** (P / N) - 1, N = number of trading days in the series (each of the N
  daily returns is one period). `None` when C_N <= 0 or the result overflows a float.
- volatility = std(r, ddof=1) * sqrt(P); `None` for N < 2 (0 for a flat curve).
- Sharpe = mean(r - rf_d) / std(r - rf_d, ddof=1) * sqrt(P); `None` for N < 2 or a zero std.
- Sortino = mean(r - rf_d) / DD * sqrt(P) with the downside deviation
  DD = sqrt(sum_i min(r_i - rf_d, 0) ** 2 / N) taken over ALL N days (days above rf_d count as
  zero); `None` for N < 2 or DD = 0 (no day below rf_d).
- A std or DD below 1e-12 counts as zero (float noise on a flat curve), never divided by.
- A day-on-day ratio C_i / C_{i-1} (or B_i / B_{i-1}) beyond the float range raises.

Benchmark (prices B on the same points): B_0 = the first point's price, B_i = price at the last
point of d_i, b_i = B_i / B_{i-1} - 1.
- buy-and-hold return = B_last / B_first - 1.
- beta = cov(r, b, ddof=1) / var(b, ddof=1); `None` for N < 2 or var(b) = 0.
- alpha = (mean(r) - beta * mean(b)) * P (annualised arithmetically); `None` with beta.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import polars as pl

from shared.analytics._arrays import DayArray, EquitySeries, FloatArray, IntArray
from shared.analytics._time import dates, utc_datetimes
from shared.analytics._types import AnalyticsError, DailyResult, Settings

_ZERO = 1e-12


class DailyCloses(NamedTuple):
    """Per trading day, in order: index of its last point, C_i, r_i and the daily P&L."""

    last_point: IntArray
    equity: FloatArray
    returns: FloatArray
    pnl: FloatArray


def close_indices(days: DayArray) -> IntArray:
    """Index of the last point of each trading day (trading days are non-decreasing)."""
    changes = np.flatnonzero(days[1:] != days[:-1])
    return np.append(changes, days.size - 1)


def _day_on_day(closes: FloatArray, first: float, field: str) -> FloatArray:
    """closes / previous close - 1, the first close measured from `first`."""
    previous = np.concatenate(([first], closes[:-1]))
    with np.errstate(over="ignore"):  # an overflow is the failure checked for
        ratio = closes / previous
    if not np.all(np.isfinite(ratio)):
        raise AnalyticsError(f"`{field}` changes beyond the float range from day to day")
    return ratio - 1.0


def daily_closes(series: EquitySeries, settings: Settings) -> DailyCloses:
    index = close_indices(series.trading_days)
    return closes_of(index, series.equity[index], settings)


def closes_of(last_point: IntArray, equity: FloatArray, settings: Settings) -> DailyCloses:
    """The daily closes given each day's last point and its equity (C_1..C_N)."""
    returns = _day_on_day(equity, settings.starting_cash, "equity")
    pnl = np.diff(equity, prepend=settings.starting_cash)
    return DailyCloses(last_point=last_point, equity=equity, returns=returns, pnl=pnl)


def daily_results_of(series: EquitySeries, settings: Settings) -> tuple[DailyResult, ...]:
    """The daily results of a curve (what `Metrics.daily` holds)."""
    return daily_results(series, daily_closes(series, settings))


def daily_results(series: EquitySeries, closes: DailyCloses) -> tuple[DailyResult, ...]:
    rows = zip(
        dates(series.trading_days[closes.last_point]),
        utc_datetimes(series.timestamps[closes.last_point]),
        closes.equity.tolist(),
        closes.returns.tolist(),
        closes.pnl.tolist(),
        strict=True,
    )
    return tuple(
        DailyResult(
            trading_day=day, close_time=time, equity=equity, daily_return=ret, daily_pnl=pnl
        )
        for day, time, equity, ret, pnl in rows
    )


def daily_frame(daily: tuple[DailyResult, ...]) -> pl.DataFrame:
    """The daily results as a polars frame, one row per trading day."""
    return pl.DataFrame(
        {
            "trading_day": [row.trading_day for row in daily],
            "close_time": [row.close_time for row in daily],
            "equity": [row.equity for row in daily],
            "daily_return": [row.daily_return for row in daily],
            "daily_pnl": [row.daily_pnl for row in daily],
        },
        schema={
            "trading_day": pl.Date,
            "close_time": pl.Datetime("us", "UTC"),
            "equity": pl.Float64,
            "daily_return": pl.Float64,
            "daily_pnl": pl.Float64,
        },
    )


def _std(values: FloatArray) -> float | None:
    return float(np.std(values, ddof=1)) if values.size >= 2 else None


def annual_return(returns: FloatArray, periods: int) -> float:
    return float(np.mean(returns)) * periods


def cagr(start: float, end: float, days: int, periods: int) -> float | None:
    if end <= 0.0 or days == 0:
        return None
    try:
        return math.expm1(periods / days * math.log(end / start))
    except OverflowError:  # beyond the float range (e.g. a huge one-day gain annualised)
        return None


def volatility(returns: FloatArray, periods: int) -> float | None:
    std = _std(returns)
    return None if std is None else std * math.sqrt(periods)


def sharpe(returns: FloatArray, settings: Settings) -> float | None:
    excess = returns - settings.risk_free_rate / settings.periods_per_year
    std = _std(excess)
    if std is None or std <= _ZERO:
        return None
    return float(np.mean(excess)) / std * math.sqrt(settings.periods_per_year)


def sortino(returns: FloatArray, settings: Settings) -> float | None:
    if returns.size < 2:
        return None
    excess = returns - settings.risk_free_rate / settings.periods_per_year
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside <= _ZERO:
        return None
    return float(np.mean(excess)) / downside * math.sqrt(settings.periods_per_year)


def benchmark_returns(series: EquitySeries, closes: DailyCloses) -> FloatArray | None:
    if series.benchmark is None:
        return None
    return benchmark_returns_at(series.benchmark, closes.last_point)


def benchmark_returns_at(prices: FloatArray, last_point: IntArray) -> FloatArray:
    """b_1..b_N from the prices of every point and each day's last point."""
    return _day_on_day(prices[last_point], float(prices[0]), "benchmark")


def buy_and_hold(series: EquitySeries) -> float | None:
    if series.benchmark is None:
        return None
    return buy_and_hold_of(series.benchmark)


def buy_and_hold_of(prices: FloatArray) -> float:
    return float(prices[-1] / prices[0]) - 1.0


def alpha_beta(
    returns: FloatArray, bench: FloatArray | None, periods: int
) -> tuple[float | None, float | None]:
    if bench is None or returns.size < 2:
        return None, None
    # Deviations and dot products rather than np.var/np.cov: the same sample statistics, at a
    # sixth of the cost on the few hundred days of a sweep's run (most of which was overhead).
    bench_mean = float(np.mean(bench))
    bench_dev = bench - bench_mean
    variance = float(np.dot(bench_dev, bench_dev)) / (bench.size - 1)
    if variance <= _ZERO * _ZERO:
        return None, None
    mean = float(np.mean(returns))
    covariance = float(np.dot(returns - mean, bench_dev)) / (returns.size - 1)
    beta = covariance / variance
    alpha = (mean - beta * bench_mean) * periods
    return alpha, beta
