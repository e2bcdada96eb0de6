"""The venue port: where market data comes from and (later) where orders go."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from shared.domain import ComponentState, Tick

# Called on the gateway's event loop for every tick; must not block.
TickSink = Callable[[Tick], None]


class Venue(Protocol):
    name: str

    @property
    def state(self) -> ComponentState: ...

    @property
    def detail(self) -> str:
        """Why the venue is in its state, for /ready and operators."""

    async def start(self, sink: TickSink) -> None:
        """Connect and begin delivering ticks to ``sink``; returns once started."""

    async def stop(self) -> None: ...
