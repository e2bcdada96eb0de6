"""Orders as stored: written before they are sent, changed only through the state machine,
with every venue event kept beside them.

`place` is idempotent on the account's ``client_order_id``: a retried submission gets the
order the first one created. `record` stores a venue event and the order it leads to in one
transaction, the order row locked meanwhile (`_locks.lock_row`), so two callbacks for one order
cannot both read the old state. `add_trade` refuses a fill whose venue id is already booked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.domain import Order, OrderStatus, Trade
from shared.orders import IllegalTransitionError, OrderLifecycleEvent, apply
from shared.store._locks import lock_row
from shared.store.account_state import order_of, trade_of
from shared.store.tables import OrderEventRow, OrderRow, TradeRow

_WORKING = tuple(status for status in OrderStatus if not status.is_terminal)
_FINISHED = tuple(status for status in OrderStatus if status.is_terminal)


class UnknownOrderError(LookupError):
    pass


class OrderStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def place(self, user_id: int, order: Order) -> tuple[Order, bool]:
        """(the stored order, True), or (the account's earlier order with the same
        ``client_order_id``, False): a retry never makes a second order."""
        try:
            async with self._sessions.begin() as session:
                session.add(_row_of(order, user_id))
        except IntegrityError:
            existing = await self.by_client_id(order.account_id, order.client_order_id)
            if existing is None:
                raise  # another constraint: not a retry
            return existing, False
        return order, True

    async def record(self, order_id: str, event: OrderLifecycleEvent) -> Order:
        """The order after ``event``. An event the state machine refuses is stored all the
        same (the trail keeps everything the venue said) and then raised."""
        refused: IllegalTransitionError | None = None
        async with self._sessions.begin() as session:
            await lock_row(session, OrderRow.id, order_id)
            row = await session.get(OrderRow, order_id)
            if row is None:
                raise UnknownOrderError(f"no order {order_id!r}")
            before = order_of(row)
            session.add(
                OrderEventRow(
                    order_id=order_id,
                    ts=event.ts,
                    kind=type(event).__struct_config__.tag,
                    payload=msgspec.to_builtins(event),
                )
            )
            try:
                after = apply(before, event)
            except IllegalTransitionError as exc:
                refused, after = exc, before
            else:
                _update(row, after)
        if refused is not None:
            raise refused
        return after

    async def get(self, order_id: str) -> Order | None:
        async with self._sessions() as session:
            row = await session.get(OrderRow, order_id)
            return None if row is None else order_of(row)

    async def by_client_id(self, account_id: str, client_order_id: str) -> Order | None:
        query = select(OrderRow).where(
            OrderRow.account_id == account_id, OrderRow.client_order_id == client_order_id
        )
        async with self._sessions() as session:
            row = await session.scalar(query)
            return None if row is None else order_of(row)

    async def working(self, account_id: str) -> list[Order]:
        """Orders of the account not yet finished, oldest first: what a restart reconciles."""
        query = (
            select(OrderRow)
            .where(OrderRow.account_id == account_id, OrderRow.status.in_(_WORKING))
            .order_by(OrderRow.created_at, OrderRow.id)
        )
        async with self._sessions() as session:
            return [order_of(row) for row in await session.scalars(query)]

    async def search(
        self,
        account_ids: Sequence[str],
        *,
        working: bool | None = None,
        symbol: str | None = None,
        strategy_id: str | None = None,
        before: datetime | None = None,
        limit: int = 100,
    ) -> list[Order]:
        """The accounts' orders, newest first; ``working`` True: not finished, False: finished;
        ``before``: created before then (the next page starts at the last one's time)."""
        conditions: list[ColumnElement[bool]] = [OrderRow.account_id.in_(account_ids)]
        if working is not None:
            statuses = _WORKING if working else _FINISHED
            conditions.append(OrderRow.status.in_(statuses))
        if symbol is not None:
            conditions.append(OrderRow.symbol == symbol)
        if strategy_id is not None:
            conditions.append(OrderRow.strategy_id == strategy_id)
        if before is not None:
            conditions.append(OrderRow.created_at < before)
        query = (
            select(OrderRow)
            .where(*conditions)
            .order_by(OrderRow.created_at.desc(), OrderRow.id.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            return [order_of(row) for row in await session.scalars(query)]

    async def events(self, order_id: str) -> list[OrderLifecycleEvent]:
        """Every event stored for the order, in the order received."""
        query = (
            select(OrderEventRow.payload)
            .where(OrderEventRow.order_id == order_id)
            .order_by(OrderEventRow.id)
        )
        async with self._sessions() as session:
            payloads = (await session.scalars(query)).all()
        return [msgspec.convert(payload, OrderLifecycleEvent) for payload in payloads]

    async def add_trade(self, trade: Trade) -> bool:
        """False when the account already booked a trade with this venue id."""
        try:
            async with self._sessions.begin() as session:
                session.add(_trade_row(trade))
        except IntegrityError:
            if trade.venue_trade_id is None:
                raise
            return False
        return True

    async def trades(self, order_id: str) -> list[Trade]:
        query = select(TradeRow).where(TradeRow.order_id == order_id).order_by(TradeRow.ts)
        async with self._sessions() as session:
            return [trade_of(row) for row in await session.scalars(query)]


def _row_of(order: Order, user_id: int) -> OrderRow:
    return OrderRow(
        id=order.id,
        user_id=user_id,
        account_id=order.account_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        exchange=order.exchange,
        side=order.side,
        offset=order.offset,
        type=order.type,
        time_in_force=order.time_in_force,
        price=order.price,
        trigger_price=order.trigger_price,
        volume=order.volume,
        filled_volume=order.filled_volume,
        average_fill_price=order.average_fill_price,
        status=order.status,
        venue_order_id=order.venue_order_id,
        strategy_id=order.strategy_id,
        reject_reason=order.reject_reason,
        created_at=order.created_at,
        updated_at=order.updated_at,
        trade_ids=list(order.trade_ids),
        trigger_source=order.trigger_source,
        trigger_condition=order.trigger_condition,
    )


def _update(row: OrderRow, order: Order) -> None:
    row.status = order.status
    row.filled_volume = order.filled_volume
    row.average_fill_price = order.average_fill_price
    row.venue_order_id = order.venue_order_id
    row.reject_reason = order.reject_reason
    row.updated_at = order.updated_at
    row.trade_ids = list(order.trade_ids)


def _trade_row(trade: Trade) -> TradeRow:
    return TradeRow(
        id=trade.id,
        order_id=trade.order_id,
        account_id=trade.account_id,
        venue_trade_id=trade.venue_trade_id,
        symbol=trade.symbol,
        exchange=trade.exchange,
        side=trade.side,
        offset=trade.offset,
        price=trade.price,
        volume=trade.volume,
        commission=trade.commission,
        ts=trade.ts,
        trading_day=trade.trading_day,
    )
