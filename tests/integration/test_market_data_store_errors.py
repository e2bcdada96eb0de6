"""Bad frames are refused, naming the column and row, before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from shared.store.market_data import BarStore, FrameError
from tests.support.market_data import real_bars

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

ROW = 17  # the row each case breaks
_at_row = pl.int_range(pl.len()) == ROW


def _set(column: str, value: object) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            pl.when(_at_row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
        )

    return change


def _naive_start(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("start").dt.replace_time_zone(None))


def _repeat_row(frame: pl.DataFrame) -> pl.DataFrame:
    # Row ROW becomes a copy of row ROW - 1 (same key and start).
    return pl.concat([frame.head(ROW), frame.slice(ROW - 1, 1), frame.slice(ROW + 1)])


# (how the frame is broken, the column named, the row named or None for the whole column)
CASES: dict[str, tuple[Callable[[pl.DataFrame], pl.DataFrame], str, int | None]] = {
    "naive start": (_naive_start, "start", 0),
    "start as text": (lambda f: f.with_columns(pl.col("start").cast(pl.String)), "start", None),
    "no close": (lambda f: f.drop("close"), "close", None),
    "high below close": (_set("high", 1.0), "high", ROW),
    "low above open": (_set("low", 10_000.0), "low", ROW),
    "NaN open": (_set("open", float("nan")), "open", ROW),
    "infinite close": (_set("close", float("inf")), "close", ROW),
    "null close": (_set("close", None), "close", ROW),
    "negative volume": (_set("volume", -5), "volume", ROW),
    "fractional volume": (lambda f: f.with_columns(pl.col("volume") * 1.5), "volume", None),
    "unknown exchange": (_set("exchange", "LME"), "exchange", ROW),
    "unknown interval": (_set("interval", "7m"), "interval", ROW),
    "symbol with a space": (_set("symbol", "au 1912"), "symbol", ROW),
    "symbol too long": (_set("symbol", "a" * 33), "symbol", ROW),
    "repeated bar": (_repeat_row, "start", ROW),
    "trading day as datetime": (
        lambda f: f.with_columns(pl.col("trading_day").cast(pl.Datetime("us"))),
        "trading_day",
        None,
    ),
}


@pytest.mark.parametrize("case", CASES)
async def test_bad_frames_are_refused_and_nothing_is_written(
    store_engine: AsyncEngine, shared_data: Path, case: str
) -> None:
    breaks, column, row = CASES[case]
    stored = real_bars(shared_data).head(200)
    store = BarStore(store_engine)
    await store.ingest(stored)
    # The bad frame also changes every other row, which must not reach the database.
    changed = stored.with_columns(pl.col("open_interest") + 1)
    with pytest.raises(FrameError) as refused:
        await store.ingest(breaks(changed))
    assert isinstance(refused.value, ValueError)
    assert refused.value.column == column, str(refused.value)
    assert refused.value.row == row, str(refused.value)
    assert f"`{column}`" in str(refused.value)
    if row is not None:
        assert f"row {row}" in str(refused.value)
    assert_frame_equal(await store.load("SHFE", "au1912", "1m"), stored)


async def test_the_message_shows_the_offending_values(
    store_engine: AsyncEngine, shared_data: Path
) -> None:
    frame = real_bars(shared_data).head(50)
    with pytest.raises(FrameError, match=r"column `high`, row 17: high is below open or close"):
        await BarStore(store_engine).ingest(_set("high", 1.0)(frame))
    close = frame["close"][ROW]
    with pytest.raises(FrameError, match=f"close={close}"):
        await BarStore(store_engine).ingest(_set("high", 1.0)(frame))


async def test_an_empty_frame_writes_nothing(store_engine: AsyncEngine, shared_data: Path) -> None:
    store = BarStore(store_engine)
    assert await store.ingest(real_bars(shared_data).head(0)) == 0
    assert await store.symbols() == []
