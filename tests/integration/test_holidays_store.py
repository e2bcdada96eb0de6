"""The holiday table in the database (SQLite and PostgreSQL): seeding, replacing, the calendar."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from shared.sessions import Holiday, TradingCalendar, load_calendar
from shared.store.holidays import (
    HolidayRepository,
    HolidayTableError,
    check_year_table,
    relevant_suspensions,
)
from shared.store.tables import HolidayKind

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _weekdays(first: date, last: date) -> list[date]:
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [day for day in days if day.weekday() < 5]


def _repository(sessions: async_sessionmaker[AsyncSession]) -> HolidayRepository:
    return HolidayRepository(sessions, clock=lambda: NOW)


def _assert_same_calendar(stored: TradingCalendar, shipped: TradingCalendar) -> None:
    assert stored.holidays == shipped.holidays
    assert (stored.first_day, stored.last_day) == (shipped.first_day, shipped.last_day)
    trading = shipped.trading_days(shipped.first_day, shipped.last_day)
    assert stored.trading_days(stored.first_day, stored.last_day) == trading
    # Night sessions: the same evening (or none) for every trading day, although the stored
    # table keeps only the suspended evenings that the calendar's rules do not already imply.
    for day in trading[1:]:
        assert stored.night_evening_before(day) == shipped.night_evening_before(day), day


async def test_seeding_stores_the_shipped_calendar_once(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository, shipped = _repository(store_sessions), load_calendar()
    written = await repository.seed_if_empty(shipped)
    assert written == len(shipped.holidays) + len(relevant_suspensions(shipped))
    assert await repository.seed_if_empty(shipped) == 0
    _assert_same_calendar(await repository.calendar(), shipped)

    entries = await repository.entries()
    assert [e.date for e in entries] == sorted(e.date for e in entries)
    assert {e.updated_by for e in entries} == {None}
    assert {e.updated_at for e in entries} == {NOW}
    suspended = [e.date for e in entries if e.kind is HolidayKind.NIGHT_SUSPENSION]
    # Only evenings that would otherwise hold a night session: weekdays before a trading day.
    assert suspended
    assert all(shipped.is_trading_day(day) for day in suspended)
    assert all(shipped.night_evening_before(shipped.next_trading_day(d)) is None for d in suspended)


async def test_two_processes_seeding_at_once_store_one_calendar(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    shipped = load_calendar()
    first, second = _repository(store_sessions), _repository(store_sessions)
    await asyncio.gather(first.seed_if_empty(shipped), second.seed_if_empty(shipped))
    entries = await first.entries()
    assert len(entries) == len(shipped.holidays) + len(relevant_suspensions(shipped))
    _assert_same_calendar(await second.calendar(), shipped)


async def test_replacing_a_year_changes_only_that_year(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository, shipped = _repository(store_sessions), load_calendar()
    await repository.seed_if_empty(shipped)
    year = shipped.last_day.year
    before_other_years = [e for e in await repository.entries() if e.date.year != year]

    new_year_only = [Holiday(date(year, 1, 1), "New Year")]
    evening = date(year, 3, 6)  # a Friday
    calendar = await repository.replace_years(
        year, year, new_year_only, [evening], updated_by="root"
    )

    assert calendar.trading_days(date(year, 1, 1), date(year, 12, 31)) == _weekdays(
        date(year, 1, 2), date(year, 12, 31)
    )
    assert calendar.night_evening_before(date(year, 3, 9)) is None
    assert calendar.night_evening_before(date(year, 3, 16)) == date(year, 3, 13)
    stored = await repository.entries(year)
    assert [(e.date, e.kind, e.updated_by) for e in stored] == [
        (date(year, 1, 1), HolidayKind.HOLIDAY, "root"),
        (evening, HolidayKind.NIGHT_SUSPENSION, "root"),
    ]
    assert [e for e in await repository.entries() if e.date.year != year] == before_other_years
    # What the repository returned is what a fresh read builds (the state a restart sees).
    reread = await repository.calendar()
    assert reread.holidays == calendar.holidays
    assert reread.night_suspensions == calendar.night_suspensions


async def test_adding_the_next_year_and_refusing_a_gap(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository, shipped = _repository(store_sessions), load_calendar()
    await repository.seed_if_empty(shipped)
    after = shipped.last_day.year + 1
    gap = after + 2
    with pytest.raises(HolidayTableError, match=str(after + 1)) as refused:
        await repository.replace_years(gap, gap, [Holiday(date(gap, 1, 1))], updated_by="root")
    assert refused.value.field == "year"
    assert await repository.entries(gap) == []

    calendar = await repository.replace_years(
        after, after, [Holiday(date(after, 1, 1), "New Year")], updated_by="root"
    )
    assert calendar.last_day == date(after, 12, 31)
    assert calendar.is_trading_day(date(after, 1, 2)) is (date(after, 1, 2).weekday() < 5)


async def test_emptying_a_year_between_others_stores_nothing(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository, shipped = _repository(store_sessions), load_calendar()
    await repository.seed_if_empty(shipped)
    middle = shipped.first_day.year + 1
    before = await repository.entries(middle)
    assert before

    with pytest.raises(HolidayTableError, match="missing"):
        await repository.replace_years(middle, middle, [], updated_by="root")
    assert await repository.entries(middle) == before
    with pytest.raises(HolidayTableError, match="outside"):
        await repository.replace_years(
            middle, middle, [Holiday(date(middle + 1, 1, 1))], updated_by="root"
        )
    assert await repository.entries(middle) == before


@pytest.mark.parametrize(
    ("holidays", "suspensions", "field", "message"),
    [
        ([], [], "holidays", "at least one holiday"),
        ([Holiday(date(2027, 1, 1)), Holiday(date(2028, 1, 3))], [], "holidays[1].date", "2027"),
        ([Holiday(date(2027, 1, 2), "a Saturday")], [], "holidays[0].date", "Saturday"),
        ([Holiday(date(2027, 1, 1), "x" * 65)], [], "holidays[0].name", "64"),
        ([Holiday(date(2027, 1, 1))] * 2, [], "holidays", "more than once"),
        ([Holiday(date(2027, 1, 1))], [date(2026, 12, 31)], "night_suspensions[0]", "2027"),
        ([Holiday(date(2027, 1, 1))], [date(2027, 1, 3)], "night_suspensions[0]", "Sunday"),
        ([Holiday(date(2027, 1, 1))], [date(2027, 1, 1)], "night_suspensions[0]", "holiday"),
        ([Holiday(date(2027, 1, 1))], [date(2027, 1, 8)] * 2, "night_suspensions", "more than"),
    ],
)
def test_a_year_table_is_checked(
    holidays: list[Holiday], suspensions: list[date], field: str, message: str
) -> None:
    with pytest.raises(HolidayTableError, match=message) as refused:
        check_year_table(2027, holidays, suspensions)
    assert refused.value.field == field


def test_a_plausible_year_table_passes() -> None:
    check_year_table(2027, [Holiday(date(2027, 1, 1), "New Year")], [date(2027, 1, 8)])
