"""The bars in progress on a replica without a venue, rebuilt from the bus."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from gateway.market.bar_follower import BarFollower
from gateway.market.live_bars import LiveBars
from shared.bus import MemoryBus
from shared.domain import EXCHANGE_TZ, Bar, BarEvent, Exchange, Interval, Tick, TickEvent
from shared.instruments import ProductCatalogue, shipped_products
from shared.sessions import load_calendar, load_sessions
from tests.support.waiting import wait_until

M1, M5 = Interval.M1, Interval.M5


def _tick(hh: int, mm: int, ss: float, volume: int, price: float = 5000.0) -> Tick:
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


def _closed_minute(hh: int, mm: int) -> BarEvent:
    start = datetime(2021, 1, 4, hh, mm, tzinfo=EXCHANGE_TZ).astimezone(UTC)
    bar = Bar(
        symbol="IF2101",
        exchange=Exchange.CFFEX,
        interval=M1,
        start=start,
        trading_day=date(2021, 1, 4),
        open=5000.0,
        high=5000.0,
        low=5000.0,
        close=5000.0,
    )
    return BarEvent(bar=bar)


def _follower() -> BarFollower:
    bars = LiveBars(
        load_sessions(), load_calendar(), ProductCatalogue(shipped_products()), (M1, M5)
    )
    return BarFollower(MemoryBus(), bars)


async def test_ticks_build_the_bar_in_progress() -> None:
    follower = _follower()
    await follower.apply(TickEvent(tick=_tick(10, 0, 5, 10, 5000.0)))
    await follower.apply(TickEvent(tick=_tick(10, 0, 30, 25, 5002.0)))
    bar = follower.bars.current(Exchange.CFFEX, "IF2101", M1)
    assert bar is not None
    assert (bar.open, bar.high, bar.close, bar.volume) == (5000.0, 5002.0, 5002.0, 25)


async def test_a_closed_minute_on_the_bus_is_the_venues_clock_and_closes_the_minute_here() -> None:
    follower = _follower()
    await follower.apply(TickEvent(tick=_tick(14, 59, 50, 10)))  # the session's last minute
    assert follower.bars.current(Exchange.CFFEX, "IF2101", M1) is not None
    await follower.apply(_closed_minute(14, 59))  # the venue closed it at 15:00 by its clock
    assert follower.bars.current(Exchange.CFFEX, "IF2101", M1) is None
    assert follower.bars.current(Exchange.CFFEX, "IF2101", M5) is None  # 14:55-15:00 ends too


async def test_ticks_going_back_in_time_start_the_bars_afresh() -> None:
    follower = _follower()
    await follower.apply(TickEvent(tick=_tick(14, 30, 0, 500, 5100.0)))
    await follower.apply(TickEvent(tick=_tick(9, 30, 1, 10, 4900.0)))  # the replay looped
    bar = follower.bars.current(Exchange.CFFEX, "IF2101", M1)
    assert bar is not None
    assert (bar.open, bar.volume) == (4900.0, 10)
    # A closed bar from before the loop must not close the new pass's bars.
    await follower.apply(_closed_minute(14, 30))
    assert follower.bars.current(Exchange.CFFEX, "IF2101", M1) is not None


async def test_it_follows_the_bus_until_stopped() -> None:
    bus = MemoryBus()
    bars = LiveBars(load_sessions(), load_calendar(), ProductCatalogue(shipped_products()), (M1,))
    follower = BarFollower(bus, bars)
    await bus.start()
    await follower.start()
    try:
        await wait_until(lambda: len(bus._subscriptions) > 0)
        await bus.publish(TickEvent(tick=_tick(10, 0, 5, 10)))
        await wait_until(lambda: bars.current(Exchange.CFFEX, "IF2101", M1) is not None)
    finally:
        await follower.stop()
        await bus.close()
