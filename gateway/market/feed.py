"""The one consumer of venue ticks: latest quotes, live bars, recording, and the bus.

Venues hand ticks to ``accept`` on the event loop; the queue is bounded so a stalled bus can
never grow memory without limit (the oldest ticks are dropped and counted instead). Each batch
costs one cache write and one bus round trip, whatever the tick rate.

Bars close by the venue's market time: a clock task puts the time into the same queue as the
ticks, so a bar never closes ahead of ticks already received for it, and a replay closes its
bars at the replay's pace. A venue's ``rewind`` travels the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from gateway.market.live_bars import LiveBars
from gateway.market.recorder import MarketRecorder
from gateway.tasks import cancel_and_wait
from shared.bus import EventBus
from shared.domain import Bar, BarEvent, Event, Tick, TickEvent
from shared.quotes import QuoteCache

log = logging.getLogger(__name__)

_BATCH = 500
_OUTAGE_LOG_EVERY_S = 30.0


class _Rewind:
    pass


_REWIND = _Rewind()
_Item = Tick | datetime | _Rewind  # a datetime is the market clock


class MarketFeed:
    def __init__(
        self,
        bus: EventBus,
        quotes: QuoteCache,
        *,
        bars: LiveBars | None = None,
        recorder: MarketRecorder | None = None,
        market_time: Callable[[], datetime] | None = None,
        clock_interval_s: float = 0.25,
        capacity: int = 100_000,
    ) -> None:
        self._bus = bus
        self._quotes = quotes
        self.bars = bars
        self._recorder = recorder
        self._market_time = market_time
        self._clock_interval = clock_interval_s
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=capacity)
        self._tasks: list[asyncio.Task[None]] = []
        self.received = 0
        self.dropped = 0
        self.published = 0
        self.bars_published = 0
        self._failing_since: float | None = None
        self._last_outage_log = 0.0

    def accept(self, tick: Tick) -> None:
        """The venue's sink; never blocks."""
        self.received += 1
        self._put(tick)

    def rewind(self) -> None:
        self._put(_REWIND)

    def _put(self, item: _Item) -> None:
        if self._queue.full() and isinstance(self._queue.get_nowait(), Tick):
            self.dropped += 1
        self._queue.put_nowait(item)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._publish_loop(), name="market-feed"))
        if self.bars is not None and self._market_time is not None:
            self._tasks.append(asyncio.create_task(self._clock_loop(), name="market-clock"))

    async def _clock_loop(self) -> None:
        assert self._market_time is not None
        while True:
            await asyncio.sleep(self._clock_interval)
            self._put(self._market_time())

    async def _publish_loop(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < _BATCH and not self._queue.empty():
                items.append(self._queue.get_nowait())
            ticks, events, closed = self._process(items)
            if self._recorder is not None:
                self._recorder.add(ticks, closed)
            try:
                if ticks:
                    await self._quotes.put_many(ticks)
                if events:
                    await self._bus.publish_many(events)
            except ConnectionError as exc:
                # Drop the batch rather than queue it: stale ticks are worth nothing.
                self.dropped += len(ticks)
                self._report_outage(exc)
            else:
                self.published += len(ticks)
                self.bars_published += len(closed)
                if self._failing_since is not None:
                    log.info("market feed: bus is back; %d ticks were dropped", self.dropped)
                    self._failing_since = None

    def _process(self, items: list[_Item]) -> tuple[list[Tick], list[Event], list[Bar]]:
        """Ticks, the events to publish (in order), and the bars that closed."""
        ticks: list[Tick] = []
        events: list[Event] = []
        closed: list[Bar] = []
        bars = self.bars
        for item in items:
            if isinstance(item, Tick):
                ticks.append(item)
                events.append(TickEvent(tick=item))
                new = bars.update(item) if bars is not None else []
            elif isinstance(item, datetime):
                new = bars.on_clock(item) if bars is not None else []
            else:
                new = bars.rewind() if bars is not None else []
            if new:
                closed.extend(new)
                events.extend(BarEvent(bar=bar) for bar in new)
        return ticks, events, closed

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
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []
