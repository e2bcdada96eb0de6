"""`compute_metrics_arrays` / `compute_metrics`: every backtest metric from an equity series,
closed trades and settings.

Formulas live with their code: daily returns and return/risk ratios in `_returns`, drawdowns in
`_drawdown`, trades, exposure and turnover in `_trades`. Cross-module conventions:
- every return series is daily by trading day (never by calendar day), the first day measured
  from `starting_cash`; annualisation uses `periods_per_year` (P) trading days;
- Calmar = CAGR / max drawdown depth (a fraction); `None` without a drawdown or a CAGR;
- total commission = sum of the trades' commissions (already inside their P&L).

There is one implementation, on numpy arrays: `compute_metrics` converts the object inputs
(`EquityCurve`, `ClosedTrade`s) to `EquitySeries` and `TradeTable` and delegates. The work is
vectorized over points and trades; Python objects are built only for the outputs (one
`DailyResult` per trading day, one `Drawdown` per kept episode).

`compute_metrics_totals` serves parameter sweeps: a compiled pass over the points keeps only
each day's closing equity, the drawdown totals and the count of points in the market, and
`curve_basis` holds what the runs over the same points share. Both entry points end in the
same `_assemble`, so every formula has one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from shared.analytics import _returns as ret
from shared.analytics._arrays import (
    DayArray,
    EquitySeries,
    FloatArray,
    IntArray,
    TradeTable,
    validate_series,
    validate_trades,
)
from shared.analytics._drawdown import DrawdownSummary, DrawdownTotals, summarize, summarize_totals
from shared.analytics._trades import exposure, exposure_of, trade_stats, turnover
from shared.analytics._types import (
    AnalyticsError,
    ClosedTrade,
    DailyResult,
    EquityCurve,
    Metrics,
    Settings,
    TradeStats,
    validate_settings,
)


def compute_metrics_arrays(
    series: EquitySeries,
    trades: TradeTable,
    settings: Settings,
    *,
    max_drawdowns: int = 10,
    daily: bool = True,
    values_checked: bool = False,
) -> Metrics:
    """All metrics, `Metrics.drawdowns` holding the `max_drawdowns` deepest episodes; raises
    `AnalyticsError` (a `ValueError`) on malformed inputs. With `daily=False`, `Metrics.daily`
    is left empty (every figure is still computed from the daily returns): building a row
    object per trading day is most of the cost of a large run's metrics, and a caller that
    reports them builds them on demand with `daily_results`. `values_checked`: the caller has
    checked what `validate_series` and `validate_trades` check of the values (an engine over
    validated bars, whose own pass checked its curve and trades): two passes over a million
    points saved per run; shapes and dtypes are checked still."""
    validate_settings(settings)
    if max_drawdowns < 0:
        raise AnalyticsError("`max_drawdowns` must be >= 0")
    validate_series(series, values_checked=values_checked)
    validate_trades(trades, values_checked=values_checked)
    closes = ret.daily_closes(series, settings)
    bench = ret.benchmark_returns(series, closes)
    return _assemble(
        settings,
        closes,
        drawdowns=summarize(series, closes.last_point, max_drawdowns),
        stats=trade_stats(trades),
        exposure_share=exposure(series, trades),
        bench=bench,
        buy_and_hold=ret.buy_and_hold(series),
        daily=ret.daily_results(series, closes) if daily else (),
    )


class CurveBasis(NamedTuple):
    """What every equity curve over the same points shares (see `curve_basis`)."""

    timestamps: IntArray
    trading_days: DayArray
    last_point: IntArray  # each trading day's last point
    benchmark_returns: FloatArray | None
    buy_and_hold: float | None


def curve_basis(
    timestamps: IntArray, trading_days: DayArray, benchmark: FloatArray | None = None
) -> CurveBasis:
    """The points of the curves `compute_metrics_totals` summarises, checked as
    `compute_metrics_arrays` checks an `EquitySeries` (with a placeholder equity)."""
    validate_series(
        EquitySeries(timestamps, np.ones(timestamps.size), trading_days, None, benchmark)
    )
    last_point = ret.close_indices(trading_days)
    return CurveBasis(
        timestamps=timestamps,
        trading_days=trading_days,
        last_point=last_point,
        benchmark_returns=None
        if benchmark is None
        else ret.benchmark_returns_at(benchmark, last_point),
        buy_and_hold=None if benchmark is None else ret.buy_and_hold_of(benchmark),
    )


def compute_metrics_totals(
    basis: CurveBasis,
    trades: TradeTable,
    settings: Settings,
    *,
    close_equity: FloatArray,
    drawdowns: DrawdownTotals,
    in_market: int,
    trades_checked: bool = False,
) -> Metrics:
    """`compute_metrics_arrays(series, trades, settings, max_drawdowns=0, daily=False)` for a
    curve over `basis`'s points known only by a pass's reductions: the equity at each day's
    last point, the drawdown totals and the number of points in the market. The pass must
    have checked what `compute_metrics_arrays` checks of the equity (finite and > 0 at every
    point). `trades_checked` skips the checks on the trades for a caller whose pass made
    them (they cost more than the rest of a small run's metrics)."""
    validate_settings(settings)
    if not trades_checked:
        validate_trades(trades)
    return _assemble(
        settings,
        ret.closes_of(basis.last_point, close_equity, settings),
        drawdowns=summarize_totals(basis.timestamps, basis.trading_days, drawdowns),
        stats=trade_stats(trades),
        exposure_share=exposure_of(in_market, int(basis.timestamps.size)),
        bench=basis.benchmark_returns,
        buy_and_hold=basis.buy_and_hold,
        daily=(),
    )


def _assemble(
    settings: Settings,
    closes: ret.DailyCloses,
    *,
    drawdowns: DrawdownSummary,
    stats: TradeStats,
    exposure_share: float,
    bench: FloatArray | None,
    buy_and_hold: float | None,
    daily: tuple[DailyResult, ...],
) -> Metrics:
    periods = settings.periods_per_year
    returns = closes.returns
    days = int(returns.size)
    start, end = settings.starting_cash, float(closes.equity[-1])
    cagr = ret.cagr(start, end, days, periods)
    deepest = drawdowns.deepest
    calmar = None if deepest is None or cagr is None else cagr / deepest.depth
    alpha, beta = ret.alpha_beta(returns, bench, periods)
    return Metrics(
        start_equity=start,
        end_equity=end,
        trading_day_count=days,
        total_return=end / start - 1.0,
        annual_return=ret.annual_return(returns, periods),
        cagr=cagr,
        volatility=ret.volatility(returns, periods),
        sharpe=ret.sharpe(returns, settings),
        sortino=ret.sortino(returns, settings),
        calmar=calmar,
        max_drawdown=deepest,
        max_drawdown_pct=0.0 if deepest is None else deepest.depth,
        max_drawdown_amount=0.0 if deepest is None else deepest.amount,
        average_drawdown_pct=drawdowns.average_depth,
        average_drawdown_amount=drawdowns.average_amount,
        average_drawdown_days=drawdowns.average_days,
        average_drawdown_duration=drawdowns.average_duration,
        drawdowns=drawdowns.kept,
        drawdown_count=drawdowns.episode_count,
        trades=stats,
        exposure=exposure_share,
        turnover=turnover(stats.traded_notional, closes.equity),
        total_commission=stats.total_commission,
        buy_and_hold_return=buy_and_hold,
        alpha=alpha,
        beta=beta,
        daily=daily,
    )


def compute_metrics(
    curve: EquityCurve,
    trades: Sequence[ClosedTrade],
    settings: Settings,
    *,
    max_drawdowns: int = 10,
) -> Metrics:
    """`compute_metrics_arrays` on the converted object inputs."""
    return compute_metrics_arrays(
        EquitySeries.from_curve(curve),
        TradeTable.from_trades(trades),
        settings,
        max_drawdowns=max_drawdowns,
    )
