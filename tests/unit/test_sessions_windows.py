from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import EXCHANGE_TZ
from shared.sessions import (
    CLOSING_GRACE,
    OPENING_AUCTION,
    CalendarRangeError,
    SessionKind,
    SessionLocator,
    SessionWindow,
    is_in_session,
    load_calendar,
    load_sessions,
    locate_session,
    session_windows,
    trading_day_of,
)

CALENDAR = load_calendar()
CATALOG = load_sessions()
AU, CU, RB, IF, JD = (CATALOG.for_product(p) for p in ("au", "cu", "rb", "IF", "jd"))


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=EXCHANGE_TZ)


def _clock(window: SessionWindow) -> tuple[str, str, str | None]:
    def show(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(EXCHANGE_TZ).strftime("%m-%d %H:%M")

    return show(window.start) or "", show(window.end) or "", show(window.auction_start)


def test_monday_windows_start_with_fridays_night_that_crosses_midnight() -> None:
    windows = session_windows(AU, CALENDAR, date(2019, 7, 8))
    assert [_clock(w) for w in windows] == [
        ("07-05 21:00", "07-06 02:30", "07-05 20:55"),
        ("07-08 09:00", "07-08 10:15", None),
        ("07-08 10:30", "07-08 11:30", None),
        ("07-08 13:30", "07-08 15:00", None),
    ]
    assert [w.kind for w in windows] == [SessionKind.NIGHT] + [SessionKind.DAY] * 3
    assert [w.index for w in windows] == [0, 1, 2, 3]
    assert all(w.trading_day == date(2019, 7, 8) for w in windows)
    assert all(w.start.tzinfo is UTC for w in windows)


def test_after_a_holiday_the_day_session_opens_with_the_auction() -> None:
    # Labour Day 2019: Wednesday 05-01 .. Friday 05-03 closed; Monday 05-06 has no night before.
    windows = session_windows(AU, CALENDAR, date(2019, 5, 6))
    assert _clock(windows[0]) == ("05-06 09:00", "05-06 10:15", "05-06 08:55")
    assert len(windows) == 3


def test_day_auction_also_follows_a_night_session_from_2023_05_26() -> None:
    before = session_windows(RB, CALENDAR, date(2023, 5, 25))
    after = session_windows(RB, CALENDAR, date(2023, 5, 26))
    assert before[1].auction_start is None
    assert after[1].auction_start == after[1].start - OPENING_AUCTION
    assert after[0].auction_start == after[0].start - OPENING_AUCTION


def test_cffex_auction_moved_with_the_2016_hours() -> None:
    old = session_windows(IF, CALENDAR, date(2015, 12, 31))
    new = session_windows(IF, CALENDAR, date(2016, 1, 4))
    assert [_clock(w) for w in old] == [
        ("12-31 09:15", "12-31 11:30", "12-31 09:10"),
        ("12-31 13:00", "12-31 15:15", None),
    ]
    assert _clock(new[0]) == ("01-04 09:30", "01-04 11:30", "01-04 09:25")


def test_non_trading_days_have_no_windows() -> None:
    with pytest.raises(ValueError, match="not a trading day"):
        session_windows(AU, CALENDAR, date(2019, 5, 1))


@pytest.mark.parametrize(
    ("sessions", "moment", "expected"),
    [
        (AU, "2019-07-05 21:30", date(2019, 7, 8)),  # Friday night -> Monday
        (AU, "2019-07-06 02:29:59", date(2019, 7, 8)),  # after midnight, same night
        (AU, "2019-07-06 02:31", None),
        (CU, "2019-07-06 00:59", date(2019, 7, 8)),
        (CU, "2019-07-06 01:30", None),  # cu's night ends at 01:00
        (RB, "2019-07-08 23:30", None),  # rb's at 23:00
        (AU, "2019-07-05 20:59:00.5", date(2019, 7, 8)),  # night call auction
        (AU, "2019-07-05 20:54:59", None),
        (AU, "2019-07-08 08:59:30", None),  # no day auction after a night session (2019)
        (AU, "2019-05-06 08:59:00", date(2019, 5, 6)),  # day auction after the holiday
        (AU, "2019-07-08 10:15:00.5", date(2019, 7, 8)),  # closing second
        (AU, "2019-07-08 10:15:01", None),  # the 10:15-10:30 break
        (AU, "2019-07-08 12:00", None),  # lunch
        (AU, "2019-04-30 21:30", None),  # no night before Labour Day
        (RB, "2023-09-28 21:30", None),  # none before National Day 2023 either
        (RB, "2023-10-09 08:59:30", date(2023, 10, 9)),
        (JD, "2019-07-08 21:30", None),  # jd has no night session
        (IF, "2021-01-04 09:29:00.4", date(2021, 1, 4)),  # CFFEX auction tick
        (IF, "2021-01-04 15:00:00.4", date(2021, 1, 4)),  # IF2101's closing trade
        (IF, "2021-01-04 15:35", None),  # settlement tick
        (AU, "2020-03-02 21:30", None),  # 2020 suspension of night trading
    ],
)
def test_trading_day_of(sessions: object, moment: str, expected: date | None) -> None:
    assert trading_day_of(sessions, CALENDAR, _local(moment)) == expected  # type: ignore[arg-type]
    assert is_in_session(sessions, CALENDAR, _local(moment)) is (expected is not None)  # type: ignore[arg-type]


def test_any_time_zone_gives_the_same_answer() -> None:
    moment = _local("2019-07-05 23:30")
    for zone in (UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")):
        assert trading_day_of(AU, CALENDAR, moment.astimezone(zone)) == date(2019, 7, 8)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        trading_day_of(AU, CALENDAR, datetime(2019, 7, 8, 9, 30))  # noqa: DTZ001


def test_timestamps_beyond_the_calendar_raise() -> None:
    assert trading_day_of(AU, CALENDAR, _local("2026-12-31 10:00")) == date(2026, 12, 31)
    with pytest.raises(CalendarRangeError):
        trading_day_of(AU, CALENDAR, _local("2026-12-31 21:30"))


def test_locator_follows_a_stream_and_reuses_the_current_window() -> None:
    locator = SessionLocator(AU, CALENDAR)
    start = _local("2019-07-05 20:50")
    seen = []
    for second in range(0, 64 * 3600, 13):  # Friday 20:50 .. Monday 12:50
        window = locator.locate(start + timedelta(seconds=second))
        seen.append(None if window is None else (window.trading_day, window.index))
    assert seen[0] is None
    assert (date(2019, 7, 8), 0) in seen
    windows = [w for w in dict.fromkeys(seen) if w is not None]
    assert windows == [(date(2019, 7, 8), 0), (date(2019, 7, 8), 1), (date(2019, 7, 8), 2)]


_INSTANTS = st.datetimes(
    # hypothesis takes naive bounds and attaches the zone itself
    min_value=datetime(2014, 1, 2),  # noqa: DTZ001
    max_value=datetime(2026, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(_INSTANTS, st.sampled_from(["au", "cu", "rb", "m", "SR", "IF", "T", "jd"]))
@settings(max_examples=300)
def test_assigned_trading_day_holds_the_timestamp(moment: datetime, product: str) -> None:
    sessions = CATALOG.for_product(product)
    if moment.date() < sessions.schedules[0].effective_from:
        return
    window = locate_session(sessions, CALENDAR, moment)
    day = trading_day_of(sessions, CALENDAR, moment)
    if window is None:
        assert day is None
        return
    assert day == window.trading_day
    assert CALENDAR.is_trading_day(day)
    assert window in session_windows(sessions, CALENDAR, day)
    assert window.opens_at <= moment < window.end + CLOSING_GRACE
    local_day = moment.astimezone(EXCHANGE_TZ).date()
    if window.kind is SessionKind.DAY:
        assert day == local_day
    else:  # a night belongs to the first trading day after the evening it starts on
        assert day == CALENDAR.next_trading_day(window.start.astimezone(EXCHANGE_TZ).date())
        assert day > local_day or local_day > window.start.astimezone(EXCHANGE_TZ).date()


@given(
    st.dates(min_value=date(2014, 1, 2), max_value=date(2026, 12, 30)),
    st.sampled_from(["au", "cu", "rb", "p", "CF", "IC", "TF"]),
    st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_every_instant_of_a_window_maps_back_to_its_trading_day(
    day: date, product: str, fraction: float
) -> None:
    sessions = CATALOG.for_product(product)
    trading_day = CALENDAR.next_trading_day(day)
    if trading_day < sessions.schedules[0].effective_from or trading_day > date(2026, 12, 30):
        return
    for window in session_windows(sessions, CALENDAR, trading_day):
        microseconds = (window.end + CLOSING_GRACE - window.opens_at) // timedelta(microseconds=1)
        moment = window.opens_at + timedelta(microseconds=int((microseconds - 1) * fraction))
        assert trading_day_of(sessions, CALENDAR, moment) == trading_day


@given(st.lists(_INSTANTS, min_size=1, max_size=40), st.sampled_from(["au", "cu", "jd", "IF"]))
def test_a_long_lived_locator_answers_like_a_fresh_one(
    moments: list[datetime], product: str
) -> None:
    sessions = CATALOG.for_product(product)
    moments = [m for m in moments if m.date() >= sessions.schedules[0].effective_from]
    reused = SessionLocator(sessions, CALENDAR)
    # Sorted runs exercise the remembered window and gap; the reversed run checks they expire.
    for moment in sorted(moments) + sorted(moments, reverse=True):
        assert reused.locate(moment) == SessionLocator(sessions, CALENDAR).locate(moment)
