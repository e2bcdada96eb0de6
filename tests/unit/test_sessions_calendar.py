from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.sessions import (
    CalendarRangeError,
    Holiday,
    TradingCalendar,
    load_calendar,
    parse_holidays_csv,
    parse_night_suspensions_csv,
)

CALENDAR = load_calendar()
COVERED = st.dates(min_value=date(2014, 1, 1), max_value=date(2026, 12, 31))


def _small_calendar(**kwargs: object) -> TradingCalendar:
    # 2021: New Year on Friday 01-01; Dragon Boat on Monday 06-14.
    holidays = [Holiday(date(2021, 1, 1), "New Year's Day"), date(2021, 6, 14)]
    return TradingCalendar(holidays, **kwargs)  # type: ignore[arg-type]


def test_weekends_and_holidays_do_not_trade() -> None:
    calendar = _small_calendar()
    assert calendar.is_trading_day(date(2021, 1, 4))  # Monday
    assert not calendar.is_trading_day(date(2021, 1, 1))  # holiday
    assert not calendar.is_trading_day(date(2021, 1, 2))  # Saturday
    assert not calendar.is_trading_day(date(2021, 6, 14))


def test_next_and_previous_skip_weekends_and_holidays() -> None:
    calendar = _small_calendar()
    assert calendar.next_trading_day(date(2020, 12, 31)) == date(2021, 1, 4)
    assert calendar.next_trading_day(date(2021, 6, 11)) == date(2021, 6, 15)
    assert calendar.previous_trading_day(date(2021, 6, 15)) == date(2021, 6, 11)


def test_questions_outside_the_covered_years_raise() -> None:
    calendar = _small_calendar()
    with pytest.raises(CalendarRangeError):
        calendar.is_trading_day(date(2022, 1, 3))
    with pytest.raises(CalendarRangeError):
        calendar.next_trading_day(date(2021, 12, 31))  # would need 2022's holidays
    with pytest.raises(CalendarRangeError):
        calendar.previous_trading_day(date(2021, 1, 4))  # would need 2020's holidays
    with pytest.raises(CalendarRangeError):
        calendar.trading_days(date(2020, 12, 1), date(2021, 1, 10))


def test_a_year_without_holidays_is_a_missing_year() -> None:
    with pytest.raises(ValueError, match=r"2022"):
        TradingCalendar([date(2021, 1, 1), date(2023, 1, 2)])
    with pytest.raises(ValueError, match="at least one holiday"):
        TradingCalendar([])


def test_trading_days_is_inclusive_and_ordered() -> None:
    calendar = _small_calendar()
    days = calendar.trading_days(date(2021, 6, 10), date(2021, 6, 16))
    assert days == [date(2021, 6, 10), date(2021, 6, 11), date(2021, 6, 15), date(2021, 6, 16)]


def test_night_belongs_to_the_next_weekday_only_when_it_trades() -> None:
    calendar = _small_calendar(night_suspensions=[date(2021, 3, 5)])
    assert calendar.night_evening_before(date(2021, 3, 2)) == date(2021, 3, 1)
    assert calendar.night_evening_before(date(2021, 3, 1)) == date(2021, 2, 26)  # Friday night
    assert calendar.night_evening_before(date(2021, 6, 15)) is None  # Monday 06-14 was a holiday
    assert calendar.night_evening_before(date(2021, 1, 4)) is None  # Friday 01-01 was a holiday
    assert calendar.night_evening_before(date(2021, 3, 8)) is None  # suspended evening
    with pytest.raises(ValueError, match="not a trading day"):
        calendar.night_evening_before(date(2021, 6, 14))


def test_a_new_holiday_set_makes_a_new_calendar() -> None:
    before = _small_calendar()
    after = TradingCalendar([*before.holidays, Holiday(date(2021, 3, 3), "closure")])
    assert before.is_trading_day(date(2021, 3, 3))
    assert not after.is_trading_day(date(2021, 3, 3))
    assert after.next_trading_day(date(2021, 3, 2)) == date(2021, 3, 4)
    assert after.holidays[0].name == "New Year's Day"


def test_holiday_csv_parsing_skips_comments_and_names_bad_rows() -> None:
    text = "# source: test\ndate,name\n2021-01-01,New Year's Day\n2021-06-14,\n"
    assert parse_holidays_csv(text) == [
        Holiday(date(2021, 1, 1), "New Year's Day"),
        Holiday(date(2021, 6, 14), ""),
    ]
    with pytest.raises(ValueError, match="bad date"):
        parse_holidays_csv("date,name\n2021/01/01,x\n")
    with pytest.raises(ValueError, match="`date` column"):
        parse_holidays_csv("day,name\n2021-01-01,x\n")


def test_night_suspension_ranges_expand_to_every_evening() -> None:
    evenings = parse_night_suspensions_csv("# x\nfirst,last,reason\n2020-02-03,2020-02-05,y\n")
    assert evenings == [date(2020, 2, 3), date(2020, 2, 4), date(2020, 2, 5)]


def test_shipped_calendar_lists_only_weekdays_for_every_year_required() -> None:
    assert CALENDAR.first_day == date(2014, 1, 1)
    assert CALENDAR.last_day == date(2026, 12, 31)
    assert all(h.date.weekday() < 5 and h.name for h in CALENDAR.holidays)
    years = {h.date.year for h in CALENDAR.holidays}
    assert years >= {*range(2014, 2022), 2023, 2025, 2026}


def test_shipped_calendar_knows_the_2015_weekend_mid_autumn_and_the_2020_suspension() -> None:
    # Monday 2015-09-28 trades but Friday 09-25 had no night session (SHFE notice).
    assert CALENDAR.is_trading_day(date(2015, 9, 28))
    assert CALENDAR.night_evening_before(date(2015, 9, 28)) is None
    assert CALENDAR.night_evening_before(date(2020, 5, 6)) is None
    assert CALENDAR.night_evening_before(date(2020, 5, 7)) == date(2020, 5, 6)


@given(st.dates(min_value=date(2014, 1, 1), max_value=date(2026, 12, 30)))
def test_next_trading_day_is_the_first_trading_date_after(day: date) -> None:
    following = CALENDAR.next_trading_day(day)
    assert following > day
    assert CALENDAR.is_trading_day(following)
    between = (day + timedelta(days=n) for n in range(1, (following - day).days))
    assert not any(CALENDAR.is_trading_day(d) for d in between)
    if CALENDAR.is_trading_day(day):
        assert CALENDAR.previous_trading_day(following) == day


@given(st.dates(min_value=date(2014, 1, 3), max_value=date(2026, 12, 31)))
def test_previous_trading_day_is_the_last_trading_date_before(day: date) -> None:
    preceding = CALENDAR.previous_trading_day(day)
    assert preceding < day
    assert CALENDAR.is_trading_day(preceding)
    assert CALENDAR.next_trading_day(preceding) >= day


@given(COVERED, COVERED)
def test_trading_days_are_exactly_the_trading_dates_in_range(first: date, second: date) -> None:
    start, end = min(first, second), max(first, second)
    end = min(end, start + timedelta(days=60))
    expected = [
        start + timedelta(days=n)
        for n in range((end - start).days + 1)
        if CALENDAR.is_trading_day(start + timedelta(days=n))
    ]
    assert CALENDAR.trading_days(start, end) == expected
