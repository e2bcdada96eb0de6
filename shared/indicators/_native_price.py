"""Bar-by-bar native indicators: channels, Bollinger %B, Heikin-Ashi, open-interest change.

Pure functions of float64 arrays; every output is aligned with the input and NaN where the
indicator is not yet defined.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import talib

FloatArray = npt.NDArray[np.float64]
# The wrapper's stubs do not export MA_Type; reached through `Any` as in `_talib`.
_TALIB: Any = talib
_SMA: Final = _TALIB.MA_Type.SMA


def _as_float(values: FloatArray) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float64)


def _rolling(values: FloatArray, window: int, *, high: bool) -> FloatArray:
    # polars keeps a monotone window, so a 100000-bar period costs no more than a 2-bar one.
    series = pl.Series(values, dtype=pl.Float64)
    rolled = (
        series.rolling_max(window_size=window) if high else series.rolling_min(window_size=window)
    )
    return rolled.fill_null(np.nan).to_numpy().astype(np.float64, copy=False)


def donchian_channel(
    high: FloatArray, low: FloatArray, *, timeperiod: float = 20
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Highest high and lowest low of the last ``timeperiod`` bars (this one included) and
    their midpoint; the first ``timeperiod - 1`` bars are NaN, as is any window holding a
    NaN."""
    window = int(timeperiod)
    upper = _rolling(_as_float(high), window, high=True)
    lower = _rolling(_as_float(low), window, high=False)
    return upper, (upper + lower) / 2.0, lower


def keltner(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    *,
    timeperiod: float = 20,
    atr_period: float = 10,
    multiplier: float = 2.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """EMA(close, timeperiod) ± multiplier * ATR(atr_period), both TA-Lib's (EMA seeded
    with the simple mean of its first period, ATR with Wilder's smoothing)."""
    middle = talib.EMA(_as_float(close), timeperiod=int(timeperiod))
    atr = talib.ATR(_as_float(high), _as_float(low), _as_float(close), timeperiod=int(atr_period))
    band = multiplier * atr
    return middle + band, middle, middle - band


def bbands_pctb(
    close: FloatArray, *, timeperiod: float = 20, nbdev: float = 2.0
) -> tuple[FloatArray, FloatArray]:
    """Where the close sits in TA-Lib's Bollinger band (0 = lower, 1 = upper) and the band's
    width relative to its middle. NaN where the band has no width (a flat window: TA-Lib
    rounds a variance below 1e-8 to zero) or the middle is zero."""
    price = _as_float(close)
    upper, middle, lower = talib.BBANDS(
        price, timeperiod=int(timeperiod), nbdevup=nbdev, nbdevdn=nbdev, matype=_SMA
    )
    spread = upper - lower
    # A negative nbdev flips the bands; only a zero spread leaves %B undefined.
    flat = spread == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        pctb = np.where(flat, np.nan, (price - lower) / spread)
        width = np.where(flat | (middle == 0.0), np.nan, spread / middle)
    return pctb.astype(np.float64, copy=False), width.astype(np.float64, copy=False)


def heikin_ashi(
    open_: FloatArray, high: FloatArray, low: FloatArray, close: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Heikin-Ashi candles. The first candle opens at (open + close) / 2 of the first bar;
    each later one at the midpoint of the previous candle's open and close. A NaN bar
    poisons every later open (the recursion has nothing to resume from)."""
    o, h, low_, c = _as_float(open_), _as_float(high), _as_float(low), _as_float(close)
    ha_close = (o + h + low_ + c) / 4.0
    ha_open = np.empty_like(ha_close)
    if ha_close.size:
        # The recursion is inherently sequential; plain floats keep the loop cheap.
        previous_open = (float(o[0]) + float(c[0])) / 2.0
        opens = [previous_open]
        closes = ha_close.tolist()
        for previous_close in closes[:-1]:
            previous_open = (previous_open + previous_close) / 2.0
            opens.append(previous_open)
        ha_open[:] = opens
    ha_high = np.maximum(np.maximum(h, ha_open), ha_close)
    ha_low = np.minimum(np.minimum(low_, ha_open), ha_close)
    return ha_open, ha_high, ha_low, ha_close


def oi_change(open_interest: FloatArray) -> FloatArray:
    """Open interest minus the previous bar's; the first bar has no previous one (NaN)."""
    oi = _as_float(open_interest)
    change = np.full(oi.shape, np.nan)
    change[1:] = oi[1:] - oi[:-1]
    return change
