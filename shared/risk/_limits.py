"""What the pre-trade checks allow, and what a refusal says."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class TradingState(StrEnum):
    """The kill switch: set by an admin, or to reducing-only by the daily loss limit."""

    ACTIVE = "active"
    REDUCING_ONLY = "reducing_only"  # only orders that close positions
    HALTED = "halted"  # no new orders at all; cancels still go through


class Rule(StrEnum):
    """Every refusal names one of these."""

    UNKNOWN_INSTRUMENT = "unknown_instrument"
    PRICE_TICK = "price_tick"
    PRICE_LIMIT = "price_limit"
    VOLUME = "volume"
    NOTIONAL = "notional"
    CLOSE_EXCEEDS_POSITION = "close_exceeds_position"
    MARGIN = "margin"
    POSITION_LIMIT = "position_limit"
    PRODUCT_POSITION_LIMIT = "product_position_limit"
    ORDER_RATE = "order_rate"
    ACTIVE_ORDERS = "active_orders"
    DAILY_ORDERS = "daily_orders"
    DAILY_CANCELS = "daily_cancels"
    DAILY_TRADES = "daily_trades"
    DUPLICATE_ORDER = "duplicate_order"
    SELF_TRADE = "self_trade"
    DAILY_LOSS = "daily_loss"
    TRADING_STATE = "trading_state"


class Rejection(msgspec.Struct, frozen=True):
    rule: Rule
    detail: str
    scope: str = "account"  # or "strategy <id>": whose limit it was


class LimitWarning(msgspec.Struct, frozen=True):
    """A limit nearly reached: brokers want the trader told before orders are refused."""

    rule: Rule
    used: float
    limit: float
    detail: str
    scope: str = "account"


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Limits of one account or one strategy; None switches a limit off.

    The defaults are deliberately tight for a new account; brokers' program-trading rules
    (see docs/risk.md) set some of them.
    """

    max_order_volume: int | None = 100
    max_order_notional: float | None = None  # price x volume x multiplier, CNY
    max_position_per_instrument: int | None = None  # lots held + working opens, one direction
    max_position_per_product: int | None = None
    max_orders_per_second: int | None = 20
    max_active_orders: int | None = 200
    max_daily_orders: int | None = 10_000
    max_daily_orders_per_instrument: int | None = 2_000
    max_daily_cancels: int | None = 5_000
    max_daily_cancels_per_instrument: int | None = 400
    max_daily_trades: int | None = None
    duplicate_window_s: float | None = 1.0  # same order again within this time
    max_daily_loss: float | None = None  # CNY, realized + unrealized; then reducing-only
    prevent_self_trade: bool = True
    # Warn when a daily count or the daily loss reaches this share of its limit.
    warn_at: float | None = 0.8

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or value is None:
                continue
            if not value > 0:
                raise ValueError(f"`{name}` must be positive or null, got {value!r}")
        if self.warn_at is not None and not self.warn_at < 1:
            raise ValueError(f"`warn_at` must be below 1, got {self.warn_at!r}")
