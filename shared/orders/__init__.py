"""Orders: the lifecycle state machine, stop and conditional triggers, and booking trades
into positions."""

from shared.orders._booking import (
    EXPLICIT_CLOSE_TODAY,
    Booking,
    BookingError,
    book,
    close_offsets,
    commission,
    mark,
    position_direction,
    roll_day,
    split_close,
)
from shared.orders._ledger import LedgerEntry, PositionKey, book_trade, mark_account, position_key
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
from shared.orders._state_machine import (
    TRANSITIONS,
    IllegalTransitionError,
    OverfillError,
    apply,
)
from shared.orders._triggers import HELD_TYPES, Released, TriggerBook, condition_of

__all__ = [
    "EXPLICIT_CLOSE_TODAY",
    "HELD_TYPES",
    "TRANSITIONS",
    "Accepted",
    "Booking",
    "BookingError",
    "CancelRejected",
    "CancelRequested",
    "Cancelled",
    "Expired",
    "Filled",
    "IllegalTransitionError",
    "LedgerEntry",
    "OrderLifecycleEvent",
    "OverfillError",
    "PositionKey",
    "Rejected",
    "Released",
    "TriggerBook",
    "apply",
    "book",
    "book_trade",
    "close_offsets",
    "commission",
    "condition_of",
    "mark",
    "mark_account",
    "position_direction",
    "position_key",
    "roll_day",
    "split_close",
]
