"""Latest quotes in one Redis hash, shared by every gateway replica and worker.

Field = ``EXCHANGE.symbol``, value = the msgpack-encoded Tick. A batch from the market feed
is reduced to the newest tick per instrument first, then written with one HSET, so the cost
is one round trip per batch whatever the tick rate. Older ticks never overwrite newer ones
within a batch; across replicas the venue-holding gateway is the only writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import msgspec
import redis.asyncio
from redis.exceptions import RedisError
from redis.typing import EncodableT

from shared.domain import Tick
from shared.quotes._port import QuoteCacheUnavailableError, quote_key

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Tick)


def _decode(raw: bytes | str) -> Tick:
    # The client returns bytes (decode_responses is off); str only satisfies the stubs.
    return _decoder.decode(raw.encode() if isinstance(raw, str) else raw)


class RedisQuoteCache:
    def __init__(self, url: str, prefix: str, *, timeout_s: float = 1.0) -> None:
        self._client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._key = f"{prefix}:quotes"
        parts = urlsplit(url)
        self._location = f"{parts.hostname}:{parts.port or 6379}"  # never the password

    @property
    def key(self) -> str:
        return self._key

    async def put_many(self, ticks: Sequence[Tick]) -> None:
        newest: dict[str, Tick] = {}
        for tick in ticks:
            key = quote_key(tick)
            current = newest.get(key)
            if current is None or tick.ts >= current.ts:
                newest[key] = tick
        if not newest:
            return
        mapping: dict[EncodableT, EncodableT] = {
            key: _encoder.encode(tick) for key, tick in newest.items()
        }
        try:
            await self._client.hset(self._key, mapping=mapping)
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def get(self, key: str) -> Tick | None:
        try:
            raw = await self._client.hget(self._key, key)
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return None if raw is None else _decode(raw)

    async def get_many(self, keys: Sequence[str]) -> dict[str, Tick]:
        if not keys:
            return {}
        try:
            values = await self._client.hmget(self._key, list(keys))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return {key: _decode(raw) for key, raw in zip(keys, values, strict=True) if raw}

    async def all(self) -> list[Tick]:
        try:
            everything = await self._client.hgetall(self._key)
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return [_decode(everything[key]) for key in sorted(everything)]

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        await self._client.aclose()

    def _unavailable(self, exc: BaseException) -> QuoteCacheUnavailableError:
        return QuoteCacheUnavailableError(f"quote cache at {self._location}: {exc}")
