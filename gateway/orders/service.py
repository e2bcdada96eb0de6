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
import heapq
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
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
    apply,
)
from shared.risk import Rejection, RiskEngine
from shared.store.order_journal import OrderChange, OrderJournal
from shared.store.orders import OrderStore, UnknownOrderError

log = logging.getLogger(__name__)

# Finished orders kept in memory: enough for a command's answer and a client's quick look.
_FINISHED_KEPT = 10_000


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
    """The orders of the accounts this gateway trades: the one writer of their state.

    Working orders (and the latest finished ones) are kept in memory, so that neither a
    command nor a venue answer reads an order back from the database; every write goes
    through the `OrderJournal`, which commits them in groups.
    """

    def __init__(
        self,
        store: OrderStore,
        journal: OrderJournal,
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
        self._journal = journal
        self._venue = venue
        self._bus = bus
        self._quote_of = quote_of
        self._risk_for = risk_for
        self._clock = clock
        self._new_id = new_id
        self._on_trade = on_trade
        self._working: dict[str, Order] = {}
        self._finished: OrderedDict[str, Order] = OrderedDict()
        self._answers: asyncio.Queue[tuple[str, OrderLifecycleEvent]] = asyncio.Queue()
        # Answers queued and taken so far: a command waits for the answers queued up to its
        # own, not for the queue to empty (with a busy market it may never be empty).
        self._queued = 0
        self._taken = 0
        # Commands waiting for the answers queued before them: (answers needed, waiter),
        # a heap, so a run of answers wakes exactly the commands it completes.
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiters = itertools.count()
        self._task: asyncio.Task[None] | None = None

    async def start(self, working: Iterable[Order] = ()) -> None:
        """``working``: the stored orders not yet finished (a restart)."""
        self._working.update((order.id, order) for order in working)
        await self._journal.start()
        self._task = asyncio.create_task(self._take_answers(), name="order-answers")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self._journal.stop()

    def working(self) -> list[Order]:
        """The orders not yet finished, as this service last left them."""
        return list(self._working.values())

    def known(self, order_id: str) -> Order | None:
        """The order as this service last left it, when it is working or finished lately."""
        return self._working.get(order_id) or self._finished.get(order_id)

    # --- commands -------------------------------------------------------------------------------

    async def place(self, user_id: int, request: OrderRequest) -> Order:
        """The order as it stands once the venue's immediate answers are in. A repeated
        ``client_order_id`` gets the account's earlier order back and sends nothing."""
        now = self._clock()
        order = request.to_order(self._new_id(), now)
        key = f"{order.exchange}.{order.symbol}"
        quote = self._quote_of(key)
        risk = self._risk_for(order.account_id)
        rejection = risk.check(order, now, quote)
        # No lookup first: the row's unique key answers a retry (one round trip fewer).
        if not await self._journal.place(user_id, order):
            earlier = await self._store.by_client_id(order.account_id, order.client_order_id)
            if earlier is None:
                raise RuntimeError(f"order {order.id} was neither written nor found")
            return self.known(earlier.id) or earlier
        if rejection is not None:
            reason = f"{rejection.rule}: {rejection.detail}"
            refused = await self._change(order, Rejected(ts=now, reason=reason))
            raise OrderRefusedError(rejection, refused)
        risk.record_sent(order, now, quote)
        self._working[order.id] = order
        self._venue.submit(order, now)
        return await self._settled(order.id)

    async def cancel(self, order_id: str) -> Order:
        order = self.known(order_id) or await self._store.get(order_id)
        if order is None:
            raise UnknownOrderError(f"no order {order_id!r}")
        if order.status.is_terminal:
            raise OrderFinishedError(f"order {order_id} is {order.status}")
        now = self._clock()
        await self._change(order, CancelRequested(ts=now))
        self._risk_for(order.account_id).on_cancel_sent(order)
        self._venue.cancel(order_id, now)
        return await self._settled(order_id)

    async def _change(self, order: Order, event: OrderLifecycleEvent) -> Order:
        """A change the gateway makes itself (a refusal, a cancel request): stored, then
        published. Raises `IllegalTransitionError` when the order is past it."""
        # Applied and queued for writing before any await: memory, the journal's queue and
        # so the database see every change of an order in one order.
        after = apply(order, event)
        self._keep(after)
        await self._journal.record([OrderChange(order_id=order.id, event=event, after=after)])
        await self._bus.publish(OrderEvent(order=after))
        return after

    def _keep(self, order: Order) -> None:
        if not order.status.is_terminal:
            self._working[order.id] = order
            return
        self._working.pop(order.id, None)
        self._finished[order.id] = order
        if len(self._finished) > _FINISHED_KEPT:
            self._finished.popitem(last=False)

    async def drained(self) -> None:
        """Return once every answer queued so far has been taken."""
        target = self._queued
        if self._taken >= target:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (target, next(self._waiters), waiter))
        await waiter

    async def _settled(self, order_id: str) -> Order:
        """The order once every answer queued so far has been taken."""
        await self.drained()
        order = self.known(order_id)
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
            answers = [await self._answers.get()]
            while not self._answers.empty():
                answers.append(self._answers.get_nowait())
            try:
                await self._take(answers)
            except Exception:
                log.exception("orders: %d venue answer(s) could not be stored", len(answers))
            finally:
                self._taken += len(answers)
                while self._waiting and self._waiting[0][0] <= self._taken:
                    waiter = heapq.heappop(self._waiting)[2]
                    if not waiter.done():  # its command may have been cancelled
                        waiter.set_result(None)

    async def _take(self, answers: list[tuple[str, OrderLifecycleEvent]]) -> None:
        """Apply a run of answers in memory, store them in one commit, then tell everyone."""
        # Orders not held here are fetched first, so that the rest runs without an await.
        fetched: dict[str, Order] = {}
        for order_id, _ in answers:
            if self.known(order_id) is None and order_id not in fetched:
                stored = await self._store.get(order_id)
                if stored is not None:
                    fetched[order_id] = stored
        changes: list[OrderChange] = []
        for order_id, event in answers:
            order = self.known(order_id) or fetched.get(order_id)
            if order is None:
                log.warning("orders: venue event for unknown order %s", order_id)
                continue
            try:
                after = apply(order, event)
            except IllegalTransitionError as exc:
                # Kept for the trail; the order stays as it was.
                log.warning("orders: venue event for %s not applied: %s", order_id, exc)
                changes.append(OrderChange(order_id=order_id, event=event))
                continue
            self._keep(after)
            trade = self._trade_of(after, event) if isinstance(event, Filled) else None
            changes.append(OrderChange(order_id=order_id, event=event, after=after, trade=trade))
        stored_trades = await self._journal.record(changes)
        for change in changes:
            if change.after is None:
                continue
            risk = self._risk_for(change.after.account_id)
            risk.on_order(change.after)
            await self._bus.publish(OrderEvent(order=change.after))
            if change.trade is not None and change.trade.id in stored_trades:
                risk.on_trade(change.trade, change.after.strategy_id)
                self._on_trade(change.trade)

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
