"""Placing and cancelling orders, and taking the venue's answers.

A request becomes an `Order`, is checked by the account's `RiskEngine`, and is written to the
database *before* it goes to the venue: a crash in between leaves a row to reconcile, never an
order nobody knows about. The venue answers through `on_order_event`, on the event loop; one
task takes those answers in order, records each through the state machine, and publishes the
order on the bus, from where the WebSocket hub takes it. A fill becomes a trade row, which the
booker (`gateway.orders.booker`) has the `orders` function book into positions and money.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Protocol

import msgspec

from gateway.tasks import cancel_and_wait
from shared.bus import EventBus
from shared.domain import (
    Exchange,
    Offset,
    Order,
    OrderEvent,
    OrderType,
    Side,
    Tick,
    TimeInForce,
    Trade,
    TriggerCondition,
    TriggerSource,
    exchange_local,
)
from shared.orders import (
    CancelRequested,
    Filled,
    IllegalTransitionError,
    OrderLifecycleEvent,
    Rejected,
)
from shared.risk import Rejection, RiskEngine
from shared.store.orders import OrderStore, UnknownOrderError

log = logging.getLogger(__name__)


class OrderVenue(Protocol):
    """Where orders go (the paper broker, later CTP)."""

    def submit(self, order: Order, now: datetime) -> None: ...

    def cancel(self, order_id: str, now: datetime) -> None: ...


_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
_Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]
# Bounds only against garbage; the instrument's tick grid and price limits are risk's to check.
_Price = Annotated[float, msgspec.Meta(gt=0, lt=1e9)]
_Volume = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a trader asks for; the fields of `Order` a client may set. Unknown fields are
    refused: a misspelt ``prcie`` must not become a market order."""

    account_id: _Id
    client_order_id: _Id
    exchange: Exchange
    symbol: _Symbol
    side: Side
    offset: Offset
    type: OrderType
    volume: _Volume
    price: _Price | None = None
    trigger_price: _Price | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    trigger_source: TriggerSource | None = None
    trigger_condition: TriggerCondition | None = None
    strategy_id: _Id | None = None

    def to_order(self, order_id: str, now: datetime) -> Order:
        """Raises ValueError naming the field when the request is not a valid order."""
        fields = msgspec.structs.asdict(self)
        return Order(id=order_id, created_at=now, updated_at=now, **fields)


class OrderRefusedError(Exception):
    """Pre-trade risk refused the order; it is stored as rejected, with the rule."""

    def __init__(self, rejection: Rejection, order: Order) -> None:
        super().__init__(f"{rejection.rule}: {rejection.detail}")
        self.rejection = rejection
        self.order = order


class OrderFinishedError(Exception):
    """The order is filled, cancelled, rejected or expired: there is nothing to cancel."""


class OrderService:
    def __init__(
        self,
        store: OrderStore,
        venue: OrderVenue,
        bus: EventBus,
        *,
        quote_of: Callable[[str], Tick | None],
        risk_for: Callable[[str], RiskEngine],
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
        on_trade: Callable[[Trade], None],
    ) -> None:
        """``on_trade`` hears of each trade once it is stored (unbooked): the booker books it
        and publishes it with its commission."""
        self._store = store
        self._venue = venue
        self._bus = bus
        self._quote_of = quote_of
        self._risk_for = risk_for
        self._clock = clock
        self._new_id = new_id
        self._on_trade = on_trade
        self._answers: asyncio.Queue[tuple[str, OrderLifecycleEvent]] = asyncio.Queue()
        # Answers queued and taken so far: a command waits for the answers queued up to its
        # own, not for the queue to empty (with a busy market it may never be empty).
        self._queued = 0
        self._taken = 0
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._take_answers(), name="order-answers")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    # --- commands -------------------------------------------------------------------------------

    async def place(self, user_id: int, request: OrderRequest) -> Order:
        """The order as it stands once the venue's immediate answers are in. A repeated
        ``client_order_id`` gets the account's earlier order back and sends nothing."""
        # No lookup first: the row's unique key answers a retry (one round trip fewer).
        now = self._clock()
        order = request.to_order(self._new_id(), now)
        key = f"{order.exchange}.{order.symbol}"
        quote = self._quote_of(key)
        risk = self._risk_for(order.account_id)
        rejection = risk.check(order, now, quote)
        stored, created = await self._store.place(user_id, order)
        if not created:
            return stored  # the same request racing this one got there first
        if rejection is not None:
            reason = f"{rejection.rule}: {rejection.detail}"
            refused = await self._store.record(order.id, Rejected(ts=now, reason=reason))
            await self._bus.publish(OrderEvent(order=refused))
            raise OrderRefusedError(rejection, refused)
        risk.record_sent(order, now, quote)
        self._venue.submit(order, now)
        return await self._settled(order.id)

    async def cancel(self, order_id: str) -> Order:
        order = await self._store.get(order_id)
        if order is None:
            raise UnknownOrderError(f"no order {order_id!r}")
        if order.status.is_terminal:
            raise OrderFinishedError(f"order {order_id} is {order.status}")
        now = self._clock()
        pending = await self._store.record(order_id, CancelRequested(ts=now))
        await self._bus.publish(OrderEvent(order=pending))
        self._risk_for(order.account_id).on_cancel_sent(order)
        self._venue.cancel(order_id, now)
        return await self._settled(order_id)

    async def drained(self) -> None:
        """Return once every answer queued so far has been taken."""
        target = self._queued
        async with self._progress:
            await self._progress.wait_for(lambda: self._taken >= target)

    async def _settled(self, order_id: str) -> Order:
        """The order once every answer queued so far has been taken."""
        await self.drained()
        order = await self._store.get(order_id)
        if order is None:
            raise UnknownOrderError(f"no order {order_id!r}")
        return order

    # --- the venue's answers --------------------------------------------------------------------

    def on_order_event(self, order_id: str, event: OrderLifecycleEvent) -> None:
        """The venue's answer (an `OrderSink`): queued, taken in order by one task."""
        self._queued += 1
        self._answers.put_nowait((order_id, event))

    async def _take_answers(self) -> None:
        while True:
            order_id, event = await self._answers.get()
            try:
                await self._take(order_id, event)
            except (IllegalTransitionError, UnknownOrderError) as exc:
                # Stored for the trail by the store; the order stays as it was.
                log.warning("orders: venue event for %s not applied: %s", order_id, exc)
            except Exception:
                log.exception("orders: venue event for %s failed", order_id)
            finally:
                self._answers.task_done()
                self._taken += 1
                async with self._progress:
                    self._progress.notify_all()

    async def _take(self, order_id: str, event: OrderLifecycleEvent) -> None:
        order = await self._store.record(order_id, event)
        risk = self._risk_for(order.account_id)
        risk.on_order(order)
        await self._bus.publish(OrderEvent(order=order))
        if isinstance(event, Filled):
            trade = self._trade_of(order, event)
            if await self._store.add_trade(trade):
                risk.on_trade(trade, order.strategy_id)
                self._on_trade(trade)

    def _trade_of(self, order: Order, fill: Filled) -> Trade:
        quote = self._quote_of(f"{order.exchange}.{order.symbol}")
        # The fill came with (or right after) this quote: its trading day is the fill's.
        day = quote.trading_day if quote is not None else exchange_local(fill.ts).date()
        return Trade(
            id=self._new_id(),
            order_id=order.id,
            account_id=order.account_id,
            symbol=order.symbol,
            exchange=order.exchange,
            side=order.side,
            offset=order.offset,
            price=fill.price,
            volume=fill.volume,
            ts=fill.ts,
            trading_day=day,
            venue_trade_id=fill.trade_id,
        )
