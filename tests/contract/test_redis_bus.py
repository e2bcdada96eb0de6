"""What only the Redis bus has: several processes on one Redis, prefixes, raw payloads, outages."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
import pytest

from shared.bus import BusUnavailableError
from shared.bus.redis import RedisBus
from tests.support.samples import SAMPLE_EVENTS, tick_event
from tests.support.waiting import next_event

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import redis.asyncio

pytestmark = pytest.mark.redis


@pytest.fixture
async def make_redis_bus(
    redis_server: str, redis_prefix: str
) -> AsyncIterator[Callable[..., RedisBus]]:
    buses: list[RedisBus] = []

    def make(prefix: str = redis_prefix, url: str = redis_server) -> RedisBus:
        bus = RedisBus(url, prefix=prefix)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.close()


async def test_replicas_on_one_prefix_see_each_others_events(
    make_redis_bus: Callable[..., RedisBus],
) -> None:
    gateway_a, gateway_b = make_redis_bus(), make_redis_bus()
    from_a, from_b = tick_event(seq=1), SAMPLE_EVENTS["order"]
    async with (
        await gateway_a.subscribe("ticks.", "account.") as seen_by_a,
        await gateway_b.subscribe("ticks.", "account.") as seen_by_b,
    ):
        await gateway_a.publish(from_a)
        await gateway_b.publish(from_b)

        assert [await next_event(seen_by_a), await next_event(seen_by_a)] == [from_a, from_b]
        assert [await next_event(seen_by_b), await next_event(seen_by_b)] == [from_a, from_b]


async def test_a_different_prefix_sees_nothing(
    make_redis_bus: Callable[..., RedisBus], redis_prefix: str
) -> None:
    ours, theirs = make_redis_bus(), make_redis_bus(prefix=f"{redis_prefix}-other")
    async with await theirs.subscribe("") as subscription:
        await ours.publish(tick_event(seq=1))
        await ours.publish_many([tick_event(seq=2)])
        marker = tick_event(seq=3)
        await theirs.publish(marker)

        # Redis delivers in order, so anything leaked from `ours` would arrive first.
        assert await next_event(subscription) == marker


async def test_malformed_payloads_are_counted_and_skipped(
    make_redis_bus: Callable[..., RedisBus], redis_client: redis.asyncio.Redis
) -> None:
    bus = make_redis_bus()
    good = tick_event(seq=7)
    channel = bus.channel("ticks.SHFE.rb2405")
    async with await bus.subscribe("ticks.") as subscription:
        await redis_client.publish(channel, b"\xc1 is never valid msgpack")
        await redis_client.publish(channel, msgspec.msgpack.encode({"type": "tick", "tick": 1}))
        await redis_client.publish(channel, msgspec.msgpack.encode({"type": "no-such-event"}))
        await bus.publish(good)

        assert await next_event(subscription) == good
        assert subscription.malformed == 3


async def test_closing_a_subscription_unsubscribes_from_redis(
    make_redis_bus: Callable[..., RedisBus], redis_client: redis.asyncio.Redis
) -> None:
    bus = make_redis_bus()
    channel = bus.channel("ticks.SHFE.rb2405")
    first = await bus.subscribe("ticks.SHFE.")
    second = await bus.subscribe("ticks.")
    assert await redis_client.publish(channel, b"x") == 2  # PUBLISH counts the receivers

    await first.close()
    assert await redis_client.publish(channel, b"x") == 1

    await bus.close()
    assert second.closed
    assert await redis_client.publish(channel, b"x") == 0


async def test_ping_fails_fast_when_redis_is_unreachable(
    make_redis_bus: Callable[..., RedisBus],
) -> None:
    # Port 1 refuses connections; the password must not leak into the message.
    bus = make_redis_bus(url="redis://user:s3cret@127.0.0.1:1/0")
    started = time.monotonic()

    with pytest.raises(BusUnavailableError, match=r"127\.0\.0\.1:1") as raised:
        await bus.ping()

    assert time.monotonic() - started < 3
    assert "s3cret" not in str(raised.value)
    with pytest.raises(BusUnavailableError):
        await bus.publish(tick_event())
    with pytest.raises(BusUnavailableError):
        await bus.subscribe("ticks.")
