"""The latest-quote cache port: the newest tick per instrument, readable by every replica."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.domain import Tick


class QuoteCacheUnavailableError(ConnectionError):
    """The cache backend cannot be reached."""


def quote_key(tick: Tick) -> str:
    """``EXCHANGE.symbol``, the key quotes are stored and asked for under."""
    return f"{tick.exchange}.{tick.symbol}"


class QuoteCache(Protocol):
    async def put_many(self, ticks: Sequence[Tick]) -> None:
        """Store each tick unless a newer one (by exchange timestamp) is already cached."""

    async def get(self, key: str) -> Tick | None: ...

    async def get_many(self, keys: Sequence[str]) -> dict[str, Tick]:
        """The cached ticks of ``keys``; unknown keys are absent from the result."""

    async def all(self) -> list[Tick]:
        """Every cached tick, sorted by key."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
