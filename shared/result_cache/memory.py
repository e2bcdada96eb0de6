"""The result cache in process memory (embedded mode): least recently used entries go first
once the values exceed a byte budget, and every entry expires after its time to live."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class MemoryResultCache:
    def __init__(
        self, max_bytes: int = 64 * 1024 * 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self._max_bytes:
            return  # never worth evicting everything else for
        self._drop(key)
        self._entries[key] = (self._clock() + ttl_s, value)
        self._bytes += len(value)
        while self._bytes > self._max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1])

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._bytes = 0
