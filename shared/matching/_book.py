"""The latest quote seen from one side of the book, in integer ticks.

Prices are compared only as whole ticks. They are also signed by side, so one rule serves
buys and sells: a larger number is a more aggressive price for that side (a higher bid, a lower
offer), and "the opposite best is below my level" always means "the market is through me".
"""

from __future__ import annotations

import math

import msgspec

from shared.domain import Side, Tick, price_to_ticks


class SideView(msgspec.Struct, frozen=True, kw_only=True):
    """The best prices of a tick as one side sees them, in signed ticks; None when empty."""

    opposite: int | None  # the price to trade against: the ask for a buy, the bid for a sell
    opposite_volume: int
    own: int | None  # the best price on the order's own side: the bid for a buy
    own_volume: int


def signed_ticks(price: float, side: Side, price_tick: float) -> int:
    ticks = price_to_ticks(price, price_tick)
    return ticks if side is Side.BUY else -ticks


def unsigned_ticks(level: int, side: Side) -> int:
    return level if side is Side.BUY else -level


def side_view(tick: Tick, side: Side, price_tick: float) -> SideView:
    if side is Side.BUY:
        opposite = _level(tick.ask_price, tick.ask_volume, side, price_tick)
        own = _level(tick.bid_price, tick.bid_volume, side, price_tick)
        opposite_volume, own_volume = tick.ask_volume, tick.bid_volume
    else:
        opposite = _level(tick.bid_price, tick.bid_volume, side, price_tick)
        own = _level(tick.ask_price, tick.ask_volume, side, price_tick)
        opposite_volume, own_volume = tick.bid_volume, tick.ask_volume
    return SideView(
        opposite=opposite,
        opposite_volume=opposite_volume if opposite is not None else 0,
        own=own,
        own_volume=own_volume if own is not None else 0,
    )


def is_price(value: float | None) -> bool:
    # Feeds mark an empty level with None; a non-positive or non-finite price is empty too.
    return value is not None and math.isfinite(value) and value > 0


def _level(price: float | None, volume: int, side: Side, price_tick: float) -> int | None:
    # A price with nothing displayed behind it cannot be traded against.
    if price is None or not is_price(price) or volume <= 0:
        return None
    return signed_ticks(price, side, price_tick)


def queue_ahead(level: int, view: SideView, previous: int | None) -> int | None:
    """How much displayed volume trades before a resting order at ``level``.

    None means the order's price is behind the best, where the feed shows nothing about its
    queue; it gets a place once its price becomes the best. The displayed volume at the best
    is everyone queued there, so it also bounds the queue ahead: what shrinks it was cancelled.
    """
    if view.own is None or level > view.own:
        return 0  # better than everyone displayed: first in line
    if level == view.own:
        return view.own_volume if previous is None else min(previous, view.own_volume)
    return previous


def take_opposite(tick: Tick, side: Side, volume: int) -> Tick:
    """The quote after an order of ``side`` took ``volume`` lots of the opposite best."""
    if side is Side.BUY:
        return msgspec.structs.replace(tick, ask_volume=max(0, tick.ask_volume - volume))
    return msgspec.structs.replace(tick, bid_volume=max(0, tick.bid_volume - volume))


def traded_since(previous: Tick | None, tick: Tick) -> int:
    """Lots traded between two ticks, from the day's cumulative volume."""
    if previous is None:
        return 0  # the first quote seen: what traded before it is not ours to match
    if tick.trading_day != previous.trading_day:
        return tick.volume  # the cumulative count restarted with the new trading day
    return max(0, tick.volume - previous.volume)
