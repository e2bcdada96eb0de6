"""In-process event bus for the embedded mode, and the bounded inbox every bus subscription uses.

A publisher never waits for a subscriber: each subscription owns a bounded inbox, and when it
is full the oldest event is dropped and counted. Ticks are superseded by newer ticks, so a
consumer that falls behind is better served by the newest events than by a stalled publisher.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Self

from shared.bus._port import BusUnavailableError
from shared.domain import Event, topic_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

DEFAULT_QUEUE_SIZE = 10_000


def minimal_prefixes(prefixes: Iterable[str]) -> tuple[str, ...]:
    """Drop every prefix covered by a shorter one, so each topic matches at most one prefix.

    ``""`` subscribes to every topic. Subscribing to nothing is refused: an empty list of
    prefixes built by a caller is far more likely a bug than a wish for everything.
    """
    unique = sorted(set(prefixes))
    if not unique:
        raise ValueError("subscribe needs at least one topic prefix ('' means every topic)")
    kept: list[str] = []
    for prefix in unique:
        # Sorted order puts a prefix right before the strings it covers.
        if not kept or not prefix.startswith(kept[-1]):
            kept.append(prefix)
    return tuple(kept)


def check_topic(topic: str) -> str:
    if not topic:
        raise ValueError("topic must not be empty")
    return topic


class EventInbox:
    """A bounded FIFO of events for one consumer; full means the oldest event is dropped."""

    def __init__(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        if maxsize <= 0:
            raise ValueError(f"queue size must be positive, got {maxsize}")
        self._events: deque[Event] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._events)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, event: Event) -> None:
        if self._closed:
            return
        if len(self._events) >= self._maxsize:
            self._events.popleft()
            self.dropped += 1
        self._events.append(event)
        self._ready.set()

    async def get(self) -> Event | None:
        """The next event, waiting for one; ``None`` once the inbox is closed."""
        while not self._events:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._events.popleft()

    def close(self) -> None:
        """Discard what is queued and wake every waiting consumer."""
        self._closed = True
        self._events.clear()
        self._ready.set()


class QueuedSubscription:
    """Iterates an inbox until closed; subclasses say how to stop the source on close."""

    def __init__(self, prefixes: tuple[str, ...], queue_size: int) -> None:
        self.prefixes = prefixes
        self._inbox = EventInbox(queue_size)

    @property
    def dropped(self) -> int:
        """Events discarded because this subscriber fell more than a queue behind."""
        return self._inbox.dropped

    @property
    def pending(self) -> int:
        return len(self._inbox)

    @property
    def closed(self) -> bool:
        return self._inbox.closed

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        event = await self._inbox.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def close(self) -> None:
        self._inbox.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class MemorySubscription(QueuedSubscription):
    def __init__(
        self,
        prefixes: tuple[str, ...],
        queue_size: int,
        on_close: Callable[[MemorySubscription], None],
    ) -> None:
        super().__init__(prefixes, queue_size)
        self._on_close = on_close

    def matches(self, topic: str) -> bool:
        return topic.startswith(self.prefixes)

    def deliver(self, event: Event) -> None:
        self._inbox.put(event)

    async def close(self) -> None:
        if not self.closed:
            self._on_close(self)
        await super().close()


class MemoryBus:
    """Fan-out inside one process; must be used from the event loop that runs the gateway."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size <= 0:
            raise ValueError(f"queue size must be positive, got {queue_size}")
        self._queue_size = queue_size
        # A dict keeps subscription order, so delivery order does not depend on hashing.
        self._subscriptions: dict[MemorySubscription, None] = {}
        self._closed = False

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()

    async def ping(self) -> None:
        if self._closed:
            raise BusUnavailableError("the in-memory bus is closed")

    async def publish(self, event: Event, topic: str | None = None) -> None:
        self._deliver(event, check_topic(topic) if topic is not None else topic_for(event))

    async def publish_many(self, events: Sequence[Event]) -> None:
        for event in events:
            self._deliver(event, topic_for(event))

    def _deliver(self, event: Event, topic: str) -> None:
        if self._closed:
            raise BusUnavailableError("the in-memory bus is closed")
        for subscription in self._subscriptions:
            if subscription.matches(topic):
                subscription.deliver(event)

    async def subscribe(self, *prefixes: str) -> MemorySubscription:
        if self._closed:
            raise BusUnavailableError("the in-memory bus is closed")
        subscription = MemorySubscription(
            minimal_prefixes(prefixes), self._queue_size, self._forget
        )
        self._subscriptions[subscription] = None
        return subscription

    def _forget(self, subscription: MemorySubscription) -> None:
        self._subscriptions.pop(subscription, None)
