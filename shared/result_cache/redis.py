"""The result cache on Redis (production): one key per result under the deployment's
prefix, expiring by itself, shared by every replica."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis.asyncio
from redis.exceptions import RedisError

from shared.result_cache._port import ResultCacheUnavailableError


class RedisResultCache:
    def __init__(self, url: str, prefix: str, *, timeout_s: float = 1.0) -> None:
        self._client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._prefix = f"{prefix}:results:"
        parts = urlsplit(url)
        self._location = f"{parts.hostname}:{parts.port or 6379}"  # never the password

    def key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(self.key(key))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return value if isinstance(value, bytes) or value is None else bytes(value, "utf-8")

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self._client.set(self.key(key), value, px=max(1, int(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        await self._client.aclose()

    def _unavailable(self, exc: Exception) -> ResultCacheUnavailableError:
        return ResultCacheUnavailableError(f"result cache at {self._location}: {exc}")
