"""The EventBus contract, run against every implementation: in-process and Redis pub/sub."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from shared.bus import DEFAULT_QUEUE_SIZE, BusUnavailableError, MemoryBus, open_bus
from shared.bus.redis import RedisBus
from shared.config import Settings
from shared.domain import Event, Exchange, topic_for
from tests.support.samples import SAMPLE_EVENTS, tick_event
from tests.support.waiting import next_event, wait_until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

Bus = MemoryBus | RedisBus
BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=BACKENDS)
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Bus]]:
    """Builds started buses of one kind (queue size adjustable); all are closed afterwards."""
    redis_url = prefix = ""
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_server")
        prefix = request.getfixturevalue("redis_prefix")
    buses: list[Bus] = []

    def make(queue_size: int = DEFAULT_QUEUE_SIZE) -> Bus:
        bus: Bus
        if request.param == "memory":
            bus = MemoryBus(queue_size=queue_size)
        else:
            bus = RedisBus(redis_url, prefix=prefix, queue_size=queue_size)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.close()


@pytest.fixture
async def bus(make_bus: Callable[..., Bus]) -> Bus:
    started = make_bus()
    await started.start()
    return started


@pytest.mark.parametrize("event", SAMPLE_EVENTS.values(), ids=SAMPLE_EVENTS.keys())
async def test_subscriber_receives_an_equal_event(bus: Bus, event: Event) -> None:
    async with await bus.subscribe(topic_for(event)) as subscription:
        await bus.publish(event)

        received = await next_event(subscription)

    assert received == event
    assert type(received) is type(event)


async def test_prefix_selects_topics(bus: Bus) -> None:
    shfe = tick_event("rb2405", Exchange.SHFE)
    dce = tick_event("m2405", Exchange.DCE)
    async with await bus.subscribe("ticks.SHFE.") as subscription:
        await bus.publish(dce)
        await bus.publish(shfe)

        # Delivery keeps publish order, so had the DCE tick arrived it would come first.
        assert await next_event(subscription) == shfe
        assert subscription.pending == 0


async def test_a_whole_topic_is_a_prefix_too(bus: Bus) -> None:
    wanted = tick_event("rb2405")
    async with await bus.subscribe(topic_for(wanted)) as subscription:
        await bus.publish(tick_event("rb2410"))
        await bus.publish(wanted)

        assert await next_event(subscription) == wanted


async def test_overlapping_prefixes_deliver_each_event_once(bus: Bus) -> None:
    shfe = tick_event("rb2405", Exchange.SHFE)
    dce = tick_event("m2405", Exchange.DCE)
    async with await bus.subscribe("ticks.", "ticks.SHFE.", "ticks.SHFE.rb2405") as subscription:
        await bus.publish(shfe)
        await bus.publish(dce)

        assert await next_event(subscription) == shfe
        assert await next_event(subscription) == dce


async def test_empty_prefix_receives_every_topic(bus: Bus) -> None:
    async with await bus.subscribe("") as subscription:
        await bus.publish_many(list(SAMPLE_EVENTS.values()))

        received = [await next_event(subscription) for _ in SAMPLE_EVENTS]

    assert received == list(SAMPLE_EVENTS.values())


async def test_subscribing_to_nothing_is_refused(bus: Bus) -> None:
    with pytest.raises(ValueError, match="at least one topic prefix"):
        await bus.subscribe()


async def test_glob_characters_in_topics_are_literal(bus: Bus) -> None:
    decoy = tick_event(seq=1)
    wanted = tick_event(seq=2)
    async with await bus.subscribe("custom.a*", "custom.[ab]?") as subscription:
        await bus.publish(decoy, topic="custom.aX")
        await bus.publish(decoy, topic="custom.b")
        await bus.publish(wanted, topic="custom.a*b")
        await bus.publish(wanted, topic="custom.[ab]?.c")

        assert await next_event(subscription) == wanted
        assert await next_event(subscription) == wanted


async def test_two_subscribers_both_receive(bus: Bus) -> None:
    event = SAMPLE_EVENTS["order"]
    async with (
        await bus.subscribe("account.acc-7.") as first,
        await bus.subscribe("account.") as second,
    ):
        await bus.publish(event)

        assert await next_event(first) == event
        assert await next_event(second) == event


async def test_publish_many_keeps_order(bus: Bus) -> None:
    events = [
        tick_event(
            "rb2405" if seq % 3 else "m2405", Exchange.SHFE if seq % 3 else Exchange.DCE, seq
        )
        for seq in range(60)
    ]
    async with await bus.subscribe("ticks.") as subscription:
        await bus.publish_many(events)
        await bus.publish_many([])

        received = [await next_event(subscription) for _ in events]

    assert received == events


async def test_events_published_before_subscribing_are_not_delivered(bus: Bus) -> None:
    early = tick_event(seq=1)
    late = tick_event(seq=2)
    await bus.publish(early)
    async with await bus.subscribe("ticks.") as subscription:
        await bus.publish(late)

        assert await next_event(subscription) == late


async def test_close_stops_delivery(bus: Bus) -> None:
    subscription = await bus.subscribe("ticks.")
    await bus.publish(tick_event(seq=1))  # queued but never consumed
    await subscription.close()
    await bus.publish(tick_event(seq=2))

    assert subscription.closed
    async with asyncio.timeout(2):
        assert [event async for event in subscription] == []


async def test_close_wakes_a_waiting_consumer(bus: Bus) -> None:
    subscription = await bus.subscribe("ticks.")

    async def consume() -> list[Event]:
        return [event async for event in subscription]

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.05)  # let it block on the empty subscription
    await subscription.close()

    async with asyncio.timeout(2):
        assert await consumer == []


async def test_slow_subscriber_never_blocks_the_publisher(make_bus: Callable[..., Bus]) -> None:
    bus = make_bus(queue_size=8)
    await bus.start()
    events = [tick_event(seq=seq) for seq in range(50)]
    async with await bus.subscribe("ticks.") as subscription:
        async with asyncio.timeout(2):
            await bus.publish_many(events[:25])
            for event in events[25:]:
                await bus.publish(event)

        await wait_until(lambda: subscription.dropped == 42)
        received = [await next_event(subscription) for _ in range(8)]

        assert received == events[-8:]
        assert subscription.pending == 0
        assert subscription.dropped == 42


async def test_ping_and_closed_bus(make_bus: Callable[..., Bus]) -> None:
    bus = make_bus()
    await bus.start()
    await bus.ping()
    subscription = await bus.subscribe("ticks.")

    await bus.close()

    assert subscription.closed
    with pytest.raises(BusUnavailableError, match="closed"):
        await bus.publish(tick_event())
    with pytest.raises(BusUnavailableError, match="closed"):
        await bus.ping()


async def test_open_bus_follows_the_settings() -> None:
    memory = open_bus(Settings())
    redis_bus = open_bus(
        Settings(bus="redis", redis_url="redis://127.0.0.1:6399/2", redis_prefix="q1")
    )

    assert isinstance(memory, MemoryBus)
    assert isinstance(redis_bus, RedisBus)
    assert redis_bus.prefix == "q1"
    assert redis_bus.channel("ticks.SHFE.rb2405") == "q1:ticks.SHFE.rb2405"
    await redis_bus.close()
    await memory.close()
