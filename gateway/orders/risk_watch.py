"""Telling traders where their accounts stand against their limits, as it changes.

Brokers' program-trading rules want a trader warned before a limit stops them. Every half
second each account's trading state and the limits at or past their warning share
(`RiskEngine.warnings`) are compared with what was last sent, and a change goes out as a
`RiskEvent` on the `risk` channel. Checking on a clock, not after every order, keeps the order
path free of it; half a second is well inside the time a trader needs to react.
"""

from __future__ import annotations

import asyncio

from gateway.orders.desk import TradingDesk
from gateway.tasks import cancel_and_wait
from shared.bus import EventBus
from shared.domain import RiskEvent, RiskStatus, RiskWarning
from shared.risk import RiskEngine


def status_of(engine: RiskEngine) -> RiskStatus:
    return RiskStatus(
        account_id=engine.account_id,
        state=str(engine.state),
        state_reason=engine.state_reason,
        warnings=[
            RiskWarning(
                rule=str(w.rule), used=w.used, limit=w.limit, detail=w.detail, scope=w.scope
            )
            for w in engine.warnings()
        ],
    )


class RiskWatch:
    def __init__(self, desk: TradingDesk, bus: EventBus, *, interval_s: float = 0.5) -> None:
        self._desk = desk
        self._bus = bus
        self._interval_s = interval_s
        self._sent: dict[str, RiskStatus] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # What stands at start is the baseline: only changes are news.
        for account_id in self._desk.account_ids:
            self._sent[account_id] = status_of(self._desk.risk_for(account_id))
        self._task = asyncio.create_task(self._watch(), name="risk-watch")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def check(self) -> list[RiskStatus]:
        """Publish the statuses that changed since last sent; returns them."""
        changed: list[RiskStatus] = []
        for account_id in self._desk.account_ids:
            status = status_of(self._desk.risk_for(account_id))
            if self._sent.get(account_id) != status:
                self._sent[account_id] = status
                changed.append(status)
                await self._bus.publish(RiskEvent(status=status))
        return changed

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check()
