"""Orders: the lifecycle state machine, and booking trades into positions."""

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

__all__ = [
    "EXPLICIT_CLOSE_TODAY",
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
    "OrderLifecycleEvent",
    "OverfillError",
    "Rejected",
    "apply",
    "book",
    "close_offsets",
    "commission",
    "mark",
    "position_direction",
    "roll_day",
    "split_close",
]
