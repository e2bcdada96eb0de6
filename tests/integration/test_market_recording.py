"""Recording the live market: the venue's ticks and the live bars go into the database."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.market.recorder import MarketRecorder
from gateway.services import running_services
from gateway.venues.simulated import DEFAULT_REPLAY_FILE
from shared.bars import aggregate_bars, bars_of_frame, ctp_tick_frame, ticks_to_minute_bars
from shared.domain import Bar, Exchange, Interval, Tick
from shared.instruments import ProductCatalogue, shipped_products
from shared.sessions import load_calendar, load_sessions
from shared.store import create_engine
from shared.store.market_data import BarStore, TickStore
from shared.store.migrate import upgrade
from tests.support.gateway import embedded_settings
from tests.support.waiting import wait_until

T0 = datetime(2021, 1, 4, 2, 0, tzinfo=UTC)  # 10:00 Shanghai


def _tick(i: int, volume: int | None = None, price: float | None = None) -> Tick:
    return Tick(
        symbol="IF2101",
        exchange=Exchange.CFFEX,
        ts=T0 + timedelta(seconds=i),
        trading_day=date(2021, 1, 4),
        last_price=5000.0 + i * 0.2 if price is None else price,
        volume=i if volume is None else volume,
        turnover=1.0,
        open_interest=1.0,
    )


def _bar(minute: int, turnover: float = 1.0) -> Bar:
    return Bar(
        symbol="IF2101",
        exchange=Exchange.CFFEX,
        interval=Interval.M1,
        start=T0 + timedelta(minutes=minute),
        trading_day=date(2021, 1, 4),
        open=5000.0,
        high=5001.0,
        low=4999.0,
        close=5000.4,
        volume=3,
        turnover=turnover,
        open_interest=1.0,
    )


async def test_ticks_and_bars_are_written_once_per_flush_and_bad_rows_only_are_dropped(
    store_engine: AsyncEngine,
) -> None:
    ticks, bars = TickStore(store_engine), BarStore(store_engine)
    recorder = MarketRecorder(ticks, bars)
    stream = [_tick(i) for i in range(5)]
    # A repeated timestamp (the later tick wins) and a tick the store refuses (no price).
    stream += [_tick(5, volume=5), _tick(5, volume=6), _tick(6, price=float("nan")), _tick(7)]
    recorder.add(stream, [_bar(0), _bar(1, turnover=float("inf")), _bar(2)])
    await recorder.flush()
    assert recorder.pending == 0
    assert (recorder.ticks_written, recorder.bars_written, recorder.dropped) == (7, 2, 2)
    stored = await ticks.load(Exchange.CFFEX, "IF2101")
    assert stored.get_column("volume").to_list() == [0, 1, 2, 3, 4, 6, 7]
    stored_bars = await bars.load(Exchange.CFFEX, "IF2101", Interval.M1)
    assert stored_bars.get_column("start").to_list() == [T0, T0 + timedelta(minutes=2)]
    # Recording the same rows again changes nothing (an upsert on the series key).
    recorder.add(stream[:3], [_bar(0)])
    await recorder.flush()
    assert (await ticks.load(Exchange.CFFEX, "IF2101")).height == 7
    assert (await bars.load(Exchange.CFFEX, "IF2101", Interval.M1)).height == 2


async def test_rows_survive_a_database_not_ready_and_are_written_when_it_is(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    engine = create_engine(url)
    try:
        recorder = MarketRecorder(TickStore(engine), None, capacity=4)
        recorder.add([_tick(i) for i in range(3)], [_bar(0)])  # bars are not recorded
        await recorder.flush()  # not migrated yet: the write fails
        assert (recorder.pending, recorder.failures, recorder.ticks_written) == (3, 1, 0)
        recorder.add([_tick(i) for i in range(3, 6)], [])
        assert recorder.dropped == 2  # bounded: the two oldest gave way
        await asyncio.to_thread(upgrade, url.replace("+aiosqlite", ""))
        await recorder.flush()
        assert recorder.pending == 0
        stored = await TickStore(engine).load(Exchange.CFFEX, "IF2101")
        assert stored.get_column("volume").to_list() == [2, 3, 4, 5]
    finally:
        await engine.dispose()


async def test_the_gateway_records_the_replay_and_its_live_bars_match_the_vectorized_bars(
    tmp_path: Path, store_url: str
) -> None:
    """The embedded gateway replaying the shipped IF2101 day as fast as it can, recording."""
    settings = embedded_settings(
        tmp_path, database_url=store_url, replay_speed=0, record="ticks,bars"
    )
    raw = ctp_tick_frame(gzip.decompress(DEFAULT_REPLAY_FILE.read_bytes()))
    sessions, calendar = load_sessions().for_product("IF"), load_calendar()
    product = ProductCatalogue(shipped_products()).get(Exchange.CFFEX, "IF")
    minutes, _ = ticks_to_minute_bars(raw, sessions, calendar, price_tick=product)
    expected = {
        interval: bars_of_frame(
            minutes
            if interval is Interval.M1
            else aggregate_bars(minutes, interval, sessions, calendar),
            "IF2101",
            Exchange.CFFEX,
            interval,
        )
        for interval in settings.bar_intervals
    }
    async with running_services(settings) as services:
        # A full pass and its rewind: every bar of the day has been closed and published.
        await wait_until(
            lambda: services.feed.bars_published >= sum(map(len, expected.values())), timeout_s=60
        )
    engine = create_engine(store_url)
    try:
        bars = BarStore(engine)
        for interval, wanted in expected.items():
            stored = await bars.load(Exchange.CFFEX, "IF2101", interval)
            got = bars_of_frame(stored, "IF2101", Exchange.CFFEX, interval)
            assert got == wanted, interval
        stored_ticks = await TickStore(engine).load(Exchange.CFFEX, "IF2101")
        distinct = raw.unique("ts").height
        assert stored_ticks.height == distinct
    finally:
        await engine.dispose()
    assert len(expected[Interval.M1]) == 240


async def test_stopping_keeps_trying_to_write_the_last_rows(tmp_path: Path) -> None:
    """A final write that fails (the database busy or not there) is retried until `stop`'s
    deadline, not dropped with the process."""
    url = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    engine = create_engine(url)
    try:
        recorder = MarketRecorder(TickStore(engine), None, flush_interval_s=60.0)
        await recorder.start()
        recorder.add([_tick(i) for i in range(5)], [])
        stopping = asyncio.create_task(recorder.stop(timeout_s=30.0))
        await wait_until(lambda: recorder.failures >= 2, timeout_s=10)  # not migrated yet
        assert not stopping.done()
        await asyncio.to_thread(upgrade, url.replace("+aiosqlite", ""))
        await asyncio.wait_for(stopping, 10)
        assert (recorder.pending, recorder.ticks_written) == (0, 5)
        stored = await TickStore(engine).load(Exchange.CFFEX, "IF2101")
        assert stored.height == 5

        # A database that never comes back: stop gives up at its deadline, rows counted.
        missing = create_engine(f"sqlite+aiosqlite:///{tmp_path}/absent/store.db")
        try:
            gone = MarketRecorder(TickStore(missing), None)
            await gone.start()
            gone.add([_tick(1)], [])
            await asyncio.wait_for(gone.stop(timeout_s=0.5), 5)
            assert gone.pending == 1
        finally:
            await missing.dispose()
    finally:
        await engine.dispose()
