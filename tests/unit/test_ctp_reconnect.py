"""When the CTP session may connect, and the waits between its tries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.venues.ctp.reconnect import Backoff, ConnectWindow
from shared.domain import EXCHANGE_TZ, Exchange
from shared.sessions import load_calendar, load_sessions

CALENDAR = load_calendar()
SESSIONS = load_sessions()
RB = SESSIONS.for_product("rb", Exchange.SHFE)  # day session and a night session to 23:00
IF = SESSIONS.for_product("IF", Exchange.CFFEX)  # day only, from 09:30


def _at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=EXCHANGE_TZ).astimezone(UTC)


def test_backoff_doubles_to_its_cap_with_jitter_and_starts_over_after_success() -> None:
    exact = Backoff(first_s=1.0, cap_s=10.0, jitter=0.0)
    assert [exact.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    exact.reset()
    assert exact.next_delay() == 1.0
    spread = Backoff(first_s=4.0, jitter=0.25, uniform=lambda low, high: high)
    assert spread.next_delay() == pytest.approx(5.0)  # the top of +-25%
    with pytest.raises(ValueError, match="first_s"):
        Backoff(first_s=0.0)
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.0)


def test_the_window_opens_before_the_auction_and_closes_after_the_last_session() -> None:
    window = ConnectWindow([IF], CALENDAR, lead=timedelta(minutes=15), linger=timedelta(minutes=10))
    monday = (2024, 3, 4)
    assert not window.is_open(_at(*monday, 9, 0))  # IF's auction starts at 09:25
    assert window.is_open(_at(*monday, 9, 15))  # 15 minutes before it
    # The lunch break is outside the sessions: a connection lost then is retried from
    # 15 minutes before the afternoon session (it is not dropped: this is about attempts).
    assert not window.is_open(_at(*monday, 12, 0))
    assert window.next_open(_at(*monday, 12, 0)) == _at(*monday, 12, 45)
    assert window.is_open(_at(*monday, 15, 5))  # lingering after the 15:00 close
    assert not window.is_open(_at(*monday, 16, 0))
    assert window.next_open(_at(*monday, 16, 0)) == _at(2024, 3, 5, 9, 10)


def test_a_night_session_keeps_it_open_in_the_evening_and_a_weekend_closes_it() -> None:
    window = ConnectWindow([RB, IF], CALENDAR)
    friday, saturday = (2024, 3, 8), (2024, 3, 9)
    assert window.is_open(_at(*friday, 22, 30))  # rb's night session (Monday's trading day)
    assert not window.is_open(_at(*friday, 23, 30))  # rb's night ends at 23:00
    assert not window.is_open(_at(*saturday, 10, 0))
    # Next: rb's Monday day session (08:55 auction), 15 minutes before.
    assert window.next_open(_at(*saturday, 10, 0)) == _at(2024, 3, 11, 8, 40)


def test_a_holiday_is_skipped_to_the_next_trading_session() -> None:
    window = ConnectWindow([IF], CALENDAR)
    # National Day 2024: 1-7 October closed, trading again on Tuesday the 8th.
    opens = window.next_open(_at(2024, 10, 1, 10, 0))
    assert exchange_date(opens) == (2024, 10, 8)
    with pytest.raises(ValueError, match="at least one product"):
        ConnectWindow([], CALENDAR)


def exchange_date(moment: datetime) -> tuple[int, int, int]:
    local = moment.astimezone(EXCHANGE_TZ)
    return (local.year, local.month, local.day)
