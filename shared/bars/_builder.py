"""Tick -> 1-minute bars for live ticks, O(1) per tick, identical to the vectorized path.

A bar closes when a tick of a later minute arrives or, by the clock, through `on_clock(now)`:
an ordinary minute at its end, a session's last minute at the session end plus the closing
second (`CLOSING_GRACE`), because the exchange still reports closing trades then (IF prints
trades at 15:00:00.4). So the last bar before a break comes out at the break, never waiting for
the next session's first tick.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.bars._cleaning import CleaningReport, PriceTick, TickFilter
from shared.domain import Bar, Exchange, Interval, Tick
from shared.sessions import ProductSessions, SessionLocator, TradingCalendar

_MINUTE = timedelta(minutes=1)


class BarBuilder:
    """Builds one instrument's 1-minute bars from its live ticks (cleaned on the way in)."""

    __slots__ = (
        "_close",
        "_closed_until",
        "_closes_at",
        "_day",
        "_exchange",
        "_filter",
        "_high",
        "_low",
        "_minute_end",
        "_oi",
        "_open",
        "_start",
        "_symbol",
        "_trading_day",
        "_turnover_base",
        "_turnover_before",
        "_volume_base",
        "_volume_before",
        "late",
    )

    def __init__(
        self,
        symbol: str,
        exchange: Exchange,
        sessions: ProductSessions,
        calendar: TradingCalendar,
        *,
        price_tick: PriceTick = None,
        locator: SessionLocator | None = None,
    ) -> None:
        self._symbol = symbol
        self._exchange = exchange
        self._filter = TickFilter(
            locator or SessionLocator(sessions, calendar), price_tick=price_tick
        )
        self._start: datetime | None = None  # the open bar's minute, None when none is open
        self._minute_end = self._closes_at = datetime.min.replace(tzinfo=UTC)
        self._trading_day = date.min
        self._open = self._high = self._low = self._close = self._oi = 0.0
        self._volume_base = 0
        self._turnover_base = 0.0
        # Cumulative fields of the last kept tick (the open bar's last), and its trading day;
        # `_base` ones are those before the open bar's first tick.
        self._day: date | None = None
        self._volume_before = 0
        self._turnover_before = 0.0
        # The end of the last bar the clock closed: a tick stamped before it arrived too late
        # to join its bar, and starting a second bar for that minute would duplicate it.
        self._closed_until = datetime.min.replace(tzinfo=UTC)
        self.late = 0

    @property
    def report(self) -> CleaningReport:
        return self._filter.report

    def update(self, tick: Tick) -> list[Bar]:
        """Take one tick; return the bars it closed (at most one)."""
        ts = tick.ts
        if ts < self._closed_until:
            self.late += 1
            return []
        window = self._filter.accept(tick)
        if window is None:
            return []
        price = tick.last_price
        closed: list[Bar] = []
        if self._start is not None and not (self._start <= ts < self._minute_end):
            utc = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
            minute = min(
                max(utc.replace(second=0, microsecond=0), window.start), window.end - _MINUTE
            )
            if minute != self._start:
                closed.append(self._emit())
        if self._start is None:
            self._begin(ts, window.trading_day, window.start, window.end, window.closes_at, price)
        else:
            if price > self._high:
                self._high = price
            elif price < self._low:
                self._low = price
            self._close = price
        self._volume_before = tick.volume
        self._turnover_before = tick.turnover
        self._oi = tick.open_interest
        return closed

    def on_clock(self, now: datetime) -> list[Bar]:
        """Close the open bar if its minute (or its session) has ended by `now`."""
        if self._start is not None and now >= self._closes_at:
            self._closed_until = self._closes_at
            return [self._emit()]
        return []

    def current(self) -> Bar | None:
        """The bar in progress (what it would be if it closed now), None between bars."""
        return self._bar() if self._start is not None else None

    def flush(self) -> list[Bar]:
        """Close the open bar whatever the time (end of a replay)."""
        return [self._emit()] if self._start is not None else []

    def _begin(  # noqa: PLR0917 - a hot path: no Struct or tuple packing per bar
        self,
        ts: datetime,
        trading_day: date,
        window_start: datetime,
        window_end: datetime,
        window_closes_at: datetime,
        price: float,
    ) -> None:
        utc = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
        minute = min(max(utc.replace(second=0, microsecond=0), window_start), window_end - _MINUTE)
        self._start = minute
        last_minute = minute + _MINUTE >= window_end
        # Ticks from the auction (before the window) and the closing second join this bar.
        self._minute_end = window_closes_at if last_minute else minute + _MINUTE
        self._closes_at = self._minute_end
        if trading_day != self._day:
            self._day = trading_day
            self._volume_before, self._turnover_before = 0, 0.0
        self._trading_day = trading_day
        self._volume_base = self._volume_before
        self._turnover_base = self._turnover_before
        self._open = self._high = self._low = self._close = price

    def _emit(self) -> Bar:
        bar = self._bar()
        self._start = None
        return bar

    def _bar(self) -> Bar:
        assert self._start is not None
        return Bar(
            symbol=self._symbol,
            exchange=self._exchange,
            interval=Interval.M1,
            start=self._start,
            trading_day=self._trading_day,
            open=self._open,
            high=self._high,
            low=self._low,
            close=self._close,
            volume=self._volume_before - self._volume_base,
            turnover=self._turnover_before - self._turnover_base,
            open_interest=self._oi,
        )
