"""The market feed (quote cache, batched publishing, bus outages, live bars) and the replay
venue (pacing, market time, rewinds)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gateway.market.feed import MarketFeed
from gateway.market.live_bars import LiveBars
from gateway.venues.simulated import DEFAULT_REPLAY_FILE, SimulatedVenue, load_ticks
from shared.bus import MemoryBus
from shared.domain import (
    EXCHANGE_TZ,
    BarEvent,
    ComponentState,
    Event,
    Exchange,
    Interval,
    Tick,
    TickEvent,
)
from shared.instruments import ProductCatalogue, shipped_products
from shared.quotes import MemoryQuoteCache
from shared.sessions import load_calendar, load_sessions
from tests.support.sinks import RecordingSink
from tests.support.waiting import next_event, wait_until

T0 = datetime(2021, 1, 4, 1, 30, tzinfo=UTC)
M1, M5 = Interval.M1, Interval.M5


def _tick(i: int, symbol: str = "IF2101") -> Tick:
    return Tick(
        symbol=symbol,
        exchange=Exchange.CFFEX,
        ts=T0 + timedelta(seconds=i),
        trading_day=date(2021, 1, 4),
        last_price=5000.0 + i * 0.2,
        volume=i,
        turnover=0.0,
        open_interest=1.0,
    )


class FlakyBus(MemoryBus):
    """A real memory bus that can be switched off, as Redis going away would be."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.batches: list[int] = []

    async def publish_many(self, events: Sequence[Event]) -> None:
        if self.down:
            raise ConnectionError("bus is down")
        self.batches.append(len(events))
        await super().publish_many(events)


async def test_feed_keeps_latest_quotes_and_publishes_in_batches() -> None:
    bus = FlakyBus()
    quotes = MemoryQuoteCache()
    feed = MarketFeed(bus, quotes)
    subscription = await bus.subscribe("ticks.CFFEX.")
    await feed.start()
    try:
        for i in range(1200):
            feed.accept(_tick(i))
        feed.accept(_tick(0, symbol="IC2105"))
        await wait_until(lambda: feed.published == 1201)
        assert max(bus.batches) <= 500
        assert len(bus.batches) < 1201  # batched, not one publish per tick
        latest = await quotes.get("CFFEX.IF2101")
        assert latest is not None
        assert latest.volume == 1199
        assert [t.symbol for t in await quotes.all()] == ["IC2105", "IF2101"]
        first = await next_event(subscription)
        assert isinstance(first, TickEvent)
        assert first.tick.volume == 0
    finally:
        await subscription.close()
        await feed.stop()


async def test_a_bus_outage_drops_ticks_and_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.market.feed")
    bus = FlakyBus()
    bus.down = True
    quotes = MemoryQuoteCache()
    feed = MarketFeed(bus, quotes)
    await feed.start()
    try:
        for i in range(10):
            feed.accept(_tick(i))
            await asyncio.sleep(0.005)
        await wait_until(lambda: feed.dropped == 10)
        assert feed.published == 0
        warnings = [r for r in caplog.records if "bus publish failing" in r.getMessage()]
        assert len(warnings) == 1  # said once, not per batch
        bus.down = False
        feed.accept(_tick(10))
        await wait_until(lambda: feed.published == 1)
        assert await quotes.get("CFFEX.IF2101") == _tick(10)
        assert any("bus is back" in r.getMessage() for r in caplog.records)
    finally:
        await feed.stop()


def test_a_full_feed_queue_drops_the_oldest_tick() -> None:
    feed = MarketFeed(FlakyBus(), MemoryQuoteCache(), capacity=3)
    for i in range(5):
        feed.accept(_tick(i))
    assert feed.dropped == 2
    assert feed.received == 5


def test_the_shipped_replay_file_is_the_documented_real_day() -> None:
    ticks = load_ticks(DEFAULT_REPLAY_FILE)
    assert len(ticks) == 27_955
    assert {(t.symbol, t.exchange, t.trading_day) for t in ticks} == {
        ("IF2101", Exchange.CFFEX, date(2021, 1, 4))
    }
    assert ticks[0].ts == datetime(2021, 1, 4, 1, 29, 0, 400_000, tzinfo=UTC)  # 09:29:00.4 Shanghai
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(ticks))


async def test_replay_paces_by_the_recorded_gaps_and_shortens_long_breaks(tmp_path: Path) -> None:
    lines = [
        "TradingDay,ActionDay,UpdateTime,UpdateMillisec,InstrumentID,ExchangeID,LastPrice,Volume,"
        "Turnover,OpenInterest,BidPrice1,BidVolume1,AskPrice1,AskVolume1,UpperLimitPrice,LowerLimitPrice"
    ]
    for time_of_day, ms in [("11:29:59", 500), ("11:30:00", 0), ("13:00:00", 0)]:
        lines.append(
            f"20210104,20210104,{time_of_day},{ms},IF2101,CFFEX,5000,1,1,1,4999.8,1,5000.2,1,5500,4500"
        )
    path = tmp_path / "ticks.csv"
    path.write_text("\n".join(lines) + "\n")
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    received = RecordingSink()
    venue = SimulatedVenue(path, speed=2.0, sleep=record, loop_forever=False)
    await venue.start(received)
    assert venue.state == ComponentState.UP
    await wait_until(lambda: len(received.ticks) == 3)
    assert pauses == [0.25, 5.0]  # 0.5 s at double speed; the lunch break capped
    await venue.stop()
    assert venue.state == ComponentState.DOWN


async def test_an_unreadable_replay_file_fails_start_with_the_reason(tmp_path: Path) -> None:
    venue = SimulatedVenue(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        await venue.start(RecordingSink())
    assert venue.state == ComponentState.DOWN
    assert "missing.csv" in venue.detail


class MarketClock:
    def __init__(self) -> None:
        self.now = datetime.min.replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _if_tick(hh: int, mm: int, ss: float, volume: int, price: float = 5000.0) -> Tick:
    local = datetime(2021, 1, 4, hh, mm, tzinfo=EXCHANGE_TZ) + timedelta(seconds=ss)
    return Tick(
        symbol="IF2101",
        exchange=Exchange.CFFEX,
        ts=local.astimezone(UTC),
        trading_day=date(2021, 1, 4),
        last_price=price,
        volume=volume,
        turnover=price * volume * 300,
        open_interest=1.0,
    )


async def test_the_feed_closes_live_bars_by_the_venue_clock_and_publishes_them() -> None:
    bus = MemoryBus()
    clock = MarketClock()
    bars = LiveBars(
        load_sessions(), load_calendar(), ProductCatalogue(shipped_products()), (M1, M5)
    )
    feed = MarketFeed(bus, MemoryQuoteCache(), bars=bars, market_time=clock, clock_interval_s=0.01)
    minute_bars = await bus.subscribe("bars.1m.CFFEX.IF2101")
    five_minute_bars = await bus.subscribe("bars.5m.")
    await feed.start()
    try:
        feed.accept(_if_tick(10, 0, 5, 10, 5000.0))
        feed.accept(_if_tick(10, 0, 30, 25, 5001.0))
        clock.now = _if_tick(10, 0, 59.9, 0).ts
        await wait_until(lambda: bars.current(Exchange.CFFEX, "IF2101", M1) is not None)
        await asyncio.sleep(0.05)
        assert feed.bars_published == 0  # the minute is not over by the venue's clock
        in_progress = bars.current(Exchange.CFFEX, "IF2101", M1)
        clock.now = _if_tick(10, 1, 0, 0).ts  # no further tick: the clock alone closes it
        event = await next_event(minute_bars)
        assert isinstance(event, BarEvent)
        assert event.bar == in_progress
        assert (event.bar.open, event.bar.close, event.bar.volume) == (5000.0, 5001.0, 25)
        # A replay starting over closes what is in progress (the 10:00 five-minute bar).
        feed.rewind()
        five = await next_event(five_minute_bars)
        assert isinstance(five, BarEvent)
        assert five.bar.interval is M5
        assert five.bar.volume == 25
        assert bars.current(Exchange.CFFEX, "IF2101", M5) is None
    finally:
        await minute_bars.close()
        await five_minute_bars.close()
        await feed.stop()


async def test_replay_market_time_moves_through_pauses_and_restarts_with_a_rewind(
    tmp_path: Path,
) -> None:
    lines = [
        "TradingDay,ActionDay,UpdateTime,UpdateMillisec,InstrumentID,ExchangeID,LastPrice,Volume,"
        "Turnover,OpenInterest,BidPrice1,BidVolume1,AskPrice1,AskVolume1,UpperLimitPrice,LowerLimitPrice"
    ]
    for time_of_day in ("11:29:59", "13:00:00"):
        lines.append(
            f"20210104,20210104,{time_of_day},0,IF2101,CFFEX,5000,1,1,1,4999.8,1,5000.2,1,5500,4500"
        )
    path = tmp_path / "ticks.csv"
    path.write_text("\n".join(lines) + "\n")
    first, second = (t.ts for t in load_ticks(path))
    seen: list[tuple[datetime, datetime]] = []
    venue: SimulatedVenue

    async def pause(seconds: float) -> None:
        at_start = venue.market_time()
        await asyncio.sleep(seconds / 100)
        seen.append((at_start, venue.market_time()))

    sink = RecordingSink()
    venue = SimulatedVenue(path, speed=1.0, sleep=pause)
    assert venue.market_time() < first  # before any tick
    await venue.start(sink)
    try:
        await wait_until(lambda: len(sink.rewinds) >= 2)
    finally:
        await venue.stop()
    assert sink.rewinds[:2] == [2, 4]  # after each full pass, before the next one's ticks
    at_start, before_next = seen[0]
    # During the (shortened) lunch pause the clock runs from the 11:29:59 tick to 13:00.
    assert at_start >= first
    # 1/100 of the 5 s pause: about 1/100 of the 90 minutes (more on a loaded machine).
    assert first + timedelta(seconds=30) < before_next <= second
