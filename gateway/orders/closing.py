"""Closing a position in one request: the orders it takes (the auto mode of SHFE and INE).

SHFE and INE close today's and earlier lots with different offsets (and fees); a plain close
there closes earlier lots only. Asked to close a position, the gateway splits the volume by
what the position holds of each (earlier lots first, or today's first when asked) and places
one order per part; elsewhere one plain close. Each part's client order id is the request's
with ``:y`` or ``:t``, so a retried request finds the orders the first one made.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from gateway.orders.service import OrderRequest
from shared.domain import Direction, Exchange, Offset, OrderType, Position, Side, TimeInForce
from shared.orders import EXPLICIT_CLOSE_TODAY, BookingError, close_offsets

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
# Two characters shorter than an order's: the parts add ":y" or ":t".
_CloseId = Annotated[str, msgspec.Meta(min_length=1, max_length=62, pattern=r"^[A-Za-z0-9_.-]+$")]
_Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]
_Price = Annotated[float, msgspec.Meta(gt=0, lt=1e9)]
_Volume = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]

_SUFFIX = {Offset.CLOSE_YESTERDAY: ":y", Offset.CLOSE_TODAY: ":t"}


class ClosePosition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    account_id: _Id
    client_order_id: _CloseId
    exchange: Exchange
    symbol: _Symbol
    direction: Direction  # the position to close: long (closed by selling) or short
    volume: _Volume
    type: Literal["limit", "market"] = "limit"
    price: _Price | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    today_first: bool = False  # SHFE/INE: close today's lots before earlier ones
    strategy_id: _Id | None = None


class NothingToCloseError(ValueError):
    """The position does not hold the volume; the message names `volume`."""


def close_orders(request: ClosePosition, position: Position | None) -> list[OrderRequest]:
    """The order requests that close ``request.volume`` of ``position`` (as booked)."""
    held = position.volume if position is not None else 0
    if position is None or held == 0:
        raise NothingToCloseError(
            f"`volume`: no {request.direction} position in {request.exchange}.{request.symbol}"
        )
    try:
        parts = close_offsets(position, request.volume, today_first=request.today_first)
    except BookingError:
        raise NothingToCloseError(
            f"`volume`: closing {request.volume}, the position holds {held}"
        ) from None
    side = Side.SELL if request.direction is Direction.LONG else Side.BUY
    split = request.exchange in EXPLICIT_CLOSE_TODAY
    return [
        OrderRequest(
            account_id=request.account_id,
            client_order_id=request.client_order_id + (_SUFFIX[offset] if split else ""),
            exchange=request.exchange,
            symbol=request.symbol,
            side=side,
            offset=offset,
            type=OrderType(request.type),
            volume=volume,
            price=request.price,
            time_in_force=request.time_in_force,
            strategy_id=request.strategy_id,
        )
        for offset, volume in parts
    ]
