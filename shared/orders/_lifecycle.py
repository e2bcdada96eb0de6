"""What happens to an order: the events that drive its state machine.

They come from the venue (acknowledged, filled, cancelled, rejected, expired, cancel refused)
or from the gateway itself (a cancel was asked for). Each carries the time it happened; fills
carry the venue's trade id, which makes a repeated report recognisable.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from shared.domain._time import require_aware


class _Lifecycle(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    ts: datetime

    def __post_init__(self) -> None:
        require_aware(self.ts, "ts")


class Accepted(_Lifecycle, frozen=True, tag="accepted"):
    """The venue took the order and it is working."""

    venue_order_id: str | None = None


class Filled(_Lifecycle, frozen=True, tag="filled"):
    trade_id: str
    price: float
    volume: int

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.volume <= 0:
            raise ValueError(f"`volume` must be positive, got {self.volume}")
        if not self.price > 0:  # also catches NaN
            raise ValueError(f"`price` must be positive, got {self.price}")


class CancelRequested(_Lifecycle, frozen=True, tag="cancel_requested"):
    """The gateway sent a cancel; the order works until the venue confirms."""


class CancelRejected(_Lifecycle, frozen=True, tag="cancel_rejected"):
    reason: str


class Cancelled(_Lifecycle, frozen=True, tag="cancelled"):
    reason: str | None = None


class Rejected(_Lifecycle, frozen=True, tag="rejected"):
    reason: str


class Expired(_Lifecycle, frozen=True, tag="expired"):
    """The order's time in force ran out (the trading day ended)."""


OrderLifecycleEvent = (
    Accepted | Filled | CancelRequested | CancelRejected | Cancelled | Rejected | Expired
)
