"""Synthetic ticks from 1-minute bars, for replaying instruments that only have bars.

Each bar becomes four ticks inside its minute: the open at +0 s, the two extremes at +15 s and
+30 s, the close at +45 s. The extremes come in the order a price path most likely took: an up
bar (close >= open) usually dipped before it rallied, so its low comes first; a down bar's high
comes first. Prices are the bar's own, so they stay on the instrument's price grid.

Volume and turnover are cumulative for the trading day, as a venue reports them, and grow by a
quarter of the bar's amount at each tick, so that the growth over the bar's four ticks is exactly
the bar's volume: turning the ticks back into 1-minute bars gives the original bars.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import polars as pl

TICK_OFFSETS = (timedelta(0), timedelta(seconds=15), timedelta(seconds=30), timedelta(seconds=45))
_STEPS = len(TICK_OFFSETS)
TICK_FRAME_COLUMNS = ("ts", "trading_day", "last_price", "volume", "turnover", "open_interest")


class DayTotals(NamedTuple):
    """Cumulative volume and turnover of a trading day so far; carried between chunks of bars
    so that a day split across two chunks keeps counting up."""

    trading_day: date | None = None
    volume: int = 0
    turnover: float = 0.0


NO_TOTALS = DayTotals()  # before the first bar of a replay


def ticks_from_bars(bars: pl.DataFrame, *, before: DayTotals = NO_TOTALS) -> pl.DataFrame:
    """The tick frame (``TICK_FRAME_COLUMNS``, sorted by ``ts``) of a 1-minute bar frame.

    ``bars`` has ``start``, ``trading_day``, ``open``, ``high``, ``low``, ``close``, ``volume``,
    ``turnover`` and ``open_interest``; ``before`` is what the trading day of the first bar had
    already accumulated in earlier bars (see ``totals_after``).
    """
    carried = pl.col("trading_day") == pl.lit(before.trading_day, dtype=pl.Date)
    ordered = bars.sort("start").with_columns(
        pl.col("volume").cast(pl.Int64),
        pl.col("turnover").cast(pl.Float64),
    )
    # Totals of the day before each bar: the earlier bars of the day, plus the carried totals.
    running = ordered.with_columns(
        (
            pl.col("volume").cum_sum().over("trading_day")
            - pl.col("volume")
            + pl.when(carried).then(pl.lit(before.volume)).otherwise(0)
        ).alias("_volume_before"),
        (
            pl.col("turnover").cum_sum().over("trading_day")
            - pl.col("turnover")
            + pl.when(carried).then(pl.lit(before.turnover)).otherwise(0.0)
        ).alias("_turnover_before"),
    )
    up = pl.col("close") >= pl.col("open")
    prices = (
        pl.col("open"),
        pl.when(up).then(pl.col("low")).otherwise(pl.col("high")),
        pl.when(up).then(pl.col("high")).otherwise(pl.col("low")),
        pl.col("close"),
    )
    steps = [
        running.select(
            (pl.col("start") + offset).alias("ts"),
            pl.col("trading_day"),
            price.cast(pl.Float64).alias("last_price"),
            (pl.col("_volume_before") + pl.col("volume") * (step + 1) // _STEPS).alias("volume"),
            (pl.col("_turnover_before") + pl.col("turnover") * ((step + 1) / _STEPS)).alias(
                "turnover"
            ),
            pl.col("open_interest").cast(pl.Float64),
        )
        for step, (offset, price) in enumerate(zip(TICK_OFFSETS, prices, strict=True))
    ]
    return pl.concat(steps).sort("ts", maintain_order=True)


def totals_after(ticks: pl.DataFrame, before: DayTotals = NO_TOTALS) -> DayTotals:
    """The day totals after the last tick of a synthesized frame (``before`` if it is empty)."""
    if ticks.is_empty():
        return before
    last = ticks.row(-1, named=True)
    return DayTotals(last["trading_day"], int(last["volume"]), float(last["turnover"]))
