"""Tick -> 1-minute bars over history, vectorized with polars.

A bar is made for every minute that has at least one kept tick (no empty bars). Its prices come
from the ticks' last prices; its volume and turnover are the growth of the cumulative fields
from the tick before the bar (0 before a trading day's first tick, so the auction volume lands in
the day's first bar) to the bar's last tick, taken as one difference so that the live builder,
which does the same subtraction, gets bit-identical turnover.
"""

from __future__ import annotations

import polars as pl

from shared.bars._cleaning import CleaningReport, PriceTick, clean_ticks
from shared.bars._frames import BAR_COLUMNS
from shared.sessions import ProductSessions, TradingCalendar


def minute_bars_of_clean(cleaned: pl.DataFrame) -> pl.DataFrame:
    """1-minute bars of cleaned ticks (time-ordered, with `trading_day` and `minute_start`)."""
    same_day = pl.col("trading_day") == pl.col("trading_day").shift(1)
    before = cleaned.with_columns(
        pl.when(same_day).then(pl.col("volume").shift(1)).otherwise(0).alias("_volume_before"),
        pl.when(same_day)
        .then(pl.col("turnover").shift(1))
        .otherwise(0.0)
        .alias("_turnover_before"),
    )
    price = pl.col("last_price")
    bars = before.group_by("minute_start", maintain_order=True).agg(
        pl.col("trading_day").first(),
        price.first().alias("open"),
        price.max().alias("high"),
        price.min().alias("low"),
        price.last().alias("close"),
        (pl.col("volume").last() - pl.col("_volume_before").first()).alias("volume"),
        (pl.col("turnover").last() - pl.col("_turnover_before").first()).alias("turnover"),
        pl.col("open_interest").last(),
    )
    return bars.rename({"minute_start": "start"}).select(BAR_COLUMNS)


def ticks_to_minute_bars(
    ticks: pl.DataFrame,
    sessions: ProductSessions,
    calendar: TradingCalendar,
    *,
    price_tick: PriceTick = None,
) -> tuple[pl.DataFrame, CleaningReport]:
    """Clean a tick frame and synthesize its 1-minute bar frame; also the cleaning report."""
    cleaned = clean_ticks(ticks, sessions, calendar, price_tick=price_tick)
    return minute_bars_of_clean(cleaned.frame), cleaned.report
