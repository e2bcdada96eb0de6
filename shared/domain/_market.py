"""Instruments and market data."""

from __future__ import annotations

import math
from datetime import date, datetime

import msgspec

from shared.domain._enums import Exchange, Interval
from shared.domain._prices import is_on_tick
from shared.domain._time import require_aware


class CommissionRates(msgspec.Struct, frozen=True, kw_only=True):
    """Exchange + broker fees, as CTP states them: a part per lot and a part per turnover."""

    open_by_volume: float = 0.0
    open_by_money: float = 0.0
    close_by_volume: float = 0.0
    close_by_money: float = 0.0
    close_today_by_volume: float = 0.0
    close_today_by_money: float = 0.0

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}")


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str  # exchange contract code as the exchange writes it: rb2401, SR401, IF2101
    exchange: Exchange
    product: str  # rb, SR, IF
    multiplier: int
    price_tick: float
    name: str = ""
    min_volume: int = 1
    long_margin_ratio: float = 0.0
    short_margin_ratio: float = 0.0
    commission: CommissionRates = msgspec.field(default_factory=CommissionRates)
    expires_on: date | None = None

    def __post_init__(self) -> None:
        if not self.symbol:
            raise ValueError("`symbol` must not be empty")
        if self.multiplier <= 0:
            raise ValueError(f"`multiplier` must be positive, got {self.multiplier}")
        if not (math.isfinite(self.price_tick) and self.price_tick > 0):
            raise ValueError(f"`price_tick` must be positive, got {self.price_tick!r}")
        if self.min_volume <= 0:
            raise ValueError(f"`min_volume` must be positive, got {self.min_volume}")
        for name in ("long_margin_ratio", "short_margin_ratio"):
            ratio = getattr(self, name)
            if not 0.0 <= ratio < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {ratio!r}")

    @property
    def key(self) -> str:
        """Unique across exchanges: ``SHFE.rb2401``."""
        return f"{self.exchange}.{self.symbol}"

    def accepts_price(self, price: float) -> bool:
        return price > 0 and is_on_tick(price, self.price_tick)


class Tick(msgspec.Struct, frozen=True, kw_only=True, array_like=False):
    symbol: str
    exchange: Exchange
    ts: datetime  # UTC, when the exchange stamped it
    trading_day: date  # the session's day: a night tick belongs to the next trading day
    last_price: float
    volume: int  # cumulative for the trading day
    turnover: float  # cumulative, CNY
    open_interest: float
    bid_price: float | None = None
    bid_volume: int = 0
    ask_price: float | None = None
    ask_volume: int = 0
    upper_limit: float | None = None
    lower_limit: float | None = None

    def __post_init__(self) -> None:
        require_aware(self.ts, "ts")
        if self.volume < 0:
            raise ValueError(f"`volume` must be >= 0, got {self.volume}")


class Bar(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    exchange: Exchange
    interval: Interval
    start: datetime  # UTC, inclusive
    trading_day: date
    open: float
    high: float
    low: float
    close: float
    volume: int = 0
    turnover: float = 0.0
    open_interest: float = 0.0

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        if self.volume < 0:
            raise ValueError(f"`volume` must be >= 0, got {self.volume}")
        if not self.low <= min(self.open, self.close) <= max(self.open, self.close) <= self.high:
            raise ValueError(
                f"bar prices are inconsistent: open={self.open} high={self.high} "
                f"low={self.low} close={self.close}"
            )
