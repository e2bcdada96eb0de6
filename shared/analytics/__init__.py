"""Backtest performance metrics: pure functions of an equity curve, closed trades and settings.

- `compute_metrics(curve, trades, settings)` -> `Metrics` (returns, risk ratios, drawdowns,
  trade statistics, exposure, turnover, benchmark alpha/beta, daily results by trading day).
- `daily_frame(metrics.daily)`: the daily results as a polars frame, one row per trading day.
- Undefined values are `None`, never NaN or infinity; bad inputs raise `AnalyticsError`.

Each formula is stated in the docstring of the module computing it (`_returns`, `_drawdown`,
`_trades`, `_metrics`).
"""

from shared.analytics._metrics import compute_metrics
from shared.analytics._returns import daily_frame
from shared.analytics._types import (
    AnalyticsError,
    ClosedTrade,
    DailyResult,
    Drawdown,
    EquityCurve,
    Metrics,
    Settings,
    TradeStats,
)

__all__ = [
    "AnalyticsError",
    "ClosedTrade",
    "DailyResult",
    "Drawdown",
    "EquityCurve",
    "Metrics",
    "Settings",
    "TradeStats",
    "compute_metrics",
    "daily_frame",
]
