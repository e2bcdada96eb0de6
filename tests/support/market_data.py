"""Real bars from ../shared/data for tests (callers get the directory from `shared_data`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from functions.indicators import BarColumns

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
