"""The in-memory result cache: entries expire after their time to live, and the least
recently used go first once the values exceed the byte budget."""

from __future__ import annotations

from shared.result_cache import MemoryResultCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_entries_expire_after_their_time_to_live() -> None:
    clock = Clock()
    cache = MemoryResultCache(max_bytes=1000, clock=clock)
    await cache.put("a", b"answer", ttl_s=10)
    clock.now = 9.9
    assert await cache.get("a") == b"answer"
    clock.now = 10.0
    assert await cache.get("a") is None
    assert cache.size_bytes == 0


async def test_the_least_recently_used_go_first_past_the_budget() -> None:
    cache = MemoryResultCache(max_bytes=10, clock=Clock())
    await cache.put("a", b"aaaa", ttl_s=60)
    await cache.put("b", b"bbbb", ttl_s=60)
    assert await cache.get("a") == b"aaaa"  # used: now "b" is the least recent
    await cache.put("c", b"cccc", ttl_s=60)
    assert await cache.get("b") is None
    assert await cache.get("a") == b"aaaa"
    assert await cache.get("c") == b"cccc"
    assert cache.size_bytes == 8
    await cache.put("a", b"a2", ttl_s=60)  # replaced, counted once
    assert cache.size_bytes == 6
    await cache.put("huge", b"x" * 11, ttl_s=60)  # larger than the whole budget: not kept
    assert await cache.get("huge") is None
    assert await cache.get("c") == b"cccc"
