"""Orders, trades, positions and accounts."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from shared.domain._enums import (
    Direction,
    Exchange,
    Offset,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TriggerCondition,
    TriggerSource,
)
from shared.domain._time import require_aware

_PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.CONDITIONAL})
_TRIGGERED_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.CONDITIONAL})


class Order(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    client_order_id: str
    account_id: str
    symbol: str
    exchange: Exchange
    side: Side
    offset: Offset
    type: OrderType
    volume: int
    created_at: datetime
    updated_at: datetime
    price: float | None = None  # limit price
    trigger_price: float | None = None  # stop / conditional trigger
    time_in_force: TimeInForce = TimeInForce.DAY
    status: OrderStatus = OrderStatus.PENDING_NEW
    filled_volume: int = 0
    average_fill_price: float | None = None
    venue_order_id: str | None = None
    strategy_id: str | None = None
    reject_reason: str | None = None
    # The venue's ids of the fills applied so far: a fill reported twice is applied once.
    trade_ids: tuple[str, ...] = ()
    # Stop and conditional orders: what they watch (default the last price) and, for a
    # conditional order, which way (a stop's follows from its side).
    trigger_source: TriggerSource | None = None
    trigger_condition: TriggerCondition | None = None

    def __post_init__(self) -> None:
        require_aware(self.created_at, "created_at")
        require_aware(self.updated_at, "updated_at")
        if self.volume <= 0:
            raise ValueError(f"`volume` must be positive, got {self.volume}")
        if not 0 <= self.filled_volume <= self.volume:
            raise ValueError(
                f"`filled_volume` must be within [0, volume={self.volume}], "
                f"got {self.filled_volume}"
            )
        if self.type in _PRICED_TYPES and self.price is None:
            raise ValueError(f"`price` is required for {self.type} orders")
        if self.type in _TRIGGERED_TYPES and self.trigger_price is None:
            raise ValueError(f"`trigger_price` is required for {self.type} orders")
        if self.type is OrderType.CONDITIONAL and self.trigger_condition is None:
            raise ValueError("`trigger_condition` is required for conditional orders")
        if self.type not in _TRIGGERED_TYPES and (
            self.trigger_condition is not None or self.trigger_source is not None
        ):
            raise ValueError(f"a {self.type} order has no trigger")

    @property
    def remaining_volume(self) -> int:
        return self.volume - self.filled_volume


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    order_id: str
    account_id: str
    symbol: str
    exchange: Exchange
    side: Side
    offset: Offset
    price: float
    volume: int
    ts: datetime
    trading_day: date
    commission: float = 0.0
    venue_trade_id: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.ts, "ts")
        if self.volume <= 0:
            raise ValueError(f"`volume` must be positive, got {self.volume}")


class Position(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    symbol: str
    exchange: Exchange
    direction: Direction
    volume: int = 0
    today_volume: int = 0  # SHFE/INE close today and yesterday separately
    yesterday_volume: int = 0
    average_price: float = 0.0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    margin: float = 0.0

    def __post_init__(self) -> None:
        if min(self.volume, self.today_volume, self.yesterday_volume) < 0:
            raise ValueError("position volumes must be >= 0")
        if self.today_volume + self.yesterday_volume != self.volume:
            raise ValueError(
                f"`today_volume` ({self.today_volume}) + `yesterday_volume` "
                f"({self.yesterday_volume}) must equal `volume` ({self.volume})"
            )


class Account(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    trading_day: date
    updated_at: datetime
    balance: float = 0.0  # static equity at the start of the day + today's cash flows
    available: float = 0.0
    margin: float = 0.0
    frozen_margin: float = 0.0
    commission: float = 0.0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0

    def __post_init__(self) -> None:
        require_aware(self.updated_at, "updated_at")

    @property
    def equity(self) -> float:
        return self.balance + self.unrealized_pnl


class RiskWarning(msgspec.Struct, frozen=True, kw_only=True):
    """A limit nearly reached (`shared.risk.LimitWarning` as the front end sees it)."""

    rule: str
    used: float
    limit: float
    detail: str
    scope: str = "account"  # or "strategy <id>"


class RiskStatus(msgspec.Struct, frozen=True, kw_only=True):
    """An account's trading state (active, reducing_only or halted) and its warnings."""

    account_id: str
    state: str
    state_reason: str = ""
    warnings: list[RiskWarning] = msgspec.field(default_factory=list)
