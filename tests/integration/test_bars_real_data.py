"""Bar synthesis against real exchange data in ../shared/data (see its SOURCES.md)."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from shared.bars import (
    BarBuilder,
    InstrumentBars,
    aggregate_bars,
    bars_of_frame,
    ctp_tick_frame,
    ticks_of_frame,
    ticks_to_minute_bars,
)
from shared.domain import EXCHANGE_TZ, Bar, Exchange, Interval, prices_equal
from shared.sessions import assign_sessions, load_calendar, load_sessions, session_windows

CALENDAR = load_calendar()
CATALOG = load_sessions()
IF = CATALOG.for_product("IF")
IF_TICK = 0.2
IF_DAYS = ("20210104", "20210105", "20210106")
# Copies of the files the proofs need, with their provenance (tests/data/PROVENANCE.md).
TEST_DATA = Path(__file__).resolve().parents[1] / "data" / "cn_futures"


def _tq_frame(path: Path) -> pl.DataFrame:
    """A TQ minute or daily file with `start` in UTC."""
    return pl.read_csv(path).with_columns(
        pl.col("datetime")
        .str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="ns")
        .dt.replace_time_zone(str(EXCHANGE_TZ))
        .dt.convert_time_zone("UTC")
        .alias("start")
    )


def _tq_minute_bars(path: Path, product: str) -> pl.DataFrame:
    raw = _tq_frame(path)
    assigned = assign_sessions(CATALOG.for_product(product), CALENDAR, raw.get_column("start"))
    return raw.select(
        "start",
        pl.Series("trading_day", assigned.trading_day, dtype=pl.Date),
        pl.col("open", "high", "low", "close").cast(pl.Float64),
        pl.col("volume").cast(pl.Int64),
        pl.lit(0.0).alias("turnover"),
        pl.col("close_oi").cast(pl.Float64).alias("open_interest"),
    )


def _complete_days(minutes: pl.DataFrame, product: str) -> set[date]:
    """Trading days whose every session minute has a bar (TQ emits zero-volume minutes)."""
    sessions = CATALOG.for_product(product)
    counts = minutes.group_by("trading_day").len()
    return {
        day
        for day, count in counts.iter_rows()
        if count
        == sum(
            (w.end - w.start) // timedelta(minutes=1)
            for w in session_windows(sessions, CALENDAR, day)
        )
    }


def _daily_mismatches(
    minute_file: Path, daily_file: Path, product: str, tick: float
) -> tuple[int, list[tuple[date, str]]]:
    minutes = _tq_minute_bars(minute_file, product)
    ours = aggregate_bars(minutes, Interval.D1, CATALOG.for_product(product), CALENDAR)
    complete = _complete_days(minutes, product)
    exchange = pl.read_csv(daily_file).with_columns(
        pl.col("datetime").str.slice(0, 10).str.to_date().alias("trading_day")
    )
    theirs = {row["trading_day"]: row for row in exchange.iter_rows(named=True)}
    mismatches = []
    for row in ours.filter(pl.col("trading_day").is_in(sorted(complete))).iter_rows(named=True):
        daily = theirs[row["trading_day"]]
        for field in ("open", "high", "low", "close"):
            if not prices_equal(row[field], daily[field], tick):
                mismatches.append((row["trading_day"], field))
        if row["volume"] != daily["volume"]:
            mismatches.append((row["trading_day"], "volume"))
        if row["open_interest"] != daily["close_oi"]:
            mismatches.append((row["trading_day"], "close_oi"))
    return len(complete), mismatches


def test_au1912_minutes_aggregate_to_the_exchange_daily_bars() -> None:
    complete, mismatches = _daily_mismatches(
        TEST_DATA / "SHFE_au1912_1m.csv.gz", TEST_DATA / "SHFE_au1912_1d.csv.gz", "au", 0.02
    )
    # SOURCES.md counts the 60 full 555-minute days; the calendar also knows that 2019-05-06
    # and 2019-06-10 had no night session (after holidays), so those 225-minute days are
    # complete too, and they match as well.
    assert complete == 62
    assert mismatches == []


def test_cu1905_minutes_aggregate_to_the_daily_bars_but_one_documented_open(
    shared_data: Path,
) -> None:
    folder = shared_data / "cn_futures"
    complete, mismatches = _daily_mismatches(
        folder / "bar_1m" / "SHFE_cu1905_1m.csv",
        folder / "bar_1d" / "SHFE_cu1905_1d.csv",
        "cu",
        10.0,
    )
    assert complete == 47  # the 45 full days of SOURCES.md + 2019-04-08 and 05-06 (no night)
    assert mismatches == [(date(2019, 5, 13), "open")]


def test_friday_night_minutes_land_on_mondays_daily_bar(shared_data: Path) -> None:
    minutes = _tq_minute_bars(shared_data / "cn_futures" / "bar_1m" / "DCE_m2005_1m.csv", "m")
    daily = aggregate_bars(minutes, Interval.D1, CATALOG.for_product("m"), CALENDAR)
    local = minutes.with_columns(pl.col("start").dt.convert_time_zone(str(EXCHANGE_TZ)).alias("t"))
    fridays = local.filter((pl.col("t").dt.weekday() == 5) & (pl.col("t").dt.hour() == 21))
    checked = 0
    for friday in sorted(set(fridays.get_column("t").dt.date().to_list())):
        monday = friday + timedelta(days=3)
        window_start = datetime.combine(friday, datetime.min.time()).replace(hour=21)
        window_end = datetime.combine(monday, datetime.min.time()).replace(hour=15)
        span = local.filter(
            pl.col("t")
            .dt.replace_time_zone(None)
            .is_between(window_start, window_end, closed="left")
        )
        row = daily.filter(pl.col("trading_day") == monday)
        if row.height == 0 or not CALENDAR.is_trading_day(monday):
            continue
        assert row.item(0, "volume") == span.get_column("volume").sum()
        assert row.item(0, "open") == span.item(0, "open")
        assert row.item(0, "start").astimezone(EXCHANGE_TZ).hour == 21
        checked += 1
    assert checked >= 10


@pytest.fixture(scope="module", params=IF_DAYS)
def if_day(request: pytest.FixtureRequest) -> pl.DataFrame:
    path = TEST_DATA / f"CFFEX_IF2101_tick_{request.param}.csv.gz"
    return ctp_tick_frame(gzip.decompress(path.read_bytes()))


def test_if2101_live_bars_equal_vectorized_bars(if_day: pl.DataFrame) -> None:
    frame, report = ticks_to_minute_bars(if_day, IF, CALENDAR, price_tick=IF_TICK)
    expected = bars_of_frame(frame, "IF2101", Exchange.CFFEX, Interval.M1)
    builder = BarBuilder("IF2101", Exchange.CFFEX, IF, CALENDAR, price_tick=IF_TICK)
    got: list[Bar] = []
    for tick in ticks_of_frame(if_day, "IF2101", Exchange.CFFEX):
        got += builder.update(tick)
    got += builder.flush()
    assert got == expected
    assert builder.report == report


def test_if2101_bars_follow_the_session_rules(if_day: pl.DataFrame) -> None:
    frame, report = ticks_to_minute_bars(if_day, IF, CALENDAR, price_tick=IF_TICK)
    local = if_day.with_columns(
        pl.col("ts").dt.convert_time_zone(str(EXCHANGE_TZ)).dt.time().alias("clock")
    )
    day = if_day.item(0, "trading_day")
    # 240 bars: 09:30-11:29 and 13:00-14:59 starts, derived from the exchange hours.
    opening = datetime.combine(day, datetime.min.time(), EXCHANGE_TZ)
    expected_starts = [
        (opening + timedelta(hours=h, minutes=m)).astimezone(UTC)
        for h, m0, m1 in ((9, 30, 120), (13, 0, 120))
        for m in range(m0, m0 + m1)
    ]
    assert frame.get_column("start").to_list() == expected_starts
    # The 09:29 auction tick opens the 09:30 bar, and its volume counts there.
    auction = local.filter(pl.col("clock") < datetime.min.time().replace(hour=9, minute=30))
    assert auction.height == 1
    first = frame.row(0, named=True)
    assert first["open"] == auction.item(0, "last_price")
    before_0931 = local.filter(pl.col("clock") < datetime.min.time().replace(hour=9, minute=31))
    assert first["volume"] == before_0931.item(-1, "volume")
    # Closing-second ticks (15:00:00.x) end the 14:59 bar; later ones are dropped as outside.
    closing = local.filter(pl.col("clock").dt.hour() == 15)
    in_closing_second = closing.filter(pl.col("clock").dt.second() == 0).filter(
        pl.col("clock").dt.minute() == 0
    )
    assert in_closing_second.height >= 1
    last = frame.row(-1, named=True)
    assert last["close"] == in_closing_second.item(-1, "last_price")
    assert last["open_interest"] == in_closing_second.item(-1, "open_interest")
    assert report.outside_session == closing.height - in_closing_second.height > 0
    # Every contract traded in the session is in some bar.
    assert frame.get_column("volume").sum() == in_closing_second.item(-1, "volume")


def test_if2101_last_bars_close_by_the_clock(if_day: pl.DataFrame) -> None:
    frame, _ = ticks_to_minute_bars(if_day, IF, CALENDAR, price_tick=IF_TICK)
    expected = bars_of_frame(frame, "IF2101", Exchange.CFFEX, Interval.M1)
    lunch, close = (w.closes_at for w in session_windows(IF, CALENDAR, expected[0].trading_day))
    builder = BarBuilder("IF2101", Exchange.CFFEX, IF, CALENDAR, price_tick=IF_TICK)
    emitted: list[Bar] = []
    for tick in ticks_of_frame(if_day, "IF2101", Exchange.CFFEX):
        if tick.ts >= close:
            break  # no tick after the session: the clock alone must close its last bar
        if tick.ts >= lunch and emitted[-1].start < lunch - timedelta(minutes=2):
            emitted += builder.on_clock(lunch)  # the lunch break, before the 13:00 ticks
            assert emitted[-1] == expected[119]
        emitted += builder.update(tick)
    assert builder.on_clock(close - timedelta(seconds=1, milliseconds=1)) == []
    assert builder.on_clock(close) == [expected[-1]]
    assert [*emitted, expected[-1]] == expected


LIVE_INTERVALS = (Interval.M1, Interval.M5, Interval.M15, Interval.M30, Interval.H1, Interval.D1)


def test_if2101_live_bars_at_every_interval_equal_vectorized_bars(if_day: pl.DataFrame) -> None:
    """A clock ticking every second of replay time closes bars as the gateway's does."""
    minutes, _ = ticks_to_minute_bars(if_day, IF, CALENDAR, price_tick=IF_TICK)
    live = InstrumentBars(
        "IF2101", Exchange.CFFEX, IF, CALENDAR, LIVE_INTERVALS, price_tick=IF_TICK
    )
    got: list[Bar] = []
    by_clock = 0
    clock: datetime | None = None
    for tick in ticks_of_frame(if_day, "IF2101", Exchange.CFFEX):
        while clock is not None and clock + timedelta(seconds=1) <= tick.ts:
            clock += timedelta(seconds=1)
            # Bars close on a minute's end or a second later (a session's closing second).
            watched = clock.second <= 1
            before = {interval: live.current(interval) for interval in LIVE_INTERVALS}
            closed = live.on_clock(clock)
            assert watched or not closed
            # What a subscriber saw as the bar in progress is the bar that closed.
            assert [before[bar.interval] for bar in closed] == closed
            by_clock += len(closed)
            got += closed
        clock = tick.ts
        got += live.update(tick)
        open_minute = live.current(Interval.M1)
        if open_minute is not None and tick.ts >= open_minute.start:
            assert open_minute.close == tick.last_price
    # The file runs past 15:00, so the clock has closed the day's last bars.
    assert by_clock >= len(LIVE_INTERVALS)
    assert live.flush() == []
    assert all(live.current(interval) is None for interval in LIVE_INTERVALS)
    assert live.late == 0
    for interval in LIVE_INTERVALS:
        frame = (
            minutes if interval is Interval.M1 else aggregate_bars(minutes, interval, IF, CALENDAR)
        )
        expected = bars_of_frame(frame, "IF2101", Exchange.CFFEX, interval)
        assert [bar for bar in got if bar.interval is interval] == expected, interval
