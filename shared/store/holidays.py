"""The exchange calendar in the database (``holidays``): seeded from the shipped file, updated
by an admin one year at a time, and turned into the `TradingCalendar` the gateway runs on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.clock import Clock, utc_now
from shared.domain import to_utc
from shared.sessions import Holiday, TradingCalendar
from shared.store.tables import HolidayKind, HolidayRow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

NAME_MAX_LENGTH = 64
_SATURDAY = 5


class HolidayTableError(ValueError):
    """A holiday table that cannot be stored; `field` names the offending part of the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class HolidayEntry(msgspec.Struct, frozen=True, kw_only=True):
    date: date
    name: str
    kind: HolidayKind
    updated_at: datetime
    updated_by: str | None  # None: seeded from the shipped file


def check_year_table(
    year: int, holidays: Iterable[Holiday], night_suspensions: Iterable[date]
) -> None:
    """Refuse a year's table that is not a plausible exchange calendar (`HolidayTableError`).

    Every date must fall in `year`, holidays on weekdays (a weekend never trades, so listing
    one means a typo), no date twice, and at least one holiday (no real year has none).
    Night suspensions must be weekdays that are not holidays: the calendar already knows that
    no night session precedes a closure, and a weekend evening never holds one.
    """
    holidays, night_suspensions = list(holidays), list(night_suspensions)
    if not holidays:
        raise HolidayTableError("holidays", f"{year} needs at least one holiday")
    for index, holiday in enumerate(holidays):
        field = f"holidays[{index}]"
        _check_in_year(f"{field}.date", holiday.date, year)
        if holiday.date.weekday() >= _SATURDAY:
            raise HolidayTableError(
                f"{field}.date",
                f"{holiday.date} is a {holiday.date:%A}: weekends never trade, list weekdays only",
            )
        if len(holiday.name) > NAME_MAX_LENGTH:
            raise HolidayTableError(f"{field}.name", f"longer than {NAME_MAX_LENGTH} characters")
    closed = {holiday.date for holiday in holidays}
    for index, evening in enumerate(night_suspensions):
        field = f"night_suspensions[{index}]"
        _check_in_year(field, evening, year)
        if evening.weekday() >= _SATURDAY:
            raise HolidayTableError(
                field, f"{evening} is a {evening:%A}: no night session to suspend"
            )
        if evening in closed:
            raise HolidayTableError(
                field, f"{evening} is a holiday: it has no night session anyway"
            )
    # A suspension on a holiday is refused above, so a repeat is within one of the two lists.
    for field, days in (
        ("holidays", [h.date for h in holidays]),
        ("night_suspensions", night_suspensions),
    ):
        twice = sorted(day for day, count in Counter(days).items() if count > 1)
        if twice:
            raise HolidayTableError(field, f"{twice[0]} is listed more than once")


def _check_in_year(field: str, day: date, year: int) -> None:
    if day.year != year:
        raise HolidayTableError(field, f"{day} is not in {year}")


def relevant_suspensions(calendar: TradingCalendar) -> list[date]:
    """The calendar's night suspensions that change an answer: weekday trading evenings.

    The shipped file lists whole ranges (weekends and holidays included); those evenings have no
    night session by the calendar's own rules, so only the rest needs a row.
    """
    return sorted(
        evening
        for evening in calendar.night_suspensions
        if calendar.covers(evening) and calendar.is_trading_day(evening)
    )


class HolidayRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock = utc_now) -> None:
        self._sessions = sessions
        self._clock = clock

    async def seed_if_empty(self, calendar: TradingCalendar) -> int:
        """Store `calendar` (normally the shipped one) when the table is empty; rows stored win.

        Returns how many rows it offered (0: the table had rows). Safe when two processes start
        at once: rows another one stored meanwhile are left alone.
        """
        async with self._sessions.begin() as session:
            if await session.scalar(select(func.count()).select_from(HolidayRow)):
                return 0
            values = self._values(calendar.holidays, relevant_suspensions(calendar), None)
            statement = _insert_ignoring_existing(session)
            await session.execute(statement, values)
        return len(values)

    async def entries(self, year: int | None = None) -> list[HolidayEntry]:
        """The stored rows (of one year, or all), in date order."""
        query = select(HolidayRow).order_by(HolidayRow.date)
        if year is not None:
            query = query.where(HolidayRow.date.between(date(year, 1, 1), date(year, 12, 31)))
        async with self._sessions() as session:
            rows = await session.scalars(query)
            return [
                HolidayEntry(
                    date=row.date,
                    name=row.name,
                    kind=row.kind,
                    updated_at=row.updated_at,
                    updated_by=row.updated_by,
                )
                for row in rows
            ]

    async def calendar(self) -> TradingCalendar:
        """The calendar the stored rows describe (ValueError when they describe none)."""
        async with self._sessions() as session:
            return await _calendar_in(session)

    async def replace_years(
        self,
        first_year: int,
        last_year: int,
        holidays: Iterable[Holiday],
        night_suspensions: Iterable[date] = (),
        *,
        updated_by: str | None,
    ) -> TradingCalendar:
        """Replace every row from `first_year` to `last_year` in one transaction.

        The resulting calendar is built before committing: when the rows would not make one
        (a year left without holidays between others) `HolidayTableError` is raised and nothing
        is stored. Checking each year's content is `check_year_table`'s job.
        """
        values = self._values(holidays, night_suspensions, updated_by)
        outside = [v["date"] for v in values if not first_year <= v["date"].year <= last_year]
        if outside:
            raise HolidayTableError("date", f"{outside[0]} is outside {first_year}..{last_year}")
        async with self._sessions.begin() as session:
            await session.execute(
                delete(HolidayRow).where(
                    HolidayRow.date.between(date(first_year, 1, 1), date(last_year, 12, 31))
                )
            )
            if values:
                await session.execute(insert(HolidayRow), values)
            try:
                calendar = await _calendar_in(session)
            except ValueError as error:
                raise HolidayTableError("year", str(error)) from None  # rolls back
        return calendar

    def _values(
        self, holidays: Iterable[Holiday], night_suspensions: Iterable[date], by: str | None
    ) -> list[dict[str, Any]]:
        now = to_utc(self._clock())
        rows = [(h.date, h.name, HolidayKind.HOLIDAY) for h in holidays]
        rows += [(day, "", HolidayKind.NIGHT_SUSPENSION) for day in night_suspensions]
        return [
            {"date": day, "name": name, "kind": kind, "updated_at": now, "updated_by": by}
            for day, name, kind in rows
        ]


async def _calendar_in(session: AsyncSession) -> TradingCalendar:
    rows = (await session.execute(select(HolidayRow.date, HolidayRow.name, HolidayRow.kind))).all()
    holidays = [Holiday(day, name) for day, name, kind in rows if kind is HolidayKind.HOLIDAY]
    evenings = [day for day, _, kind in rows if kind is HolidayKind.NIGHT_SUSPENSION]
    return TradingCalendar(holidays, night_suspensions=evenings)


def _insert_ignoring_existing(session: AsyncSession) -> Any:
    # Seeding twice at once (two processes starting) must not fail on the primary key.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(HolidayRow).on_conflict_do_nothing(index_elements=["date"])
