"""Drawdown episodes, measured on every recorded equity point (not only daily closes).

Walk the points keeping the high-water mark H (starting at the first point; the curve is
expected to begin at the starting cash). A point below H opens an episode whose peak is the
last point at H; the episode ends at the first later point with equity >= H (its recovery).
An episode still open at the last point has no recovery (`recovery_*` = `None`).

Per episode, with peak equity E_p and trough equity E_t (the lowest point of the episode):
- depth = (E_p - E_t) / E_p (a fraction in [0, 1)), amount = E_p - E_t.
- duration_days = k(end) - k(peak), where k is the ordinal of a point's trading day among the
  curve's distinct trading days and end is the recovery point, or the last point if unrecovered.
- duration = timestamp(end) - timestamp(peak) (calendar time).

Summary: the maximum drawdown is the episode with the greatest depth (the first one on a tie);
its amount is reported with it (a shallower episode may have lost more money). Average depth,
amount, duration_days and duration are plain means over the distinct episodes, unrecovered
ones included (measured to the last point). With no episode the maximum is 0 and the
averages are `None`.
"""

from __future__ import annotations

from datetime import timedelta

from shared.analytics._types import Drawdown, EquityCurve


def _day_ordinals(curve: EquityCurve) -> list[int]:
    ordinals: list[int] = []
    current = -1
    for i, day in enumerate(curve.trading_days):
        if i == 0 or day != curve.trading_days[i - 1]:
            current += 1
        ordinals.append(current)
    return ordinals


def _episode(
    curve: EquityCurve, ordinals: list[int], peak: int, trough: int, end: int, *, recovered: bool
) -> Drawdown:
    peak_equity = curve.equity[peak]
    trough_equity = curve.equity[trough]
    return Drawdown(
        peak_time=curve.timestamps[peak],
        peak_day=curve.trading_days[peak],
        peak_equity=peak_equity,
        trough_time=curve.timestamps[trough],
        trough_day=curve.trading_days[trough],
        trough_equity=trough_equity,
        recovery_time=curve.timestamps[end] if recovered else None,
        recovery_day=curve.trading_days[end] if recovered else None,
        depth=(peak_equity - trough_equity) / peak_equity,
        amount=peak_equity - trough_equity,
        duration_days=ordinals[end] - ordinals[peak],
        duration=curve.timestamps[end] - curve.timestamps[peak],
    )


def drawdown_episodes(curve: EquityCurve) -> tuple[Drawdown, ...]:
    ordinals = _day_ordinals(curve)
    equity = curve.equity
    episodes: list[Drawdown] = []
    peak = 0
    trough: int | None = None
    for i in range(1, len(equity)):
        if equity[i] >= equity[peak]:
            if trough is not None:
                episodes.append(_episode(curve, ordinals, peak, trough, i, recovered=True))
                trough = None
            peak = i
        elif trough is None or equity[i] < equity[trough]:
            trough = i
    if trough is not None:
        last = len(equity) - 1
        episodes.append(_episode(curve, ordinals, peak, trough, last, recovered=False))
    return tuple(episodes)


def max_drawdown(episodes: tuple[Drawdown, ...]) -> Drawdown | None:
    deepest: Drawdown | None = None
    for episode in episodes:
        if deepest is None or episode.depth > deepest.depth:
            deepest = episode
    return deepest


class DrawdownAverages:
    """Means over the distinct episodes (`None` when there are none)."""

    __slots__ = ("amount", "days", "depth", "duration")

    def __init__(self, episodes: tuple[Drawdown, ...]) -> None:
        count = len(episodes)
        self.depth: float | None = None
        self.amount: float | None = None
        self.days: float | None = None
        self.duration: timedelta | None = None
        if count:
            self.depth = sum(e.depth for e in episodes) / count
            self.amount = sum(e.amount for e in episodes) / count
            self.days = sum(e.duration_days for e in episodes) / count
            self.duration = sum((e.duration for e in episodes), timedelta()) / count
