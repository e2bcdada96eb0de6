"""What a vectorized strategy sees (`SignalData`) and what it answers (`Signals`).

A vectorized strategy is a function of whole columns: it reads the bars and indicators of one
series and answers, for every bar, whether to enter or leave a long or a short position. The
decision is taken at the bar's close; the engine fills it by its own convention (this close or
the next open). `SignalData` memoises indicator columns, so a parameter sweep that asks for
`sma(10)` a thousand times computes it once.

Crossings: `a` crosses above `b` at bar i when a[i] > b[i] and, at the last earlier bar where
a != b, a < b (a touch followed by a move up is one crossing, not none). Bars where either
side is undefined (NaN, the warm-up) give no information and never cross.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from shared.indicators import compute
from shared.strategy._compiled import crossings

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Signals:
    """Per-bar decisions; a `None` side is never taken. Entering one side while in the other
    reverses; an entry while already in that side is ignored (no pyramiding); a bar asking
    for both entries is ignored."""

    long_entry: BoolArray
    long_exit: BoolArray | None = None
    short_entry: BoolArray | None = None
    short_exit: BoolArray | None = None


@dataclass(slots=True)
class SignalData:
    """One series' columns (float64, equal length) and its trading days (days since the epoch),
    with a memo of the indicator columns computed over them."""

    columns: Mapping[str, FloatArray]
    trading_days: npt.NDArray[np.int32]
    _memo: dict[tuple[object, ...], dict[str, FloatArray]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.trading_days)

    def column(self, name: str) -> FloatArray:
        return self.columns[name]

    def indicator(self, name: str, output: str | None = None, **params: float) -> FloatArray:
        """A catalogue indicator's output (its first output unless named), memoised."""
        key = (name, *sorted(params.items()))
        outputs = self._memo.get(key)
        if outputs is None:
            outputs = compute(name, self.columns, params)
            self._memo[key] = outputs
        return outputs[output] if output is not None else next(iter(outputs.values()))

    def rolling(self, kind: str, column: str, window: int) -> FloatArray:
        """Rolling `max`/`min` of a column over `window` bars ending at each bar, memoised."""
        key = ("rolling", kind, column, window)
        memo = self._memo.get(key)
        if memo is None:
            series = pl.Series(column, self.columns[column])
            rolled = series.rolling_max(window) if kind == "max" else series.rolling_min(window)
            memo = {"value": rolled.fill_null(np.nan).to_numpy().astype(np.float64)}
            self._memo[key] = memo
        return memo["value"]


def crosses(a: FloatArray, b: FloatArray) -> tuple[BoolArray, BoolArray]:
    """(above, below): where `a` crosses above and below `b`, in one pass."""
    first = np.ascontiguousarray(a, dtype=np.float64)
    second = np.ascontiguousarray(b, dtype=np.float64)
    if first.shape != second.shape:
        raise ValueError(f"cannot compare series of {first.size} and {second.size} bars")
    up = np.empty(first.size, dtype=np.bool_)
    down = np.empty(first.size, dtype=np.bool_)
    crossings(first, second, up, down)
    return up, down


def cross_above(a: FloatArray, b: FloatArray) -> BoolArray:
    return crosses(a, b)[0]


def cross_below(a: FloatArray, b: FloatArray) -> BoolArray:
    return crosses(a, b)[1]


def shifted(values: FloatArray, bars: int = 1) -> FloatArray:
    """`values` delayed by `bars` (NaN where there is no earlier value)."""
    out = np.full(values.size, np.nan)
    if bars < values.size:
        out[bars:] = values[: values.size - bars]
    return out


def day_boundaries(trading_days: npt.NDArray[np.int32]) -> npt.NDArray[np.intp]:
    """Index of the first bar of each trading day (days are non-decreasing)."""
    if trading_days.size == 0:
        return np.zeros(0, dtype=np.intp)
    changes = np.flatnonzero(trading_days[1:] != trading_days[:-1]) + 1
    return np.concatenate(([0], changes)).astype(np.intp)


def last_bar_of_day(trading_days: npt.NDArray[np.int32]) -> BoolArray:
    flags = np.zeros(trading_days.size, dtype=np.bool_)
    if trading_days.size:
        flags[:-1] = trading_days[1:] != trading_days[:-1]
        flags[-1] = True
    return flags
