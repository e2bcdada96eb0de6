"""Latest quotes in a dict (the embedded mode: one process)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain import Tick
from shared.quotes._port import quote_key


class MemoryQuoteCache:
    def __init__(self) -> None:
        self._latest: dict[str, Tick] = {}

    async def put_many(self, ticks: Sequence[Tick]) -> None:
        for tick in ticks:
            key = quote_key(tick)
            current = self._latest.get(key)
            if current is None or tick.ts >= current.ts:
                self._latest[key] = tick

    async def get(self, key: str) -> Tick | None:
        return self._latest.get(key)

    async def get_many(self, keys: Sequence[str]) -> dict[str, Tick]:
        return {key: self._latest[key] for key in keys if key in self._latest}

    async def all(self) -> list[Tick]:
        return [self._latest[key] for key in sorted(self._latest)]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._latest.clear()
