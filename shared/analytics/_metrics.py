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
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.analytics import _returns as ret
from shared.analytics._arrays import EquitySeries, TradeTable, validate_series, validate_trades
from shared.analytics._drawdown import summarize
from shared.analytics._trades import exposure, trade_stats, turnover
from shared.analytics._types import (
    AnalyticsError,
    ClosedTrade,
    EquityCurve,
    Metrics,
    Settings,
    validate_settings,
)


def compute_metrics_arrays(
    series: EquitySeries,
    trades: TradeTable,
    settings: Settings,
    *,
    max_drawdowns: int = 10,
    daily: bool = True,
) -> Metrics:
    """All metrics, `Metrics.drawdowns` holding the `max_drawdowns` deepest episodes; raises
    `AnalyticsError` (a `ValueError`) on malformed inputs. With `daily=False`, `Metrics.daily`
    is left empty (every figure is still computed from the daily returns): building a row
    object per trading day is most of the cost of a large run's metrics, and a caller that
    reports them builds them on demand with `daily_results`."""
    validate_settings(settings)
    if max_drawdowns < 0:
        raise AnalyticsError("`max_drawdowns` must be >= 0")
    validate_series(series)
    validate_trades(trades)
    periods = settings.periods_per_year

    closes = ret.daily_closes(series, settings)
    returns = closes.returns
    days = int(returns.size)
    start, end = settings.starting_cash, float(closes.equity[-1])
    cagr = ret.cagr(start, end, days, periods)

    drawdowns = summarize(series, closes.last_point, max_drawdowns)
    deepest = drawdowns.deepest
    calmar = None if deepest is None or cagr is None else cagr / deepest.depth

    stats = trade_stats(trades)
    alpha, beta = ret.alpha_beta(returns, ret.benchmark_returns(series, closes), periods)
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
        exposure=exposure(series, trades),
        turnover=turnover(stats.traded_notional, closes.equity),
        total_commission=stats.total_commission,
        buy_and_hold_return=ret.buy_and_hold(series),
        alpha=alpha,
        beta=beta,
        daily=ret.daily_results(series, closes) if daily else (),
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
