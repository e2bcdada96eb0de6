"""`compute_metrics`: every backtest metric from an equity curve, closed trades and settings.

Formulas live with their code: daily returns and return/risk ratios in `_returns`, drawdowns in
`_drawdown`, trades, exposure and turnover in `_trades`. Cross-module conventions:
- every return series is daily by trading day (never by calendar day), the first day measured
  from `starting_cash`; annualisation uses `periods_per_year` (P) trading days;
- Calmar = CAGR / max drawdown depth (a fraction); `None` without a drawdown or a CAGR;
- total commission = sum of the trades' commissions (already inside their P&L).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.analytics import _returns as ret
from shared.analytics._drawdown import DrawdownAverages, drawdown_episodes, max_drawdown
from shared.analytics._trades import exposure, in_market_flags, trade_stats, turnover
from shared.analytics._types import (
    ClosedTrade,
    EquityCurve,
    Metrics,
    Settings,
    validate_curve,
    validate_settings,
    validate_trades,
)


def compute_metrics(
    curve: EquityCurve, trades: Sequence[ClosedTrade], settings: Settings
) -> Metrics:
    """All metrics; raises `AnalyticsError` (a `ValueError`) on malformed inputs."""
    closed = tuple(trades)
    validate_settings(settings)
    validate_curve(curve)
    validate_trades(closed)
    periods = settings.periods_per_year

    daily = ret.daily_results(curve, settings)
    returns = ret.returns_array(daily)
    start, end = settings.starting_cash, daily[-1].equity
    cagr = ret.cagr(start, end, len(daily), periods)

    episodes = drawdown_episodes(curve)
    deepest = max_drawdown(episodes)
    averages = DrawdownAverages(episodes)
    calmar = None if deepest is None or cagr is None else cagr / deepest.depth

    stats = trade_stats(closed)
    alpha, beta = ret.alpha_beta(returns, ret.benchmark_returns(curve), periods)
    return Metrics(
        start_equity=start,
        end_equity=end,
        trading_day_count=len(daily),
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
        average_drawdown_pct=averages.depth,
        average_drawdown_amount=averages.amount,
        average_drawdown_days=averages.days,
        average_drawdown_duration=averages.duration,
        drawdowns=episodes,
        trades=stats,
        exposure=exposure(in_market_flags(curve, closed)),
        turnover=turnover(stats.traded_notional, daily),
        total_commission=stats.total_commission,
        buy_and_hold_return=ret.buy_and_hold(curve),
        alpha=alpha,
        beta=beta,
        daily=daily,
    )
