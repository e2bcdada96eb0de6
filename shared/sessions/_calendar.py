"""The exchange trading calendar: which dates trade, and which evenings hold a night session."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import date, timedelta

import msgspec

_SATURDAY = 5
_ONE_DAY = timedelta(days=1)


class Holiday(msgspec.Struct, frozen=True):
    """A weekday on which the exchanges do not trade."""

    date: date
    name: str = ""


class CalendarRangeError(LookupError):
    """The answer depends on a year the calendar does not describe (update the holiday table)."""


def _is_weekday(day: date) -> bool:
    return day.weekday() < _SATURDAY


def _previous_weekday(day: date) -> date:
    day -= _ONE_DAY
    while not _is_weekday(day):
        day -= _ONE_DAY
    return day


class TradingCalendar:
    """Trading days of the Chinese futures exchanges over a contiguous range of whole years.

    A date trades when it is a weekday and not a holiday. Every year from the earliest to the
    latest holiday's year is covered and must hold at least one holiday (no real year has none,
    so an empty year means a missing one); questions about other years raise
    `CalendarRangeError` instead of silently treating unknown holidays as trading days.

    `night_suspensions` are evenings with no night session although the next weekday trades
    (a holiday that fell on a weekend, the 2020 suspension); the evening before a weekday
    closure needs no entry. Instances are immutable: build a new one to change the holidays.
    """

    __slots__ = ("_first", "_holidays", "_last", "_ordinals", "_suspended")

    def __init__(
        self,
        holidays: Iterable[Holiday | date],
        *,
        night_suspensions: Iterable[date] = (),
    ) -> None:
        named = {h.date: h for h in (_as_holiday(item) for item in holidays)}
        if not named:
            raise ValueError("a trading calendar needs at least one holiday to know its years")
        years = {day.year for day in named}
        first_year, last_year = min(years), max(years)
        missing = sorted(set(range(first_year, last_year + 1)) - years)
        if missing:
            raise ValueError(f"holidays: years {missing} have no holidays (a year is missing)")
        self._holidays = dict(sorted(named.items()))
        self._first = date(first_year, 1, 1)
        self._last = date(last_year, 12, 31)
        self._suspended = frozenset(night_suspensions)
        self._ordinals = [
            day.toordinal()
            for day in _days(self._first, self._last)
            if _is_weekday(day) and day not in named
        ]

    @property
    def holidays(self) -> tuple[Holiday, ...]:
        """The holidays, in date order."""
        return tuple(self._holidays.values())

    @property
    def night_suspensions(self) -> frozenset[date]:
        return self._suspended

    @property
    def first_day(self) -> date:
        """The first date the calendar describes (1 January of its first year)."""
        return self._first

    @property
    def last_day(self) -> date:
        """The last date the calendar describes (31 December of its last year)."""
        return self._last

    def covers(self, day: date) -> bool:
        return self._first <= day <= self._last

    def is_trading_day(self, day: date) -> bool:
        self._require(day)
        return _is_weekday(day) and day not in self._holidays

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after `day`."""
        if day < self._first - _ONE_DAY:
            raise CalendarRangeError(f"{day} is before the calendar starts ({self._first})")
        index = bisect_right(self._ordinals, day.toordinal())
        if index == len(self._ordinals):
            raise CalendarRangeError(f"the trading day after {day} is beyond {self._last}")
        return date.fromordinal(self._ordinals[index])

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before `day`."""
        if day > self._last + _ONE_DAY:
            raise CalendarRangeError(f"{day} is after the calendar ends ({self._last})")
        index = bisect_left(self._ordinals, day.toordinal())
        if index == 0:
            raise CalendarRangeError(f"the trading day before {day} is before {self._first}")
        return date.fromordinal(self._ordinals[index - 1])

    def trading_days(self, start: date, end: date) -> list[date]:
        """Every trading day from `start` to `end`, both inclusive."""
        self._require(start)
        self._require(end)
        low = bisect_left(self._ordinals, start.toordinal())
        high = bisect_right(self._ordinals, end.toordinal())
        return [date.fromordinal(ordinal) for ordinal in self._ordinals[low:high]]

    def night_evening_before(self, trading_day: date) -> date | None:
        """The calendar date whose evening may hold the night session of `trading_day`.

        That is the previous weekday, provided it traded and its evening was not suspended:
        the exchanges hold no night session before a weekday closure, so Friday night belongs to
        Monday, while the evening before a holiday has no night session at all. Whether the
        product trades at night is the schedule's business, not the calendar's.
        """
        if not self.is_trading_day(trading_day):
            raise ValueError(f"{trading_day} is not a trading day")
        evening = _previous_weekday(trading_day)
        if not self.is_trading_day(evening):
            return None
        return None if evening in self._suspended else evening

    def _require(self, day: date) -> None:
        if not self.covers(day):
            raise CalendarRangeError(
                f"{day} is outside the trading calendar ({self._first} .. {self._last})"
            )

    def __repr__(self) -> str:
        years = f"{self._first.year}..{self._last.year}"
        return f"TradingCalendar({years}, {len(self._holidays)} holidays)"


def _as_holiday(item: Holiday | date) -> Holiday:
    return item if isinstance(item, Holiday) else Holiday(item)


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += _ONE_DAY
