"""Booking a trade into a position: volumes by today and yesterday, average price, realized
P&L, commission; and marking a position to a price (unrealized P&L, margin).

A position is one direction of one contract in one account. Chinese futures close today's and
earlier lots separately: SHFE and INE take an explicit close-today or close-yesterday (a plain
close there is a close-yesterday), and charge their own close-today rate; the other exchanges
have no close-today instruction and close the earlier lots first.
"""

from __future__ import annotations

import msgspec

from shared.domain import Direction, Exchange, Instrument, Offset, Position, Side, Trade

EXPLICIT_CLOSE_TODAY = frozenset({Exchange.SHFE, Exchange.INE})


class BookingError(ValueError):
    """A trade that does not fit the position: a close of more than is held."""


class Booking(msgspec.Struct, frozen=True, kw_only=True):
    position: Position  # after the trade
    realized_pnl: float  # of this trade's closing part
    commission: float  # of this trade
    closed_today: int = 0
    closed_yesterday: int = 0


def position_direction(side: Side, offset: Offset) -> Direction:
    """The position a trade changes: buying opens a long or closes a short, and so on."""
    opening = offset is Offset.OPEN
    if side is Side.BUY:
        return Direction.LONG if opening else Direction.SHORT
    return Direction.SHORT if opening else Direction.LONG


def split_close(position: Position, volume: int, offset: Offset) -> tuple[int, int]:
    """How many of today's and of earlier lots a close of ``volume`` takes."""
    if position.exchange in EXPLICIT_CLOSE_TODAY:
        held = position.today_volume if offset is Offset.CLOSE_TODAY else position.yesterday_volume
        if volume > held:
            which = "today's" if offset is Offset.CLOSE_TODAY else "earlier"
            raise BookingError(
                f"{position.exchange}.{position.symbol} {position.direction}: closing {volume} "
                f"of {which} lots, {held} held"
            )
        return (volume, 0) if offset is Offset.CLOSE_TODAY else (0, volume)
    if volume > position.volume:
        raise BookingError(
            f"{position.exchange}.{position.symbol} {position.direction}: closing {volume}, "
            f"{position.volume} held"
        )
    yesterday = min(volume, position.yesterday_volume)  # earlier lots first
    return volume - yesterday, yesterday


def close_offsets(
    position: Position, volume: int, *, today_first: bool = False
) -> list[tuple[Offset, int]]:
    """The orders a close of ``volume`` needs (auto mode): on SHFE and INE, split between
    close-yesterday and close-today by what is held; elsewhere one plain close."""
    if volume > position.volume:
        raise BookingError(f"closing {volume}, {position.volume} held")
    if position.exchange not in EXPLICIT_CLOSE_TODAY:
        return [(Offset.CLOSE, volume)]
    parts = [
        (Offset.CLOSE_YESTERDAY, position.yesterday_volume),
        (Offset.CLOSE_TODAY, position.today_volume),
    ]
    if today_first:
        parts.reverse()
    offsets: list[tuple[Offset, int]] = []
    left = volume
    for offset, held in parts:
        take = min(left, held)
        if take:
            offsets.append((offset, take))
            left -= take
    return offsets


def commission(instrument: Instrument, trade: Trade, *, closed_today: int = 0) -> float:
    """Per lot plus per turnover; the close-today rates apply to the lots closed today."""
    rates = instrument.commission
    turnover_per_lot = trade.price * instrument.multiplier
    if trade.offset is Offset.OPEN:
        return trade.volume * (rates.open_by_volume + rates.open_by_money * turnover_per_lot)
    earlier = trade.volume - closed_today
    return closed_today * (
        rates.close_today_by_volume + rates.close_today_by_money * turnover_per_lot
    ) + earlier * (rates.close_by_volume + rates.close_by_money * turnover_per_lot)


def empty_position(trade: Trade, direction: Direction) -> Position:
    return Position(
        account_id=trade.account_id,
        symbol=trade.symbol,
        exchange=trade.exchange,
        direction=direction,
    )


def book(position: Position | None, trade: Trade, instrument: Instrument) -> Booking:
    """The position after ``trade``, with the trade's realized P&L and commission.

    ``position`` is the one `position_direction` names (None when there is none yet).
    """
    direction = position_direction(trade.side, trade.offset)
    current = position or empty_position(trade, direction)
    if current.direction is not direction:
        raise BookingError(f"a {trade.side} {trade.offset} trade changes the {direction} position")
    if trade.offset is Offset.OPEN:
        volume = current.volume + trade.volume
        average = (current.average_price * current.volume + trade.price * trade.volume) / volume
        after = msgspec.structs.replace(
            current,
            volume=volume,
            today_volume=current.today_volume + trade.volume,
            average_price=average,
        )
        return Booking(position=after, realized_pnl=0.0, commission=commission(instrument, trade))
    today, yesterday = split_close(current, trade.volume, trade.offset)
    sign = 1.0 if direction is Direction.LONG else -1.0
    realized = sign * (trade.price - current.average_price) * trade.volume * instrument.multiplier
    volume = current.volume - trade.volume
    after = msgspec.structs.replace(
        current,
        volume=volume,
        today_volume=current.today_volume - today,
        yesterday_volume=current.yesterday_volume - yesterday,
        average_price=current.average_price if volume else 0.0,
        realized_pnl=current.realized_pnl + realized,
        unrealized_pnl=current.unrealized_pnl if volume else 0.0,
        margin=current.margin if volume else 0.0,
    )
    return Booking(
        position=after,
        realized_pnl=realized,
        commission=commission(instrument, trade, closed_today=today),
        closed_today=today,
        closed_yesterday=yesterday,
    )


def mark(position: Position, price: float, instrument: Instrument) -> Position:
    """Unrealized P&L and margin at ``price`` (the last or settlement price)."""
    value = price * position.volume * instrument.multiplier
    if position.direction is Direction.LONG:
        unrealized = (price - position.average_price) * position.volume * instrument.multiplier
        ratio = instrument.long_margin_ratio
    else:
        unrealized = (position.average_price - price) * position.volume * instrument.multiplier
        ratio = instrument.short_margin_ratio
    return msgspec.structs.replace(position, unrealized_pnl=unrealized, margin=value * ratio)


def roll_day(position: Position) -> Position:
    """At the start of a new trading day, today's lots become earlier lots."""
    return msgspec.structs.replace(position, today_volume=0, yesterday_volume=position.volume)
