"""Dispatch to Dramatiq workers: enqueue on Redis, then wait for the result without blocking."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, TypeVar

import dramatiq
import msgspec
import redis
import redis.asyncio
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from functions.envelope import decode_outcome, encode_request, error_outcome
from functions.registry import FunctionSpec, UnknownFunctionError, get_function
from functions.runtime.dramatiq import ENCODER, QUEUE, actor_name, result_backend, setup_broker

if TYPE_CHECKING:
    from dramatiq.brokers.redis import RedisBroker

    from functions.deps import Deps
    from shared.config import Settings

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=msgspec.Struct)
Resp = TypeVar("Resp", bound=msgspec.Struct)

_CONNECT_TIMEOUT_S = 3.0


def _fail_fast() -> Retry:
    # Retry a dropped pooled connection once or twice, but report a dead Redis within
    # a fraction of a second instead of redis-py's multi-second default back-off.
    return Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2)


class DramatiqDispatcher:
    kind = "dramatiq"

    def __init__(self, settings: Settings, deps: Deps) -> None:
        self._settings = settings
        self._deps = deps
        self._timeout_s = settings.function_timeout_s
        self._broker: RedisBroker | None = None
        self._redis: redis.asyncio.Redis | None = None

    async def start(self) -> None:
        if self._broker is not None:
            return
        client = redis.Redis.from_url(
            self._settings.redis_url,
            socket_connect_timeout=_CONNECT_TIMEOUT_S,
            retry=_fail_fast(),
        )
        self._broker = setup_broker(self._settings, client=client)
        self._redis = redis.asyncio.Redis.from_url(
            self._settings.redis_url,
            socket_connect_timeout=_CONNECT_TIMEOUT_S,
            retry=_fail_fast(),
        )

    async def close(self) -> None:
        broker, self._broker = self._broker, None
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()
        if broker is not None:
            broker.client.close()

    async def ping(self) -> None:
        if self._redis is None:
            raise ConnectionError("the Dramatiq dispatcher is not started")
        try:
            await self._redis.ping()
        except (redis.RedisError, OSError) as exc:
            raise ConnectionError(
                f"Redis at {self._settings.redis_url} is unreachable: {exc}"
            ) from exc

    async def call(self, spec: FunctionSpec[Req, Resp], request: Req) -> Resp:
        data = await self.call_raw(spec.name, encode_request(request))
        return await decode_outcome(spec, data, self._deps)

    async def call_raw(self, name: str, payload: bytes) -> bytes:
        if self._broker is None or self._redis is None:
            return error_outcome("unavailable", "the Dramatiq dispatcher is not started")
        try:
            get_function(name)  # the workers run the same code: no need to ask them
        except UnknownFunctionError as exc:
            return error_outcome("unknown_function", str(exc))
        try:
            request = payload.decode()
        except UnicodeDecodeError as exc:
            return error_outcome("invalid_request", f"the request is not UTF-8 text: {exc}")
        message: dramatiq.Message[str] = dramatiq.Message(
            queue_name=QUEUE, actor_name=actor_name(name), args=(request,), kwargs={}, options={}
        )
        try:
            await asyncio.to_thread(self._broker.enqueue, message)
            return await self._result_of(name, message)
        except (redis.RedisError, OSError) as exc:
            log.warning("cannot reach Redis for %s: %s", name, exc)
            return error_outcome("unavailable", f"Redis is unreachable: {exc}")

    async def _result_of(self, name: str, message: dramatiq.Message[str]) -> bytes:
        assert self._broker is not None
        assert self._redis is not None
        key = result_backend(self._broker).build_message_key(message)
        # BLPOP takes the single result away; the key disappears with it.
        popped = await self._redis.blpop([key], timeout=self._timeout_s)
        if popped is None:
            return error_outcome("timeout", f"{name} did not answer within {self._timeout_s}s")
        data = popped[1]
        stored = ENCODER.decode(data.encode() if isinstance(data, str) else data)
        if isinstance(stored, str):
            return stored.encode()
        # The actor raised (only a malformed message makes it): the backend kept the error.
        problem = stored.get("exn", {}) if isinstance(stored, dict) else {}
        detail = f"{problem.get('type', 'error')}: {problem.get('msg', stored)}"
        return error_outcome("failed", f"{name} worker failed: {detail}")
