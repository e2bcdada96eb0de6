"""The simulated venue: replays real recorded ticks, paced like the original session.

It is the embedded default, so that the gateway streams real market data with no broker
account. The replay loops: after the last tick of the file it starts again from the first.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from gateway.tasks import cancel_and_wait
from gateway.venues._port import TickSink
from shared.domain import ComponentState, Tick
from shared.marketdata import parse_ctp_tick_rows

log = logging.getLogger(__name__)

DEFAULT_REPLAY_FILE = Path(__file__).parent / "replay_data" / "CFFEX_IF2101_tick_20210104.csv.gz"
# Pauses longer than this (lunch break, overnight) are shortened so the replay keeps moving.
_MAX_PAUSE_S = 5.0


def load_ticks(path: Path) -> list[Tick]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(parse_ctp_tick_rows(handle))


class SimulatedVenue:
    name = "simulated"

    def __init__(
        self,
        path: Path = DEFAULT_REPLAY_FILE,
        speed: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        loop_forever: bool = True,
    ) -> None:
        """``speed`` 1.0 replays in real time, 10.0 ten times faster, 0 without pauses."""
        self._path = path
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
            ticks = await asyncio.to_thread(load_ticks, self._path)
        except (OSError, ValueError) as exc:
            self._state, self._detail = ComponentState.DOWN, f"cannot read {self._path}: {exc}"
            raise
        if not ticks:
            self._state, self._detail = ComponentState.DOWN, f"{self._path} holds no ticks"
            raise ValueError(self._detail)
        self._state = ComponentState.UP
        self._detail = f"replaying {len(ticks)} ticks from {self._path.name} at speed {self._speed}"
        self._task = asyncio.create_task(self._replay(ticks, sink), name="simulated-venue")
        self._task.add_done_callback(self._on_done)

    async def _replay(self, ticks: Sequence[Tick], sink: TickSink) -> None:
        while True:
            previous = ticks[0].ts
            for tick in ticks:
                if self._speed > 0:
                    gap = (tick.ts - previous).total_seconds() / self._speed
                    if gap > 0:
                        await self._sleep(min(gap, _MAX_PAUSE_S))
                elif self.replayed % 1000 == 0:
                    await asyncio.sleep(0)  # as fast as possible, yet let the loop breathe
                previous = tick.ts
                sink(tick)
                self.replayed += 1
            if not self._loop_forever:
                self._detail = f"replay finished after {self.replayed} ticks"
                return
            log.info("simulated venue: replay reached the end of %s, restarting", self._path.name)

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
