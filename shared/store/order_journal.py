"""The order service's writes, committed in groups.

Every order is written before it is sent and every venue answer is stored with the order's new
state, so the database sees several writes per order. One transaction each would cap a gateway
at a few hundred orders a second (a SQLite commit, or a PostgreSQL round trip, per write).
Here every write queued while a commit is in flight goes into the next commit, in the order
queued, as a handful of multi-row statements: under load a commit carries dozens of writes,
and a lone write is committed at once, as before.

The gateway's order service is the only writer of orders, so it keeps their state in memory
and hands over the results (`OrderChange`); nothing here reads an order back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Insert, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.domain import Order, Trade
from shared.orders import OrderLifecycleEvent
from shared.store.tables import OrderEventRow, OrderRow, TradeRow

log = logging.getLogger(__name__)

# Fields of an order that change after it is written.
_MUTABLE = (
    "status",
    "filled_volume",
    "average_fill_price",
    "venue_order_id",
    "reject_reason",
    "updated_at",
    "trade_ids",
)


class OrderChange(msgspec.Struct, frozen=True, kw_only=True):
    """An order after a venue answer: the answer kept for the trail, the order's new state
    (None when the state machine refused the answer), and the fill's trade, if one."""

    order_id: str
    event: OrderLifecycleEvent
    after: Order | None = None
    trade: Trade | None = None


class _Placement(msgspec.Struct, frozen=True):
    user_id: int
    order: Order


class _Job:
    __slots__ = ("changes", "future", "placements")

    def __init__(self, placements: list[_Placement], changes: Sequence[OrderChange]) -> None:
        self.placements = placements
        self.changes = changes
        self.future: asyncio.Future[_Written] = asyncio.get_running_loop().create_future()


class _Written(msgspec.Struct, frozen=True):
    orders: frozenset[str]  # placed (not already there under their client order id)
    trades: frozenset[str]  # stored (not already booked under their venue trade id)


class OrderJournal:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        insert_for = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # Built once: constructing a statement costs about as much as running it.
        self._insert_order = insert_for(OrderRow).on_conflict_do_nothing(
            index_elements=["account_id", "client_order_id"]
        )
        self._insert_trade = insert_for(TradeRow).on_conflict_do_nothing(
            index_elements=["account_id", "venue_trade_id"]
        )
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever(), name="order-journal")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def place(self, user_id: int, order: Order) -> bool:
        """Write a new order; False when the account has one with its client order id."""
        written = await self._submit([_Placement(user_id, order)], ())
        return order.id in written.orders

    async def record(self, changes: Sequence[OrderChange]) -> frozenset[str]:
        """Store venue answers and the orders they led to; returns the ids of the trades
        stored (a trade whose venue id the account already has is not stored again)."""
        written = await self._submit([], changes)
        return written.trades

    async def _submit(
        self, placements: list[_Placement], changes: Sequence[OrderChange]
    ) -> _Written:
        if self._task is None:
            raise RuntimeError("the order journal is not started")
        job = _Job(placements, changes)
        self._queue.put_nowait(job)
        return await job.future

    async def _write_forever(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            while not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            try:
                written = await self._commit(jobs)
            except Exception as exc:  # every writer waiting on this commit hears why
                log.exception("order journal: a commit of %d write(s) failed", len(jobs))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
            else:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_result(written)
            finally:
                for _ in jobs:
                    self._queue.task_done()

    async def _commit(self, jobs: list[_Job]) -> _Written:
        placements = [placement for job in jobs for placement in job.placements]
        changes = [change for job in jobs for change in job.changes]
        async with self._engine.begin() as connection:
            orders = await self._insert_orders(connection, placements)
            events = [_event_row(change) for change in changes]
            if events:
                await connection.execute(_INSERT_EVENT, events)
            # One row per order, its latest state: earlier states of the batch are superseded.
            latest = {c.order_id: c.after for c in changes if c.after is not None}
            if latest:
                await connection.execute(_UPDATE_ORDER, [_update_row(o) for o in latest.values()])
            trades = await self._insert_trades(
                connection, [change.trade for change in changes if change.trade is not None]
            )
        return _Written(orders=orders, trades=trades)

    async def _insert_orders(
        self, connection: AsyncConnection, placements: list[_Placement]
    ) -> frozenset[str]:
        if not placements:
            return frozenset()
        rows = [_order_row(placement.order, placement.user_id) for placement in placements]
        written = await _insert_all(connection, self._insert_order, rows)
        if written == len(rows):
            return frozenset(row["id"] for row in rows)
        # Some were retries of orders already there: only the ids that are now stored count.
        ids = [row["id"] for row in rows]
        stored = await connection.execute(select(OrderRow.id).where(OrderRow.id.in_(ids)))
        return frozenset(stored.scalars().all())

    async def _insert_trades(
        self, connection: AsyncConnection, trades: list[Trade]
    ) -> frozenset[str]:
        if not trades:
            return frozenset()
        rows = [_trade_row(trade) for trade in trades]
        written = await _insert_all(connection, self._insert_trade, rows)
        if written == len(rows):
            return frozenset(row["id"] for row in rows)
        ids = [row["id"] for row in rows]
        stored = await connection.execute(select(TradeRow.id).where(TradeRow.id.in_(ids)))
        return frozenset(stored.scalars().all())


async def _insert_all(
    connection: AsyncConnection, statement: Insert, rows: list[dict[str, Any]]
) -> int:
    """Rows written (those that clashed with a unique key are skipped), without RETURNING,
    which would make the driver insert them one statement at a time."""
    result = await connection.execute(statement, rows)
    return result.rowcount


_INSERT_EVENT = insert(OrderEventRow)
_UPDATE_ORDER = (
    update(OrderRow)
    .where(OrderRow.id == bindparam("order_id"))
    .values(
        {name: bindparam(f"new_{name}", type_=OrderRow.__table__.c[name].type) for name in _MUTABLE}
    )
)


def _order_row(order: Order, user_id: int) -> dict[str, Any]:
    row = msgspec.structs.asdict(order)
    row["trade_ids"] = list(order.trade_ids)
    row["user_id"] = user_id
    return row


def _update_row(order: Order) -> dict[str, Any]:
    row: dict[str, Any] = {f"new_{name}": getattr(order, name) for name in _MUTABLE}
    row["new_trade_ids"] = list(order.trade_ids)
    row["order_id"] = order.id
    return row


def _event_row(change: OrderChange) -> dict[str, Any]:
    event = change.event
    return {
        "order_id": change.order_id,
        "ts": event.ts,
        "kind": type(event).__struct_config__.tag,
        "payload": msgspec.to_builtins(event),
    }


def _trade_row(trade: Trade) -> dict[str, Any]:
    return {**msgspec.structs.asdict(trade), "booked_at": None, "booking_error": None}
