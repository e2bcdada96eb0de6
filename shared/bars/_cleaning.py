"""Tick cleaning, vectorized over a tick frame and incrementally for live ticks.

The rules, applied in this order (a tick is counted under the first rule it breaks):
1. `outside_session`: not in any session window (auction and closing second count as inside);
2. `bad_price`: last price null, NaN, infinite, zero or negative;
3. `limit_violation`: last price above the upper or below the lower limit (when the tick has
   them), compared in whole ticks of the price tick in force on the trading day;
4. `duplicate_timestamp`: another tick has the same timestamp. History keeps the last one; a
   live stream cannot take back what it passed on, so `TickFilter` keeps the first and also drops
   ticks older than the last one passed (they cannot be placed in already emitted bars);
5. `volume_decrease`: cumulative volume below the highest kept so far in the trading day. An
   equal volume is a quote update without a trade: kept, it adds no volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

import msgspec
import numpy as np
import numpy.typing as npt
import polars as pl

from shared.domain import Tick
from shared.instruments import Product
from shared.sessions import (
    ProductSessions,
    SessionLocator,
    SessionWindow,
    TradingCalendar,
    assign_sessions,
)

REASONS = (
    "outside_session",
    "bad_price",
    "limit_violation",
    "duplicate_timestamp",
    "volume_decrease",
)
PriceTick = float | Product | None
_DAY_WEIGHT = 1 << 40  # above any cumulative volume of one day


class CleaningReport(msgspec.Struct, frozen=True, kw_only=True):
    """How many ticks came in, were kept, and were dropped for each reason."""

    received: int = 0
    kept: int = 0
    outside_session: int = 0
    bad_price: int = 0
    limit_violation: int = 0
    duplicate_timestamp: int = 0
    volume_decrease: int = 0

    @property
    def dropped(self) -> int:
        return self.received - self.kept


@dataclass(frozen=True, slots=True)
class CleanedTicks:
    """Kept ticks in time order, with `trading_day` (Date) and `minute_start` (UTC) added."""

    frame: pl.DataFrame
    report: CleaningReport


def clean_ticks(
    ticks: pl.DataFrame,
    sessions: ProductSessions,
    calendar: TradingCalendar,
    *,
    price_tick: PriceTick = None,
) -> CleanedTicks:
    """Apply the cleaning rules to a tick frame (any order) without a Python loop per row.

    `price_tick` (a float, or the Product whose tick in force on each trading day is used)
    makes the limit check tick-exact; without it limits are compared as plain floats.
    """
    frame = ticks if ticks.get_column("ts").is_sorted() else ticks.sort("ts", maintain_order=True)
    assigned = assign_sessions(sessions, calendar, frame.get_column("ts"))
    price = _floats(frame, "last_price")
    with np.errstate(invalid="ignore"):
        good_price = np.isfinite(price) & (price > 0)
    reason = np.where(assigned.in_session, np.where(good_price, 0, 2), 1).astype(np.int8)
    tick = _tick_sizes(assigned.trading_day, price_tick)
    reason[(reason == 0) & _outside_limits(frame, price, tick)] = 3
    _mark_duplicates(reason, frame.get_column("ts").to_physical().to_numpy())
    _mark_volume_decreases(reason, assigned.trading_day, frame.get_column("volume").to_numpy())
    counts = np.bincount(reason, minlength=len(REASONS) + 1)
    report = CleaningReport(
        received=frame.height,
        kept=int(counts[0]),
        **{name: int(counts[code]) for code, name in enumerate(REASONS, start=1)},
    )
    keep = reason == 0
    kept = frame.filter(pl.Series(keep)).with_columns(
        pl.Series("trading_day", assigned.trading_day[keep], dtype=pl.Date),
        pl.Series("minute_start", assigned.minute_start[keep]).dt.replace_time_zone("UTC"),
    )
    return CleanedTicks(kept, report)


def _floats(frame: pl.DataFrame, name: str) -> npt.NDArray[np.float64]:
    return frame.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()


def _tick_sizes(
    trading_days: npt.NDArray[np.datetime64], price_tick: PriceTick
) -> npt.NDArray[np.float64] | float | None:
    if price_tick is None or isinstance(price_tick, float | int):
        return price_tick
    days = np.unique(trading_days[~np.isnat(trading_days)])
    sizes = np.full(trading_days.shape, np.nan)
    for day in days:  # one per trading day, not per row
        sizes[trading_days == day] = price_tick.tick_on(day.astype(date))
    return sizes


def _outside_limits(
    frame: pl.DataFrame,
    price: npt.NDArray[np.float64],
    tick: npt.NDArray[np.float64] | float | None,
) -> npt.NDArray[np.bool_]:
    outside = np.zeros(frame.height, dtype=np.bool_)
    for name, sign in (("upper_limit", 1.0), ("lower_limit", -1.0)):
        if name not in frame.columns:
            continue
        limit = _floats(frame, name)
        with np.errstate(invalid="ignore", divide="ignore"):
            given = limit > 0
            if tick is None:
                beyond = sign * (price - limit) > 0
            else:
                beyond = sign * (np.rint(price / tick) - np.rint(limit / tick)) > 0
        outside |= given & beyond
    return outside


def _mark_duplicates(reason: npt.NDArray[np.int8], ts: npt.NDArray[np.int64]) -> None:
    """Among rows passing so far (time-ordered), all but the last of equal timestamps."""
    rows = np.flatnonzero(reason == 0)
    candidates = ts[rows]
    reason[rows[:-1][candidates[:-1] == candidates[1:]]] = 4


def _mark_volume_decreases(
    reason: npt.NDArray[np.int8],
    trading_days: npt.NDArray[np.datetime64],
    volume: npt.NDArray[np.int64],
) -> None:
    """Rows whose volume is below the highest kept earlier in the same trading day."""
    rows = np.flatnonzero(reason == 0)
    if rows.size == 0:
        return
    # One running maximum over all days: the day, in the high bits, restarts it each day.
    day = trading_days[rows].astype(np.int64)
    key = (day - day[0]) * _DAY_WEIGHT + volume[rows]
    highest_before = np.maximum.accumulate(key)[:-1]
    reason[rows[1:][key[1:] < highest_before]] = 5


class TickFilter:
    """The cleaning rules for one instrument's live ticks, O(1) per tick."""

    __slots__ = (
        "_closes",
        "_counts",
        "_day",
        "_high_volume",
        "_last_ts",
        "_locator",
        "_opens",
        "_price_tick",
        "_tick",
        "_window",
    )

    def __init__(self, locator: SessionLocator, *, price_tick: PriceTick = None) -> None:
        self._locator = locator
        self._price_tick = price_tick
        self._counts = [0] * (len(REASONS) + 2)  # received, kept, then one per reason
        self._last_ts = datetime.min.replace(tzinfo=UTC)
        self._window: SessionWindow | None = None
        self._opens = self._closes = self._last_ts
        self._day: date | None = None
        self._high_volume = 0
        self._tick: float | None = price_tick if isinstance(price_tick, float | int) else None

    @property
    def report(self) -> CleaningReport:
        received, kept, *drops = self._counts
        return CleaningReport(
            received=received, kept=kept, **dict(zip(REASONS, drops, strict=True))
        )

    def accept(self, tick: Tick) -> SessionWindow | None:
        """The tick's session window when the tick is kept, else None (and counted)."""
        counts = self._counts
        counts[0] += 1
        ts = tick.ts
        window = self._window
        if window is None or not (self._opens <= ts < self._closes):
            window = self._locator.locate(ts)
            if window is None:
                self._drop(0)
                return None
            self._enter(window)
        price = tick.last_price
        if not (price > 0 and math.isfinite(price)):
            self._drop(1)
            return None
        if self._breaks_limits(tick):
            self._drop(2)
            return None
        if ts <= self._last_ts:
            self._drop(3)
            return None
        if tick.volume < self._high_volume:
            self._drop(4)
            return None
        self._high_volume = tick.volume
        self._last_ts = ts
        counts[1] += 1
        return window

    def _enter(self, window: SessionWindow) -> None:
        self._window, self._opens, self._closes = window, window.opens_at, window.closes_at
        day = window.trading_day
        if day != self._day:
            self._day, self._high_volume = day, 0
            if isinstance(self._price_tick, Product):
                self._tick = self._price_tick.tick_on(day)

    def _drop(self, reason: int) -> None:
        self._counts[reason + 2] += 1

    def _breaks_limits(self, tick: Tick) -> bool:
        upper, lower, size = tick.upper_limit, tick.lower_limit, self._tick
        price = tick.last_price
        # Strictly inside both limits needs no tick arithmetic (the common case, kept cheap).
        if (upper is None or price < upper) and (lower is None or price > lower):
            return False
        if size is not None:
            return (
                upper is not None and upper > 0 and round(price / size) > round(upper / size)
            ) or (lower is not None and lower > 0 and round(price / size) < round(lower / size))
        return (upper is not None and upper > 0 and price > upper) or (
            lower is not None and lower > 0 and price < lower
        )
