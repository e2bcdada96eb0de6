"""Trading-day and session assignment of whole timestamp columns, without Python loops per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from shared.domain import EXCHANGE_TZ
from shared.sessions._calendar import CalendarRangeError, TradingCalendar
from shared.sessions._schedule import ProductSessions
from shared.sessions._windows import SessionWindow, _locator

_NS_PER_MINUTE = 60_000_000_000
_ONE_DAY = timedelta(days=1)
_NAT_NS = np.iinfo(np.int64).min  # numpy's NaT, seen as int64


@dataclass(frozen=True, slots=True)
class SessionAssignment:
    """Per-row session facts for a column of UTC timestamps, in the input's row order.

    - `in_session`: the row lies in a session window (auction and closing second included).
    - `trading_day`: datetime64[D], NaT outside sessions.
    - `session_index`: the window's position within its trading day (0 = first), -1 outside.
    - `window`: index into `windows` (a unique, time-ordered window id), -1 outside.
    - `minute_start`: datetime64[ns] UTC start of the row's 1-minute bar, NaT outside: the row's
      minute, moved to the window's first minute for auction ticks and to its last minute for
      ticks in the closing second. Group by it for 1-minute bars.
    - `windows`: every window of the trading days the input touches, in time order.
    """

    in_session: npt.NDArray[np.bool_]
    trading_day: npt.NDArray[np.datetime64]
    session_index: npt.NDArray[np.int8]
    window: npt.NDArray[np.int32]
    minute_start: npt.NDArray[np.datetime64]
    windows: tuple[SessionWindow, ...]

    def to_polars(self) -> pl.DataFrame:
        """The per-row columns as a DataFrame (nulls outside sessions, UTC minute starts)."""
        frame = pl.DataFrame(
            {
                "in_session": self.in_session,
                "trading_day": pl.Series(self.trading_day, dtype=pl.Date),
                "session_index": self.session_index,
                "window": self.window,
                "minute_start": pl.Series(self.minute_start).dt.replace_time_zone("UTC"),
            }
        )
        inside = pl.col("in_session")
        return frame.with_columns(
            pl.when(inside).then(pl.col(name)).otherwise(None).alias(name)
            for name in ("session_index", "window")
        )


def assign_sessions(
    product_sessions: ProductSessions,
    calendar: TradingCalendar,
    timestamps: pl.Series | npt.NDArray[np.generic],
) -> SessionAssignment:
    """Assign every timestamp of one product to its trading day and session window.

    `timestamps` is a polars Datetime Series with a time zone (any unit), an Int64 Series or
    numpy int64 array of UTC epoch nanoseconds, or a numpy datetime64 array (read as UTC).
    Nulls/NaT are outside every session. Unsorted input is fine. Agrees row by row with
    `locate_session`; raises `CalendarRangeError` where that would.
    """
    ts, missing = _utc_nanoseconds(timestamps)
    present = ts[~missing]
    if present.size == 0:
        return _empty(ts.size)
    windows, truncated = _windows_spanning(
        product_sessions, calendar, int(present.min()), int(present.max())
    )
    opens = _ns([w.opens_at for w in windows])
    closes = _ns([w.closes_at for w in windows])
    firsts = _ns([w.start for w in windows])
    lasts = _ns([w.end for w in windows]) - _NS_PER_MINUTE

    window = np.searchsorted(opens, ts, side="right").astype(np.int32) - 1
    safe = np.maximum(window, 0)
    in_session = (window >= 0) & (ts < closes[safe]) & ~missing
    if truncated and bool(np.any(~in_session & ~missing & (ts >= closes[-1]))):
        raise CalendarRangeError(f"timestamps after {windows[-1].end} need a longer calendar")
    window[~in_session] = -1

    minute = ts - np.mod(ts, _NS_PER_MINUTE)
    minute = np.minimum(np.maximum(minute, firsts[safe]), lasts[safe])
    days = np.array([w.trading_day for w in windows], dtype="datetime64[D]")
    indexes = np.array([w.index for w in windows], dtype=np.int8)
    return SessionAssignment(
        in_session=in_session,
        trading_day=np.where(in_session, days[safe], np.datetime64("NaT", "D")),
        session_index=np.where(in_session, indexes[safe], np.int8(-1)).astype(np.int8),
        window=window,
        minute_start=np.where(in_session, minute, _NAT_NS).view("datetime64[ns]"),
        windows=windows,
    )


def session_windows_between(
    product_sessions: ProductSessions, calendar: TradingCalendar, first_day: date, last_day: date
) -> list[SessionWindow]:
    """Every window of the trading days from `first_day` to `last_day` (inclusive), in order."""
    locator = _locator(product_sessions, calendar)
    return [
        window
        for day in calendar.trading_days(first_day, last_day)
        for window in locator.windows(day)
    ]


def _windows_spanning(
    product_sessions: ProductSessions, calendar: TradingCalendar, first_ns: int, last_ns: int
) -> tuple[tuple[SessionWindow, ...], bool]:
    """Windows of every trading day a timestamp in [first_ns, last_ns] can belong to."""
    first_local = _local_date(first_ns)
    last_local = _local_date(last_ns)
    first_day = calendar.next_trading_day(first_local - _ONE_DAY)
    truncated = False
    try:
        last_day = calendar.next_trading_day(last_local)
    except CalendarRangeError:
        # The evening of the calendar's last trading day would need the next year; only
        # timestamps after its last session actually do (checked by the caller).
        last_day = calendar.previous_trading_day(calendar.last_day + _ONE_DAY)
        truncated = True
    windows = session_windows_between(product_sessions, calendar, first_day, last_day)
    return tuple(windows), truncated


def _utc_nanoseconds(
    timestamps: pl.Series | npt.NDArray[np.generic],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    if isinstance(timestamps, pl.Series):
        dtype = timestamps.dtype
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                raise ValueError("timestamps: a naive Datetime column is ambiguous; give it a zone")
            # The physical value of a zoned Datetime is the UTC epoch count.
            physical = timestamps.dt.cast_time_unit("ns").to_physical()
        elif dtype == pl.Int64:
            physical = timestamps
        else:
            raise ValueError(f"timestamps: expected a Datetime or Int64 column, got {dtype}")
        missing = physical.is_null().to_numpy()
        return physical.fill_null(0).to_numpy().astype(np.int64, copy=False), missing
    array = np.asarray(timestamps)
    if np.issubdtype(array.dtype, np.datetime64):
        values = array.astype("datetime64[ns]")
        return values.view(np.int64), np.isnat(values)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64, copy=False), np.zeros(array.shape, dtype=np.bool_)
    raise ValueError(f"timestamps: expected datetime64 or int64 values, got {array.dtype}")


def _ns(moments: list[datetime]) -> npt.NDArray[np.int64]:
    # Integer arithmetic on the window edges keeps nanosecond exactness (no float seconds).
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return np.array([(m - epoch) // timedelta(microseconds=1) * 1000 for m in moments], np.int64)


def _local_date(epoch_ns: int) -> date:
    seconds = epoch_ns // 1_000_000_000
    return datetime.fromtimestamp(seconds, EXCHANGE_TZ).date()


def _empty(size: int) -> SessionAssignment:
    return SessionAssignment(
        in_session=np.zeros(size, dtype=np.bool_),
        trading_day=np.full(size, np.datetime64("NaT", "D")),
        session_index=np.full(size, -1, dtype=np.int8),
        window=np.full(size, -1, dtype=np.int32),
        minute_start=np.full(size, np.datetime64("NaT", "ns")),
        windows=(),
    )
