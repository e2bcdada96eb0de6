"""Trading sessions, the exchange holiday calendar and trading-day assignment (pure).

Exchange-local times are Asia/Shanghai; every window and assignment is in UTC. The shipped data
lives in `data/` (sessions.toml, holidays.csv, night_suspensions.csv) and is read only by
`load_calendar()` and `load_sessions()`.
"""

from shared.sessions._calendar import CalendarRangeError, Holiday, TradingCalendar
from shared.sessions._catalog import SessionCatalog, UnknownProductError, parse_sessions_toml
from shared.sessions._data import (
    load_calendar,
    load_sessions,
    parse_holidays_csv,
    parse_night_suspensions_csv,
)
from shared.sessions._schedule import (
    OPENING_AUCTION,
    ProductSessions,
    Schedule,
    Session,
    SessionKind,
)
from shared.sessions._vectorized import (
    SessionAssignment,
    assign_sessions,
    session_windows_between,
)
from shared.sessions._windows import (
    CLOSING_GRACE,
    SessionLocator,
    SessionWindow,
    is_in_session,
    locate_session,
    session_windows,
    trading_day_of,
)

__all__ = [
    "CLOSING_GRACE",
    "OPENING_AUCTION",
    "CalendarRangeError",
    "Holiday",
    "ProductSessions",
    "Schedule",
    "Session",
    "SessionAssignment",
    "SessionCatalog",
    "SessionKind",
    "SessionLocator",
    "SessionWindow",
    "TradingCalendar",
    "UnknownProductError",
    "assign_sessions",
    "is_in_session",
    "load_calendar",
    "load_sessions",
    "locate_session",
    "parse_holidays_csv",
    "parse_night_suspensions_csv",
    "parse_sessions_toml",
    "session_windows",
    "session_windows_between",
    "trading_day_of",
]
