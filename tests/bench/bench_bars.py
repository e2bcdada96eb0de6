"""Tick -> 1-minute bar synthesis on the real IF2101 ticks of ../shared/data.

Historical: the three IF2101 days (2021-01-04..06) repeated on later Monday-Wednesday runs of
2021 (timestamps shifted by whole weeks) to about 3M ticks, cleaned and synthesized by the
vectorized path; its peer is a straightforward per-tick Python loop keyed by minute. Live: the
three days through one BarBuilder on one core; its peer is the vectorized path.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from gateway.market.live_bars import DEFAULT_INTERVALS
from shared.bars import (
    BarBuilder,
    InstrumentBars,
    ctp_tick_frame,
    ticks_of_frame,
    ticks_to_minute_bars,
)
from shared.domain import Exchange, Tick
from shared.sessions import load_calendar, load_sessions
from tests.bench._table import Row, best_of
from tests.conftest import SHARED_DATA

DAYS = (date(2021, 1, 4), date(2021, 1, 5), date(2021, 1, 6))
TARGET_TICKS = 3_000_000
CALENDAR = load_calendar()
IF = load_sessions().for_product("IF")


def _three_days() -> pl.DataFrame:
    folder = SHARED_DATA / "cn_futures" / "tick"
    return pl.concat(
        ctp_tick_frame(Path(folder / f"CFFEX_IF2101_tick_{d:%Y%m%d}.csv").read_bytes())
        for d in DAYS
    )


def _repeated(days: pl.DataFrame) -> pl.DataFrame:
    copies: list[pl.DataFrame] = []
    week = 0
    while sum(c.height for c in copies) < TARGET_TICKS and week < 52:
        shift = timedelta(weeks=week)
        if all(CALENDAR.is_trading_day(d + shift) for d in DAYS):
            copies.append(days.with_columns(pl.col("ts") + shift))
        week += 1
    return pl.concat(copies)


def _naive_minute_bars(ts_ns: list[int], prices: list[float], volumes: list[int]) -> int:
    """The peer: one dict entry per minute, filled tick by tick (no sessions, no cleaning)."""
    bars: dict[int, list[float]] = {}
    previous = 0
    for ts, price, volume in zip(ts_ns, prices, volumes, strict=True):
        minute = ts - ts % 60_000_000_000
        bar = bars.get(minute)
        if bar is None:
            bars[minute] = [price, price, price, price, volume - previous]
        else:
            bar[1] = max(bar[1], price)
            bar[2] = min(bar[2], price)
            bar[3] = price
            bar[4] += volume - previous
        previous = volume
    return len(bars)


def _live(ticks: list[Tick]) -> None:
    builder = BarBuilder("IF2101", Exchange.CFFEX, IF, CALENDAR, price_tick=0.2)
    update = builder.update
    for tick in ticks:
        update(tick)
    builder.flush()


def _live_all_intervals(ticks: list[Tick]) -> None:
    bars = InstrumentBars("IF2101", Exchange.CFFEX, IF, CALENDAR, DEFAULT_INTERVALS, price_tick=0.2)
    update = bars.update
    for tick in ticks:
        update(tick)
    bars.flush()


def run() -> list[Row]:
    days = _three_days()
    history = _repeated(days)
    columns = (
        history.get_column("ts").dt.cast_time_unit("ns").to_physical().to_list(),
        history.get_column("last_price").to_list(),
        history.get_column("volume").to_list(),
    )
    vectorized = history.height / best_of(
        3, lambda: ticks_to_minute_bars(history, IF, CALENDAR, price_tick=0.2)
    )
    naive = history.height / best_of(1, lambda: _naive_minute_bars(*columns))
    ticks = ticks_of_frame(days, "IF2101", Exchange.CFFEX)
    live = len(ticks) / best_of(3, lambda: _live(ticks))
    live_all = len(ticks) / best_of(3, lambda: _live_all_intervals(ticks))
    small = days.height / best_of(3, lambda: ticks_to_minute_bars(days, IF, CALENDAR))
    return [
        Row(
            f"tick->1m bars, history ({history.height / 1e6:.1f}M ticks, polars)",
            vectorized,
            "per-tick Python loop",
            naive,
            "ticks/s",
            higher_is_better=True,
        ),
        Row(
            "tick->1m bars, live BarBuilder (1 core)",
            live,
            "vectorized, same 3 days",
            small,
            "ticks/s",
            higher_is_better=True,
        ),
        Row(
            "tick->bars at 1m..1d (6 intervals), live InstrumentBars",
            live_all,
            "live BarBuilder, 1m only",
            live,
            "ticks/s",
            higher_is_better=True,
        ),
    ]
