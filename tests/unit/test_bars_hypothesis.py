"""Property: the live BarBuilder and the vectorized synthesis give identical 1-minute bars."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.bars import BarBuilder, bars_of_frame, tick_frame, ticks_to_minute_bars
from shared.domain import Exchange, Interval, Tick
from shared.sessions import SessionWindow, load_calendar, load_sessions, session_windows

CALENDAR = load_calendar()
AU = load_sessions().for_product("au")
# Friday 2019-06-14's night session belongs to Monday 2019-06-17 and crosses midnight.
WINDOWS: list[SessionWindow] = [
    w for day in (date(2019, 6, 14), date(2019, 6, 17)) for w in session_windows(AU, CALENDAR, day)
]
TICK = 0.02

raw_tick = st.tuples(
    st.integers(0, len(WINDOWS) - 1),  # window
    st.floats(0.0, 1.0),  # position from the auction to the closing second
    st.integers(-20, 20),  # price step in ticks
    st.integers(-3, 40),  # volume step (negative: a decrease to be dropped)
    st.booleans(),  # a zero price to be dropped
)


def _ticks(raw: list[tuple[int, float, int, int, bool]]) -> list[Tick]:
    placed: dict[datetime, tuple[int, int, bool]] = {}
    for index, position, price_step, volume_step, zero in raw:
        window = WINDOWS[index]
        span = window.closes_at - window.opens_at
        offset = timedelta(milliseconds=int(span / timedelta(milliseconds=1) * position))
        ts = min(window.opens_at + offset, window.closes_at - timedelta(milliseconds=1))
        placed[ts] = (price_step, volume_step, zero)
    ticks, price_ticks, volume, turnover, day = [], 15_000, 0, 0.0, None
    for ts in sorted(placed):
        price_step, volume_step, zero = placed[ts]
        window = next(w for w in WINDOWS if w.contains(ts))
        if window.trading_day != day:
            day, volume, turnover = window.trading_day, 0, 0.0
        price_ticks += price_step
        price = round(price_ticks * TICK, 2)
        volume = max(volume + volume_step, 0)
        turnover += price * max(volume_step, 0) * 1000
        ticks.append(
            Tick(
                symbol="au1912",
                exchange=Exchange.SHFE,
                ts=ts,
                trading_day=window.trading_day,
                last_price=0.0 if zero else price,
                volume=volume,
                turnover=turnover,
                open_interest=float(volume % 97),
            )
        )
    return ticks


@settings(max_examples=60, deadline=None)
@given(st.lists(raw_tick, min_size=1, max_size=300))
def test_incremental_equals_vectorized(raw: list[tuple[int, float, int, int, bool]]) -> None:
    ticks = _ticks(raw)
    frame, report = ticks_to_minute_bars(tick_frame(ticks), AU, CALENDAR, price_tick=TICK)
    expected = bars_of_frame(frame, "au1912", Exchange.SHFE, Interval.M1)
    builder = BarBuilder("au1912", Exchange.SHFE, AU, CALENDAR, price_tick=TICK)
    got = [bar for tick in ticks for bar in builder.update(tick)] + builder.flush()
    assert got == expected
    assert builder.report == report
    # Each day's bar volumes add up to the highest cumulative volume of its priced ticks.
    for day in {t.trading_day for t in ticks if t.last_price > 0}:
        highest = max(t.volume for t in ticks if t.trading_day == day and t.last_price > 0)
        assert sum(b.volume for b in got if b.trading_day == day) == highest
