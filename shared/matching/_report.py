"""What the paper exchange tells its caller: which order an event belongs to."""

from __future__ import annotations

import msgspec

from shared.orders import OrderLifecycleEvent


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """One lifecycle event for one order, as a real venue would report it."""

    order_id: str
    event: OrderLifecycleEvent
