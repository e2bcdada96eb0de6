"""Drawdown episodes, measured on every recorded equity point (not only daily closes).

Walk the points keeping the high-water mark H (starting at the first point; the curve is
expected to begin at the starting cash). A point below H opens an episode whose peak is the
last point at H; the episode ends at the first later point with equity >= H (its recovery).
An episode still open at the last point has no recovery (`recovery_*` = `None`).

Per episode, with peak equity E_p and trough equity E_t (the lowest point of the episode, the
first one on a tie):
- depth = (E_p - E_t) / E_p (a fraction in [0, 1)), amount = E_p - E_t.
- duration_days = k(end) - k(peak), where k is the ordinal of a point's trading day among the
  series' distinct trading days and end is the recovery point, or the last point if unrecovered.
- duration = timestamp(end) - timestamp(peak) (calendar time).

Summary: the maximum drawdown is the episode with the greatest depth (the first one on a tie);
its amount is reported with it (a shallower episode may have lost more money). Average depth,
amount, duration_days and duration are plain means over ALL the episodes, unrecovered ones
included (measured to the last point). With no episode the maximum is 0 and the averages are
`None`. A long curve has thousands of episodes, so `Metrics.drawdowns` lists only the
`max_drawdowns` deepest (ties kept in favour of the earlier episode), in chronological order,
and `Metrics.drawdown_count` counts them all.

A sweep's compiled pass reduces the episodes as it walks the points (`DrawdownTotals`: the
deepest one and the sums behind the averages); `summarize_totals` turns that into the same
summary, less the list of kept episodes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

import numpy as np

from shared.analytics._arrays import DayArray, EquitySeries, FloatArray, IntArray
from shared.analytics._compiled import drawdown_episodes
from shared.analytics._time import dates, exact_sum, mean_timedelta, utc_datetime
from shared.analytics._types import Drawdown


class Episodes(NamedTuple):
    """Every episode as parallel arrays, in chronological order."""

    peak: IntArray  # index of the last point at the high-water mark
    trough: IntArray  # index of the first lowest point
    end: IntArray  # index of the recovery, or of the last point when unrecovered
    open_last: bool  # the last episode has not recovered
    trough_equity: FloatArray
    depth: FloatArray
    amount: FloatArray
    days: IntArray
    duration_ns: IntArray


class Episode(NamedTuple):
    """One episode, as the summary reports it."""

    peak: int
    trough: int
    end: int
    recovered: bool
    peak_equity: float
    trough_equity: float
    depth: float
    amount: float
    days: int


class DrawdownTotals(NamedTuple):
    """What the summary needs of every episode, reduced in one pass over the points (a sweep
    keeps these instead of the episodes)."""

    episodes: int
    deepest: Episode | None  # the first of the deepest; None without an episode
    depth_sum: float
    amount_sum: float
    days_sum: int
    duration_ns_sum: int


class DrawdownSummary(NamedTuple):
    deepest: Drawdown | None
    kept: tuple[Drawdown, ...]
    episode_count: int
    average_depth: float | None
    average_amount: float | None
    average_days: float | None
    average_duration: timedelta | None


def find_episodes(series: EquitySeries, close_index: IntArray) -> Episodes:
    equity = series.equity
    # An episode needs a point below the mark between two points at it: at most half the points.
    capacity = equity.size // 2 + 1
    peaks = np.empty(capacity, dtype=np.int64)
    troughs = np.empty(capacity, dtype=np.int64)
    ends = np.empty(capacity, dtype=np.int64)
    count, open_last = drawdown_episodes(equity, peaks, troughs, ends)
    peak, trough, end = peaks[:count], troughs[:count], ends[:count]
    peak_equity = equity[peak]
    trough_equity = equity[trough]
    amount = peak_equity - trough_equity
    # A point's trading-day ordinal is the number of day closes before it.
    ordinal_peak = np.searchsorted(close_index, peak)
    ordinal_end = np.searchsorted(close_index, end)
    return Episodes(
        peak=peak,
        trough=trough,
        end=end,
        open_last=open_last,
        trough_equity=trough_equity,
        depth=amount / peak_equity,
        amount=amount,
        days=ordinal_end - ordinal_peak,
        duration_ns=series.timestamps[end] - series.timestamps[peak],
    )


def _episode(series: EquitySeries, episodes: Episodes, k: int) -> Episode:
    peak, trough, end = int(episodes.peak[k]), int(episodes.trough[k]), int(episodes.end[k])
    return Episode(
        peak=peak,
        trough=trough,
        end=end,
        recovered=not (episodes.open_last and k == episodes.peak.size - 1),
        peak_equity=float(series.equity[peak]),
        trough_equity=float(episodes.trough_equity[k]),
        depth=float(episodes.depth[k]),
        amount=float(episodes.amount[k]),
        days=int(episodes.days[k]),
    )


def _drawdown(timestamps: IntArray, trading_days: DayArray, episode: Episode) -> Drawdown:
    points = np.array([episode.peak, episode.trough, episode.end])
    peak_day, trough_day, end_day = dates(trading_days[points])
    peak_time, trough_time, end_time = (utc_datetime(int(ns)) for ns in timestamps[points].tolist())
    return Drawdown(
        peak_time=peak_time,
        peak_day=peak_day,
        peak_equity=episode.peak_equity,
        trough_time=trough_time,
        trough_day=trough_day,
        trough_equity=episode.trough_equity,
        recovery_time=end_time if episode.recovered else None,
        recovery_day=end_day if episode.recovered else None,
        depth=episode.depth,
        amount=episode.amount,
        duration_days=episode.days,
        duration=end_time - peak_time,
    )


def _summary(
    deepest: Drawdown, kept: tuple[Drawdown, ...], totals: DrawdownTotals
) -> DrawdownSummary:
    count = totals.episodes
    return DrawdownSummary(
        deepest=deepest,
        kept=kept,
        episode_count=count,
        # A mean is the sum over the count (as np.mean computes it).
        average_depth=totals.depth_sum / count,
        average_amount=totals.amount_sum / count,
        average_days=totals.days_sum / count,
        average_duration=mean_timedelta(totals.duration_ns_sum, count),
    )


_NO_EPISODE = DrawdownSummary(None, (), 0, None, None, None, None)


def summarize(series: EquitySeries, close_index: IntArray, max_drawdowns: int) -> DrawdownSummary:
    episodes = find_episodes(series, close_index)
    count = int(episodes.peak.size)
    if count == 0:
        return _NO_EPISODE
    deepest = int(np.argmax(episodes.depth))  # the first one on a tie
    # A stable sort on -depth keeps the earlier of equally deep episodes.
    kept = np.sort(np.argsort(-episodes.depth, kind="stable")[:max_drawdowns]).tolist()
    built = {
        k: _drawdown(series.timestamps, series.trading_days, _episode(series, episodes, k))
        for k in {*kept, deepest}
    }
    totals = DrawdownTotals(
        episodes=count,
        deepest=_episode(series, episodes, deepest),
        depth_sum=float(np.sum(episodes.depth)),
        amount_sum=float(np.sum(episodes.amount)),
        days_sum=int(np.sum(episodes.days)),
        duration_ns_sum=exact_sum(episodes.duration_ns),
    )
    return _summary(built[deepest], tuple(built[k] for k in kept), totals)


def summarize_totals(
    timestamps: IntArray, trading_days: DayArray, totals: DrawdownTotals
) -> DrawdownSummary:
    """The summary from a pass's reductions, without the list of the deepest episodes."""
    if totals.deepest is None:
        return _NO_EPISODE
    return _summary(_drawdown(timestamps, trading_days, totals.deepest), (), totals)
