"""The venue port: where market data comes from and (later) where orders go."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.domain import ComponentState, Tick


class MarketSink(Protocol):
    """What a venue delivers to; both methods are called on the gateway's event loop and must
    not block."""

    def accept(self, tick: Tick) -> None: ...

    def rewind(self) -> None:
        """Market time went back (a replay started over): state built from earlier ticks,
        such as bars in progress, no longer applies."""


class MarketTee:
    """One venue, two listeners: the gateway's market feed, then the paper exchange, which
    matches resting orders against the tick the clients are about to see."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: MarketSink, second: MarketSink) -> None:
        self._first = first
        self._second = second

    def accept(self, tick: Tick) -> None:
        self._first.accept(tick)
        self._second.accept(tick)

    def rewind(self) -> None:
        self._first.rewind()
        self._second.rewind()


class Venue(Protocol):
    name: str

    @property
    def state(self) -> ComponentState: ...

    @property
    def detail(self) -> str:
        """Why the venue is in its state, for /ready and operators."""

    def market_time(self) -> datetime:
        """The venue's now (UTC): the wall clock for a live venue, the replay's position for a
        replay. Bars close by this clock, so a replay closes them at its own pace."""

    async def start(self, sink: MarketSink) -> None:
        """Connect and begin delivering ticks to ``sink``; returns once started."""

    async def stop(self) -> None: ...
