"""The market feed (quote cache, batched publishing, bus outages) and the replay venue."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gateway.market.feed import MarketFeed
from gateway.venues.simulated import DEFAULT_REPLAY_FILE, SimulatedVenue, load_ticks
from shared.bus import MemoryBus
from shared.domain import ComponentState, Event, Exchange, Tick, TickEvent
from shared.quotes import MemoryQuoteCache
from tests.support.waiting import next_event, wait_until

T0 = datetime(2021, 1, 4, 1, 30, tzinfo=UTC)


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

    received: list[Tick] = []
    venue = SimulatedVenue(path, speed=2.0, sleep=record, loop_forever=False)
    await venue.start(received.append)
    assert venue.state == ComponentState.UP
    await wait_until(lambda: len(received) == 3)
    assert pauses == [0.25, 5.0]  # 0.5 s at double speed; the lunch break capped
    await venue.stop()
    assert venue.state == ComponentState.DOWN


async def test_an_unreadable_replay_file_fails_start_with_the_reason(tmp_path: Path) -> None:
    venue = SimulatedVenue(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        await venue.start(lambda tick: None)
    assert venue.state == ComponentState.DOWN
    assert "missing.csv" in venue.detail
