"""The exchange's checks on a new order, and the price a market order gets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import count

from shared.domain import Instrument, Order, OrderType, Side, Tick, price_to_ticks


def always_trading(key: str, ts: datetime) -> bool:  # noqa: ARG001 - the default ignores both
    return True


def sequence(prefix: str) -> Callable[[], str]:
    """Ids ``prefix1``, ``prefix2``, ...: unique for one engine, and the same in every replay."""
    numbers = count(1)
    return lambda: f"{prefix}{next(numbers)}"


def instrument_key(order: Order) -> str:
    return f"{order.exchange}.{order.symbol}"


def limit_price(order: Order) -> float:
    if order.price is None:  # `Order` requires a price for limit orders; this is for mypy
        raise ValueError(f"order {order.id} has no limit price")
    return order.price


_MATCHED_TYPES = frozenset({OrderType.LIMIT, OrderType.MARKET})


def refusal(
    order: Order, instrument: Instrument | None, tick: Tick | None, *, session_open: bool
) -> str | None:
    """Why the exchange refuses a new order outright, or None; ``tick`` is the latest quote."""
    if order.type not in _MATCHED_TYPES:
        return f"{order.type} orders are not matched here: trigger them as limit or market"
    if instrument is None:
        return f"unknown instrument {instrument_key(order)}"
    if not session_open:
        return f"{instrument.key} is not in a trading session"
    if order.type is OrderType.LIMIT:
        return limit_refusal(limit_price(order), instrument, tick)
    return None if tick is not None else f"no quote yet for {instrument.key}"


def limit_refusal(price: float, instrument: Instrument, tick: Tick | None) -> str | None:
    """Why a limit price is refused, or None; the price band is that of the latest tick."""
    if not instrument.accepts_price(price):
        return (
            f"limit price {price} is not on the price tick grid "
            f"({instrument.price_tick}) of {instrument.key}"
        )
    if tick is None:
        return f"no quote yet for {instrument.key}"
    ticks = price_to_ticks(price, instrument.price_tick)
    upper, lower = tick.upper_limit, tick.lower_limit
    if upper is not None and ticks > price_to_ticks(upper, instrument.price_tick):
        return f"limit price {price} is above the upper limit {upper}"
    if lower is not None and ticks < price_to_ticks(lower, instrument.price_tick):
        return f"limit price {price} is below the lower limit {lower}"
    return None


def slipped(best: int, side: Side, slippage: int, tick: Tick, price_tick: float) -> int:
    """The best price in ticks moved ``slippage`` ticks against the trader.

    Nothing trades outside the day's price band, nor at zero.
    """
    if side is Side.BUY:
        ticks = best + slippage
        if tick.upper_limit is not None:
            ticks = min(ticks, price_to_ticks(tick.upper_limit, price_tick))
        return ticks
    ticks = best - slippage
    if tick.lower_limit is not None:
        ticks = max(ticks, price_to_ticks(tick.lower_limit, price_tick))
    return max(ticks, 1)
