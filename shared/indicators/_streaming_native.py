"""Streaming versions of two native indicators: the session VWAP and the Donchian channel, O(1)
per bar (amortised for the channel's rolling extremes), equal to their batch versions.

* Session VWAP: the sums restart when the trading day changes, as `session_vwap` does; the
  value is None while the session has traded nothing. The trading day is passed as the day
  number the batch version takes (``date.toordinal()``, as a float).
* Donchian: monotonic deques of (index, value) keep the window's highest high and lowest low;
  the middle is their midpoint, computed as the batch does ((upper + lower) / 2).
"""

from __future__ import annotations

from collections import deque


class SessionVwap:
    """Volume-weighted typical price within the current trading day."""

    __slots__ = ("_day", "_volume", "_weighted")

    lookback = 0

    def __init__(self) -> None:
        self._day: float | None = None
        self._volume = 0.0
        self._weighted = 0.0

    def update(
        self, high: float, low: float, close: float, volume: float, trading_day: float
    ) -> float | None:
        if trading_day != self._day:  # a new session: the sums start again
            self._day = trading_day
            self._volume = 0.0
            self._weighted = 0.0
        typical = (high + low + close) / 3.0
        self._volume += volume
        self._weighted += typical * volume
        return self._weighted / self._volume if self._volume > 0.0 else None


class DonchianChannel:
    """Highest high, midpoint and lowest low of the last ``timeperiod`` bars."""

    __slots__ = ("_count", "_highs", "_lows", "_period")

    def __init__(self, timeperiod: int = 20) -> None:
        if timeperiod < 1:
            raise ValueError("donchian_channel timeperiod must be >= 1")
        self._period = timeperiod
        self._count = 0
        self._highs: deque[tuple[int, float]] = deque()  # decreasing values
        self._lows: deque[tuple[int, float]] = deque()  # increasing values

    @property
    def lookback(self) -> int:
        return self._period - 1

    def update(self, high: float, low: float) -> tuple[float | None, float | None, float | None]:
        index = self._count
        self._count += 1
        highs, lows = self._highs, self._lows
        while highs and highs[-1][1] <= high:
            highs.pop()
        highs.append((index, high))
        while lows and lows[-1][1] >= low:
            lows.pop()
        lows.append((index, low))
        oldest = index - self._period + 1
        while highs[0][0] < oldest:
            highs.popleft()
        while lows[0][0] < oldest:
            lows.popleft()
        if self._count < self._period:
            return None, None, None
        upper, lower = highs[0][1], lows[0][1]
        return upper, (upper + lower) / 2.0, lower
