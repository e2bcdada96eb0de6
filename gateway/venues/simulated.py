"""The simulated venue: replays real recorded market data, paced like the original session.

It is the embedded default, so that the gateway streams real market data with no broker
account. The data comes from a replay source (`gateway.venues._sources`): the shipped tick file
by default, or the database (`gateway.venues.stored`). The replay loops: after the last tick it
starts again from the first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.tasks import cancel_and_wait
from gateway.venues._port import TickSink
from gateway.venues._sources import FileReplay, ReplaySource, load_ticks
from shared.domain import ComponentState

log = logging.getLogger(__name__)

DEFAULT_REPLAY_FILE = Path(__file__).parent / "replay_data" / "CFFEX_IF2101_tick_20210104.csv.gz"
# Pauses longer than this (lunch break, overnight) are shortened so the replay keeps moving.
_MAX_PAUSE_S = 5.0


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

    @property
    def state(self) -> ComponentState:
        return self._state

    @property
    def detail(self) -> str:
        return self._detail

    async def start(self, sink: TickSink) -> None:
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

    async def _replay(self, sink: TickSink) -> None:
        while True:
            replayed_before = self.replayed
            previous = None
            async for tick in self._source.one_pass():
                if self._speed > 0 and previous is not None:
                    gap = (tick.ts - previous).total_seconds() / self._speed
                    if gap > 0:
                        await self._sleep(min(gap, _MAX_PAUSE_S))
                elif self._speed == 0 and self.replayed % 1000 == 0:
                    await asyncio.sleep(0)  # as fast as possible, yet let the loop breathe
                previous = tick.ts
                sink(tick)
                self.replayed += 1
            if not self._loop_forever:
                self._detail = f"replay finished after {self.replayed} ticks"
                return
            if self.replayed == replayed_before:
                # The data went away under us (deleted rows); do not spin on an empty pass.
                await self._sleep(_MAX_PAUSE_S)
            log.info("simulated venue: replay of %s reached the end, restarting", self._source.name)

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
