"""Tick cleaning: every rule, vectorized and live, counted per reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from shared.bars import BarBuilder, CleaningReport, TickFilter, clean_ticks, tick_frame
from shared.domain import EXCHANGE_TZ, Exchange, Tick
from shared.instruments import EarlierTick, Product
from shared.sessions import SessionLocator, load_calendar, load_sessions

CALENDAR = load_calendar()
IF = load_sessions().for_product("IF")
DAY = date(2021, 1, 4)


def _at(hour: int, minute: int, second: float = 0.0) -> datetime:
    local = datetime(2021, 1, 4, hour, minute, tzinfo=EXCHANGE_TZ) + timedelta(seconds=second)
    return local.astimezone(UTC)


def _tick(ts: datetime, price: float, volume: int, **extra: float | None) -> Tick:
    return Tick(
        symbol="IF2101",
        exchange=Exchange.CFFEX,
        ts=ts,
        trading_day=DAY,
        last_price=price,
        volume=volume,
        turnover=price * volume * 300,
        open_interest=1000.0,
        upper_limit=extra.get("upper", 5737.8),
        lower_limit=extra.get("lower", 4694.6),
    )


def _stream() -> list[Tick]:
    """One tick breaking each rule, between good ones (time order)."""
    return [
        _tick(_at(9, 20), 5230.0, 10),  # outside: before the auction
        _tick(_at(9, 29), 5230.0, 240),  # auction: kept
        _tick(_at(9, 30, 0.5), 0.0, 250),  # zero price
        _tick(_at(9, 30, 1.0), float("nan"), 250),  # NaN price
        _tick(_at(9, 30, 1.5), -1.0, 250),  # negative price
        _tick(_at(9, 30, 2.0), 5738.0, 250),  # above the upper limit
        _tick(_at(9, 30, 2.5), 4694.4, 250),  # below the lower limit
        _tick(_at(9, 30, 3.0), 5737.8, 260),  # exactly at the limit: kept
        _tick(_at(9, 30, 3.5), 5231.0, 250),  # cumulative volume went down
        _tick(_at(9, 30, 4.0), 5231.2, 260),  # same volume: a quote update, kept
        _tick(_at(11, 45), 5231.2, 270),  # lunch break
        _tick(_at(15, 5), 5231.2, 280),  # after the close (settlement ticks)
    ]


def test_vectorized_cleaning_counts_each_reason() -> None:
    cleaned = clean_ticks(tick_frame(_stream()), IF, CALENDAR, price_tick=0.2)
    assert cleaned.report == CleaningReport(
        received=12,
        kept=3,
        outside_session=3,
        bad_price=3,
        limit_violation=2,
        duplicate_timestamp=0,
        volume_decrease=1,
    )
    assert cleaned.frame.get_column("volume").to_list() == [240, 260, 260]
    assert cleaned.frame.get_column("trading_day").to_list() == [DAY] * 3


def test_live_filter_agrees_with_the_vectorized_report() -> None:
    stream = _stream()
    live = TickFilter(SessionLocator(IF, CALENDAR), price_tick=0.2)
    kept = [t for t in stream if live.accept(t) is not None]
    vectorized = clean_ticks(tick_frame(stream), IF, CALENDAR, price_tick=0.2)
    assert live.report == vectorized.report
    assert [t.ts for t in kept] == vectorized.frame.get_column("ts").to_list()


def test_duplicate_timestamps_keep_the_last_in_history_and_the_first_live() -> None:
    ts = _at(10, 0)
    stream = [
        _tick(ts, 5230.0, 300),
        _tick(ts, 5230.4, 301),
        _tick(ts + timedelta(0, 1), 5231.0, 302),
    ]
    cleaned = clean_ticks(tick_frame(stream), IF, CALENDAR)
    assert cleaned.report.duplicate_timestamp == 1
    assert cleaned.frame.get_column("volume").to_list() == [301, 302]
    live = TickFilter(SessionLocator(IF, CALENDAR))
    assert [live.accept(t) is not None for t in stream] == [True, False, True]
    assert live.report.duplicate_timestamp == 1


def test_limit_check_without_a_tick_compares_plain_prices() -> None:
    frame = tick_frame([_tick(_at(10, 0), 5737.9, 300), _tick(_at(10, 1), 5700.0, 301, upper=None)])
    cleaned = clean_ticks(frame, IF, CALENDAR)
    assert cleaned.report.limit_violation == 1
    assert cleaned.frame.height == 1


def test_unsorted_input_is_cleaned_in_time_order() -> None:
    stream = _stream()
    shuffled = tick_frame(stream[::-1])
    cleaned = clean_ticks(shuffled, IF, CALENDAR, price_tick=0.2)
    assert cleaned.frame.get_column("ts").is_sorted()
    assert cleaned.report.kept == 3


def test_builder_counts_what_its_filter_dropped() -> None:
    builder = BarBuilder("IF2101", Exchange.CFFEX, IF, CALENDAR, price_tick=0.2)
    for tick in _stream():
        builder.update(tick)
    assert builder.report.dropped == 9
    (bar,) = builder.flush()
    # The auction tick's volume and the limit-price tick are in the 09:30 bar.
    assert bar.start == _at(9, 30)
    assert bar.volume == 260
    assert bar.high == 5737.8
    assert pl.Series([bar.open]).to_list() == [5230.0]


def test_limits_use_the_tick_in_force_on_each_trading_day() -> None:
    # A product whose tick went from 10 to 1 on 2021-01-05: 3 above the limit is within half
    # a tick (the same grid point) on the 4th, a violation on the 5th.
    product = Product(
        exchange=Exchange.CFFEX,
        code="IF",
        name_zh="",
        name_en="",
        multiplier=300,
        price_tick=1.0,
        long_margin_ratio=0.1,
        short_margin_ratio=0.1,
        limit_ratio=0.1,
        earlier_ticks=(EarlierTick(until=date(2021, 1, 5), tick=10.0),),
    )
    stream = [
        _tick(_at(10, 0), 5003.0, 300, upper=5000.0),
        _tick(_at(10, 0) + timedelta(days=1), 5003.0, 300, upper=5000.0),
    ]
    cleaned = clean_ticks(tick_frame(stream), IF, CALENDAR, price_tick=product)
    assert cleaned.frame.get_column("trading_day").to_list() == [DAY]
    assert cleaned.report.limit_violation == 1
    live = TickFilter(SessionLocator(IF, CALENDAR), price_tick=product)
    assert [live.accept(t) is not None for t in stream] == [True, False]


def test_a_tick_for_a_minute_the_clock_closed_is_late_not_a_second_bar() -> None:
    builder = BarBuilder("IF2101", Exchange.CFFEX, IF, CALENDAR, price_tick=0.2)
    assert builder.update(_tick(_at(10, 0, 10), 5000.0, 100)) == []
    assert builder.current() is not None
    (closed,) = builder.on_clock(_at(10, 1))
    assert closed.start == _at(10, 0)
    assert builder.current() is None
    # Stamped 10:00:59.9 but delivered after the clock closed 10:00: dropped and counted.
    assert builder.update(_tick(_at(10, 0, 59.9), 5001.0, 110)) == []
    assert builder.late == 1
    assert builder.current() is None
    builder.update(_tick(_at(10, 1, 5), 5002.0, 130))
    (nxt,) = builder.flush()
    assert nxt.start == _at(10, 1)
    # The late tick's volume is not lost: the next bar's delta starts from the last kept tick.
    assert nxt.volume == 30
