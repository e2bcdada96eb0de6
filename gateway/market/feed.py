"""The one consumer of venue ticks: the latest-quote cache and batched publishing on the bus.

Venues hand ticks to ``accept`` on the event loop; the queue is bounded so a stalled bus can
never grow memory without limit (the oldest ticks are dropped and counted instead). Each batch
costs one cache write and one bus round trip, whatever the tick rate.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.tasks import cancel_and_wait
from shared.bus import EventBus
from shared.domain import Tick, TickEvent
from shared.quotes import QuoteCache

log = logging.getLogger(__name__)

_BATCH = 500
_OUTAGE_LOG_EVERY_S = 30.0


class MarketFeed:
    def __init__(self, bus: EventBus, quotes: QuoteCache, capacity: int = 100_000) -> None:
        self._bus = bus
        self._quotes = quotes
        self._queue: asyncio.Queue[Tick] = asyncio.Queue(maxsize=capacity)
        self._task: asyncio.Task[None] | None = None
        self.received = 0
        self.dropped = 0
        self.published = 0
        self._failing_since: float | None = None
        self._last_outage_log = 0.0

    def accept(self, tick: Tick) -> None:
        """The venue's sink; never blocks."""
        self.received += 1
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(tick)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._publish_loop(), name="market-feed")

    async def _publish_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._quotes.put_many(batch)
                await self._bus.publish_many([TickEvent(tick=tick) for tick in batch])
            except ConnectionError as exc:
                # Drop the batch rather than queue it: stale ticks are worth nothing.
                self.dropped += len(batch)
                self._report_outage(exc)
            else:
                self.published += len(batch)
                if self._failing_since is not None:
                    log.info("market feed: bus is back; %d ticks were dropped", self.dropped)
                    self._failing_since = None

    def _report_outage(self, exc: ConnectionError) -> None:
        # Once when it starts, then at most every _OUTAGE_LOG_EVERY_S: not once per batch.
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._last_outage_log < _OUTAGE_LOG_EVERY_S:
            return
        self._last_outage_log = now
        log.warning(
            "market feed: bus publish failing (%s); %d ticks dropped so far", exc, self.dropped
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
