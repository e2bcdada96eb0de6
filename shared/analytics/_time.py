"""Conversions between the arrays' integer clocks and Python `datetime`, `date`, `timedelta`.

Arrays hold UTC epoch nanoseconds (int64) and trading days as days since 1970-01-01 (int32).
Python datetimes stop at microseconds: output datetimes are floored to the microsecond and
output means of durations are rounded half to even (as `timedelta / int` does).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from shared.analytics._types import AnalyticsError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ONE_US = timedelta(microseconds=1)
_NS_PER_US = 1000
_INT64_LIMIT = 2**63


def require_aware(value: datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise AnalyticsError(f"`{field}` must be timezone-aware, got {value.isoformat()}")


def epoch_ns(value: datetime) -> int:
    """An aware datetime (any zone, compared as an instant) as UTC epoch nanoseconds."""
    return (value - EPOCH) // _ONE_US * _NS_PER_US


def epoch_day(value: date) -> int:
    return value.toordinal() - _EPOCH_ORDINAL


def ns_array(values: list[int], field: str) -> npt.NDArray[np.int64]:
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        raise AnalyticsError(
            f"`{field}` must lie within the int64 nanosecond range (years 1678 to 2261)"
        ) from None


def utc_datetime(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // _NS_PER_US)


def utc_datetimes(ns: npt.NDArray[np.int64]) -> list[datetime]:
    # EPOCH + timedelta is several times faster than building naive datetimes and attaching
    # the zone with `replace`, which matters for the thousands of daily results.
    offsets: list[timedelta] = (ns // _NS_PER_US).astype("timedelta64[us]").tolist()
    return [EPOCH + offset for offset in offsets]


def dates(days: npt.NDArray[np.int32]) -> list[date]:
    values: list[date] = days.astype("datetime64[D]").tolist()
    return values


def exact_sum(values: npt.NDArray[np.int64]) -> int:
    """Sum of non-negative int64 values without the silent wrap-around of an int64 sum."""
    if values.size == 0:
        return 0
    if int(values.max()) * values.size < _INT64_LIMIT:
        return int(values.sum())
    return sum(values.tolist())


def mean_timedelta(total_ns: int, count: int) -> timedelta:
    return timedelta(microseconds=round(Fraction(total_ns, count * _NS_PER_US)))
