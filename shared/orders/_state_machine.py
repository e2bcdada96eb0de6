"""The order lifecycle: a transition table and a pure `apply(order, event) -> order`.

Venues report out of order (CTP may report a trade before the order's acknowledgement, or a
cancel confirmation before a fill that happened earlier) and may repeat themselves after a
reconnect. Each such edge is in the table with the reason. Anything not in the table is an
`IllegalTransitionError`: the caller logs it and keeps the order as it was.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from shared.domain import Order, OrderStatus
from shared.orders._lifecycle import (
    Accepted,
    Cancelled,
    CancelRejected,
    CancelRequested,
    Expired,
    Filled,
    OrderLifecycleEvent,
    Rejected,
)

_S = OrderStatus


class IllegalTransitionError(ValueError):
    def __init__(self, order: Order, event: OrderLifecycleEvent, why: str = "") -> None:
        kind = type(event).__name__
        detail = f": {why}" if why else ""
        super().__init__(f"order {order.id}: `{kind}` is not allowed when {order.status}{detail}")
        self.order_id = order.id
        self.status = order.status
        self.event = event


class OverfillError(IllegalTransitionError):
    """A fill beyond the order's volume: the venue and we disagree, and a person must look."""


# What an event does to an order in a given state.
_Step = Callable[[Order, OrderLifecycleEvent], Order]


def _to(status: OrderStatus) -> _Step:
    def step(order: Order, event: OrderLifecycleEvent) -> Order:
        changes: dict[str, object] = {"status": status}
        if isinstance(event, Accepted) and event.venue_order_id and not order.venue_order_id:
            changes["venue_order_id"] = event.venue_order_id
        if isinstance(event, Rejected):
            changes["reject_reason"] = event.reason
        return _touched(order, event, **changes)

    return step


def _same(order: Order, event: OrderLifecycleEvent) -> Order:
    """Nothing changes: a repeat, or an answer that no longer matters."""
    if isinstance(event, Accepted) and event.venue_order_id and not order.venue_order_id:
        return msgspec.structs.replace(order, venue_order_id=event.venue_order_id)
    return order


def _working(order: Order, event: OrderLifecycleEvent) -> Order:
    """Back to working after a refused cancel."""
    status = _S.PARTIALLY_FILLED if order.filled_volume else _S.SUBMITTED
    return _touched(order, event, status=status)


def _fill(order: Order, event: OrderLifecycleEvent) -> Order:
    assert isinstance(event, Filled)
    if event.trade_id in order.trade_ids:
        return order  # the same trade reported again
    filled = order.filled_volume + event.volume
    if filled > order.volume:
        raise OverfillError(
            order, event, f"{order.filled_volume} + {event.volume} > volume {order.volume}"
        )
    previous = order.average_fill_price or 0.0
    average = (previous * order.filled_volume + event.price * event.volume) / filled
    if order.status.is_terminal:
        status = order.status  # a late report of a fill that came before the cancel or expiry
    elif filled == order.volume:
        status = _S.FILLED
    elif order.status is _S.CANCEL_PENDING:
        status = _S.CANCEL_PENDING  # the cancel is still on its way for the rest
    else:
        status = _S.PARTIALLY_FILLED
    return _touched(
        order,
        event,
        status=status,
        filled_volume=filled,
        average_fill_price=average,
        trade_ids=(*order.trade_ids, event.trade_id),
    )


def _rejected_unless_filled(order: Order, event: OrderLifecycleEvent) -> Order:
    if order.filled_volume:
        raise IllegalTransitionError(order, event, "part of it is filled already")
    return _to(_S.REJECTED)(order, event)


def _touched(order: Order, event: OrderLifecycleEvent, **changes: object) -> Order:
    # Events can arrive out of order: the order's clock never goes back.
    updated_at = max(order.updated_at, event.ts)
    return msgspec.structs.replace(order, updated_at=updated_at, **changes)


_WORKING: dict[type, _Step] = {
    Accepted: _same,  # a repeated or late acknowledgement
    Filled: _fill,
    CancelRequested: _to(_S.CANCEL_PENDING),
    CancelRejected: _same,  # a repeated refusal, already applied
    Cancelled: _to(_S.CANCELLED),  # also FAK/FOK leftovers, cancelled by the exchange
    Expired: _to(_S.EXPIRED),
}

TRANSITIONS: dict[OrderStatus, dict[type, _Step]] = {
    _S.PENDING_NEW: {
        Accepted: _to(_S.SUBMITTED),
        Filled: _fill,  # CTP can report the trade before the acknowledgement
        CancelRequested: _to(_S.CANCEL_PENDING),
        Cancelled: _to(_S.CANCELLED),  # a FAK/FOK with nothing to match, before its ack
        Rejected: _to(_S.REJECTED),
        Expired: _to(_S.EXPIRED),
    },
    _S.SUBMITTED: {
        **_WORKING,
        Rejected: _to(_S.REJECTED),  # the exchange refused what the broker had acknowledged
    },
    _S.PARTIALLY_FILLED: dict(_WORKING),
    _S.CANCEL_PENDING: {
        Accepted: _same,  # the acknowledgement overtaken by our cancel
        Filled: _fill,  # a fill that raced the cancel
        CancelRequested: _same,  # asked twice
        CancelRejected: _working,  # too late to cancel, or unknown to the venue
        Cancelled: _to(_S.CANCELLED),
        Rejected: _rejected_unless_filled,  # the insert itself failed while we cancelled
        Expired: _to(_S.EXPIRED),
    },
    _S.FILLED: {
        Accepted: _same,  # late acknowledgement
        Filled: _fill,  # the same trade again is a no-op; a new one is an overfill
        CancelRejected: _same,  # the venue's answer to a cancel that raced the last fill
    },
    _S.CANCELLED: {
        Accepted: _same,
        Filled: _fill,  # a fill from before the cancel, reported after it
        CancelRequested: _same,
        CancelRejected: _same,
        Cancelled: _same,
    },
    _S.REJECTED: {
        Rejected: _same,
        CancelRejected: _same,  # a cancel sent before the rejection arrived
        Cancelled: _same,  # CTP reports a refused insert as cancelled too
    },
    _S.EXPIRED: {
        Accepted: _same,
        Filled: _fill,  # a fill from before the end of the day, reported after it
        CancelRequested: _same,
        CancelRejected: _same,
        Expired: _same,
    },
}


def apply(order: Order, event: OrderLifecycleEvent) -> Order:
    """The order after ``event``; raises `IllegalTransitionError` for an impossible one."""
    step = TRANSITIONS[order.status].get(type(event))
    if step is None:
        raise IllegalTransitionError(order, event)
    return step(order, event)
