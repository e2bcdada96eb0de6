"""The paper broker: orders matched against the market the gateway streams.

It is the order side of the embedded mode and of any replay: the same ticks that reach the
clients drive `shared.matching.MatchingEngine`, stop and conditional orders wait in a
`shared.orders.TriggerBook`, and every outcome is handed to the `OrderSink` as the lifecycle
event a real venue would report. Everything runs on the gateway's event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from shared.domain import Instrument, Order, Tick
from shared.matching import MatchingEngine, Report
from shared.orders import (
    HELD_TYPES,
    Accepted,
    Cancelled,
    Expired,
    OrderLifecycleEvent,
    TriggerBook,
)
from shared.sessions import SessionCatalog, TradingCalendar, UnknownProductError, is_in_session


def _random_trade_id() -> str:
    return f"P{uuid.uuid4().hex[:20]}"


class OrderSink(Protocol):
    def on_order_event(self, order_id: str, event: OrderLifecycleEvent) -> None:
        """Called on the event loop, in the order things happened; must not block."""


class PaperBroker:
    name = "paper"

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        sessions: SessionCatalog,
        calendar: TradingCalendar,
        *,
        market_slippage_ticks: int = 0,
        trade_ids: Callable[[], str] | None = None,
    ) -> None:
        """``trade_ids`` default to random ones: fills are booked once per venue trade id, so
        ids must not start again at 1 when the gateway restarts."""
        self._instruments = dict(instruments)
        self._sessions = sessions
        self._calendar = calendar
        self._engine = MatchingEngine(
            self._instruments,
            is_trading=self._is_trading,
            market_slippage_ticks=market_slippage_ticks,
            trade_ids=trade_ids or _random_trade_id,
        )
        self._triggers = TriggerBook(self._instruments)
        self._sink: OrderSink | None = None
        self._quotes: dict[str, Tick] = {}

    def bind(self, sink: OrderSink) -> None:
        self._sink = sink

    # --- the market (a tee of the gateway's market sink) ---------------------------------------

    def accept(self, tick: Tick) -> None:
        self._quotes[f"{tick.exchange}.{tick.symbol}"] = tick
        reports = self._engine.on_tick(tick)
        for released in self._triggers.on_tick(tick):
            # Its trigger came with this tick: it meets the market of this tick.
            reports += self._engine.submit(released.send, tick.ts)
        self._deliver(reports)

    def quote(self, key: str) -> Tick | None:
        """The last tick of ``key`` ("EXCHANGE.symbol") this broker matched against."""
        return self._quotes.get(key)

    def rewind(self) -> None:
        """A replay started over; resting orders stay (they expire with the day)."""

    # --- orders ---------------------------------------------------------------------------------

    def submit(self, order: Order, now: datetime) -> None:
        if order.type in HELD_TYPES:
            self._triggers.hold(order)
            # Working from now on: held here until the market reaches its trigger.
            self._deliver([Report(order_id=order.id, event=Accepted(ts=now))])
            return
        self._deliver(self._engine.submit(order, now))

    def cancel(self, order_id: str, now: datetime) -> None:
        if self._triggers.cancel(order_id) is not None:
            event = Cancelled(ts=now, reason="cancelled before its trigger")
            self._deliver([Report(order_id=order_id, event=event)])
            return
        self._deliver(self._engine.cancel(order_id, now))

    def expire_day(self, now: datetime) -> None:
        """The trading day ended: every DAY order still working expires, held ones too."""
        reports = self._engine.expire_day(now)
        for held in self._triggers.held():
            self._triggers.cancel(held.id)
            reports.append(Report(order_id=held.id, event=Expired(ts=now)))
        self._deliver(reports)

    def _deliver(self, reports: list[Report]) -> None:
        sink = self._sink
        if sink is None:
            raise RuntimeError("the paper broker has no order sink bound")
        for report in reports:
            sink.on_order_event(report.order_id, report.event)

    def _is_trading(self, key: str, ts: datetime) -> bool:
        instrument = self._instruments[key]
        try:
            product_sessions = self._sessions.for_product(instrument.product, instrument.exchange)
        except UnknownProductError:
            return False  # no hours known: never fill outside them by guesswork
        return is_in_session(product_sessions, self._calendar, ts)
