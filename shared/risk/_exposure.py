"""What an account holds and has working: positions, working orders, their margin.

Kept incrementally from the orders sent, their updates and the trades, so that each risk
check reads a few counters instead of walking every order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from shared.domain import Direction, Instrument, Offset, Order, Side, price_to_ticks
from shared.orders import position_direction

Position = tuple[str, Direction]  # instrument key, direction


class Exposure:
    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._instruments = instruments
        self.working: dict[str, Order] = {}
        self.positions: dict[Position, int] = defaultdict(int)
        self.working_open: dict[Position, int] = defaultdict(int)  # lots in working opens
        self.working_close: dict[Position, int] = defaultdict(int)
        self.frozen_total = 0.0  # margin held by working opening orders
        self._frozen: dict[str, float] = {}
        self._valued_at: dict[str, float | None] = {}  # the price each order's margin uses
        # Lots held plus lots in working opening orders, per product and direction.
        self.product_lots: dict[tuple[str, Direction], int] = defaultdict(int)
        # Working orders with a price, in ticks, per contract and side: for self-trade checks.
        self._resting: dict[tuple[str, Side], dict[str, int]] = defaultdict(dict)

    def add(self, order: Order, key: str, valued_at: float | None) -> None:
        self.working[order.id] = order
        self._valued_at[order.id] = valued_at
        self._hold(order, key)
        instrument = self._instruments.get(key)
        if order.price is not None and instrument is not None:
            price = price_to_ticks(order.price, instrument.price_tick)
            self._resting[key, order.side][order.id] = price

    def update(self, order: Order) -> bool:
        """Take an update of a working order; True when it has just finished."""
        previous = self.working.get(order.id)
        if previous is None:
            return False
        key = f"{order.exchange}.{order.symbol}"
        self._release(previous, key)
        if order.status.is_terminal:
            del self.working[order.id]
            self._valued_at.pop(order.id, None)
            self._resting[key, order.side].pop(order.id, None)
            return True
        self.working[order.id] = order
        self._hold(order, key)
        return False

    def trade(self, key: str, direction: Direction, change: int) -> None:
        held = self.positions[key, direction]
        self.positions[key, direction] = max(0, held + change)
        self._adjust_product(key, direction, self.positions[key, direction] - held)

    def set_positions(self, positions: Mapping[Position, int]) -> None:
        self.positions = defaultdict(int, positions)
        self.product_lots.clear()
        for source in (self.positions, self.working_open):
            for (key, direction), lots in source.items():
                self._adjust_product(key, direction, lots)

    def crossing(self, order: Order, key: str) -> str | None:
        """The id of a working order of the account that ``order`` would trade with."""
        opposite = Side.SELL if order.side is Side.BUY else Side.BUY
        resting = self._resting.get((key, opposite))
        if not resting:
            return None
        if order.price is None:  # a market order takes whatever is there
            return next(iter(resting))
        mine = price_to_ticks(order.price, self._instruments[key].price_tick)
        buying = order.side is Side.BUY
        for order_id, theirs in resting.items():
            if (mine >= theirs) if buying else (mine <= theirs):
                return order_id
        return None

    def _hold(self, order: Order, key: str) -> None:
        position = (key, position_direction(order.side, order.offset))
        remaining = order.volume - order.filled_volume
        if order.offset is not Offset.OPEN:
            self.working_close[position] += remaining
            return
        self.working_open[position] += remaining
        self._adjust_product(key, position[1], remaining)
        instrument = self._instruments.get(key)
        price = self._valued_at.get(order.id)
        if instrument is not None and price is not None:
            frozen = (
                price * remaining * instrument.multiplier * margin_ratio(instrument, order.side)
            )
            self._frozen[order.id] = frozen
            self.frozen_total += frozen

    def _release(self, order: Order, key: str) -> None:
        position = (key, position_direction(order.side, order.offset))
        remaining = order.volume - order.filled_volume
        if order.offset is Offset.OPEN:
            released = min(remaining, self.working_open[position])
            self.working_open[position] -= released
            self._adjust_product(key, position[1], -released)
        else:
            self.working_close[position] = max(0, self.working_close[position] - remaining)
        self.frozen_total -= self._frozen.pop(order.id, 0.0)

    def _adjust_product(self, key: str, direction: Direction, lots: int) -> None:
        instrument = self._instruments.get(key)
        if instrument is not None:
            self.product_lots[instrument.product, direction] += lots


def margin_ratio(instrument: Instrument, side: Side) -> float:
    return instrument.long_margin_ratio if side is Side.BUY else instrument.short_margin_ratio
