"""Backtest engines.

- `run_vectorized(definition, params, series, config)`: a strategy's vectorized form over one
  series or a portfolio, filled by a compiled loop (`run_signals` for ready-made signals).
- `BacktestConfig` / `InstrumentTerms` / `SizeRule`: fill, sizing, commission, margin and
  slippage conventions; `BacktestError.field` names what is wrong.
- `run_event_driven(strategy, series, config)`: an event-driven `Strategy` bar by bar, its
  orders filled by the paper exchange (`shared.matching`).
- `build_report(...)`: ECharts-ready equity, drawdown, trades, monthly returns and daily P&L
  from a run's artifact frames.
- `run_ticks(strategy, ticks, instrument, config)`: the event-driven form on ticks, orders
  matched by the paper exchange against each tick's quotes (partial fills, queues), bars built
  from the ticks by the live bar builder for `on_bar`.
- `run_tick_portfolio(strategy, feeds, config)`: the same over several instruments' ticks,
  merged in time order, one account for all (a strategy hearing every feed, or one per feed).
- `BarSeries`: the bars as numpy columns; `BacktestResult`: equity, positions, trades, fills,
  metrics, and polars frames of each.
"""

from shared.backtest._config import (
    BacktestConfig,
    BacktestError,
    FillMode,
    InstrumentTerms,
    SizeMode,
    SizeRule,
)
from shared.backtest._data import BarSeries
from shared.backtest._event_engine import EventBacktest, run_event_driven
from shared.backtest._report import (
    BacktestReport,
    DailyPnl,
    DrawdownPeriod,
    MonthlyReturns,
    ReportTrade,
    TradeMarker,
    build_report,
)
from shared.backtest._result import BacktestResult, FillLog, OpenPosition, TradeLog, in_market
from shared.backtest._tick_context import TickContext
from shared.backtest._tick_engine import TickBacktest, run_tick_portfolio, run_ticks
from shared.backtest._vectorized import actions_of, run_signals, run_vectorized

__all__ = [
    "BacktestConfig",
    "BacktestError",
    "BacktestReport",
    "BacktestResult",
    "BarSeries",
    "DailyPnl",
    "DrawdownPeriod",
    "EventBacktest",
    "FillLog",
    "FillMode",
    "InstrumentTerms",
    "MonthlyReturns",
    "OpenPosition",
    "ReportTrade",
    "SizeMode",
    "SizeRule",
    "TickBacktest",
    "TickContext",
    "TradeLog",
    "TradeMarker",
    "actions_of",
    "build_report",
    "in_market",
    "run_event_driven",
    "run_signals",
    "run_tick_portfolio",
    "run_ticks",
    "run_vectorized",
]
