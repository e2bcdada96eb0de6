"""`BarSeries`: one symbol's bars as contiguous numpy columns, the engines' input.

Built from a bar frame (`start` Datetime UTC, `trading_day` Date, `open`, `high`, `low`,
`close`, optional `volume` and `open_interest`) or from arrays. Checked once here so the
kernels can trust it: at least one bar, strictly increasing starts, non-decreasing trading
days, finite positive prices with low <= open, close <= high.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from shared.backtest._config import BacktestError

FloatArray = npt.NDArray[np.float64]
_PRICES = ("open", "high", "low", "close")


@dataclass(frozen=True, slots=True)
class BarSeries:
    symbol: str
    ts_ns: npt.NDArray[np.int64]  # bar start, UTC epoch nanoseconds
    trading_days: npt.NDArray[np.int32]  # days since 1970-01-01
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    open_interest: FloatArray
    # Set by a successful `validate` (which `from_frame` runs): the engines then skip checking
    # again, on every run, what the series already passed.
    checked: bool = field(default=False, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.ts_ns.size)

    def columns(self) -> Mapping[str, FloatArray]:
        """The columns indicators and formulas read."""
        return {
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "open_interest": self.open_interest,
        }

    def slice(self, start: int, stop: int) -> BarSeries:
        """Bars [start, stop) as views (walk-forward windows copy nothing)."""
        part = BarSeries(
            symbol=self.symbol,
            ts_ns=self.ts_ns[start:stop],
            trading_days=self.trading_days[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
            open_interest=self.open_interest[start:stop],
        )
        if self.checked and stop > start:  # a non-empty run of checked bars passes too
            object.__setattr__(part, "checked", True)
        return part

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, symbol: str = "") -> BarSeries:
        missing = [c for c in ("start", "trading_day", *_PRICES) if c not in frame.columns]
        if missing:
            raise BacktestError(f"the bars lack column(s) {', '.join(missing)}", missing[0])
        if frame.height == 0:
            raise BacktestError("no bars in the requested data", "data")
        if frame.select(pl.any_horizontal(pl.all().is_null().any())).item():
            nulls = [c for c in frame.columns if frame[c].null_count()]
            raise BacktestError(f"the bars have empty values in {', '.join(nulls)}", nulls[0])
        start = frame["start"]
        if not isinstance(start.dtype, pl.Datetime) or start.dtype.time_zone is None:
            raise BacktestError("`start` must be a timezone-aware datetime column", "start")

        def floats(name: str) -> FloatArray:
            if name not in frame.columns:
                return np.zeros(frame.height, dtype=np.float64)
            return np.ascontiguousarray(frame[name].cast(pl.Float64).to_numpy())

        series = cls(
            symbol=symbol,
            ts_ns=np.ascontiguousarray(
                start.dt.convert_time_zone("UTC").dt.cast_time_unit("ns").cast(pl.Int64).to_numpy()
            ),
            trading_days=np.ascontiguousarray(
                frame["trading_day"].cast(pl.Date).cast(pl.Int32).to_numpy()
            ),
            open=floats("open"),
            high=floats("high"),
            low=floats("low"),
            close=floats("close"),
            volume=floats("volume"),
            open_interest=floats("open_interest"),
        )
        series.validate()
        return series

    def validate(self) -> None:
        count = len(self)
        if count == 0:
            raise BacktestError("no bars in the requested data", "data")
        for name in ("trading_days", *_PRICES, "volume", "open_interest"):
            if getattr(self, name).size != count:
                raise BacktestError(f"`{name}` has a different length from `start`", name)
        if count > 1 and not bool(np.all(np.diff(self.ts_ns) > 0)):
            raise BacktestError("bar starts must be strictly increasing", "start")
        if count > 1 and not bool(np.all(np.diff(self.trading_days) >= 0)):
            raise BacktestError("trading days must not go backwards", "trading_day")
        for name in _PRICES:
            values = getattr(self, name)
            if not bool(np.all(np.isfinite(values) & (values > 0.0))):
                raise BacktestError(f"`{name}` prices must be finite and > 0", name)
        inside = (self.low <= self.open) & (self.open <= self.high)
        inside &= (self.low <= self.close) & (self.close <= self.high)
        if not bool(np.all(inside)):
            bad = int(np.flatnonzero(~inside)[0])
            raise BacktestError(f"bar {bad}: open and close must lie within low..high", "high")
        object.__setattr__(self, "checked", True)
