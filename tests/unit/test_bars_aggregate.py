"""1m -> N-minute and daily bars: session-aligned buckets, live == vectorized."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.bars import BarAggregator, aggregate_bars, bar_frame, bars_of_frame
from shared.domain import EXCHANGE_TZ, Bar, Exchange, Interval
from shared.sessions import load_calendar, load_sessions, session_windows

CALENDAR = load_calendar()
AU = load_sessions().for_product("au")
DAY = date(2019, 6, 4)  # a Tuesday: its night session ran on Monday evening to 02:30
_MINUTE = timedelta(minutes=1)


def _minute_bars(day: date) -> list[Bar]:
    """One bar per session minute, each with a distinct price and volume."""
    bars: list[Bar] = []
    for window in session_windows(AU, CALENDAR, day):
        start = window.start
        while start < window.end:
            n = len(bars)
            price = 300.0 + (n % 37) * 0.02
            bars.append(
                Bar(
                    symbol="au1912",
                    exchange=Exchange.SHFE,
                    interval=Interval.M1,
                    start=start,
                    trading_day=day,
                    open=price,
                    high=price + 0.1,
                    low=price - 0.1,
                    close=price,
                    volume=n + 1,
                    turnover=float(n + 1) * price * 1000,
                    open_interest=float(n),
                )
            )
            start += _MINUTE
    return bars


def _local(moment: datetime) -> str:
    return moment.astimezone(EXCHANGE_TZ).strftime("%H:%M")


def test_thirty_minute_bars_never_span_the_commodity_break() -> None:
    minutes = _minute_bars(DAY)
    bars = bars_of_frame(
        aggregate_bars(bar_frame(minutes), Interval.M30, AU, CALENDAR),
        "au1912",
        Exchange.SHFE,
        Interval.M30,
    )
    windows = session_windows(AU, CALENDAR, DAY)
    day_starts = [_local(b.start) for b in bars if b.start >= windows[1].start]
    assert day_starts == ["09:00", "09:30", "10:00", "10:30", "11:00", "13:30", "14:00", "14:30"]
    ten = next(b for b in bars if _local(b.start) == "10:00")
    inside = [m for m in minutes if ten.start <= m.start < ten.start + timedelta(minutes=15)]
    assert ten.volume == sum(m.volume for m in inside)  # 10:00-10:14 only
    assert ten.open_interest == inside[-1].open_interest
    # Bar i holds the minutes up to bar i+1's start: all of them in bar i's session window.
    for bar, following in zip(bars, [*bars[1:], None], strict=True):
        end = following.start if following is not None else windows[-1].end
        members = [m for m in minutes if bar.start <= m.start < end]
        window = next(w for w in windows if w.start <= bar.start < w.end)
        assert all(m.start < window.end for m in members)
        assert bar.volume == sum(m.volume for m in members)
    assert sum(b.volume for b in bars) == sum(m.volume for m in minutes)


@pytest.mark.parametrize(
    "interval",
    [
        Interval.M3,
        Interval.M5,
        Interval.M15,
        Interval.M30,
        Interval.H1,
        Interval.H2,
        Interval.H4,
        Interval.D1,
    ],
)
def test_live_aggregation_equals_vectorized(interval: Interval) -> None:
    minutes = _minute_bars(DAY) + _minute_bars(date(2019, 6, 5))
    expected = bars_of_frame(
        aggregate_bars(bar_frame(minutes), interval, AU, CALENDAR),
        "au1912",
        Exchange.SHFE,
        interval,
    )
    live = BarAggregator(interval, AU, CALENDAR)
    got = [bar for minute in minutes for bar in live.update(minute)]
    assert live.flush() == []  # the last minute of the day closed its bucket
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected, strict=True):
        assert ours.start == theirs.start
        assert (ours.open, ours.high, ours.low, ours.close) == (
            theirs.open,
            theirs.high,
            theirs.low,
            theirs.close,
        )
        assert ours.volume == theirs.volume
        assert ours.turnover == pytest.approx(theirs.turnover, rel=1e-12)
        assert ours.open_interest == theirs.open_interest
        assert ours.trading_day == theirs.trading_day


def test_live_aggregator_closes_a_bucket_by_the_clock_before_a_break() -> None:
    minutes = [m for m in _minute_bars(DAY) if _local(m.start) < "10:14"]  # 10:14 had no trade
    live = BarAggregator(Interval.M30, AU, CALENDAR)
    for minute in minutes:
        live.update(minute)
    ten_fifteen = datetime(2019, 6, 4, 10, 15, tzinfo=EXCHANGE_TZ).astimezone(UTC)
    assert live.on_clock(ten_fifteen - timedelta(seconds=1)) == []
    (bar,) = live.on_clock(ten_fifteen + timedelta(seconds=1))
    assert _local(bar.start) == "10:00"
    assert bar.volume == sum(m.volume for m in minutes if _local(m.start) >= "10:00")


def test_daily_bar_starts_at_the_night_session_and_sums_the_day() -> None:
    minutes = _minute_bars(DAY)
    (daily,) = bars_of_frame(
        aggregate_bars(bar_frame(minutes), Interval.D1, AU, CALENDAR),
        "au1912",
        Exchange.SHFE,
        Interval.D1,
    )
    assert _local(daily.start) == "21:00"
    assert daily.trading_day == DAY
    assert daily.volume == sum(m.volume for m in minutes)
    assert daily.high == max(m.high for m in minutes)
