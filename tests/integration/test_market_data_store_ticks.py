"""TickStore on SQLite and PostgreSQL with real CFFEX IF2101 ticks (WonderTrader, MIT)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import func, select

from shared.domain import Exchange
from shared.store.market_data import TICK_COLUMNS, FrameError, SeriesKey, TickStore
from shared.store.tables import TickRow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAYS = ("20210104", "20210105", "20210106")


def real_ticks(shared_data: Path, day: str = DAYS[0]) -> pl.DataFrame:
    """One day of IF2101 CTP ticks as a tick frame (the columns and dtypes ``load`` returns).

    CTP reports an empty book side as DBL_MAX, which an adapter stores as NULL; the file has
    none, so the ticks after the 15:00 close are given an empty book here, to carry NULLs.
    """
    raw = pl.read_csv(
        shared_data / f"cn_futures/tick/CFFEX_IF2101_tick_{day}.csv", infer_schema_length=None
    )
    local = pl.format(
        "{} {}.{}",
        pl.col("ActionDay"),
        pl.col("UpdateTime"),
        pl.col("UpdateMillisec").cast(pl.String).str.zfill(3),
    ).str.to_datetime("%Y%m%d %H:%M:%S%.3f", time_unit="us")
    after_close = pl.col("UpdateTime") > "15:00:00"
    return (
        raw.select(
            pl.col("ExchangeID").alias("exchange"),
            pl.col("InstrumentID").alias("symbol"),
            local.dt.replace_time_zone("Asia/Shanghai").dt.convert_time_zone("UTC").alias("ts"),
            pl.col("TradingDay").cast(pl.String).str.to_date("%Y%m%d").alias("trading_day"),
            pl.col("LastPrice").cast(pl.Float64).alias("last_price"),
            pl.col("Volume").cast(pl.Int64).alias("volume"),
            pl.col("Turnover").cast(pl.Float64).alias("turnover"),
            pl.col("OpenInterest").cast(pl.Float64).alias("open_interest"),
            pl.when(~after_close).then(pl.col("BidPrice1")).cast(pl.Float64).alias("bid_price"),
            pl.when(~after_close).then(pl.col("BidVolume1")).otherwise(0).alias("bid_volume"),
            pl.when(~after_close).then(pl.col("AskPrice1")).cast(pl.Float64).alias("ask_price"),
            pl.when(~after_close).then(pl.col("AskVolume1")).otherwise(0).alias("ask_volume"),
            pl.col("UpperLimitPrice").cast(pl.Float64).alias("upper_limit"),
            pl.col("LowerLimitPrice").cast(pl.Float64).alias("lower_limit"),
        )
        .select(TICK_COLUMNS)
        .cast({"bid_volume": pl.Int64, "ask_volume": pl.Int64})
    )


@pytest.fixture(scope="module")
def if2101(shared_data: Path) -> pl.DataFrame:
    return pl.concat([real_ticks(shared_data, day) for day in DAYS])


async def test_real_ticks_round_trip(store_engine: AsyncEngine, if2101: pl.DataFrame) -> None:
    assert if2101["bid_price"].null_count() > 0  # the NULL path is exercised
    store = TickStore(store_engine)
    assert await store.ingest(if2101) == if2101.height
    assert await store.ingest(if2101) == 0
    assert_frame_equal(await store.load(Exchange.CFFEX, "IF2101"), if2101)
    async with store_engine.connect() as connection:
        stored_nulls = await connection.scalar(
            select(func.count()).where(TickRow.bid_price.is_(None))
        )
    assert stored_nulls == if2101["bid_price"].null_count()  # NULL, not a stand-in
    coverage = await store.coverage("CFFEX", "IF2101")
    assert coverage is not None
    assert (coverage.first, coverage.last, coverage.count) == (
        if2101["ts"].min(),
        if2101["ts"].max(),
        if2101.height,
    )
    assert await store.symbols() == [SeriesKey(Exchange.CFFEX, "IF2101", None)]


async def test_tick_ranges_follow_trading_days(
    store_engine: AsyncEngine, if2101: pl.DataFrame
) -> None:
    store = TickStore(store_engine)
    await store.ingest(if2101)
    second_day = await store.load(
        "CFFEX",
        "IF2101",
        start=datetime(2021, 1, 5, 0, 0, tzinfo=SHANGHAI),
        end=datetime(2021, 1, 6, 0, 0, tzinfo=SHANGHAI),
    )
    assert second_day["trading_day"].unique().to_list() == [date(2021, 1, 5)]
    assert second_day.height == if2101.filter(pl.col("trading_day") == date(2021, 1, 5)).height
    latest = await store.load("CFFEX", "IF2101", limit=5)
    assert_frame_equal(latest, if2101.tail(5))


async def test_optional_columns_default(store_engine: AsyncEngine, shared_data: Path) -> None:
    ticks = real_ticks(shared_data).head(100)
    bare = ticks.select("exchange", "symbol", "ts", "trading_day", "last_price", "volume",
                        "turnover", "open_interest")  # fmt: skip
    store = TickStore(store_engine)
    await store.ingest(bare)
    loaded = await store.load("CFFEX", "IF2101")
    assert loaded["bid_price"].null_count() == 100
    assert loaded["bid_volume"].to_list() == [0] * 100
    assert_frame_equal(loaded.select(bare.columns), bare)


async def test_bad_tick_frames_are_refused(store_engine: AsyncEngine, shared_data: Path) -> None:
    ticks = real_ticks(shared_data).head(100)
    store = TickStore(store_engine)
    negative = ticks.with_columns(
        bid_volume=pl.when(pl.int_range(pl.len()) == 42).then(-1).otherwise(pl.col("bid_volume"))
    )
    with pytest.raises(FrameError, match=r"column `bid_volume`, row 42"):
        await store.ingest(negative)
    too_big = ticks.with_columns(ask_volume=pl.lit(2**31, dtype=pl.Int64))
    with pytest.raises(FrameError, match=r"column `ask_volume`, row 0: .* 32-bit"):
        await store.ingest(too_big)
    assert await store.coverage("CFFEX", "IF2101") is None
