"""The result cache port: computed answers kept by a key that names everything they depend on,
so a repeated request is served without computing again (and, on Redis, by any replica)."""

from __future__ import annotations

from typing import Protocol


class ResultCacheUnavailableError(ConnectionError):
    """The cache backend cannot be reached; callers compute instead."""


class ResultCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Keep ``value`` under ``key`` for ``ttl_s`` seconds (or less, under memory
        pressure)."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
