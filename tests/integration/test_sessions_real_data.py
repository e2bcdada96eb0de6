"""Sessions and the holiday calendar against the real bars in ../shared/data (see SOURCES.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from shared.domain import prices_equal
from shared.sessions import (
    SessionLocator,
    assign_sessions,
    load_calendar,
    load_sessions,
    session_windows,
)

CALENDAR = load_calendar()
CATALOG = load_sessions()
# file stem -> (product, price tick)
TQ_MINUTE_FILES = {
    "SHFE_au1912": ("au", 0.02),
    "SHFE_cu1905": ("cu", 10.0),
    "SHFE_rb2002": ("rb", 1.0),
    "SHFE_bu1912": ("bu", 2.0),
    "DCE_m2005": ("m", 1.0),
    "CFFEX_IF2003": ("IF", 0.2),
    "CFFEX_T2003": ("T", 0.005),
}


def _weekdays_missing(days: set[date]) -> set[date]:
    first, last = min(days), max(days)
    every = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return {day for day in every if day.weekday() < 5 and day not in days}


def _holidays_between(first: date, last: date) -> set[date]:
    return {h.date for h in CALENDAR.holidays if first <= h.date <= last}


def _minute_bars(shared_data: Path, stem: str) -> pl.DataFrame:
    return pl.read_csv(shared_data / f"cn_futures/bar_1m/{stem}_1m.csv")


def test_holidays_are_the_weekdays_missing_from_the_ic_daily_bars(shared_data: Path) -> None:
    frame = pl.read_csv(shared_data / "cn_futures/bar_1d/CFFEX_IC_HOT_d.csv")
    days = {datetime.strptime(d, "%Y/%m/%d").date() for d in frame[frame.columns[0]]}  # noqa: DTZ007
    assert (min(days), max(days)) == (date(2015, 4, 16), date(2021, 3, 23))
    assert _weekdays_missing(days) == _holidays_between(min(days), max(days))
    assert all(CALENDAR.is_trading_day(day) for day in days)


def test_holidays_are_the_weekdays_missing_from_the_if_5_minute_bars(shared_data: Path) -> None:
    frame = pl.read_csv(shared_data / "cn_futures/bar_5m/CFFEX_IF_HOT_m5.csv")
    days = {datetime.strptime(d, "%Y/%m/%d").date() for d in frame[frame.columns[0]]}  # noqa: DTZ007
    assert (min(days), max(days)) == (date(2014, 1, 2), date(2019, 10, 31))
    assert _weekdays_missing(days) == _holidays_between(min(days), max(days))


def test_2023_national_day_against_rb2401(shared_data: Path) -> None:
    frame = pl.read_csv(shared_data / "cn_futures/bar_1m/SHFE_rb2401_1m_ctpbee.csv")
    # Labels are exchange-local bar END times; the bar itself starts a minute earlier. The
    # call-auction bar is labelled with the session start, i.e. it "starts" in the auction minute.
    labels = frame["datetime"].str.to_datetime().dt.replace_time_zone("Asia/Shanghai")
    starts = labels.dt.offset_by("-1m").dt.convert_time_zone("UTC")
    assigned = assign_sessions(CATALOG.for_product("rb"), CALENDAR, starts)
    assert assigned.in_session.all()
    days = sorted(set(assigned.trading_day.astype(object)))
    assert days == CALENDAR.trading_days(date(2023, 9, 25), date(2023, 10, 10))
    assert days[3:5] == [date(2023, 9, 28), date(2023, 10, 9)]
    evenings = {label.date() for label in labels if label.hour >= 21}
    assert date(2023, 9, 28) not in evenings  # no night before the holiday ...
    assert CALENDAR.night_evening_before(date(2023, 10, 9)) is None  # ... and the calendar agrees
    assert evenings == {date(2023, 9, d) for d in (25, 26, 27)} | {date(2023, 10, 9)}


@pytest.mark.parametrize("stem", sorted(TQ_MINUTE_FILES))
def test_every_tq_minute_bar_lies_in_a_session_and_both_forms_agree(
    shared_data: Path, stem: str
) -> None:
    product, _ = TQ_MINUTE_FILES[stem]
    sessions = CATALOG.for_product(product)
    ns = _minute_bars(shared_data, stem)["datetime_ns_utc"].to_numpy()
    assigned = assign_sessions(sessions, CALENDAR, ns)
    assert assigned.in_session.all()
    # A bar start is its own 1-minute bucket: no bar starts at a session's end or in a break.
    assert (assigned.minute_start.astype(np.int64) == ns).all()
    locator = SessionLocator(sessions, CALENDAR)
    for row, value in enumerate(ns.tolist()):
        window = locator.locate(datetime.fromtimestamp(value / 1e9, UTC))
        assert window is not None
        assert assigned.windows[assigned.window[row]] == window


@pytest.mark.parametrize(
    ("stem", "full_day"),
    [("SHFE_au1912", 555), ("SHFE_cu1905", 465), ("SHFE_rb2002", 345), ("SHFE_bu1912", 345),
     ("CFFEX_IF2003", 240), ("CFFEX_T2003", 270)],
)  # fmt: skip
def test_complete_days_hold_every_session_minute(
    shared_data: Path, stem: str, full_day: int
) -> None:
    product, _ = TQ_MINUTE_FILES[stem]
    sessions = CATALOG.for_product(product)
    ns = _minute_bars(shared_data, stem)["datetime_ns_utc"]
    counts = (
        assign_sessions(sessions, CALENDAR, ns)
        .to_polars()
        .group_by("trading_day")
        .len()
        .sort("trading_day")
    )
    complete = counts[1:-1]  # the recordings start and stop mid-day
    assert complete.height >= 40
    for day, bars in complete.iter_rows():
        # Days right after a holiday have no night session: only the 225 day minutes.
        after_holiday = CALENDAR.night_evening_before(day) is None
        has_night = sessions.schedule_on(day).night is not None
        expected = 225 if has_night and after_holiday else full_day
        assert bars == expected, day
        assert bars == sum(
            (w.end - w.start) // timedelta(minutes=1)
            for w in session_windows(sessions, CALENDAR, day)
        )


@pytest.mark.parametrize("stem", ["SHFE_au1912", "SHFE_cu1905"])
def test_minute_bars_grouped_by_trading_day_reproduce_the_daily_bars(
    shared_data: Path, stem: str
) -> None:
    product, tick = TQ_MINUTE_FILES[stem]
    minutes = _minute_bars(shared_data, stem)
    assigned = assign_sessions(CATALOG.for_product(product), CALENDAR, minutes["datetime_ns_utc"])
    grouped = (
        minutes.with_columns(trading_day=pl.Series(assigned.trading_day, dtype=pl.Date))
        .sort("datetime_ns_utc")
        .group_by("trading_day", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.col("close_oi").last(),
        )
    )[1:-1]  # drop the partial first and last days
    daily = pl.read_csv(shared_data / f"cn_futures/bar_1d/{stem}_1d.csv").with_columns(
        trading_day=pl.col("datetime").str.to_datetime().dt.date()
    )
    first, last = assigned.trading_day.min(), assigned.trading_day.max()
    spanned = daily.filter(pl.col("trading_day").is_between(first, last))["trading_day"]
    assert set(assigned.trading_day.astype(object)) == set(spanned)  # the same trading days
    joined = grouped.join(daily, on="trading_day", how="inner", suffix="_daily")
    assert joined.height == grouped.height >= 45
    for row in joined.iter_rows(named=True):
        for field in ("high", "low", "close") + (
            ("open",) if row["trading_day"] != date(2019, 5, 13) else ()
        ):
            assert prices_equal(row[field], row[f"{field}_daily"], tick), (
                row["trading_day"],
                field,
            )
        assert (row["volume"], row["close_oi"]) == (row["volume_daily"], row["close_oi_daily"])
