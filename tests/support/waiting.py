"""Bounded waits for asynchronous delivery: a broken bus fails a test instead of hanging it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.bus.memory import QueuedSubscription
    from shared.domain import Event


async def next_event(subscription: QueuedSubscription, timeout_s: float = 2.0) -> Event:
    async with asyncio.timeout(timeout_s):
        return await anext(subscription)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    # Polling: the Redis reader task fills the queue on its own schedule and signals nothing.
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
