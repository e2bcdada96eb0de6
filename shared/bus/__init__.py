"""Event bus port and its implementations: in-process (embedded mode) or Redis pub/sub."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.bus._port import BusUnavailableError, EventBus, Subscription
from shared.bus.memory import DEFAULT_QUEUE_SIZE, MemoryBus

if TYPE_CHECKING:
    from shared.config import Settings


def open_bus(settings: Settings) -> EventBus:
    """The bus the settings name; call ``start()`` on it before use and ``close()`` at the end."""
    if settings.bus == "redis":
        from shared.bus.redis import RedisBus  # noqa: PLC0415  (redis is needed only here)

        return RedisBus(settings.redis_url, prefix=settings.redis_prefix)
    return MemoryBus()


__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "BusUnavailableError",
    "EventBus",
    "MemoryBus",
    "Subscription",
    "open_bus",
]
