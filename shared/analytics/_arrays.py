"""Array inputs of the analytics (what a vectorized backtest produces) and their checks.

- `EquitySeries`: parallel 1-D arrays, one value per equity point: `timestamps` (int64 UTC
  epoch nanoseconds, strictly increasing), `equity` (float64, finite, > 0), `trading_days`
  (int32 days since 1970-01-01, non-decreasing; the trading day is given, never derived from
  the calendar date), optional `in_market` (bool) and `benchmark` (float64, finite, > 0). Same
  meaning as the fields of `EquityCurve`.
- `TradeTable`: parallel 1-D arrays, one value per closed trade, as the fields of `ClosedTrade`
  with times in UTC epoch nanoseconds and `side` +1 (long) or -1 (short).

`EquitySeries.from_curve` and `TradeTable.from_trades` convert the object inputs (Python
datetimes hold microseconds, so the conversion is exact). The checks run inside
`compute_metrics_arrays`, not on construction, and raise `AnalyticsError` naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from shared.analytics._compiled import BAD_DAYS, BAD_EQUITY, BAD_TIMESTAMPS, scan_curve
from shared.analytics._time import epoch_day, epoch_ns, ns_array, require_aware
from shared.analytics._types import AnalyticsError, ClosedTrade, EquityCurve
from shared.domain import Direction

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
DayArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]
SideArray = npt.NDArray[np.int8]


# eq=False: the generated __eq__ would compare arrays element-wise and raise on the result,
# and the generated __hash__ would fail on the (unhashable) arrays.
@dataclass(frozen=True, slots=True, eq=False)
class EquitySeries:
    timestamps: IntArray
    equity: FloatArray
    trading_days: DayArray
    in_market: BoolArray | None = None
    benchmark: FloatArray | None = None

    @classmethod
    def from_curve(cls, curve: EquityCurve) -> EquitySeries:
        for value in curve.timestamps:
            require_aware(value, "timestamps")
        return cls(
            timestamps=ns_array([epoch_ns(t) for t in curve.timestamps], "timestamps"),
            equity=np.array(curve.equity, dtype=np.float64),
            trading_days=np.array([epoch_day(d) for d in curve.trading_days], dtype=np.int32),
            in_market=None if curve.in_market is None else np.array(curve.in_market, dtype=bool),
            benchmark=None if curve.benchmark is None else np.array(curve.benchmark, np.float64),
        )


@dataclass(frozen=True, slots=True, eq=False)
class TradeTable:
    entry_time: IntArray
    exit_time: IntArray
    side: SideArray
    size: FloatArray
    entry_price: FloatArray
    exit_price: FloatArray
    pnl: FloatArray
    commission: FloatArray
    multiplier: FloatArray

    @classmethod
    def empty(cls) -> TradeTable:
        return cls.from_trades(())

    @classmethod
    def from_trades(cls, trades: Sequence[ClosedTrade]) -> TradeTable:
        for trade in trades:
            require_aware(trade.entry_time, "entry_time")
            require_aware(trade.exit_time, "exit_time")

        def floats(name: str) -> FloatArray:
            return np.array([getattr(t, name) for t in trades], dtype=np.float64)

        # Anything but the two directions becomes 0, which the checks reject.
        sides = [
            1 if t.side == Direction.LONG else -1 if t.side == Direction.SHORT else 0
            for t in trades
        ]
        return cls(
            entry_time=ns_array([epoch_ns(t.entry_time) for t in trades], "entry_time"),
            exit_time=ns_array([epoch_ns(t.exit_time) for t in trades], "exit_time"),
            side=np.array(sides, dtype=np.int8),
            size=floats("size"),
            entry_price=floats("entry_price"),
            exit_price=floats("exit_price"),
            pnl=floats("pnl"),
            commission=floats("commission"),
            multiplier=floats("multiplier"),
        )


_SERIES_DTYPES: dict[str, np.dtype[np.generic]] = {
    "timestamps": np.dtype(np.int64),
    "equity": np.dtype(np.float64),
    "trading_days": np.dtype(np.int32),
    "in_market": np.dtype(np.bool_),
    "benchmark": np.dtype(np.float64),
}
_TRADE_DTYPES: dict[str, np.dtype[np.generic]] = {
    "entry_time": np.dtype(np.int64),
    "exit_time": np.dtype(np.int64),
    "side": np.dtype(np.int8),
    **dict.fromkeys(
        ("size", "entry_price", "exit_price", "pnl", "commission", "multiplier"),
        np.dtype(np.float64),
    ),
}


def _require_shapes(
    arrays: dict[str, npt.NDArray[np.generic]], dtypes: dict[str, np.dtype[np.generic]], unit: str
) -> None:
    """Every array 1-D of its dtype and as long as the first one (which names the `unit`)."""
    for name, values in arrays.items():
        if values.ndim != 1 or values.dtype != dtypes[name]:
            raise AnalyticsError(f"`{name}` must be a 1-D {dtypes[name]} array")
    count = next(iter(arrays.values())).shape[0]
    for name, values in arrays.items():
        if values.shape[0] != count:
            raise AnalyticsError(f"`{name}` has {values.shape[0]} values for {count} {unit}")


def _require_finite(values: FloatArray, field: str, *, positive: bool) -> None:
    if values.size == 0:
        return
    # min/max propagate NaN and every comparison with NaN is False, so two reductions check
    # finiteness (and the sign) without a temporary array the size of the input.
    low, high = float(values.min()), float(values.max())
    if positive:
        if not (low > 0.0 and high < np.inf):
            raise AnalyticsError(f"`{field}` must be finite and > 0")
    elif not (low > -np.inf and high < np.inf):
        raise AnalyticsError(f"`{field}` must be finite")


def validate_series(series: EquitySeries, *, values_checked: bool = False) -> None:
    """`values_checked`: the caller vouches for the values (timestamps strictly increasing,
    days non-decreasing, equity and benchmark finite and > 0); shapes are checked still."""
    arrays = {
        f.name: value for f in fields(series) if (value := getattr(series, f.name)) is not None
    }
    _require_shapes(arrays, _SERIES_DTYPES, "timestamps")
    if series.timestamps.size == 0:
        raise AnalyticsError("`equity` must hold at least one point")
    if values_checked:
        return
    problem = scan_curve(series.timestamps, series.trading_days, series.equity)
    if problem == BAD_TIMESTAMPS:
        raise AnalyticsError("`timestamps` must be strictly increasing")
    if problem == BAD_DAYS:
        raise AnalyticsError("`trading_days` must be non-decreasing")
    if problem == BAD_EQUITY:
        raise AnalyticsError("`equity` must be finite and > 0")
    if series.benchmark is not None:
        _require_finite(series.benchmark, "benchmark", positive=True)


def validate_trades(trades: TradeTable, *, values_checked: bool = False) -> None:
    """`values_checked` as for `validate_series`: shapes only."""
    _require_shapes(
        {f.name: getattr(trades, f.name) for f in fields(trades)}, _TRADE_DTYPES, "trades"
    )
    if values_checked:
        return
    if np.any(trades.exit_time < trades.entry_time):
        raise AnalyticsError("`exit_time` must not precede `entry_time`")
    if not np.all((trades.side == 1) | (trades.side == -1)):
        raise AnalyticsError("`side` must be +1 (long) or -1 (short)")
    for name in ("size", "entry_price", "exit_price", "multiplier"):
        _require_finite(getattr(trades, name), name, positive=True)
    _require_finite(trades.pnl, "pnl", positive=False)
    _require_finite(trades.commission, "commission", positive=False)
    with np.errstate(over="ignore"):  # an overflow is the failure checked for
        for price in (trades.entry_price, trades.exit_price):
            notional = price * trades.size * trades.multiplier
            _require_finite(notional, "notional (price * size * multiplier)", positive=True)
