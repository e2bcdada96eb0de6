"""The simulated venue: replays real recorded market data, paced like the original session.

It is the embedded default, so that the gateway streams real market data with no broker
account. The data comes from a replay source (`gateway.venues._sources`): the shipped tick file
by default, or the database (`gateway.venues.stored`). The replay loops: after the last tick it
starts again from the first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from gateway.tasks import cancel_and_wait
from gateway.venues._port import MarketSink, OrderRoute
from gateway.venues._sources import FileReplay, ReplaySource, load_ticks
from shared.domain import ComponentState

log = logging.getLogger(__name__)

DEFAULT_REPLAY_FILE = Path(__file__).parent / "replay_data" / "CFFEX_IF2101_tick_20210104.csv.gz"
# Pauses longer than this (lunch break, overnight) are shortened so the replay keeps moving.
_MAX_PAUSE_S = 5.0
_BEFORE_ANY_TICK = datetime.min.replace(tzinfo=UTC)


class SimulatedVenue:
    name = "simulated"

    def __init__(
        self,
        path: Path = DEFAULT_REPLAY_FILE,
        speed: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        loop_forever: bool = True,
        source: ReplaySource | None = None,
    ) -> None:
        """``speed`` 1.0 replays in real time, 10.0 ten times faster, 0 without pauses.

        ``source`` replaces the tick file at ``path`` (e.g. a `StoredReplay`)."""
        self._source: ReplaySource = source if source is not None else FileReplay(path)
        self._speed = speed
        self._sleep = sleep
        self._loop_forever = loop_forever
        self._state = ComponentState.DOWN
        self._detail = "not started"
        self._task: asyncio.Task[None] | None = None
        self.replayed = 0
        # Market time: the last replayed tick's time, moving on towards the next tick's while
        # the replay pauses, so that bars close by the clock in replay time.
        self._market_ts = _BEFORE_ANY_TICK
        self._pause: tuple[datetime, float, float] | None = None  # next ts, began, length

    @property
    def state(self) -> ComponentState:
        return self._state

    @property
    def detail(self) -> str:
        return self._detail

    def order_route(self) -> OrderRoute | None:
        return None

    def market_time(self) -> datetime:
        if self._pause is None:
            return self._market_ts
        next_ts, began, length = self._pause
        done = min(1.0, (time.monotonic() - began) / length)
        return self._market_ts + (next_ts - self._market_ts) * done

    async def start(self, sink: MarketSink) -> None:
        self._state = ComponentState.STARTING
        try:
            description = await self._source.open()
        except (OSError, ValueError) as exc:
            self._state = ComponentState.DOWN
            self._detail = f"cannot replay {self._source.name}: {exc}"
            raise
        self._state = ComponentState.UP
        self._detail = f"replaying {description} at speed {self._speed}"
        self._task = asyncio.create_task(self._replay(sink), name="simulated-venue")
        self._task.add_done_callback(self._on_done)

    async def _replay(self, sink: MarketSink) -> None:
        while True:
            replayed_before = self.replayed
            previous = None
            async for tick in self._source.one_pass():
                if self._speed > 0 and previous is not None:
                    gap = (tick.ts - previous).total_seconds() / self._speed
                    if gap > 0:
                        await self._pause_until(tick.ts, min(gap, _MAX_PAUSE_S))
                elif self._speed == 0 and self.replayed % 1000 == 0:
                    await asyncio.sleep(0)  # as fast as possible, yet let the loop breathe
                previous = tick.ts
                self._market_ts = max(self._market_ts, tick.ts)
                sink.accept(tick)
                self.replayed += 1
            if not self._loop_forever:
                self._detail = f"replay finished after {self.replayed} ticks"
                return
            if self.replayed == replayed_before:
                # The data went away under us (deleted rows); do not spin on an empty pass.
                await self._sleep(_MAX_PAUSE_S)
            log.info("simulated venue: replay of %s reached the end, restarting", self._source.name)
            self._market_ts = _BEFORE_ANY_TICK
            sink.rewind()

    async def _pause_until(self, next_ts: datetime, seconds: float) -> None:
        self._pause = (next_ts, time.monotonic(), seconds)
        try:
            await self._sleep(seconds)
        finally:
            self._pause = None

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("simulated venue stopped: %s", exc, exc_info=exc)
            self._state, self._detail = ComponentState.DOWN, f"replay failed: {exc}"

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._state, self._detail = ComponentState.DOWN, "stopped"


__all__ = ["DEFAULT_REPLAY_FILE", "SimulatedVenue", "load_ticks"]
