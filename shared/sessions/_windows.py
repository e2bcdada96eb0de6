"""Session windows in UTC and trading-day assignment of single timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import msgspec

from shared.domain import EXCHANGE_TZ, require_aware
from shared.sessions._calendar import TradingCalendar
from shared.sessions._schedule import OPENING_AUCTION, ProductSessions, Session, SessionKind

# A session's last trade is reported in the closing second (IF2101 on 2021-01-04 printed a trade
# at 15:00:00.400); such ticks belong to the session's last minute.
CLOSING_GRACE = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)


class SessionWindow(msgspec.Struct, frozen=True):
    """One session of one trading day, in UTC.

    `start`..`end` is continuous trading by the clock (a bar never spans two windows; the last
    bar of a window closes at `end`). `auction_start` is set when the session opens with a call
    auction; ticks from `auction_start` to `start` belong to the window's first minute, and
    ticks in the closing second (`end` .. `end` + CLOSING_GRACE) to its last minute.
    `index` is the window's position within its trading day (0 = first).
    """

    trading_day: date
    index: int
    kind: SessionKind
    start: datetime
    end: datetime
    auction_start: datetime | None = None

    @property
    def opens_at(self) -> datetime:
        """The earliest instant whose ticks belong to this window."""
        return self.auction_start if self.auction_start is not None else self.start

    @property
    def closes_at(self) -> datetime:
        """The first instant after the window (its end plus the closing second)."""
        return self.end + CLOSING_GRACE

    def contains(self, ts: datetime) -> bool:
        return self.opens_at <= ts < self.closes_at


class SessionLocator:
    """Finds the session window of timestamps for one product; cheap on ordered streams.

    It remembers the last window found and the last gap between windows, so consecutive ticks
    of a stream cost two comparisons, and the windows of every trading day it has seen. Each
    memory is one tuple replaced whole, so threads sharing a locator never see a torn one.
    """

    __slots__ = ("_calendar", "_days", "_gap", "_last", "_sessions")

    def __init__(self, product_sessions: ProductSessions, calendar: TradingCalendar) -> None:
        self._sessions = product_sessions
        self._calendar = calendar
        self._days: dict[date, tuple[SessionWindow, ...]] = {}
        never = datetime.max.replace(tzinfo=UTC)
        self._last: tuple[datetime, datetime, SessionWindow | None] = (never, never, None)
        self._gap = (never, never)

    @property
    def product_sessions(self) -> ProductSessions:
        return self._sessions

    @property
    def calendar(self) -> TradingCalendar:
        return self._calendar

    def windows(self, trading_day: date) -> tuple[SessionWindow, ...]:
        """The trading day's windows in order: the preceding night's session, then the day's."""
        found = self._days.get(trading_day)
        if found is None:
            found = _build_windows(self._sessions, self._calendar, trading_day)
            self._days[trading_day] = found
        return found

    def locate(self, ts: datetime) -> SessionWindow | None:
        """The window `ts` (timezone-aware) belongs to, or None between and outside sessions."""
        if ts.tzinfo is None:
            require_aware(ts, "ts")
        opens, closes, window = self._last
        if opens <= ts < closes:
            return window
        gap_start, gap_end = self._gap
        if gap_start <= ts < gap_end:
            return None
        found = self._search(ts)
        if found is not None:
            self._last = (found.opens_at, found.closes_at, found)
        return found

    def trading_day_of(self, ts: datetime) -> date | None:
        window = self.locate(ts)
        return window.trading_day if window is not None else None

    def _search(self, ts: datetime) -> SessionWindow | None:
        local_day = ts.astimezone(EXCHANGE_TZ).date()
        # A timestamp on local date L belongs to the first trading day on or after L (its day
        # sessions, or the night that ran past midnight into L), or else to the night on the
        # evening of L, which belongs to the next trading day.
        windows = self.windows(self._calendar.next_trading_day(local_day - _ONE_DAY))
        if ts >= windows[-1].closes_at:
            windows += self.windows(self._calendar.next_trading_day(local_day))
        found = _find(windows, ts)
        if found is None:
            self._remember_gap(windows, ts)
        return found

    def _remember_gap(self, windows: tuple[SessionWindow, ...], ts: datetime) -> None:
        # Windows of earlier trading days all close before local midnight of ts's date, and
        # those of later days open after the ones searched: nothing else lies in this gap.
        self._gap = (
            max((w.closes_at for w in windows if w.closes_at <= ts), default=ts),
            min((w.opens_at for w in windows if w.opens_at > ts), default=ts),
        )


def session_windows(
    product_sessions: ProductSessions, calendar: TradingCalendar, trading_day: date
) -> list[SessionWindow]:
    """The ordered UTC windows of `trading_day`: the night before it (if held), then the day."""
    return list(_locator(product_sessions, calendar).windows(trading_day))


def locate_session(
    product_sessions: ProductSessions, calendar: TradingCalendar, ts: datetime
) -> SessionWindow | None:
    """The session window `ts` belongs to (auction and closing second included), or None."""
    return _locator(product_sessions, calendar).locate(ts)


def trading_day_of(
    product_sessions: ProductSessions, calendar: TradingCalendar, ts: datetime
) -> date | None:
    """The trading day `ts` belongs to, or None outside every session.

    A night session on the evening of trading day D belongs to the next trading day (Friday
    night to Monday), including its part after midnight; the opening call auction belongs to the
    session it opens.
    """
    return _locator(product_sessions, calendar).trading_day_of(ts)


def is_in_session(
    product_sessions: ProductSessions, calendar: TradingCalendar, ts: datetime
) -> bool:
    return locate_session(product_sessions, calendar, ts) is not None


@lru_cache(maxsize=256)
def _locator(product_sessions: ProductSessions, calendar: TradingCalendar) -> SessionLocator:
    return SessionLocator(product_sessions, calendar)


def _find(windows: tuple[SessionWindow, ...], ts: datetime) -> SessionWindow | None:
    for window in windows:
        if window.opens_at <= ts < window.closes_at:
            return window
    return None


def _build_windows(
    product_sessions: ProductSessions, calendar: TradingCalendar, trading_day: date
) -> tuple[SessionWindow, ...]:
    schedule = product_sessions.schedule_on(trading_day)
    evening = calendar.night_evening_before(trading_day)  # also rejects non-trading days
    windows: list[SessionWindow] = []
    if schedule.night is not None and evening is not None:
        start, end = _utc_span(evening, schedule.night)
        windows.append(
            SessionWindow(trading_day, 0, SessionKind.NIGHT, start, end, start - OPENING_AUCTION)
        )
    day_auction = not windows or product_sessions.day_auction_after_night(trading_day)
    for position, session in enumerate(schedule.day):
        start, end = _utc_span(trading_day, session)
        auction_start = start - OPENING_AUCTION if position == 0 and day_auction else None
        windows.append(
            SessionWindow(trading_day, len(windows), SessionKind.DAY, start, end, auction_start)
        )
    return tuple(windows)


def _utc_span(day: date, session: Session) -> tuple[datetime, datetime]:
    end_day = day + _ONE_DAY if session.crosses_midnight else day
    return _utc(day, session.start), _utc(end_day, session.end)


def _utc(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=EXCHANGE_TZ).astimezone(UTC)
