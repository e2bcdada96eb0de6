"""When the CTP session may try to connect, and how long it waits between tries.

Two failures users of other CTP gateways report again and again: reconnect storms outside
trading hours (the broker's fronts are down for maintenance, and a client hammering them gets
its IP blocked), and a login that is never retried after it failed once. `ConnectWindow`
answers "may we connect now, and if not, from when": from a lead time before any traded
product's session opens (its call auction included) to a while after the last one closes.
`Backoff` spaces the retries inside the window: doubling, capped, with jitter so that many
gateways behind one NAT do not retry in step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from shared.domain import exchange_local
from shared.sessions import ProductSessions, SessionWindow, TradingCalendar, session_windows

# How far to look for the next window: a long holiday (Spring Festival) is under two weeks.
_HORIZON_DAYS = 21


class Backoff:
    """Retry delays: ``first``, doubling up to ``cap``, each within +-``jitter`` of itself."""

    def __init__(
        self,
        *,
        first_s: float = 1.0,
        cap_s: float = 60.0,
        jitter: float = 0.2,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if not 0 < first_s <= cap_s:
            raise ValueError(f"need 0 < first_s <= cap_s, got {first_s} and {cap_s}")
        if not 0 <= jitter < 1:
            raise ValueError(f"`jitter` must be in [0, 1), got {jitter}")
        self._first = first_s
        self._cap = cap_s
        self._jitter = jitter
        self._uniform = uniform
        self._failures = 0

    def next_delay(self) -> float:
        """The wait before the next try; each call counts one more failure."""
        base: float = min(self._cap, self._first * 2.0**self._failures)
        self._failures += 1
        return base * self._uniform(1 - self._jitter, 1 + self._jitter)

    def reset(self) -> None:
        """Connected and logged in: the next failure starts again from ``first``."""
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures


class ConnectWindow:
    def __init__(
        self,
        sessions: Sequence[ProductSessions],
        calendar: TradingCalendar,
        *,
        lead: timedelta = timedelta(minutes=15),
        linger: timedelta = timedelta(minutes=10),
    ) -> None:
        """``sessions``: those of the products traded; ``lead``: how long before a session
        opens connecting may start (brokers open their fronts well before the auction);
        ``linger``: how long after a session closes the connection may still be (re)made,
        for the day's last reports."""
        if not sessions:
            raise ValueError("a connect window needs the sessions of at least one product")
        self._sessions = tuple(sessions)
        self._calendar = calendar
        self._lead = lead
        self._linger = linger

    def is_open(self, now: datetime) -> bool:
        return any(
            window.opens_at - self._lead <= now < window.closes_at + self._linger
            for window in self._windows_around(now)
        )

    def next_open(self, now: datetime) -> datetime:
        """``now`` when the window is open, else when it next opens."""
        if self.is_open(now):
            return now
        starts = [
            window.opens_at - self._lead
            for window in self._windows_from(now)
            if window.opens_at - self._lead > now
        ]
        if not starts:
            raise LookupError(f"no trading session in the {_HORIZON_DAYS} days after {now}")
        return min(starts)

    def _windows_around(self, now: datetime) -> list[SessionWindow]:
        local = exchange_local(now).date()
        return self._windows_on(
            self._trading_days(local - timedelta(days=1), local + timedelta(days=4))
        )

    def _windows_from(self, now: datetime) -> list[SessionWindow]:
        local = exchange_local(now).date()
        return self._windows_on(self._trading_days(local, local + timedelta(days=_HORIZON_DAYS)))

    def _trading_days(self, first: date, last: date) -> list[date]:
        first = max(first, self._calendar.first_day)
        last = min(last, self._calendar.last_day)
        return self._calendar.trading_days(first, last) if first <= last else []

    def _windows_on(self, days: list[date]) -> list[SessionWindow]:
        return [
            window
            for product in self._sessions
            for day in days
            for window in session_windows(product, self._calendar, day)
        ]
