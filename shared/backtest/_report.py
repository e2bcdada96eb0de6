"""A backtest's report for the web front end: ECharts-ready equity, drawdown, trades, monthly
returns and daily P&L, built from the artifact frames (`BacktestResult.equity_frame()`,
`trades_frame()` and `shared.analytics.daily_frame(result.daily_results())`).

Pure (polars and numpy, no I/O). Every time is epoch milliseconds (UTC) as an int, which an
ECharts `time` axis takes directly; every trading day is an ISO date string. A float that is
not finite is given as `None` (JSON null), never NaN.

Conventions:
- Drawdown is equity / running peak of the equity column - 1 (as `equity_frame()` computes
  it; the starting cash is not a peak).
- A drawdown period runs from the bar that set the peak (`start`) through its deepest bar
  (`trough`) to the first bar back at or above that peak (`end`, `None` while still under).
- Monthly and yearly returns compound the daily returns of the trading days (never calendar
  days) in the month or year: prod(1 + r) - 1. A night session belongs to its trading day,
  so to that trading day's month.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_POINTS = 6  # one bucket of four plus the deepest drawdown and its peak
DRAWDOWN_PERIODS = 5


class EquityCurve(msgspec.Struct, frozen=True, kw_only=True):
    """The equity line and the drawdown area, column by column (`time[i]` with `equity[i]`)."""

    time: list[int]  # epoch ms
    equity: list[float | None]
    drawdown: list[float | None]  # fraction, <= 0
    total_points: int  # bars before downsampling
    downsampled: bool


class DrawdownPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """One drawdown, for a markArea: from its peak through its trough to its recovery."""

    start: int  # epoch ms of the peak bar
    trough: int  # epoch ms of the deepest bar
    end: int | None  # epoch ms of the first bar back at the peak; None: not recovered
    depth: float  # the trough's drawdown, a fraction < 0


class ReportTrade(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    side: str  # "long" or "short"
    size: float
    entry_time: int  # epoch ms
    exit_time: int  # epoch ms
    entry_price: float
    exit_price: float
    pnl: float
    commission: float


class TradeMarker(msgspec.Struct, frozen=True, kw_only=True):
    """One point of a scatter overlay on the price or equity chart."""

    time: int  # epoch ms
    price: float
    side: Literal["buy", "sell"]
    kind: Literal["entry", "exit"]


class MonthlyReturns(msgspec.Struct, frozen=True, kw_only=True):
    """A heatmap: `values[y][m - 1]` is the return of month `m` of `years[y]` (None: no
    trading day); `yearly[y]` the return of `years[y]`."""

    years: list[int]
    months: list[int]  # 1..12
    values: list[list[float | None]]
    yearly: list[float | None]


class DailyPnl(msgspec.Struct, frozen=True, kw_only=True):
    days: list[str]  # ISO trading days
    pnl: list[float | None]
    total_days: int
    truncated: bool  # only the last `len(days)` of `total_days` are given


class BacktestReport(msgspec.Struct, frozen=True, kw_only=True):
    starting_cash: float
    final_equity: float
    total_return: float | None  # final / starting - 1
    equity: EquityCurve
    drawdown_periods: list[DrawdownPeriod]  # deepest first, at most five
    trades: list[ReportTrade]  # the most recent, in order of exit
    trade_count: int  # all closed trades
    trades_truncated: bool
    markers: list[TradeMarker]  # entries and exits of `trades`, in time order
    monthly_returns: MonthlyReturns
    daily_pnl: DailyPnl


def build_report(
    equity: pl.DataFrame,
    trades: pl.DataFrame,
    daily: pl.DataFrame,
    *,
    starting_cash: float,
    max_points: int = 2000,
    max_trades: int = 2000,
    max_days: int = 1000,
) -> BacktestReport:
    """The report of one backtest from its equity, trades and daily frames.

    Times are epoch milliseconds (ints, UTC) throughout, ready for an ECharts time axis.

    - `equity`: at most `max_points` points (>= 6). Beyond that the bars are cut into equal
      buckets of consecutive bars and each keeps its first, last, lowest and highest equity
      (min-max decimation); the deepest drawdown bar and its peak are always kept too. So the
      first and last bar, the global extremes and the maximum drawdown appear exactly.
    - `drawdown_periods`: the five deepest, from the full equity column.
    - `trades`: the last `max_trades` by exit time; `markers` their entries and exits (a long
      enters with a buy and exits with a sell, a short the other way round).
    - `monthly_returns`: compounded daily returns by the trading day's year and month.
    - `daily_pnl`: the last `max_days` trading days.
    """
    if max_points < MIN_POINTS:
        raise ValueError(f"`max_points` must be at least {MIN_POINTS}, got {max_points}")
    if max_trades < 0 or max_days < 0:
        raise ValueError("`max_trades` and `max_days` must not be negative")
    values = equity["equity"].cast(pl.Float64).to_numpy()
    curve, periods = _equity_curve(equity, values, max_points)
    final = float(values[-1]) if values.size else starting_cash
    total = final / starting_cash - 1.0 if starting_cash else math.nan
    kept, markers = _trades(trades, max_trades)
    return BacktestReport(
        starting_cash=starting_cash,
        final_equity=final,
        total_return=_finite(total),
        equity=curve,
        drawdown_periods=periods,
        trades=kept,
        trade_count=trades.height,
        trades_truncated=trades.height > len(kept),
        markers=markers,
        monthly_returns=_monthly(daily),
        daily_pnl=_daily_pnl(daily, max_days),
    )


# Equity and drawdown -----------------------------------------------------------------------


def _equity_curve(
    equity: pl.DataFrame, values: FloatArray, max_points: int
) -> tuple[EquityCurve, list[DrawdownPeriod]]:
    n = values.size
    if n == 0:
        return EquityCurve(time=[], equity=[], drawdown=[], total_points=0, downsampled=False), []
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = values / np.maximum.accumulate(values) - 1.0
    runs = _deepest_drawdowns(values, drawdown, DRAWDOWN_PERIODS)
    extra = [runs[0][0], runs[0][1]] if runs else []
    index = _decimate(values, max_points, np.array(extra, dtype=np.int64))
    picked = pl.Series(index)
    ms = equity["ts"].gather(picked).dt.epoch("ms").to_list()
    curve = EquityCurve(
        time=ms,
        equity=_floats(values[index]),
        drawdown=_floats(equity["drawdown"].gather(picked).cast(pl.Float64).to_numpy()),
        total_points=n,
        downsampled=index.size < n,
    )
    wanted = [i for run in runs for i in run[:3] if i is not None]
    at = dict(zip(wanted, equity["ts"].gather(wanted).dt.epoch("ms").to_list(), strict=True))
    periods = [
        DrawdownPeriod(
            start=at[start],
            trough=at[trough],
            end=None if end is None else at[end],
            depth=depth,
        )
        for start, trough, end, depth in runs
    ]
    return curve, periods


def _decimate(values: FloatArray, max_points: int, extra: IntArray) -> IntArray:
    """Indices to plot, increasing: all of them when they fit, else per bucket of `k`
    consecutive bars its first, last, argmin and argmax, plus `extra`."""
    n = values.size
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = (max_points - 2) // 4  # leaves room for two extra points
    k = -(-n // buckets)  # so ceil(n / k) <= buckets
    full = n // k
    body = values[: full * k].reshape(full, k)
    base = np.arange(full, dtype=np.int64) * k
    parts = [base, base + k - 1, base + body.argmin(axis=1), base + body.argmax(axis=1), extra]
    rest = full * k
    if rest < n:
        tail = values[rest:]
        parts.append(
            np.array(
                [rest, n - 1, rest + int(tail.argmin()), rest + int(tail.argmax())],
                dtype=np.int64,
            )
        )
    return np.unique(np.concatenate(parts))


def _deepest_drawdowns(
    values: FloatArray, drawdown: FloatArray, count: int
) -> list[tuple[int, int, int | None, float]]:
    """(peak bar, trough bar, recovery bar or None, depth) of the `count` deepest periods,
    deepest first (ties: the earlier first)."""
    under = values < np.maximum.accumulate(values)
    edges = np.diff(under.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)  # first bar under water (>= 1: bar 0 is a peak)
    stops = np.flatnonzero(edges == -1)  # first bar back at the peak (n: never)
    if starts.size == 0:
        return []
    # Between runs the drawdown is 0, so each segment's minimum is its run's minimum.
    depths = np.minimum.reduceat(drawdown, starts)
    order = np.lexsort((starts, depths))[:count]
    n = values.size
    runs: list[tuple[int, int, int | None, float]] = []
    for i in order.tolist():
        first, stop = int(starts[i]), int(stops[i])
        trough = first + int(np.argmin(drawdown[first:stop]))
        runs.append((first - 1, trough, stop if stop < n else None, float(drawdown[trough])))
    return runs


# Trades ------------------------------------------------------------------------------------


def _trades(trades: pl.DataFrame, limit: int) -> tuple[list[ReportTrade], list[TradeMarker]]:
    if trades.height == 0 or limit == 0:
        return [], []
    recent = (
        trades.with_row_index("_row")
        .sort("exit_time", "entry_time", "_row")
        .tail(limit)
        .select(
            pl.col("symbol").cast(pl.String),
            pl.col("side").cast(pl.String),
            pl.col("size", "entry_price", "exit_price", "pnl", "commission").cast(pl.Float64),
            pl.col("entry_time", "exit_time").dt.epoch("ms"),
        )
    )
    kept = [ReportTrade(**row) for row in recent.iter_rows(named=True)]
    markers: list[TradeMarker] = []
    for trade in kept:
        long = trade.side == "long"
        markers.append(
            TradeMarker(
                time=trade.entry_time,
                price=trade.entry_price,
                side="buy" if long else "sell",
                kind="entry",
            )
        )
        markers.append(
            TradeMarker(
                time=trade.exit_time,
                price=trade.exit_price,
                side="sell" if long else "buy",
                kind="exit",
            )
        )
    markers.sort(key=lambda marker: marker.time)  # stable: an entry before its exit
    return kept, markers


# Daily results ------------------------------------------------------------------------------


def _monthly(daily: pl.DataFrame) -> MonthlyReturns:
    months = list(range(1, 13))
    if daily.height == 0:
        return MonthlyReturns(years=[], months=months, values=[], yearly=[])
    growth = (1.0 + pl.col("daily_return").cast(pl.Float64)).product() - 1.0
    keyed = daily.select(
        pl.col("trading_day").dt.year().alias("year"),
        pl.col("trading_day").dt.month().alias("month"),
        pl.col("daily_return"),
    )
    by_month = keyed.group_by("year", "month").agg(growth.alias("ret"))
    by_year = keyed.group_by("year").agg(growth.alias("ret")).sort("year")
    years = [int(y) for y in by_year["year"].to_list()]
    row_of = {year: i for i, year in enumerate(years)}
    values: list[list[float | None]] = [[None] * 12 for _ in years]
    for year, month, ret in by_month.iter_rows():
        values[row_of[year]][month - 1] = _finite(ret)
    yearly = [_finite(ret) for ret in by_year["ret"].to_list()]
    return MonthlyReturns(years=years, months=months, values=values, yearly=yearly)


def _daily_pnl(daily: pl.DataFrame, limit: int) -> DailyPnl:
    last = daily.sort("trading_day").tail(limit) if limit else daily.clear()
    return DailyPnl(
        days=last["trading_day"].cast(pl.String).to_list(),
        pnl=_floats(last["daily_pnl"].cast(pl.Float64).to_numpy()),
        total_days=daily.height,
        truncated=daily.height > last.height,
    )


# JSON-safe floats --------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _floats(values: FloatArray) -> list[float | None]:
    """The values as a list, None for NaN and infinities."""
    if bool(np.isfinite(values).all()):
        return values.tolist()  # type: ignore[no-any-return]
    return [v if math.isfinite(v) else None for v in values.tolist()]
