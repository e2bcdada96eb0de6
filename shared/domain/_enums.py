"""Enumerations shared by every layer; values are the wire strings."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Exchange(StrEnum):
    SHFE = "SHFE"
    INE = "INE"
    DCE = "DCE"
    CZCE = "CZCE"
    CFFEX = "CFFEX"
    GFEX = "GFEX"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Direction(StrEnum):
    """Side of a position (a sell can open a short or close a long)."""

    LONG = "long"
    SHORT = "short"


class Offset(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    CLOSE_TODAY = "close_today"
    CLOSE_YESTERDAY = "close_yesterday"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    CONDITIONAL = "conditional"


class TriggerSource(StrEnum):
    """The price a stop or conditional order watches."""

    LAST = "last"
    BID = "bid"
    ASK = "ask"


class TriggerCondition(StrEnum):
    AT_OR_ABOVE = "at_or_above"
    AT_OR_BELOW = "at_or_below"


class TimeInForce(StrEnum):
    DAY = "day"  # good for the trading day (CTP's GFD)
    FAK = "fak"  # fill what can be filled, cancel the rest
    FOK = "fok"  # fill everything at once or nothing


class OrderStatus(StrEnum):
    PENDING_NEW = "pending_new"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCEL_PENDING = "cancel_pending"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Interval(StrEnum):
    M1 = "1m"
    M3 = "3m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    D1 = "1d"

    @property
    def duration(self) -> timedelta:
        """Nominal length; session-aware bars may be shorter at a break."""
        unit, count = self.value[-1], int(self.value[:-1])
        return {"m": timedelta(minutes=count), "h": timedelta(hours=count)}.get(
            unit, timedelta(days=count)
        )
