"""Real bars from ../shared/data for tests (callers get the directory from `shared_data`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from functions.indicators import BarColumns
from shared.store.market_data import BAR_COLUMNS

AU1912 = "cn_futures/bar_1m/SHFE_au1912_1m.csv"


def load_bars(shared_data: Path, rows: int | None = None) -> BarColumns:
    """SHFE au1912 one-minute bars (TQ recording, Apache-2.0), bar start times in UTC."""
    frame = pl.read_csv(shared_data / AU1912, n_rows=rows, try_parse_dates=True)
    # The file holds exchange-local wall-clock times.
    ts = frame["datetime"].dt.replace_time_zone("Asia/Shanghai").dt.convert_time_zone("UTC")
    return BarColumns(
        ts=ts.to_list(),
        open=frame["open"].to_list(),
        high=frame["high"].to_list(),
        low=frame["low"].to_list(),
        close=frame["close"].to_list(),
        volume=frame["volume"].cast(pl.Float64).to_list(),
    )


def first_bars(bars: BarColumns, count: int) -> BarColumns:
    """The first ``count`` bars of every column."""
    return BarColumns(
        ts=bars.ts[:count],
        open=bars.open[:count],
        high=bars.high[:count],
        low=bars.low[:count],
        close=bars.close[:count],
        volume=bars.volume[:count],
    )


def real_bars(shared_data: Path, path: str = AU1912) -> pl.DataFrame:
    """A TQ one-minute bar file as a bar frame (the columns and dtypes ``load`` returns).

    The start is the file's UTC nanoseconds. The trading day is taken from the data itself: the
    date of the next day-session bar (a night bar belongs to the next day that trades, Friday
    night to Monday); the trailing night bars with no day session after them are left out.
    The files carry no turnover: it stays at the default, 0.
    """
    raw = pl.read_csv(shared_data / path)
    local = pl.col("datetime").str.to_datetime("%Y-%m-%d %H:%M:%S")
    day_session = pl.when(local.dt.hour().is_between(8, 16)).then(local.dt.date())
    frame = raw.select(
        pl.lit("SHFE").alias("exchange"),
        pl.col("symbol").str.split(".").list.get(1).alias("symbol"),
        pl.lit("1m").alias("interval"),
        pl.from_epoch("datetime_ns_utc", time_unit="ns")
        .dt.replace_time_zone("UTC")
        .dt.cast_time_unit("us")
        .alias("start"),
        day_session.backward_fill().alias("trading_day"),
        pl.col("open", "high", "low", "close").cast(pl.Float64),
        pl.col("volume").cast(pl.Int64),
        pl.lit(0.0).alias("turnover"),
        pl.col("close_oi").cast(pl.Float64).alias("open_interest"),
    )
    return frame.drop_nulls("trading_day").select(BAR_COLUMNS)
