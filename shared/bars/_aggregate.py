"""1-minute bars -> N-minute, hourly and daily bars aligned to sessions.

Convention (the default and only one): N-minute buckets are laid from each session window's
start in steps of N minutes and are cut at the window's end, so a bar never spans a break (the
10:15-10:30 commodity break, lunch, the night/day boundary). With sessions starting on the hour
or half hour they fall on clock boundaries: 30m on a commodity day gives 09:00, 09:30,
10:00-10:15 (short), 10:30, 11:00, 13:30, 14:00, 14:30; 60m on IF gives 09:30, 10:30, 13:00,
14:00. A bar's `start` is its bucket's start even when the bucket's first minute had no ticks.
Daily bars group by trading day (night minutes belong to the next trading day) and start at the
trading day's first session start. Open interest is the last minute's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from shared.bars._frames import BAR_COLUMNS
from shared.domain import Bar, Interval
from shared.sessions import (
    ProductSessions,
    SessionLocator,
    SessionWindow,
    TradingCalendar,
    assign_sessions,
)

_NS_PER_MINUTE = 60_000_000_000
_MINUTE = timedelta(minutes=1)


def interval_minutes(interval: Interval) -> int | None:
    """Bucket length in minutes, None for daily bars."""
    if interval is Interval.D1:
        return None
    return int(interval.duration.total_seconds()) // 60


def aggregate_bars(
    minute_bars: pl.DataFrame,
    interval: Interval,
    sessions: ProductSessions,
    calendar: TradingCalendar,
) -> pl.DataFrame:
    """Aggregate a 1-minute bar frame (time-ordered) to `interval` bars."""
    assigned = assign_sessions(sessions, calendar, minute_bars.get_column("start"))
    if not assigned.in_session.all():
        raise ValueError("minute_bars: some bars start outside every session")
    length = interval_minutes(interval)
    if length is None:
        firsts: dict[date, datetime] = {}
        for window in assigned.windows:
            firsts.setdefault(window.trading_day, window.start)
        frame = minute_bars.with_columns(
            pl.col("trading_day")
            .replace_strict(firsts, return_dtype=pl.Datetime("us", "UTC"))
            .dt.cast_time_unit("ns")
            .alias("_bucket")
        )
    else:
        window_starts = np.array(
            [int(w.start.timestamp()) * 1_000_000_000 for w in assigned.windows], np.int64
        )[assigned.window]
        minute = assigned.minute_start.view(np.int64)
        step = length * _NS_PER_MINUTE
        bucket = window_starts + (minute - window_starts) // step * step
        frame = minute_bars.with_columns(
            pl.Series("_bucket", bucket.view("datetime64[ns]")).dt.replace_time_zone("UTC")
        )
    out = frame.group_by("_bucket", maintain_order=True).agg(
        pl.col("trading_day").first(),
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
        pl.col("turnover").sum(),
        pl.col("open_interest").last(),
    )
    return out.rename({"_bucket": "start"}).select(BAR_COLUMNS)


class BarAggregator:
    """Aggregates one instrument's live 1-minute bars to `interval` bars.

    A bucket closes when its last minute's bar arrives, when a bar of a later bucket arrives, or
    by the clock (`on_clock`) at its end (plus the closing second at a session end).
    """

    __slots__ = ("_bars", "_closes_at", "_end", "_interval", "_length", "_locator", "_start")

    def __init__(
        self,
        interval: Interval,
        sessions: ProductSessions,
        calendar: TradingCalendar,
        *,
        locator: SessionLocator | None = None,
    ) -> None:
        self._interval = interval
        self._length = interval_minutes(interval)
        self._locator = locator or SessionLocator(sessions, calendar)
        self._bars: list[Bar] = []
        self._start: datetime | None = None
        self._end = self._closes_at = datetime.min.replace(tzinfo=UTC)

    def update(self, bar: Bar) -> list[Bar]:
        """Take one 1-minute bar; return the bars it closed."""
        window = self._locator.locate(bar.start)
        if window is None:
            raise ValueError(f"bar at {bar.start} starts outside every session")
        closed: list[Bar] = []
        start, end, closes_at = self._bucket(window, bar.start)
        if self._start is not None and start != self._start:
            closed.append(self._emit())
        if self._start is None:
            self._start, self._end, self._closes_at = start, end, closes_at
        self._bars.append(bar)
        if bar.start + _MINUTE >= self._end:
            closed.append(self._emit())
        return closed

    def on_clock(self, now: datetime) -> list[Bar]:
        if self._start is not None and now >= self._closes_at:
            return [self._emit()]
        return []

    def flush(self) -> list[Bar]:
        return [self._emit()] if self._start is not None else []

    def current(self, open_minute: Bar | None = None) -> Bar | None:
        """The bar in progress, including `open_minute` (the 1-minute bar still being built)."""
        bars, start = self._bars, self._start
        if open_minute is not None:
            window = self._locator.locate(open_minute.start)
            if window is not None:
                minute_bucket = self._bucket(window, open_minute.start)[0]
                # A minute of a later bucket means the open bucket is about to close.
                bars = [*bars, open_minute] if minute_bucket == start else [open_minute]
                start = minute_bucket
        if start is None or not bars:
            return None
        return self._combine(bars, start)

    def _bucket(
        self, window: SessionWindow, minute: datetime
    ) -> tuple[datetime, datetime, datetime]:
        if self._length is None:
            day = self._locator.windows(window.trading_day)
            return day[0].start, day[-1].end, day[-1].closes_at
        step = self._length * _MINUTE
        start = window.start + (minute - window.start) // step * step
        end = min(start + step, window.end)
        return start, end, window.closes_at if end == window.end else end

    def _emit(self) -> Bar:
        assert self._start is not None
        bar = self._combine(self._bars, self._start)
        self._bars = []
        self._start = None
        return bar

    def _combine(self, bars: list[Bar], start: datetime) -> Bar:
        first = bars[0]
        return Bar(
            symbol=first.symbol,
            exchange=first.exchange,
            interval=self._interval,
            start=start,
            trading_day=first.trading_day,
            open=first.open,
            high=max(b.high for b in bars),
            low=min(b.low for b in bars),
            close=bars[-1].close,
            volume=sum(b.volume for b in bars),
            turnover=sum(b.turnover for b in bars),
            open_interest=bars[-1].open_interest,
        )
