"""Streaming (incremental) indicators whose values equal TA-Lib's batch values, bar by bar.

Each class takes TA-Lib's parameter names and defaults, ``update(...)`` takes one bar's inputs
in TA-Lib's input order and returns the new value(s) in O(1) (amortised for rolling windows):
a float for one output, a tuple in TA-Lib's output order for several, ``None`` exactly where the
batch function gives NaN. ``lookback`` is TA-Lib's lookback for the same parameters.

Conventions found by probing this TA-Lib build (0.8.2), mirrored operation for operation where
the order of floating-point operations matters, so most outputs agree to the last bit:

* SMA keeps TA-Lib's running sum: add the new value, divide, then subtract the oldest value.
* EMA (k = 2 / (n + 1)) is seeded with the SMA of the first ``timeperiod`` values, then
  ``prev + (x - prev) * k``. Period 1 copies the input.
* WMA keeps TA-Lib's pair of running sums (weighted sum and plain sum) rather than re-weighting.
* RSI: the first value (bar ``timeperiod``) uses the plain mean gain and loss over the first
  ``timeperiod`` changes, then Wilder's ``(prev * (n - 1) + x) / n``; 0 when both are zero.
* MACD swaps the periods if slow < fast. Both EMAs start at bar ``slowperiod - 1``: the slow one
  seeded with the SMA of the first ``slowperiod`` closes, the fast one with the SMA of the last
  ``fastperiod`` closes up to that same bar (not of the first ``fastperiod``). The signal is an
  EMA of MACD seeded the same way, and all three outputs start together at the signal's start.
* BBANDS: the middle band is the SMA; the deviation is the population standard deviation, which
  this build computes accurately (not as mean(x^2) - mean^2, whose cancellation is visible at
  futures prices), so the stream keeps sums of deviations from an anchor near the window,
  re-anchored every ``timeperiod`` bars; a window of equal closes gives exactly 0, as in TA-Lib.
* ATR, KDJ and SUPERTREND: see ``_streaming_hlc``.
"""

from __future__ import annotations

from collections import deque
from math import sqrt
from typing import Any

from shared.indicators._streaming_hlc import ATR, KDJ, SUPERTREND
from shared.indicators._streaming_native import DonchianChannel, SessionVwap


class SMA:
    """Simple moving average."""

    __slots__ = ("_buf", "_period", "_total")

    def __init__(self, timeperiod: int = 30) -> None:
        if timeperiod < 1:
            raise ValueError("SMA timeperiod must be >= 1")
        self._period = timeperiod
        self._buf: deque[float] = deque(maxlen=timeperiod)
        self._total = 0.0

    @property
    def lookback(self) -> int:
        return self._period - 1

    def update(self, close: float) -> float | None:
        buf = self._buf
        buf.append(close)
        total = self._total + close
        period = self._period
        if len(buf) < period:
            self._total = total
            return None
        # The oldest value leaves the sum only after the division, as in TA-Lib.
        self._total = total - buf[0]
        return total / period


class EMA:
    """Exponential moving average seeded with the SMA of the first ``timeperiod`` values."""

    __slots__ = ("_count", "_k", "_period", "_value")

    def __init__(self, timeperiod: int = 30) -> None:
        if timeperiod < 1:
            raise ValueError("EMA timeperiod must be >= 1")
        self._period = timeperiod
        self._k = 2.0 / (timeperiod + 1)
        self._count = 0
        self._value = 0.0

    @property
    def lookback(self) -> int:
        return self._period - 1

    def update(self, close: float) -> float | None:
        period = self._period
        count = self._count
        if count >= period:
            value = self._value
            value = (close - value) * self._k + value
            self._value = value
            return value
        count += 1
        self._count = count
        value = self._value + close
        if count < period:
            self._value = value
            return None
        value /= period
        self._value = value
        return value


class WMA:
    """Linearly weighted moving average (weights 1..n, newest heaviest)."""

    __slots__ = ("_buf", "_divider", "_period", "_sub", "_sum", "_trailing")

    def __init__(self, timeperiod: int = 30) -> None:
        if timeperiod < 1:
            raise ValueError("WMA timeperiod must be >= 1")
        self._period = timeperiod
        self._divider = (timeperiod * (timeperiod + 1)) >> 1
        self._buf: deque[float] = deque(maxlen=timeperiod)
        self._sum = 0.0
        self._sub = 0.0
        self._trailing = 0.0

    @property
    def lookback(self) -> int:
        return self._period - 1

    def update(self, close: float) -> float | None:
        period = self._period
        if period == 1:
            return close
        buf = self._buf
        filled = len(buf)
        if filled < period - 1:
            buf.append(close)
            self._sub += close
            self._sum += close * (filled + 1)
            return None
        # TA-Lib's trick: the plain sum swaps the value that left for the new one, the weighted
        # sum gains n * x, and after the output it loses the plain sum (every weight steps down).
        buf.append(close)
        sub = self._sub + close
        sub -= self._trailing
        total = self._sum + close * period
        self._trailing = buf[0]
        self._sub = sub
        self._sum = total - sub
        return total / self._divider


class RSI:
    """Relative strength index with Wilder's smoothing."""

    __slots__ = ("_count", "_gain", "_loss", "_period", "_prev")

    def __init__(self, timeperiod: int = 14) -> None:
        if timeperiod < 2:
            raise ValueError("RSI timeperiod must be >= 2")
        self._period = timeperiod
        self._prev: float | None = None
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0

    @property
    def lookback(self) -> int:
        return self._period

    def update(self, close: float) -> float | None:
        prev = self._prev
        self._prev = close
        if prev is None:
            return None
        change = close - prev
        period = self._period
        count = self._count
        if count >= period:
            gain = self._gain * (period - 1)
            loss = self._loss * (period - 1)
            if change < 0:
                loss -= change
            else:
                gain += change
            gain /= period
            loss /= period
        else:
            gain = self._gain
            loss = self._loss
            if change < 0:
                loss -= change
            else:
                gain += change
            count += 1
            self._count = count
            if count < period:
                self._gain = gain
                self._loss = loss
                return None
            gain /= period
            loss /= period
        self._gain = gain
        self._loss = loss
        both = gain + loss
        return 100.0 * (gain / both) if both != 0.0 else 0.0


class MACD:
    """MACD line, signal and histogram, with TA-Lib's alignment of the two EMAs."""

    __slots__ = ("_count", "_fast", "_fast_k", "_fast_period", "_seed", "_signal", "_slow",
                 "_slow_k", "_slow_period")  # fmt: skip

    def __init__(self, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9) -> None:
        if fastperiod < 2 or slowperiod < 2 or signalperiod < 1:
            raise ValueError("MACD needs fastperiod, slowperiod >= 2 and signalperiod >= 1")
        if slowperiod < fastperiod:
            fastperiod, slowperiod = slowperiod, fastperiod
        self._fast_period = fastperiod
        self._slow_period = slowperiod
        self._fast_k = 2.0 / (fastperiod + 1)
        self._slow_k = 2.0 / (slowperiod + 1)
        self._signal = EMA(signalperiod)
        # Closes until both EMAs are seeded at bar slowperiod - 1; then dropped.
        self._seed: list[float] | None = []
        self._count = 0
        self._fast = 0.0
        self._slow = 0.0

    @property
    def lookback(self) -> int:
        return self._slow_period - 1 + self._signal.lookback

    def update(self, close: float) -> tuple[float | None, float | None, float | None]:
        seed = self._seed
        if seed is None:
            fast = self._fast
            fast = (close - fast) * self._fast_k + fast
            slow = self._slow
            slow = (close - slow) * self._slow_k + slow
            self._fast = fast
            self._slow = slow
        else:
            seed.append(close)
            slow_period = self._slow_period
            if len(seed) < slow_period:
                return None, None, None
            slow = 0.0
            for value in seed:
                slow += value
            slow /= slow_period
            fast = 0.0
            for value in seed[slow_period - self._fast_period :]:
                fast += value
            fast /= self._fast_period
            self._fast = fast
            self._slow = slow
            self._seed = None
        macd = fast - slow
        signal = self._signal.update(macd)
        if signal is None:
            return None, None, None
        return macd, signal, macd - signal


class BBANDS:
    """Bollinger bands around the SMA, at population standard deviations."""

    __slots__ = ("_anchor", "_buf", "_dn", "_period", "_run", "_since", "_sq", "_sum", "_total",
                 "_up")  # fmt: skip

    def __init__(
        self, timeperiod: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0, matype: int = 0
    ) -> None:
        if matype != 0:
            raise ValueError("streaming BBANDS supports only matype 0 (SMA)")
        if timeperiod < 2:
            raise ValueError("BBANDS timeperiod must be >= 2")
        self._period = timeperiod
        self._up = nbdevup
        self._dn = nbdevdn
        self._buf: deque[float] = deque(maxlen=timeperiod)
        self._total = 0.0
        self._anchor = 0.0
        self._sum = 0.0
        self._sq = 0.0
        self._since = 0
        self._run = 0

    @property
    def lookback(self) -> int:
        return self._period - 1

    def update(self, close: float) -> tuple[float | None, float | None, float | None]:
        buf = self._buf
        # Bars in a row with this same close: a window of equal closes has a deviation of
        # exactly 0 in TA-Lib, while the running sums keep a rounding residue whose square
        # root (~1e-8 of the price moves since the anchor) would show.
        run = self._run + 1 if buf and buf[-1] == close else 1
        self._run = run
        period = self._period
        anchor = self._anchor
        if len(buf) == period:
            old = buf[0] - anchor
            self._sum -= old
            self._sq -= old * old
        buf.append(close)
        total = self._total + close
        since = self._since + 1
        if since >= period:
            # Re-anchor on the newest value and re-sum the window: deviations stay small, so
            # the sums neither cancel catastrophically nor accumulate drift (O(n) every n bars).
            anchor = close
            self._anchor = anchor
            s = 0.0
            sq = 0.0
            for value in buf:
                dev = value - anchor
                s += dev
                sq += dev * dev
            self._sum = s
            self._sq = sq
            since = 0
        else:
            dev = close - anchor
            self._sum += dev
            self._sq += dev * dev
        self._since = since
        if len(buf) < period:
            self._total = total
            return None, None, None
        self._total = total - buf[0]
        middle = total / period
        if run >= period:
            return middle, middle, middle
        mean_dev = self._sum / period
        var = self._sq / period - mean_dev * mean_dev
        std = sqrt(var) if var > 0.0 else 0.0
        return middle + std * self._up, middle, middle - std * self._dn


StreamingIndicator = (
    SMA | EMA | WMA | RSI | MACD | ATR | BBANDS | KDJ | SUPERTREND | SessionVwap | DonchianChannel
)

STREAMING: dict[str, type[StreamingIndicator]] = {
    "sma": SMA,
    "ema": EMA,
    "wma": WMA,
    "rsi": RSI,
    "macd": MACD,
    "atr": ATR,
    "bbands": BBANDS,
    "kdj": KDJ,
    "supertrend": SUPERTREND,
    "session_vwap": SessionVwap,
    "donchian_channel": DonchianChannel,
}


def streaming(name: str, **params: Any) -> StreamingIndicator:
    """A fresh streaming indicator by its lower-case TA-Lib name; KeyError if there is none."""
    try:
        cls = STREAMING[name]
    except KeyError:
        raise KeyError(f"no streaming version of indicator {name!r}") from None
    return cls(**params)


__all__ = [
    "ATR",
    "BBANDS",
    "EMA",
    "KDJ",
    "MACD",
    "RSI",
    "SMA",
    "STREAMING",
    "SUPERTREND",
    "WMA",
    "StreamingIndicator",
    "streaming",
]
