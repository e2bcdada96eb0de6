"""The event bus port: publish domain events on topics, subscribe by topic prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Protocol, Self

from shared.domain import Event


class BusUnavailableError(ConnectionError):
    """The bus backend cannot be reached."""


class Subscription(Protocol):
    """Events on the subscribed prefixes, in publish order per publisher, until closed."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class EventBus(Protocol):
    """Fire-and-forget fan-out (ticks, bars, order events) between gateway replicas and workers.

    Topics are dotted (``ticks.SHFE.rb2401``, see ``shared.domain.topic_for``). A subscriber
    names prefixes; a prefix ending in ``.`` or a whole topic both work. Delivery is
    at-most-once: durable order bookkeeping goes through the database, not the bus.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise ``BusUnavailableError`` when the backend is unreachable."""

    async def publish(self, event: Event, topic: str | None = None) -> None:
        """Publish on ``topic`` (default: ``topic_for(event)``)."""

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Publish a batch in one round trip where the backend allows it."""

    async def subscribe(self, *prefixes: str) -> Subscription:
        """Start receiving; events published after this returns are delivered."""
