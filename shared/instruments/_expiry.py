"""Last trading day of a contract, from its product's rule and a trading calendar.

The calendar is passed in (``is_trading_day``): holidays move these dates (a 10th trading day
after the Labour Day break is a week later than the 10th weekday), so without the exchange
calendar no date is computed at all rather than a wrong one.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from datetime import date, timedelta

from shared.instruments._product import LastTradingDay

IsTradingDay = Callable[[date], bool]

_FRIDAY = 4
_ONE_DAY = timedelta(days=1)
# Exchanges close for at most about ten days in a row (Spring Festival, National Day).
_MAX_SEARCH_DAYS = 31


def _month_days(year: int, month: int) -> Iterator[date]:
    for day in range(1, calendar.monthrange(year, month)[1] + 1):
        yield date(year, month, day)


def _next_trading_day_from(day: date, is_trading_day: IsTradingDay) -> date:
    for _ in range(_MAX_SEARCH_DAYS):
        if is_trading_day(day):
            return day
        day += _ONE_DAY
    raise ValueError(f"no trading day within {_MAX_SEARCH_DAYS} days from {day}")


def _nth_trading_day(year: int, month: int, n: int, is_trading_day: IsTradingDay) -> date:
    days = [day for day in _month_days(year, month) if is_trading_day(day)]
    if len(days) < abs(n):
        raise ValueError(f"{year}-{month:02d} has only {len(days)} trading days")
    return days[n - 1] if n > 0 else days[n]


def _nth_friday(year: int, month: int, n: int) -> date:
    fridays = [day for day in _month_days(year, month) if day.weekday() == _FRIDAY]
    return fridays[n - 1]


def last_trading_day(
    rule: LastTradingDay, year: int, month: int, is_trading_day: IsTradingDay
) -> date:
    """The last trading day of the contract delivering in ``year``-``month``."""
    match rule:
        case LastTradingDay.DAY_15:
            return _next_trading_day_from(date(year, month, 15), is_trading_day)
        case LastTradingDay.TRADING_DAY_10:
            return _nth_trading_day(year, month, 10, is_trading_day)
        case LastTradingDay.TRADING_DAY_LAST_4:
            return _nth_trading_day(year, month, -4, is_trading_day)
        case LastTradingDay.PREVIOUS_MONTH_LAST:
            previous = date(year, month, 1) - _ONE_DAY
            return _nth_trading_day(previous.year, previous.month, -1, is_trading_day)
        case LastTradingDay.FRIDAY_2:
            return _next_trading_day_from(_nth_friday(year, month, 2), is_trading_day)
        case LastTradingDay.FRIDAY_3:
            return _next_trading_day_from(_nth_friday(year, month, 3), is_trading_day)


def weekdays_except(holidays: frozenset[date] | set[date]) -> IsTradingDay:
    """A calendar of weekdays minus ``holidays`` (Chinese exchanges never trade at weekends,
    even on the make-up working Saturdays)."""
    closed = frozenset(holidays)

    def is_trading_day(day: date) -> bool:
        return day.weekday() < 5 and day not in closed

    return is_trading_day
