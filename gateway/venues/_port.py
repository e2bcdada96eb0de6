"""The venue port: where market data comes from and where orders go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from gateway.venues.broker_view import BrokerView
from shared.domain import ComponentState, Order, Tick
from shared.orders import OrderLifecycleEvent


class OrderSink(Protocol):
    def on_order_event(self, order_id: str, event: OrderLifecycleEvent) -> None:
        """Called on the event loop, in the order things happened; must not block."""


class LiveOrders(Protocol):
    """The order side of a live venue (a broker session)."""

    def bind(self, sink: OrderSink) -> None: ...

    def submit(self, order: Order, now: datetime) -> None: ...

    def cancel(self, order_id: str, now: datetime) -> None: ...

    def knows(self, order_id: str) -> bool:
        """Whether the order went (or was adopted) through this session."""

    def adopt(self, orders: list[Order]) -> list[Order]:
        """Take back the working orders an earlier run sent; returns those it cannot."""


@dataclass(frozen=True, slots=True)
class OrderRoute:
    """Which accounts a live venue trades: their orders go to ``orders``, every other
    account's to the paper exchange."""

    account_ids: frozenset[str]
    orders: LiveOrders


@runtime_checkable
class BrokerLink(Protocol):
    """What a live venue tells the trading side besides orders: its state (for the traded
    account's owner) and the broker's balance of ``account_id`` whenever it reports it."""

    account_id: str
    on_status: Callable[[ComponentState, str], None] | None
    on_balance: Callable[[float], None] | None

    def broker_view(self) -> BrokerView:
        """The broker's account and positions as it last reported them."""


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

    def order_route(self) -> OrderRoute | None:
        """Where the orders of the accounts this venue trades go; None for a venue that
        trades none (the replay, whose orders all go to the paper exchange)."""

    async def start(self, sink: MarketSink) -> None:
        """Connect and begin delivering ticks to ``sink``; returns once started."""

    async def stop(self) -> None: ...
