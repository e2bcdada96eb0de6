"""Bars in progress on a replica that holds no venue, so its subscribers get the same
snapshots as on the replica that does.

The venue's replica builds the live bars and publishes each one as it closes; this replica
rebuilds the bars in progress from the ticks on the bus. Its clock is the venue's: a closed
1-minute bar on the bus means the venue's market time has passed that minute's end, which
closes a session's last bars here too. Ticks going back in time by more than a few minutes mean
the venue's replay started over, and the bars start afresh as they do there.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from gateway.market.live_bars import LiveBars
from gateway.tasks import cancel_and_wait, follow_bus
from shared.bus import EventBus
from shared.domain import BarEvent, Event, Interval, TickEvent
from shared.sessions import CLOSING_GRACE

_MINUTE = timedelta(minutes=1)
# Live ticks arrive seconds late at worst; a replay that loops jumps back hours.
_REWIND_AFTER = timedelta(minutes=5)


class BarFollower:
    def __init__(self, bus: EventBus, bars: LiveBars) -> None:
        self._bus = bus
        self.bars = bars
        self._latest: datetime | None = None  # the latest market time seen on the bus
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(
            follow_bus(self._bus, ("ticks.", "bars."), self.apply, name="bar follower"),
            name="bar-follower",
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def apply(self, event: Event) -> None:
        match event:
            case TickEvent(tick=tick):
                latest = self._latest
                if latest is not None and tick.ts < latest - _REWIND_AFTER:
                    self.bars.rewind()
                    latest = None
                self._latest = tick.ts if latest is None else max(latest, tick.ts)
                self.bars.update(tick)
            case BarEvent(bar=bar) if bar.interval is Interval.M1:
                # The venue closed this minute by its clock: at its end, or a session's last
                # minute at the session's end plus the closing grace. Either way its clock has
                # reached this, and no bar that started later ends this early.
                end = bar.start + _MINUTE + CLOSING_GRACE
                latest = self._latest
                # A bar holds a tick seen here a minute before its end at most; one far from
                # the ticks is from the other side of a rewind and must not close this pass.
                if latest is None or abs(end - latest) <= _REWIND_AFTER:
                    self._latest = end if latest is None else max(latest, end)
                    self.bars.on_clock(end)
            case _:
                pass
