"""Where each order goes: the accounts a live venue trades to that venue's order session,
every other account to the paper exchange.

The paper exchange stays in front of the market in every mode: it sees every tick, keeps the
latest quote of each instrument for risk checks, and announces new trading days; with a live
venue it is also where paper accounts trade against live prices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from gateway.venues import OrderRoute
from gateway.venues._port import OrderSink
from gateway.venues.paper import PaperBroker
from shared.domain import Order, Tick
from shared.orders import Expired, Rejected

# What a restarted gateway tells of an order it had written but CTP never acknowledged.
UNACKNOWLEDGED = (
    "the gateway stopped before the venue acknowledged this order; if it reached the "
    "broker it shows in the broker's order list, not here"
)


class OrderRouter:
    """An `OrderVenue` and `MarketSink` in front of the paper exchange and, optionally, one
    live venue's order session."""

    def __init__(self, paper: PaperBroker, route: OrderRoute | None = None) -> None:
        self.paper = paper
        self._route = route
        self._sink: OrderSink | None = None

    @property
    def live_accounts(self) -> frozenset[str]:
        return self._route.account_ids if self._route is not None else frozenset()

    def bind(self, sink: OrderSink) -> None:
        self._sink = sink
        self.paper.bind(sink)
        if self._route is not None:
            self._route.orders.bind(sink)

    def is_live(self, order: Order) -> bool:
        return self._route is not None and order.account_id in self._route.account_ids

    # --- orders ---------------------------------------------------------------------------------

    def submit(self, order: Order, now: datetime) -> None:
        if self._route is not None and order.account_id in self._route.account_ids:
            self._route.orders.submit(order, now)
        else:
            self.paper.submit(order, now)

    def cancel(self, order_id: str, now: datetime) -> None:
        if self._route is not None and self._route.orders.knows(order_id):
            self._route.orders.cancel(order_id, now)
        else:
            self.paper.cancel(order_id, now)

    def reconcile(
        self, working: Sequence[Order], now: datetime, *, day_of: Callable[[Order], date]
    ) -> None:
        """After a restart: paper orders go back into the paper exchange; live ones are
        adopted by the venue's session, which learns their fate from the broker after it
        logs in. A live order the venue never acknowledged cannot be found again: it is
        rejected, saying so."""
        paper = [order for order in working if not self.is_live(order)]
        live = [order for order in working if self.is_live(order)]
        self.paper.reconcile(paper, now, day_of=day_of)
        if self._route is None or not live:
            return
        sink = self._sink
        assert sink is not None, "bind the router before reconciling"
        for order in self._route.orders.adopt(live):
            sink.on_order_event(order.id, Rejected(ts=now, reason=UNACKNOWLEDGED))

    def expire_live(
        self,
        working: Sequence[Order],
        day: date,
        now: datetime,
        *,
        day_of: Callable[[Order], date],
    ) -> None:
        """A new trading day: the live orders of earlier days are over at the exchange (CTP
        does not report day orders ending), so they expire here."""
        sink = self._sink
        if sink is None:
            return
        for order in working:
            if self.is_live(order) and day_of(order) < day:
                sink.on_order_event(order.id, Expired(ts=now))

    # --- the market -----------------------------------------------------------------------------

    def accept(self, tick: Tick) -> None:
        self.paper.accept(tick)

    def rewind(self) -> None:
        self.paper.rewind()

    def quote(self, key: str) -> Tick | None:
        return self.paper.quote(key)
