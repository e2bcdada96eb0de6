"""Stop, stop-limit and conditional orders wait in the gateway until their price is reached.

Chinese exchanges take neither stops nor conditional orders, so the gateway holds them and,
on the first tick whose watched price (last, bid or ask) reaches the trigger, releases an order
the venue does take: a stop becomes a market order, a stop-limit and a conditional order a
limit order at their price. Prices are compared in ticks of the instrument.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import msgspec

from shared.domain import (
    Instrument,
    Order,
    OrderType,
    Side,
    Tick,
    TriggerCondition,
    TriggerSource,
    price_to_ticks,
)

HELD_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.CONDITIONAL})


class Released(msgspec.Struct, frozen=True, kw_only=True):
    held: Order  # as the trader placed it
    send: Order  # what goes to the venue: the same ids, as a market or limit order
    trigger: float  # the watched price that reached the trigger


class _Watch(msgspec.Struct, frozen=True):
    order: Order
    source: TriggerSource
    above: bool  # fire when the price is at or above the trigger (else at or below)
    level: int  # the trigger in ticks


def condition_of(order: Order) -> TriggerCondition:
    """A stop buys when the price rises to it and sells when it falls to it."""
    if order.trigger_condition is not None:
        return order.trigger_condition
    if order.side is Side.BUY:
        return TriggerCondition.AT_OR_ABOVE
    return TriggerCondition.AT_OR_BELOW


class TriggerBook:
    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._instruments = instruments
        self._watching: dict[str, dict[str, _Watch]] = defaultdict(dict)  # key -> id -> watch
        self._keys: dict[str, str] = {}  # order id -> instrument key

    def hold(self, order: Order) -> None:
        if order.type not in HELD_TYPES or order.trigger_price is None:
            raise ValueError(f"a {order.type} order is not held for a trigger")
        key = f"{order.exchange}.{order.symbol}"
        instrument = self._instruments.get(key)
        if instrument is None:
            raise ValueError(f"{key} is not in the catalogue")
        watch = _Watch(
            order=order,
            source=order.trigger_source or TriggerSource.LAST,
            above=condition_of(order) is TriggerCondition.AT_OR_ABOVE,
            level=price_to_ticks(order.trigger_price, instrument.price_tick),
        )
        self._watching[key][order.id] = watch
        self._keys[order.id] = key

    def cancel(self, order_id: str) -> Order | None:
        """Stop watching; the order, or None when it is not held (released or unknown)."""
        key = self._keys.pop(order_id, None)
        if key is None:
            return None
        return self._watching[key].pop(order_id).order

    def held(self) -> list[Order]:
        return [watch.order for watches in self._watching.values() for watch in watches.values()]

    def on_tick(self, tick: Tick) -> list[Released]:
        key = f"{tick.exchange}.{tick.symbol}"
        watches = self._watching.get(key)
        if not watches:
            return []
        price_tick = self._instruments[key].price_tick
        prices = {
            TriggerSource.LAST: tick.last_price,
            TriggerSource.BID: tick.bid_price,
            TriggerSource.ASK: tick.ask_price,
        }
        released: list[Released] = []
        for order_id, watch in list(watches.items()):
            price = prices[watch.source]
            if price is None:
                continue  # an empty side of the book triggers nothing
            level = price_to_ticks(price, price_tick)
            if level >= watch.level if watch.above else level <= watch.level:
                del watches[order_id]
                del self._keys[order_id]
                released.append(
                    Released(held=watch.order, send=released_order(watch.order), trigger=price)
                )
        return released


def released_order(order: Order) -> Order:
    """What a stop or conditional order becomes once triggered: a market or a limit order."""
    kind = OrderType.MARKET if order.type is OrderType.STOP else OrderType.LIMIT
    return msgspec.structs.replace(
        order,
        type=kind,
        price=None if kind is OrderType.MARKET else order.price,
        trigger_price=None,
        trigger_source=None,
        trigger_condition=None,
    )
