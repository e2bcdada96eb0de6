"""What one tick does to a resting limit order: a pure decision, applied by the engine.

All prices are signed ticks (see `_book`), so the same rules serve buys and sells.
"""

from __future__ import annotations

import msgspec

from shared.domain import Order
from shared.matching._book import SideView, queue_ahead


class Resting(msgspec.Struct, frozen=True, kw_only=True):
    """A DAY limit order waiting in the book, with the engine's own copy of its state."""

    order: Order
    level: int  # the limit price in signed ticks
    ahead: int | None  # displayed volume queued before it; None while its price is behind the best


class Match(msgspec.Struct, frozen=True, kw_only=True):
    """Lots to fill, and the order's queue place after the tick."""

    traded: int  # at the limit, from what the market traded: through it, or at it past the queue
    displayed: int  # at the limit, from the opposite quote standing there; it uses that quote up
    ahead: int | None
    improved: int = 0  # from an opposite quote better than the limit, at that quote's price
    improved_at: int | None = None  # that price, in signed ticks


def match_resting(
    resting: Resting,
    market: SideView,
    left: SideView,
    *,
    last: int | None,
    traded: int,
    taken: int,
) -> Match:
    """Match one resting order against a tick.

    ``market`` is the tick as printed; ``left`` is what is still displayed after the orders
    matched before this one in the same tick. ``last`` is the last price when something traded
    since the previous tick (``traded`` lots), and ``taken`` is what earlier orders of ours at
    the same price already took from those lots.
    """
    remaining = resting.order.remaining_volume
    level, ahead = resting.level, resting.ahead
    past_queue = 0
    if ahead is not None and last == level:
        # Lots traded at our price go to the queue ahead first, then to earlier orders of ours.
        past_queue = max(0, traded - ahead - taken)
        ahead = max(0, ahead - traded)
    queue = queue_ahead(level, market, ahead)
    if market.opposite is None:
        # A locked limit (nobody on the other side at all) fills nothing, whatever printed.
        return Match(traded=0, displayed=0, ahead=queue)
    through = last is not None and last < level
    if left.opposite is not None and left.opposite < level and left.opposite_volume:
        # The other side stands better than the limit (the market cannot see our order):
        # take what is displayed there, at its price; only a trade through the limit fills
        # the rest, at the limit.
        improved = min(remaining, left.opposite_volume)
        rest = remaining - improved if through else 0
        return Match(
            traded=rest, displayed=0, ahead=queue, improved=improved, improved_at=left.opposite
        )
    if through:
        # The market traded through the limit: this order would have been hit on the way.
        return Match(traded=remaining, displayed=0, ahead=queue)
    from_trades = min(remaining, past_queue)
    displayed = 0
    if left.opposite == level:
        displayed = min(remaining - from_trades, left.opposite_volume)
    return Match(traded=from_trades, displayed=displayed, ahead=queue)
