"""Small hand-made bar series for the strategy and backtest unit tests.

Bars start one minute apart from 2024-01-01 00:00 UTC; trading days are int32 days since
1970-01-01 (`DAY0` is 2024-01-01). Prices are given per bar; a missing high/low defaults to the
larger/smaller of open and close, so a series can be written as opens and closes only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from shared.backtest import BarSeries
from shared.strategy import SignalData, Signals

MINUTE_NS = 60 * 1_000_000_000
# 2024-01-01T00:00:00Z in epoch seconds, and the same date in days since the epoch.
BASE_NS = 1_704_067_200 * 1_000_000_000
DAY0 = 1_704_067_200 // 86_400  # 19723


def series(
    open_: Sequence[float],
    close: Sequence[float] | None = None,
    high: Sequence[float] | None = None,
    low: Sequence[float] | None = None,
    *,
    days: Sequence[int] | None = None,
    minutes: Sequence[int] | None = None,
    symbol: str = "TEST",
) -> BarSeries:
    """A validated `BarSeries`; `close` defaults to `open_`, `days` (offsets from `DAY0`) to all
    0, `minutes` (offsets from `BASE_NS`) to 0, 1, 2, ..."""
    opens = np.asarray(open_, dtype=np.float64)
    closes = opens.copy() if close is None else np.asarray(close, dtype=np.float64)
    highs = np.maximum(opens, closes) if high is None else np.asarray(high, dtype=np.float64)
    lows = np.minimum(opens, closes) if low is None else np.asarray(low, dtype=np.float64)
    count = opens.size
    offsets = np.arange(count) if minutes is None else np.asarray(minutes, dtype=np.int64)
    day_offsets = np.zeros(count, dtype=np.int32) if days is None else np.asarray(days)
    bars = BarSeries(
        symbol=symbol,
        ts_ns=(BASE_NS + offsets * MINUTE_NS).astype(np.int64),
        trading_days=(DAY0 + day_offsets).astype(np.int32),
        open=opens,
        high=highs,
        low=lows,
        close=closes,
        volume=np.full(count, 10.0),
        open_interest=np.zeros(count),
    )
    bars.validate()
    return bars


def flat(closes: Sequence[float], **kwargs: object) -> BarSeries:
    """Bars whose open, high, low and close are all the given price."""
    return series(closes, closes, **kwargs)  # type: ignore[arg-type]


def mask(count: int, at: Iterable[int] = ()) -> npt.NDArray[np.bool_]:
    """A boolean column of `count` bars, True at the indices `at`."""
    out = np.zeros(count, dtype=np.bool_)
    out[list(at)] = True
    return out


def signals(
    count: int,
    *,
    long_entry: Iterable[int] = (),
    long_exit: Iterable[int] | None = None,
    short_entry: Iterable[int] | None = None,
    short_exit: Iterable[int] | None = None,
) -> Signals:
    """Signals from lists of bar indices (a side left None is never taken)."""
    return Signals(
        long_entry=mask(count, long_entry),
        long_exit=None if long_exit is None else mask(count, long_exit),
        short_entry=None if short_entry is None else mask(count, short_entry),
        short_exit=None if short_exit is None else mask(count, short_exit),
    )


def signal_data(bars: BarSeries) -> SignalData:
    return SignalData(bars.columns(), bars.trading_days)


def frame(count: int = 3) -> pl.DataFrame:
    """A valid bar frame of `count` rising bars, for `BarSeries.from_frame` tests."""
    starts = [BASE_NS + i * MINUTE_NS for i in range(count)]
    prices = [100.0 + i for i in range(count)]
    return pl.DataFrame(
        {
            "start": pl.Series(starts).cast(pl.Datetime("ns", "UTC")),
            "trading_day": pl.Series([DAY0] * count, dtype=pl.Int32).cast(pl.Date),
            "open": prices,
            "high": [p + 1.0 for p in prices],
            "low": [p - 1.0 for p in prices],
            "close": prices,
            "volume": [10.0] * count,
        }
    )
