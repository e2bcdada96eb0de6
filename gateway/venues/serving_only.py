"""No venue here: a replica that serves clients with what another replica's venue publishes.

Only one gateway may hold a broker session per account, so further replicas run with
``QUANT_VENUE=none`` behind the load balancer: they take ticks, bars and account events from
the Redis bus like every replica's hub does, and place nothing themselves.
"""

from __future__ import annotations

from datetime import datetime

from gateway.venues._port import MarketSink, OrderRoute
from shared.clock import utc_now
from shared.domain import ComponentState


class ServingOnlyVenue:
    name = "none"

    def __init__(self) -> None:
        self._state = ComponentState.DOWN

    @property
    def state(self) -> ComponentState:
        return self._state

    @property
    def detail(self) -> str:
        if self._state is ComponentState.UP:
            return "serving only: market data comes from another replica over the bus"
        return "not started"

    def order_route(self) -> OrderRoute | None:
        return None

    def market_time(self) -> datetime:
        return utc_now()

    async def start(self, sink: MarketSink) -> None:  # noqa: ARG002 - nothing to deliver
        self._state = ComponentState.UP

    async def stop(self) -> None:
        self._state = ComponentState.DOWN
