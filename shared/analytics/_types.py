"""Object inputs and outputs of the backtest analytics, and the check made on the settings.

Inputs (their array forms `EquitySeries` and `TradeTable`, and the checks on both forms, are in
`_arrays`)
- `EquityCurve`: parallel tuples of timezone-aware `timestamps` (UTC by convention; any zone
  is compared as an instant; strictly increasing), `equity`
  values (finite, > 0) and each point's `trading_days` (non-decreasing). The trading day is
  given, never derived from the calendar date: a night-session point at 21:00 Beijing time on
  day D belongs to trading day D+1 (after a Friday, to the next Monday). Optional `in_market`
  (one flag per point) overrides the exposure derived from the trades; optional `benchmark`
  (one finite price > 0 per point) feeds buy-and-hold, alpha and beta.
- `ClosedTrade`: one round trip. `pnl` is after commission; `multiplier` (contract size,
  default 1) turns `price * size` into notional money.
- `Settings`: `starting_cash` (> 0, the equity before the first point), `periods_per_year`
  (trading days per year, default 252), `risk_free_rate` (annual, simple, default 0).

Outputs: datetimes are timezone-aware UTC, trading days are `date`s. `Metrics.drawdowns` keeps
only the deepest episodes (see `_drawdown`); `drawdown_count` counts them all. Every undefined
output is `None`; no output is ever NaN or infinite.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import msgspec

from shared.domain import Direction


class AnalyticsError(ValueError):
    """The inputs cannot be analysed (the message names the field)."""


class EquityCurve(msgspec.Struct, frozen=True, kw_only=True):
    timestamps: tuple[datetime, ...]
    equity: tuple[float, ...]
    trading_days: tuple[date, ...]
    in_market: tuple[bool, ...] | None = None
    benchmark: tuple[float, ...] | None = None


class ClosedTrade(msgspec.Struct, frozen=True, kw_only=True):
    entry_time: datetime
    exit_time: datetime
    side: Direction
    size: float
    entry_price: float
    exit_price: float
    pnl: float
    commission: float
    multiplier: float = 1.0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    starting_cash: float
    periods_per_year: int = 252
    risk_free_rate: float = 0.0


# gc=False: DailyResult and Drawdown hold only scalars (no cycle possible), and leaving the
# thousands of them per backtest out of the cycle collector keeps it from running meanwhile.
class DailyResult(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One trading day: equity at its last point, return and P&L against the previous close."""

    trading_day: date
    close_time: datetime
    equity: float
    daily_return: float
    daily_pnl: float


class Drawdown(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One drawdown episode: from the last point at the high-water mark to the first point back
    at or above it (`recovery_*` is `None` while the curve has not recovered)."""

    peak_time: datetime
    peak_day: date
    peak_equity: float
    trough_time: datetime
    trough_day: date
    trough_equity: float
    recovery_time: datetime | None
    recovery_day: date | None
    depth: float  # (peak - trough) / peak
    amount: float  # peak - trough
    duration_days: int  # trading days from the peak to the recovery (or the last point)
    duration: timedelta  # calendar time from the peak to the recovery (or the last point)


class TradeStats(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    wins: int
    losses: int
    win_rate: float | None
    best_trade: float | None
    worst_trade: float | None
    average_trade: float | None
    best_trade_pct: float | None
    worst_trade_pct: float | None
    average_trade_pct: float | None
    gross_profit: float
    gross_loss: float
    profit_factor: float | None
    expectancy: float | None
    sqn: float | None
    kelly: float | None
    average_holding_time: timedelta | None
    total_commission: float
    traded_notional: float


class Metrics(msgspec.Struct, frozen=True, kw_only=True):
    start_equity: float
    end_equity: float
    trading_day_count: int
    total_return: float
    annual_return: float
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: Drawdown | None
    max_drawdown_pct: float
    max_drawdown_amount: float
    average_drawdown_pct: float | None
    average_drawdown_amount: float | None
    average_drawdown_days: float | None
    average_drawdown_duration: timedelta | None
    drawdowns: tuple[Drawdown, ...]  # the deepest episodes only, in chronological order
    drawdown_count: int  # every episode, kept in `drawdowns` or not
    trades: TradeStats
    exposure: float
    turnover: float | None
    total_commission: float
    buy_and_hold_return: float | None
    alpha: float | None
    beta: float | None
    daily: tuple[DailyResult, ...]


def validate_settings(settings: Settings) -> None:
    if not math.isfinite(settings.starting_cash) or settings.starting_cash <= 0.0:
        raise AnalyticsError("`starting_cash` must be finite and > 0")
    if settings.periods_per_year <= 0:
        raise AnalyticsError("`periods_per_year` must be > 0")
    if not math.isfinite(settings.risk_free_rate):
        raise AnalyticsError("`risk_free_rate` must be finite")
