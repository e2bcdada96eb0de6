"""Several series on the union of their bar times, as (bars, series) matrices.

A series without a bar at some time has NaN there: it keeps its last close and takes no action.
Bars of different series at the same time must share their trading day.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from shared.backtest._config import BacktestError
from shared.backtest._data import BarSeries

Int8Array = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]


class Grid:
    """The series aligned on the union of their bar times."""

    def __init__(self, series: Sequence[BarSeries]) -> None:
        if len(series) == 1:
            only = series[0]
            self.ts_ns = only.ts_ns
            self.days = only.trading_days
            # Every row: a slice, not an index array (that would be 8 bytes a bar to build).
            self.rows: list[slice | npt.NDArray[np.intp]] = [slice(None)]
            self.opens = only.open.reshape(-1, 1)
            self.closes = only.close.reshape(-1, 1)
            return
        self.ts_ns = np.unique(np.concatenate([s.ts_ns for s in series]))
        count = self.ts_ns.size
        self.days = np.full(count, -1, dtype=np.int32)
        self.rows = []
        self.opens = np.full((count, len(series)), np.nan)
        self.closes = np.full((count, len(series)), np.nan)
        for j, item in enumerate(series):
            rows = np.searchsorted(self.ts_ns, item.ts_ns)
            clash = (self.days[rows] >= 0) & (self.days[rows] != item.trading_days)
            if bool(np.any(clash)):
                raise BacktestError(
                    f"{item.symbol}: a bar time has another trading day in another series",
                    "trading_day",
                )
            self.days[rows] = item.trading_days
            self.opens[rows, j] = item.open
            self.closes[rows, j] = item.close
            self.rows.append(rows)

    def actions(self, per_series: Sequence[Int8Array]) -> Int8Array:
        if len(per_series) == 1:
            return per_series[0].reshape(-1, 1)
        actions = np.zeros((self.ts_ns.size, len(per_series)), dtype=np.int8)
        for j, values in enumerate(per_series):
            actions[self.rows[j], j] = values
        return actions

    def benchmark(self) -> FloatArray:
        """Equal-weight buy-and-hold of the series, each normalised to its first close."""
        if self.closes.shape[1] == 1:
            return self.closes[:, 0]
        closes = self.closes
        filled = np.empty_like(closes)
        for j in range(closes.shape[1]):
            column = closes[:, j]
            valid = ~np.isnan(column)
            index = np.where(valid, np.arange(column.size), 0)
            np.maximum.accumulate(index, out=index)
            first = column[valid][0]
            filled[:, j] = np.where(np.arange(column.size) < np.argmax(valid), first, column[index])
            filled[:, j] /= first
        mean: FloatArray = filled.mean(axis=1)
        return mean
