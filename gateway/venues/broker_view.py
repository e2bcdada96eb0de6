"""What a live venue's broker last said about the account it trades: its money and positions
as the broker keeps them, beside the gateway's own books, so a trader can compare the two."""

from __future__ import annotations

from datetime import datetime

import msgspec

from shared.domain import ComponentState, Direction, Exchange


class BrokerAccount(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    balance: float
    available: float
    margin: float
    frozen_margin: float
    commission: float
    close_profit: float
    position_profit: float


class BrokerPosition(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    exchange: Exchange
    direction: Direction
    volume: int
    today_volume: int
    yesterday_volume: int
    cost: float  # the broker's position cost (price x volume x multiplier)
    margin: float
    position_profit: float


class BrokerView(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    state: ComponentState
    detail: str
    account_id: str
    reported_at: datetime | None = None  # when the broker last answered a query
    accounts: list[BrokerAccount] = msgspec.field(default_factory=list)
    positions: list[BrokerPosition] = msgspec.field(default_factory=list)
