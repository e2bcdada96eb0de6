"""Synthetic ticks from bars: real au1912 bars survive the round trip through bar synthesis."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from shared.bars import ticks_to_minute_bars
from shared.domain import prices_equal
from shared.marketdata.bar_ticks import DayTotals, ticks_from_bars, totals_after
from shared.sessions import load_calendar, load_sessions
from tests.support.market_data import real_bars

AU = load_sessions().for_product("au")
CALENDAR = load_calendar()
AU_TICK = 0.02  # SHFE's price tick for gold, CNY per gram
COMPARED = ("start", "trading_day", "open", "high", "low", "close", "volume", "open_interest")


def _few_days(shared_data: Path, days: int = 3) -> pl.DataFrame:
    bars = real_bars(shared_data)
    kept = bars.get_column("trading_day").unique().sort().head(days)
    return bars.filter(pl.col("trading_day").is_in(kept.implode()))


def test_ticks_of_real_bars_make_the_same_minute_bars(shared_data: Path) -> None:
    bars = _few_days(shared_data)
    assert bars.height > 1000  # three full days of gold, night sessions included
    ticks = ticks_from_bars(bars)
    assert ticks.height == 4 * bars.height
    rebuilt, report = ticks_to_minute_bars(ticks, AU, CALENDAR, price_tick=AU_TICK)
    assert report.dropped == 0
    original = bars.select(COMPARED)
    assert rebuilt.select(COMPARED).height == original.height
    for column in ("open", "high", "low", "close"):
        pairs = zip(rebuilt.get_column(column), original.get_column(column), strict=True)
        assert all(prices_equal(ours, theirs, AU_TICK) for ours, theirs in pairs), column
    assert rebuilt.get_column("volume").to_list() == original.get_column("volume").to_list()
    assert rebuilt.get_column("start").to_list() == original.get_column("start").to_list()
    assert rebuilt.get_column("open_interest").equals(original.get_column("open_interest"))


def test_extremes_come_in_the_likely_order_and_volume_adds_up() -> None:
    day = date(2019, 6, 17)
    start = datetime(2019, 6, 17, 1, 0, tzinfo=UTC)
    bars = pl.DataFrame(
        {
            "start": [start, start.replace(minute=1)],
            "trading_day": [day, day],
            "open": [300.0, 301.0],
            "high": [302.0, 303.0],
            "low": [299.0, 298.0],
            "close": [301.0, 299.0],
            "volume": [10, 7],
            "turnover": [1000.0, 700.0],
            "open_interest": [5.0, 6.0],
        }
    )
    ticks = ticks_from_bars(bars, before=DayTotals(day, 100, 50.0))
    # Up bar: open, low, high, close; down bar: open, high, low, close.
    assert ticks.get_column("last_price").to_list() == [
        300.0, 299.0, 302.0, 301.0, 301.0, 303.0, 298.0, 299.0
    ]  # fmt: skip
    volume = ticks.get_column("volume").to_list()
    assert volume == sorted(volume)
    assert volume[3] - 100 == 10
    assert volume[7] - volume[3] == 7
    assert totals_after(ticks) == DayTotals(day, 117, 1750.0)
    seconds = [ts.second for ts in ticks.get_column("ts").to_list()]
    assert seconds == [0, 15, 30, 45] * 2
    # A new trading day starts counting from zero: the carried totals are another day's.
    fresh = ticks_from_bars(bars, before=DayTotals(date(2019, 6, 14), 100, 50.0))
    assert fresh.get_column("volume").item(-1) == 17


def test_no_bars_give_no_ticks_and_keep_the_totals() -> None:
    empty = pl.DataFrame(
        schema={
            "start": pl.Datetime("us", "UTC"),
            "trading_day": pl.Date(),
            "open": pl.Float64(),
            "high": pl.Float64(),
            "low": pl.Float64(),
            "close": pl.Float64(),
            "volume": pl.Int64(),
            "turnover": pl.Float64(),
            "open_interest": pl.Float64(),
        }
    )
    before = DayTotals(date(2019, 6, 17), 3, 1.0)
    assert ticks_from_bars(empty, before=before).is_empty()
    assert totals_after(ticks_from_bars(empty), before) == before


def test_a_day_split_across_chunks_keeps_counting(shared_data: Path) -> None:
    bars = _few_days(shared_data, 1)
    half = bars.height // 2
    whole = ticks_from_bars(bars)
    first = ticks_from_bars(bars.head(half))
    second = ticks_from_bars(bars.slice(half), before=totals_after(first))
    assert pl.concat([first, second]).get_column("volume").equals(whole.get_column("volume"))
