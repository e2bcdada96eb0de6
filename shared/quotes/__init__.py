"""Latest-quote cache: in memory (embedded) or a Redis hash (production, shared by replicas)."""

from __future__ import annotations

from shared.config import Settings
from shared.quotes._port import QuoteCache, QuoteCacheUnavailableError, quote_key
from shared.quotes.memory import MemoryQuoteCache


def open_quote_cache(settings: Settings) -> QuoteCache:
    """Redis whenever the bus is Redis: replicas then see the same quotes."""
    if settings.bus == "redis":
        from shared.quotes.redis import RedisQuoteCache  # noqa: PLC0415

        return RedisQuoteCache(settings.redis_url, settings.redis_prefix)
    return MemoryQuoteCache()


__all__ = [
    "MemoryQuoteCache",
    "QuoteCache",
    "QuoteCacheUnavailableError",
    "open_quote_cache",
    "quote_key",
]
