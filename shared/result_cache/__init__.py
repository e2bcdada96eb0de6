"""Computed results kept by key: in memory (embedded) or on Redis (production, shared by
replicas). Indicator answers are kept here, keyed by their data range and parameters."""

from __future__ import annotations

from shared.config import Settings
from shared.result_cache._port import ResultCache, ResultCacheUnavailableError
from shared.result_cache.memory import MemoryResultCache


def open_result_cache(settings: Settings) -> ResultCache:
    """Redis whenever the bus is Redis: replicas then share what any of them computed."""
    if settings.bus == "redis":
        from shared.result_cache.redis import RedisResultCache  # noqa: PLC0415

        return RedisResultCache(settings.redis_url, settings.redis_prefix)
    return MemoryResultCache(max_bytes=settings.result_cache_mb * 1024 * 1024)


__all__ = [
    "MemoryResultCache",
    "ResultCache",
    "ResultCacheUnavailableError",
    "open_result_cache",
]
