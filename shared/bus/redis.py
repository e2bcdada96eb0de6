"""Event bus on Redis pub/sub: gateway replicas and workers see each other's events.

Events travel as msgpack on channel ``{prefix}:{topic}``; a subscription is one PSUBSCRIBE
connection per subscriber, read by a task that fills the same bounded inbox as the in-memory bus.
Pub/sub is at-most-once, which is what the port promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from shared.bus._port import BusUnavailableError
from shared.bus.memory import DEFAULT_QUEUE_SIZE, QueuedSubscription, check_topic, minimal_prefixes
from shared.domain import Event, decode_event, encode_event, topic_for

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")
_RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


def pattern_for(prefix: str, topic_prefix: str) -> str:
    """A PSUBSCRIBE pattern matching every channel that starts with ``prefix:topic_prefix``."""
    return _GLOB_SPECIAL.sub(r"\\\1", f"{prefix}:{topic_prefix}") + "*"


def _location(url: str) -> str:
    """The URL without its password, for messages that end up in logs and /ready."""
    parts = urlsplit(url)
    host = parts.hostname or parts.path or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path if parts.hostname else ''}"


def _unavailable(location: str, exc: BaseException) -> BusUnavailableError:
    # asyncio.timeout() raises a bare TimeoutError, which says nothing by itself.
    reason = str(exc) or ("no answer in time" if isinstance(exc, TimeoutError) else repr(exc))
    return BusUnavailableError(f"Redis bus at {location} is unavailable: {reason}")


class RedisSubscription(QueuedSubscription):
    def __init__(
        self,
        pubsub: PubSub,
        prefixes: tuple[str, ...],
        queue_size: int,
        timeout_s: float,
        on_close: Callable[[RedisSubscription], None],
    ) -> None:
        super().__init__(prefixes, queue_size)
        self._pubsub = pubsub
        self._timeout_s = timeout_s
        self._on_close = on_close
        self._reader: asyncio.Task[None] | None = None
        self.malformed = 0

    async def confirm(self, patterns: Sequence[str]) -> None:
        """Wait until Redis has registered every pattern, so later publishes reach us."""
        await self._pubsub.psubscribe(*patterns)
        confirmed = 0
        async with asyncio.timeout(self._timeout_s):
            while confirmed < len(patterns):
                message = await self._pubsub.get_message(timeout=self._timeout_s)
                if message is not None and message["type"] == "psubscribe":
                    confirmed += 1
                elif message is not None:
                    self._accept(message)

    def start_reading(self) -> None:
        self._reader = asyncio.create_task(self._read(), name=f"bus-subscription{self.prefixes}")

    async def _read(self) -> None:
        failures = 0
        while not (self.closed and not self._pubsub.subscribed):
            try:
                message = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                # The pub/sub connection resubscribes by itself once Redis is back.
                delay = _RECONNECT_DELAYS[min(failures, len(_RECONNECT_DELAYS) - 1)]
                failures += 1
                log.warning("bus subscription lost Redis (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if message is not None:
                self._accept(message)

    def _accept(self, message: dict[str, Any]) -> None:
        if message["type"] != "pmessage":
            return
        try:
            event = decode_event(message["data"])
        except (msgspec.DecodeError, ValueError, TypeError) as exc:
            self.malformed += 1
            # A misbehaving publisher could flood the log; the counter keeps the full story.
            if self.malformed == 1 or self.malformed % 1000 == 0:
                log.warning(
                    "skipped malformed bus payload on %r (%d so far): %s",
                    message["channel"],
                    self.malformed,
                    exc,
                )
            return
        self._inbox.put(event)

    async def abandon(self) -> None:
        """Give up a subscription that never started reading (subscribing failed)."""
        await super().close()
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self.closed:
            return
        await super().close()
        self._on_close(self)
        try:
            # The reader sees the unsubscribe confirmations and then stops on its own.
            await asyncio.wait_for(self._pubsub.punsubscribe(), self._timeout_s)
        except (RedisError, OSError) as exc:
            log.warning("bus subscription could not unsubscribe (%s); dropping its connection", exc)
        if self._reader is not None:
            await self._stop_reader(self._reader)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _stop_reader(self, reader: asyncio.Task[None]) -> None:
        await asyncio.wait({reader}, timeout=self._timeout_s)
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        elif (failure := reader.exception()) is not None:
            log.error("bus subscription reader failed", exc_info=failure)


class RedisBus:
    """Publishes on ``{prefix}:{topic}``; subscribers PSUBSCRIBE ``{prefix}:{topic_prefix}*``."""

    def __init__(
        self,
        url: str,
        prefix: str = "quant",
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        timeout_s: float = 1.0,
    ) -> None:
        if queue_size <= 0:
            raise ValueError(f"queue size must be positive, got {queue_size}")
        if not prefix:
            raise ValueError("the Redis bus needs a non-empty channel prefix")
        self._prefix = prefix
        self._queue_size = queue_size
        self._timeout_s = timeout_s
        self._location = _location(url)
        # Short timeouts and a single immediate retry: a down Redis must make /ready answer
        # fast and must not stall the tick consumer behind backoff sleeps.
        self._client = redis.asyncio.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 1),
        )
        self._subscriptions: dict[RedisSubscription, None] = {}
        self._closed = False

    @property
    def prefix(self) -> str:
        return self._prefix

    def channel(self, topic: str) -> str:
        return f"{self._prefix}:{check_topic(topic)}"

    async def start(self) -> None:
        # Connections are made on first use; an unreachable Redis shows up in ping() (/ready).
        return None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()
        await self._client.aclose()

    async def ping(self) -> None:
        self._check_open()
        try:
            async with asyncio.timeout(self._timeout_s * 2):
                await self._client.ping()
        except (RedisError, OSError) as exc:
            raise _unavailable(self._location, exc) from exc

    async def publish(self, event: Event, topic: str | None = None) -> None:
        self._check_open()
        channel = self.channel(topic if topic is not None else topic_for(event))
        try:
            await self._client.publish(channel, encode_event(event))
        except (RedisError, OSError) as exc:
            raise _unavailable(self._location, exc) from exc

    async def publish_many(self, events: Sequence[Event]) -> None:
        self._check_open()
        if not events:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(self.channel(topic_for(event)), encode_event(event))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _unavailable(self._location, exc) from exc

    async def subscribe(self, *prefixes: str) -> RedisSubscription:
        self._check_open()
        wanted = minimal_prefixes(prefixes)
        subscription = RedisSubscription(
            self._client.pubsub(), wanted, self._queue_size, self._timeout_s * 2, self._forget
        )
        try:
            await subscription.confirm([pattern_for(self._prefix, prefix) for prefix in wanted])
        except (RedisError, OSError) as exc:
            await subscription.abandon()
            raise _unavailable(self._location, exc) from exc
        self._subscriptions[subscription] = None
        subscription.start_reading()
        return subscription

    def _forget(self, subscription: RedisSubscription) -> None:
        self._subscriptions.pop(subscription, None)

    def _check_open(self) -> None:
        if self._closed:
            raise BusUnavailableError("the Redis bus is closed")
