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

Exposure = share of equity points "in the market". The flags come from `EquityCurve.in_market`
when given; otherwise a point at time t is in the market when some trade has
entry_time <= t < exit_time (a half-open interval: the bar where a trade exits is flat).

Turnover = traded notional / mean of the daily closing equity (both legs of every trade, so a
full round trip of the whole account counts 2); `None` when that mean is not > 0.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

from shared.analytics._types import ClosedTrade, DailyResult, EquityCurve, TradeStats

_ZERO = 1e-12


def _notional(trade: ClosedTrade, price: float) -> float:
    return price * trade.size * trade.multiplier


def _sqn(pnl: list[float]) -> float | None:
    if len(pnl) < 2:
        return None
    std = float(np.std(pnl, ddof=1))
    if std <= _ZERO:
        return None
    return math.sqrt(len(pnl)) * float(np.mean(pnl)) / std


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


def trade_stats(trades: tuple[ClosedTrade, ...]) -> TradeStats:
    pnl = [t.pnl for t in trades]
    pct = [t.pnl / _notional(t, t.entry_price) for t in trades]
    wins = [p for p in pnl if p > 0.0]
    losses = [p for p in pnl if p < 0.0]
    gross_profit = sum(wins)
    gross_loss = -sum(losses)
    count = len(trades)
    win_rate = len(wins) / count if count else None
    notional = sum(_notional(t, t.entry_price) + _notional(t, t.exit_price) for t in trades)
    holding = sum((t.exit_time - t.entry_time for t in trades), timedelta())
    return TradeStats(
        count=count,
        wins=len(wins),
        losses=len(losses),
        win_rate=win_rate,
        best_trade=max(pnl) if pnl else None,
        worst_trade=min(pnl) if pnl else None,
        average_trade=sum(pnl) / count if count else None,
        best_trade_pct=max(pct) if pct else None,
        worst_trade_pct=min(pct) if pct else None,
        average_trade_pct=sum(pct) / count if count else None,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        profit_factor=_ratio(gross_profit, gross_loss),
        expectancy=sum(pnl) / count if count else None,
        sqn=_sqn(pnl),
        kelly=(
            None
            if win_rate is None
            else _kelly(win_rate, gross_profit, len(wins), gross_loss, len(losses))
        ),
        average_holding_time=holding / count if count else None,
        total_commission=sum(t.commission for t in trades),
        traded_notional=notional,
    )


def in_market_flags(curve: EquityCurve, trades: tuple[ClosedTrade, ...]) -> tuple[bool, ...]:
    if curve.in_market is not None:
        return curve.in_market
    intervals = [(t.entry_time, t.exit_time) for t in trades]
    return tuple(any(entry <= ts < exit_ for entry, exit_ in intervals) for ts in curve.timestamps)


def exposure(flags: tuple[bool, ...]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def turnover(traded_notional: float, daily: tuple[DailyResult, ...]) -> float | None:
    if not daily:
        return None
    average_equity = sum(row.equity for row in daily) / len(daily)
    return traded_notional / average_equity if average_equity > 0.0 else None
