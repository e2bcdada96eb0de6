"""The event-driven backtest's orders as the strategy sees them, and the bar-to-tick bridge
that lets the paper exchange (`shared.matching`) fill them from bars.

A bar has no quotes, so each price it visits becomes a synthetic tick with that price as bid,
ask and last, and a size no order can exhaust. The path through a bar is open, then the
extreme nearer the open... (the low first on an up bar, close >= open; the high first on a down
bar), then the other extreme, then the close. Limit orders rest in the paper exchange and fill
at their price, or at the open when the bar gaps through them; stop orders wait in the engine
and, once a path price touches the trigger, fill as market orders at the trigger (or at the
open after a gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shared.domain import Exchange, Tick

_EPOCH_DAY = date(1970, 1, 1)
# Displayed size of a synthetic quote: bars carry no depth, so fills are never volume-limited.
DEPTH = 1_000_000_000


@dataclass(slots=True)
class OrderState:
    """Satisfies `shared.strategy.OrderUpdate`."""

    order_id: str
    symbol: str
    index: int  # the series
    owner: int  # the strategy that placed it (engine's agent index)
    volume: float  # signed
    kind: str
    price: float | None
    status: str = "submitted"  # submitted, working, filled, partially_filled, cancelled, rejected
    filled: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """Satisfies `shared.strategy.TradeUpdate`."""

    order_id: str
    symbol: str
    volume: float
    price: float
    commission: float
    ts_ns: int


def bar_path(open_: float, high: float, low: float, close: float) -> tuple[float, ...]:
    if close >= open_:
        return (open_, low, high, close)
    return (open_, high, low, close)


def utc(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC) + timedelta(
        microseconds=(ts_ns % 1_000_000_000) // 1_000
    )


def quote(symbol: str, exchange: Exchange, ts: datetime, day: int, price: float) -> Tick:
    return Tick(
        symbol=symbol,
        exchange=exchange,
        ts=ts,
        trading_day=_EPOCH_DAY + timedelta(days=day),
        last_price=price,
        volume=0,
        turnover=0.0,
        open_interest=0.0,
        bid_price=price,
        bid_volume=DEPTH,
        ask_price=price,
        ask_volume=DEPTH,
    )
