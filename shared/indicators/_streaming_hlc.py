"""Streaming high/low/close indicators: ATR, KDJ and SUPERTREND (see ``_streaming`` for the API).

Conventions found by probing this TA-Lib build on small arrays:

* ATR: the true range needs the previous close, so it starts at bar 1; the first ATR (bar
  ``timeperiod``) is the plain mean of the first ``timeperiod`` true ranges, then Wilder's
  ``(prev * (n - 1) + tr) / n``. ``timeperiod=1`` is the true range itself.
* KDJ is STOCH with Wilder's smoothing (matype 13): raw %K from bar ``fastk_period - 1`` is
  ``(close - lowest) / ((highest - lowest) / 100)``, 0 when the range is flat; K is the Wilder
  average of raw %K (seeded by the mean of its first ``slowk_period`` values), D the Wilder
  average of K seeded the same way, and J = 3K - 2D.
* SUPERTREND uses ATR(``timeperiod``) around the bar midpoint ``(high + low) / 2``; the bands
  ratchet (the upper band only falls and the lower band only rises while the close stays inside
  them), the first defined bar starts an up-trend, and the trend flips when the close crosses the
  band on the other side. Its ``trend`` output is 0.0 (not NaN) during the warm-up, +1 or -1 after.
"""

from __future__ import annotations

from collections import deque


class ATR:
    """Average true range, Wilder-smoothed."""

    __slots__ = ("_atr", "_count", "_period", "_prev_close", "_sum")

    def __init__(self, timeperiod: int = 14) -> None:
        if timeperiod < 1:
            raise ValueError("ATR timeperiod must be >= 1")
        self._period = timeperiod
        self._prev_close: float | None = None
        self._count = 0
        self._sum = 0.0
        self._atr = 0.0

    @property
    def lookback(self) -> int:
        return self._period

    def update(self, high: float, low: float, close: float) -> float | None:
        prev = self._prev_close
        self._prev_close = close
        if prev is None:
            return None
        tr = high - low
        up = abs(prev - high)
        if up > tr:  # noqa: PLR1730 - a branch is cheaper than max() on the per-bar path
            tr = up
        down = abs(prev - low)
        if down > tr:  # noqa: PLR1730 - as above
            tr = down
        period = self._period
        count = self._count
        if count >= period:
            # The same operation order as TA-Lib, so the results agree to the last bit.
            atr = (self._atr * (period - 1) + tr) / period
            self._atr = atr
            return atr
        count += 1
        self._count = count
        total = self._sum + tr
        self._sum = total
        if count < period:
            return None
        atr = total / period
        self._atr = atr
        return atr


class _Wilder:
    """Wilder's smoothing (TA-Lib matype 13): the mean of the first ``period`` values, then
    ``prev + (x - prev) / period``."""

    __slots__ = ("_count", "_period", "_value")

    def __init__(self, period: int) -> None:
        self._period = period
        self._count = 0
        self._value = 0.0

    def update(self, x: float) -> float | None:
        period = self._period
        count = self._count
        if count >= period:
            value = self._value + (x - self._value) / period
            self._value = value
            return value
        count += 1
        self._count = count
        self._value += x
        if count < period:
            return None
        value = self._value / period
        self._value = value
        return value


class KDJ:
    """KDJ: STOCH's slow K and D with Wilder smoothing, plus J = 3K - 2D."""

    __slots__ = ("_d", "_highs", "_index", "_k", "_lookback", "_lows", "_period")

    def __init__(
        self,
        fastk_period: int = 9,
        slowk_period: int = 3,
        slowk_matype: int = 13,
        slowd_period: int = 3,
        slowd_matype: int = 13,
    ) -> None:
        if slowk_matype != 13 or slowd_matype != 13:
            raise ValueError("KDJ supports only Wilder smoothing (matype 13)")
        if fastk_period < 1 or slowk_period < 1 or slowd_period < 1:
            raise ValueError("KDJ periods must be >= 1")
        self._period = fastk_period
        self._lookback = fastk_period - 1 + slowk_period - 1 + slowd_period - 1
        self._k = _Wilder(slowk_period)
        self._d = _Wilder(slowd_period)
        # Monotonic deques of (bar index, price): the front is the window's extreme, so each
        # bar is pushed and popped at most once (amortised O(1)).
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()
        self._index = -1

    @property
    def lookback(self) -> int:
        return self._lookback

    def update(
        self, high: float, low: float, close: float
    ) -> tuple[float | None, float | None, float | None]:
        index = self._index + 1
        self._index = index
        highs = self._highs
        while highs and highs[-1][1] <= high:
            highs.pop()
        highs.append((index, high))
        lows = self._lows
        while lows and lows[-1][1] >= low:
            lows.pop()
        lows.append((index, low))
        oldest = index - self._period
        if highs[0][0] <= oldest:
            highs.popleft()
        if lows[0][0] <= oldest:
            lows.popleft()
        if oldest < -1:
            return None, None, None
        lowest = lows[0][1]
        diff = (highs[0][1] - lowest) / 100.0
        raw = (close - lowest) / diff if diff != 0.0 else 0.0
        k = self._k.update(raw)
        if k is None:
            return None, None, None
        d = self._d.update(k)
        if d is None:
            return None, None, None
        return k, d, 3.0 * k - 2.0 * d


class SUPERTREND:
    """SuperTrend: ATR bands around the bar midpoint that ratchet with the trend."""

    __slots__ = ("_atr", "_lower", "_multiplier", "_period", "_prev_close", "_trend", "_upper")

    def __init__(self, timeperiod: int = 10, multiplier: float = 3.0) -> None:
        if timeperiod < 2:
            raise ValueError("SUPERTREND timeperiod must be >= 2")
        self._period = timeperiod
        self._multiplier = multiplier
        self._atr = ATR(timeperiod)
        self._trend = 0.0
        self._upper = 0.0
        self._lower = 0.0
        self._prev_close = 0.0

    @property
    def lookback(self) -> int:
        return self._period

    def update(self, high: float, low: float, close: float) -> tuple[float | None, float]:
        atr = self._atr.update(high, low, close)
        if atr is None:
            return None, 0.0
        mid = (high + low) / 2.0
        band = self._multiplier * atr
        upper = mid + band
        lower = mid - band
        trend = self._trend
        prev_close = self._prev_close
        self._prev_close = close
        if trend == 0.0:
            trend = 1.0
        else:
            prev_upper = self._upper
            prev_lower = self._lower
            if upper > prev_upper and prev_close <= prev_upper:
                upper = prev_upper
            if lower < prev_lower and prev_close >= prev_lower:
                lower = prev_lower
            if trend > 0.0:
                if close < lower:
                    trend = -1.0
            elif close > upper:
                trend = 1.0
        self._upper = upper
        self._lower = lower
        self._trend = trend
        return (lower if trend > 0.0 else upper), trend
