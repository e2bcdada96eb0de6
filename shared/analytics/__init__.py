"""Backtest performance metrics: pure functions of an equity curve, closed trades and settings.

- `compute_metrics_arrays(series, trades, settings, max_drawdowns=10)` -> `Metrics` (returns,
  risk ratios, drawdowns, trade statistics, exposure, turnover, benchmark alpha/beta, daily
  results by trading day), vectorized over numpy arrays: `EquitySeries` (one value per equity
  point) and `TradeTable` (one value per closed trade), as a vectorized backtest produces them.
- `compute_metrics(curve, trades, settings)`: the same on Python objects (`EquityCurve`,
  `ClosedTrade`s), converted with `EquitySeries.from_curve` / `TradeTable.from_trades`.
- `Metrics.drawdowns` keeps the `max_drawdowns` deepest episodes in chronological order;
  `drawdown_count` and the drawdown averages cover every episode.
- `daily=False` leaves `Metrics.daily` empty (a large run's report builds it on demand with
  `daily_results_of(series, settings)`).
- `daily_frame(metrics.daily)`: the daily results as a polars frame, one row per trading day.
- `compute_metrics_totals(basis, trades, settings, close_equity=, drawdowns=, in_market=)`:
  the same `Metrics` as `compute_metrics_arrays(..., max_drawdowns=0, daily=False)` from the
  reductions a sweep's compiled pass keeps instead of the curve (`DrawdownTotals` with the
  deepest `Episode`); `curve_basis(timestamps, trading_days, benchmark)` is what the runs over
  the same points share.
- Output datetimes are timezone-aware UTC. Undefined values are `None`, never NaN or infinity;
  bad inputs raise `AnalyticsError`.

Each formula is stated in the docstring of the module computing it (`_returns`, `_drawdown`,
`_trades`, `_metrics`); the array inputs and their checks are described in `_arrays`.
"""

from shared.analytics._arrays import EquitySeries, TradeTable
from shared.analytics._drawdown import DrawdownTotals, Episode
from shared.analytics._metrics import (
    CurveBasis,
    compute_metrics,
    compute_metrics_arrays,
    compute_metrics_totals,
    curve_basis,
)
from shared.analytics._returns import daily_frame, daily_results_of
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
    "CurveBasis",
    "DailyResult",
    "Drawdown",
    "DrawdownTotals",
    "Episode",
    "EquityCurve",
    "EquitySeries",
    "Metrics",
    "Settings",
    "TradeStats",
    "TradeTable",
    "compute_metrics",
    "compute_metrics_arrays",
    "compute_metrics_totals",
    "curve_basis",
    "daily_frame",
    "daily_results_of",
]
