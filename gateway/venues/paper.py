"""The paper broker: orders matched against the market the gateway streams.

It is the order side of the embedded mode and of any replay: the same ticks that reach the
clients drive `shared.matching.MatchingEngine`, stop and conditional orders wait in a
`shared.orders.TriggerBook`, and every outcome is handed to the `OrderSink` as the lifecycle
event a real venue would report. Everything runs on the gateway's event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

import msgspec

from gateway.venues._port import OrderSink
from shared.domain import Instrument, Order, OrderStatus, Tick
from shared.matching import MatchingEngine, Report
from shared.orders import (
    HELD_TYPES,
    Accepted,
    Cancelled,
    Expired,
    OrderLifecycleEvent,
    Rejected,
    TriggerBook,
    released_order,
)
from shared.sessions import SessionCatalog, TradingCalendar, UnknownProductError, is_in_session


def _random_trade_id() -> str:
    return f"P{uuid.uuid4().hex[:20]}"


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
        on_new_day: Callable[[date], None] | None = None,
    ) -> None:
        """``trade_ids`` default to random ones: fills are booked once per venue trade id, so
        ids must not start again at 1 when the gateway restarts. ``on_new_day`` hears when
        the market moves to a later trading day, or a replay starts its day over (after the
        day's orders expired)."""
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
        self._trading_day: date | None = None
        self._restored_day: date | None = None  # of the orders put back after a restart
        self._last_ts: datetime | None = None
        self._on_new_day = on_new_day

    def bind(self, sink: OrderSink) -> None:
        self._sink = sink

    # --- the market (a tee of the gateway's market sink) ---------------------------------------

    def accept(self, tick: Tick) -> None:
        if self._trading_day is None or tick.trading_day > self._trading_day:
            self._begin_day(tick.trading_day, tick.ts)
        self._quotes[f"{tick.exchange}.{tick.symbol}"] = tick
        self._last_ts = tick.ts
        reports = self._engine.on_tick(tick)
        for released in self._triggers.on_tick(tick):
            # Its trigger came with this tick: it meets the market of this tick.
            reports += self._engine.submit(released.send, tick.ts)
        self._deliver(reports)

    def quote(self, key: str) -> Tick | None:
        """The last tick of ``key`` ("EXCHANGE.symbol") this broker matched against."""
        return self._quotes.get(key)

    def rewind(self) -> None:
        """A replay started over: time went back, so the day's orders end as at the close."""
        if self._trading_day is not None and self._last_ts is not None:
            self.expire_day(self._last_ts)
            if self._on_new_day is not None:
                self._on_new_day(self._trading_day)

    def _begin_day(self, day: date, now: datetime) -> None:
        before = self._trading_day or self._restored_day
        if before is not None and day > before:
            self.expire_day(now)
        self._trading_day = day
        if self._on_new_day is not None:
            self._on_new_day(day)

    def reconcile(
        self, working: Sequence[Order], now: datetime, *, day_of: Callable[[Order], date]
    ) -> None:
        """The orders the database holds as working, after a restart took this exchange's
        memory of them: each is put back where it was, or ended the way the venue would have
        ended it. ``day_of`` tells an order's trading day: orders of earlier days than the
        latest have expired, and the latest ones expire when the market shows a later day."""
        days = [day_of(order) for order in working]
        latest = max(days, default=None)
        self._restored_day = latest
        reports: list[Report] = []
        for order, day in zip(working, days, strict=True):
            event = self._restore(order, now, stale=day != latest)
            if event is not None:
                reports.append(Report(order_id=order.id, event=event))
        self._deliver(reports)

    def _restore(self, order: Order, now: datetime, *, stale: bool) -> OrderLifecycleEvent | None:
        if order.status is OrderStatus.PENDING_NEW:
            return Rejected(ts=now, reason="the gateway stopped before the paper exchange took it")
        if order.status is OrderStatus.CANCEL_PENDING:
            return Cancelled(ts=now, reason="cancel requested before the gateway stopped")
        if stale:
            return Expired(ts=now)
        try:
            if order.type in HELD_TYPES and not order.filled_volume:
                # Held again, even if the market had released it: the market that released
                # it releases it again on its next tick. Held orders wait as sent (new).
                self._triggers.hold(msgspec.structs.replace(order, status=OrderStatus.PENDING_NEW))
            elif order.type in HELD_TYPES:
                self._engine.restore(released_order(order))  # part-filled: it was released
            else:
                self._engine.restore(order)
        except ValueError as exc:
            return Cancelled(ts=now, reason=f"could not be restored after a restart: {exc}")
        return None

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
