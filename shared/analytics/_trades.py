"""Closed-trade statistics, exposure and turnover.

Per trade: P&L p (after commission, as given), entry notional
N = entry_price * size * multiplier, return p / N. A win is p > 0, a loss p < 0 (a trade at
exactly 0 is neither, but counts in n).
- win rate W = wins / n; best / worst / average trade: max / min / mean of p, and of p / N.
- gross profit GP = sum of p over wins, gross loss GL = -sum of p over losses (>= 0).
- profit factor = GP / GL; `None` when GL = 0 (no losing trade).
- expectancy = mean(p) (money per trade).
- SQN = sqrt(n) * mean(p) / std(p, ddof=1); `None` for n < 2 or std(p) = 0.
- Kelly = W - (1 - W) / (avg win / avg loss), avg win = GP / wins, avg loss = GL / losses;
  `None` without at least one win and one loss.
- A ratio that is not a finite float (e.g. over a subnormal loss) is `None` too.
- average holding time = mean(exit_time - entry_time).
- total commission = sum of commissions; traded notional = sum over trades of both legs,
  (entry_price + exit_price) * size * multiplier.

Exposure = share of equity points "in the market". The flags come from `in_market` when
given; otherwise a point at time t is in the market when some trade has
entry_time <= t < exit_time (a half-open interval: the bar where a trade exits is flat).

Turnover = traded notional / mean of the daily closing equity (both legs of every trade, so a
full round trip of the whole account counts 2); `None` when that mean is not > 0.
"""

from __future__ import annotations

import math

import numpy as np

from shared.analytics import _compiled as c
from shared.analytics._arrays import EquitySeries, FloatArray, IntArray, TradeTable
from shared.analytics._time import exact_sum, mean_timedelta
from shared.analytics._types import TradeStats

_ZERO = 1e-12


def _sqn(count: int, mean: float, squared_deviations: float) -> float | None:
    if count < 2:
        return None
    std = math.sqrt(squared_deviations / (count - 1))
    if std <= _ZERO:
        return None
    return math.sqrt(count) * mean / std


def _ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or `None` when that is not a finite number."""
    if denominator == 0.0:
        return None
    value = numerator / denominator
    return value if math.isfinite(value) else None


def _kelly(
    win_rate: float, gross_profit: float, wins: int, gross_loss: float, losses: int
) -> float | None:
    if wins == 0 or losses == 0:
        return None
    # (1 - W) / (avg win / avg loss) written as (1 - W) * avg loss / avg win.
    loss_per_win = _ratio(gross_loss / losses, gross_profit / wins)
    return None if loss_per_win is None else win_rate - (1.0 - win_rate) * loss_per_win


def _empty_stats() -> TradeStats:
    return TradeStats(
        count=0,
        wins=0,
        losses=0,
        win_rate=None,
        best_trade=None,
        worst_trade=None,
        average_trade=None,
        best_trade_pct=None,
        worst_trade_pct=None,
        average_trade_pct=None,
        gross_profit=0.0,
        gross_loss=0.0,
        profit_factor=None,
        expectancy=None,
        sqn=None,
        kelly=None,
        average_holding_time=None,
        total_commission=0.0,
        traded_notional=0.0,
    )


def trade_stats(trades: TradeTable) -> TradeStats:
    count = int(trades.pnl.size)
    if count == 0:
        return _empty_stats()
    sums = np.empty(c.TRADE_SUMS)
    c.trade_sums(
        trades.pnl, trades.entry_price, trades.exit_price, trades.size, trades.multiplier,
        trades.commission, sums,
    )  # fmt: skip
    wins, losses = int(sums[c.WINS]), int(sums[c.LOSSES])
    gross_profit = float(sums[c.GROSS_PROFIT])
    gross_loss = 0.0 - float(sums[c.LOSS_SUM])  # 0.0 - x, not -x: no -0.0 without losses
    win_rate = wins / count
    average = float(sums[c.PNL_SUM]) / count
    return TradeStats(
        count=count,
        wins=wins,
        losses=losses,
        win_rate=win_rate,
        best_trade=float(sums[c.PNL_MAX]),
        worst_trade=float(sums[c.PNL_MIN]),
        average_trade=average,
        best_trade_pct=float(sums[c.PCT_MAX]),
        worst_trade_pct=float(sums[c.PCT_MIN]),
        average_trade_pct=float(sums[c.PCT_SUM]) / count,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        profit_factor=_ratio(gross_profit, gross_loss),
        expectancy=average,
        sqn=_sqn(count, average, float(sums[c.PNL_SQUARED_DEVIATIONS])),
        kelly=_kelly(win_rate, gross_profit, wins, gross_loss, losses),
        average_holding_time=mean_timedelta(exact_sum(trades.exit_time - trades.entry_time), count),
        total_commission=float(sums[c.COMMISSION_SUM]),
        traded_notional=float(sums[c.NOTIONAL_SUM]),
    )


def _union(trades: TradeTable) -> tuple[IntArray, IntArray]:
    """The trades' [entry_time, exit_time) intervals merged into disjoint, sorted spans."""
    order = np.argsort(trades.entry_time, kind="stable")
    entry, exit_ = trades.entry_time[order], trades.exit_time[order]
    # Taken by entry time, a trade opens a new span when it starts after every earlier trade
    # has exited; touching intervals ([a, b) then [b, c)) merge, leaving no point uncovered.
    reach = np.maximum.accumulate(exit_)
    opens = np.ones(entry.size, dtype=bool)
    opens[1:] = entry[1:] > reach[:-1]
    first = np.flatnonzero(opens)
    return entry[first], np.maximum.reduceat(exit_, first)


def _points_in_trades(timestamps: IntArray, trades: TradeTable) -> int:
    """How many points lie in at least one trade's [entry_time, exit_time)."""
    if trades.entry_time.size == 0:
        return 0
    # Searching the points is the costly step: merging first searches one pair of bounds per
    # disjoint span instead of per trade. Point i lies in [start, end) when
    # searchsorted(start) <= i < searchsorted(end), both on the left side.
    start, end = _union(trades)
    found = np.searchsorted(timestamps, np.column_stack((start, end)).ravel(), side="left")
    return int(np.sum(found[1::2] - found[::2]))


def exposure(series: EquitySeries, trades: TradeTable) -> float:
    points = int(series.timestamps.size)
    if series.in_market is not None:
        return exposure_of(int(np.count_nonzero(series.in_market)), points)
    return exposure_of(_points_in_trades(series.timestamps, trades), points)


def exposure_of(in_market: int, points: int) -> float:
    return in_market / points


def turnover(traded_notional: float, close_equity: FloatArray) -> float | None:
    if close_equity.size == 0:
        return None
    average_equity = float(np.mean(close_equity))
    return traded_notional / average_equity if average_equity > 0.0 else None
