from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import EXCHANGE_TZ
from shared.sessions import (
    CalendarRangeError,
    SessionLocator,
    assign_sessions,
    load_calendar,
    load_sessions,
    session_windows,
    session_windows_between,
)

CALENDAR = load_calendar()
CATALOG = load_sessions()
AU = CATALOG.for_product("au")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=EXCHANGE_TZ)


def _expected_minute(locator: SessionLocator, moment: datetime) -> datetime | None:
    """The 1-minute bar start by the rules, from the scalar window."""
    window = locator.locate(moment)
    if window is None:
        return None
    floor = moment.replace(second=0, microsecond=0)
    return min(max(floor, window.start), window.end - timedelta(minutes=1))


@given(
    st.lists(
        st.datetimes(
            # hypothesis takes naive bounds and attaches the zone itself
            min_value=datetime(2019, 1, 2),  # noqa: DTZ001
            max_value=datetime(2019, 12, 30),  # noqa: DTZ001
            timezones=st.just(UTC),
        ),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from(["au", "cu", "rb", "m", "SR", "IF", "T", "jd"]),
)
@settings(max_examples=120)
def test_vectorized_agrees_with_the_scalar_form(moments: list[datetime], product: str) -> None:
    sessions = CATALOG.for_product(product)
    locator = SessionLocator(sessions, CALENDAR)
    result = assign_sessions(sessions, CALENDAR, np.array([_ns(m) for m in moments]))
    for row, moment in enumerate(moments):
        window = locator.locate(moment)
        assert bool(result.in_session[row]) is (window is not None)
        if window is None:
            assert result.window[row] == -1
            assert result.session_index[row] == -1
            assert np.isnat(result.trading_day[row])
            continue
        assert result.windows[result.window[row]] == window
        assert result.trading_day[row] == np.datetime64(window.trading_day)
        assert result.session_index[row] == window.index
        expected = _expected_minute(locator, moment)
        assert expected is not None
        assert int(result.minute_start[row].astype(np.int64)) == _ns(expected)


def test_auction_and_closing_ticks_move_into_the_sessions_minutes() -> None:
    moments = [
        _local("2019-07-05 20:59:00.5"),  # night auction -> 21:00 bar
        _local("2019-07-05 21:00:59.9"),
        _local("2019-07-06 02:30:00.5"),  # closing second -> 02:29 bar
        _local("2019-07-08 10:15:00.2"),  # closing second -> 10:14 bar
        _local("2019-07-08 10:20:00"),  # break
    ]
    frame = assign_sessions(AU, CALENDAR, pl.Series(moments)).to_polars()
    minutes = frame["minute_start"].dt.convert_time_zone("Asia/Shanghai").dt.strftime("%H:%M")
    assert minutes.to_list() == ["21:00", "21:00", "02:29", "10:14", None]
    assert frame["trading_day"].to_list() == [date(2019, 7, 8)] * 4 + [None]
    assert frame["session_index"].to_list() == [0, 0, 0, 1, None]
    assert frame["in_session"].to_list() == [True, True, True, True, False]


def test_input_forms_agree() -> None:
    moments = [
        _local("2019-07-05 21:30"),
        _local("2019-07-08 09:30:30"),
        _local("2019-07-08 12:00"),
    ]
    ns = np.array([_ns(m) for m in moments], dtype=np.int64)
    expected = assign_sessions(AU, CALENDAR, ns).to_polars()
    forms = [
        pl.Series(moments),  # Datetime(us, Asia/Shanghai)
        pl.Series(moments).dt.convert_time_zone("UTC").dt.cast_time_unit("ms"),
        pl.Series(ns),
        ns.astype("datetime64[ns]"),
        ns.astype("datetime64[ns]").astype("datetime64[us]"),
    ]
    for form in forms:
        assert assign_sessions(AU, CALENDAR, form).to_polars().equals(expected)


def test_nulls_are_outside_and_naive_columns_are_refused() -> None:
    series = pl.Series([_local("2019-07-08 09:30"), None])
    assert assign_sessions(AU, CALENDAR, series).in_session.tolist() == [True, False]
    assert not assign_sessions(AU, CALENDAR, pl.Series([None], dtype=pl.Int64)).in_session.any()
    with pytest.raises(ValueError, match="naive"):
        assign_sessions(AU, CALENDAR, pl.Series([datetime(2019, 7, 8, 9, 30)]))  # noqa: DTZ001
    with pytest.raises(ValueError, match="Datetime or Int64"):
        assign_sessions(AU, CALENDAR, pl.Series(["2019-07-08"]))


def test_the_calendars_last_evening_needs_the_next_year() -> None:
    inside = np.array([_ns(_local("2026-12-31 14:00"))])
    assert assign_sessions(AU, CALENDAR, inside).in_session.all()
    with pytest.raises(CalendarRangeError):
        assign_sessions(AU, CALENDAR, np.array([_ns(_local("2026-12-31 21:30"))]))


def test_windows_between_concatenates_each_trading_days_windows() -> None:
    windows = session_windows_between(AU, CALENDAR, date(2019, 7, 5), date(2019, 7, 9))
    expected = [
        w
        for day in (date(2019, 7, d) for d in (5, 8, 9))
        for w in session_windows(AU, CALENDAR, day)
    ]
    assert windows == expected
    starts = [w.opens_at for w in windows]
    assert starts == sorted(starts)
