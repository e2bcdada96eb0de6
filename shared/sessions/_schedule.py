"""Session schedules: a product's trading hours in exchange-local time, versioned by trading day."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, time, timedelta
from enum import StrEnum

import msgspec

from shared.domain import Exchange

# Every trading day opens with a five-minute call auction before its first session (orders from
# minute 0 to 4, matching in the last minute); ticks stamped then belong to that session.
OPENING_AUCTION = timedelta(minutes=5)


class SessionKind(StrEnum):
    DAY = "day"
    NIGHT = "night"


class Session(msgspec.Struct, frozen=True):
    """One continuous-trading session in exchange-local wall-clock time.

    A night session may end after midnight (21:00-02:30): then `end` <= `start` and the end
    falls on the next calendar day.
    """

    kind: SessionKind
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def minutes(self) -> int:
        start = self.start.hour * 60 + self.start.minute
        end = self.end.hour * 60 + self.end.minute
        return (end - start) % (24 * 60)

    def __post_init__(self) -> None:
        for edge in (self.start, self.end):
            if edge.second or edge.microsecond or edge.tzinfo is not None:
                raise ValueError(f"session times are naive whole minutes, got {edge}")
        if self.kind is SessionKind.DAY and self.crosses_midnight:
            raise ValueError(f"a day session must end after it starts: {self.start}-{self.end}")


class Schedule(msgspec.Struct, frozen=True):
    """The sessions of every trading day from `effective_from` until the next schedule.

    `night` is the session on the evening before the trading day (None: no night trading);
    `day` are the day sessions in order. A trading day runs night first, then day.
    """

    effective_from: date
    day: tuple[Session, ...]
    night: Session | None = None

    @property
    def minutes(self) -> int:
        """Trading minutes of a full trading day (with its night session)."""
        night = self.night.minutes if self.night is not None else 0
        return night + sum(session.minutes for session in self.day)

    def __post_init__(self) -> None:
        if not self.day:
            raise ValueError(f"schedule from {self.effective_from}: no day session")
        if any(session.kind is not SessionKind.DAY for session in self.day):
            raise ValueError(f"schedule from {self.effective_from}: `day` holds a night session")
        for before, after in zip(self.day, self.day[1:], strict=False):
            if not before.end <= after.start:
                raise ValueError(f"schedule from {self.effective_from}: day sessions overlap")
        if self.night is None:
            return
        if self.night.kind is not SessionKind.NIGHT:
            raise ValueError(f"schedule from {self.effective_from}: `night` is not a night session")
        # Windows of consecutive trading days must not overlap, auctions included.
        if _minus(self.night.start, OPENING_AUCTION) < self.day[-1].end:
            raise ValueError(f"schedule from {self.effective_from}: night starts before day ends")
        day_opens = _minus(self.day[0].start, OPENING_AUCTION)
        if self.night.crosses_midnight and self.night.end > day_opens:
            raise ValueError(f"schedule from {self.effective_from}: night runs into the day")


class ProductSessions(msgspec.Struct, frozen=True):
    """The trading-hours history of one product (e.g. SHFE `au`).

    `day_auction_after_night_from`: from this trading day on, the exchange also holds a call
    auction before the day session when a night session preceded (SHFE/INE/DCE/ZCE since
    2023-05-26); before it, or when None, only the trading day's first session opens with one.
    """

    product: str
    exchange: Exchange
    schedules: tuple[Schedule, ...]
    day_auction_after_night_from: date | None = None

    def __post_init__(self) -> None:
        if not self.schedules:
            raise ValueError(f"{self.product}: no schedule")
        starts = [schedule.effective_from for schedule in self.schedules]
        if starts != sorted(set(starts)):
            raise ValueError(f"{self.product}: schedules must be in strictly increasing date order")

    def schedule_on(self, trading_day: date) -> Schedule:
        """The schedule governing `trading_day` (and the night session before it)."""
        index = bisect_right([s.effective_from for s in self.schedules], trading_day) - 1
        if index < 0:
            first = self.schedules[0].effective_from
            raise ValueError(f"{self.product}: no trading hours modelled before {first}")
        return self.schedules[index]

    def day_auction_after_night(self, trading_day: date) -> bool:
        start = self.day_auction_after_night_from
        return start is not None and trading_day >= start


def _minus(moment: time, delta: timedelta) -> time:
    minutes = (moment.hour * 60 + moment.minute - delta.seconds // 60) % (24 * 60)
    return time(minutes // 60, minutes % 60)
