"""One suite for every QuoteCache: the in-memory one and the Redis hash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import msgspec
import pytest
import redis.asyncio

from shared.domain import Exchange, Tick
from shared.quotes import MemoryQuoteCache, QuoteCache, QuoteCacheUnavailableError
from shared.quotes.redis import RedisQuoteCache
from tests.support.samples import tick_event


def _tick(symbol: str = "rb2405", seq: int = 0, exchange: Exchange = Exchange.SHFE) -> Tick:
    return tick_event(symbol=symbol, exchange=exchange, seq=seq).tick


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[QuoteCache]:
    if request.param == "memory":
        implementation: QuoteCache = MemoryQuoteCache()
    else:
        redis_url = request.getfixturevalue("redis_server")
        implementation = RedisQuoteCache(redis_url, request.getfixturevalue("redis_prefix"))
    yield implementation
    await implementation.close()


async def test_the_newest_tick_per_symbol_wins(cache: QuoteCache) -> None:
    await cache.put_many([_tick(seq=1), _tick(seq=3), _tick(seq=2)])  # 2 arrived late
    await cache.put_many([_tick(symbol="m2405", exchange=Exchange.DCE, seq=7)])
    latest = await cache.get("SHFE.rb2405")
    assert latest == _tick(seq=3)
    assert await cache.get("DCE.m2405") == _tick(symbol="m2405", exchange=Exchange.DCE, seq=7)
    assert await cache.get("SHFE.nothing") is None


async def test_get_many_and_all(cache: QuoteCache) -> None:
    ticks = [_tick(symbol=f"rb24{m:02d}", seq=m) for m in range(1, 6)]
    await cache.put_many(ticks)
    found = await cache.get_many(["SHFE.rb2403", "SHFE.rb2499", "SHFE.rb2401"])
    assert found == {"SHFE.rb2403": ticks[2], "SHFE.rb2401": ticks[0]}
    assert await cache.get_many([]) == {}
    assert [t.symbol for t in await cache.all()] == [t.symbol for t in ticks]


async def test_a_later_batch_replaces_and_an_empty_batch_is_harmless(cache: QuoteCache) -> None:
    await cache.put_many([_tick(seq=1)])
    newer = msgspec.structs.replace(
        _tick(seq=1), ts=_tick(seq=1).ts + timedelta(seconds=1), last_price=3999.0
    )
    await cache.put_many([newer])
    await cache.put_many([])
    assert await cache.get("SHFE.rb2405") == newer
    await cache.ping()


async def test_two_redis_caches_on_one_prefix_share_quotes_and_prefixes_isolate(
    redis_server: str, redis_prefix: str
) -> None:
    writer = RedisQuoteCache(redis_server, redis_prefix)
    reader = RedisQuoteCache(redis_server, redis_prefix)
    stranger = RedisQuoteCache(redis_server, f"{redis_prefix}-other")
    try:
        await writer.put_many([_tick(seq=4)])
        assert await reader.get("SHFE.rb2405") == _tick(seq=4)
        assert await stranger.all() == []
        client = redis.asyncio.Redis.from_url(redis_server)
        assert await client.hlen(writer.key) == 1  # type: ignore[misc]
        await client.aclose()
    finally:
        for cache in (writer, reader, stranger):
            await cache.close()


async def test_an_unreachable_redis_is_reported_without_the_password() -> None:
    cache = RedisQuoteCache("redis://:hunter2@127.0.0.1:1/0", "x", timeout_s=0.5)
    try:
        with pytest.raises(QuoteCacheUnavailableError, match=r"127\.0\.0\.1:1") as caught:
            await cache.ping()
        assert "hunter2" not in str(caught.value)
        with pytest.raises(QuoteCacheUnavailableError):
            await cache.put_many([_tick()])
    finally:
        await cache.close()
