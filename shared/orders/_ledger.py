"""An account's books: each trade into its position and into the account's money.

`book_trade` is what the `orders` function runs for every fill: the position after it, the
trade with its commission, and the account with the trade's realized P&L and commission, its
margin and unrealized P&L re-marked on the traded contract. `mark_account` re-marks every
position at new prices. Money moves only by these rules:

- balance  = the day's opening balance + realized P&L - commission;
- equity   = balance + unrealized P&L;
- available = equity - position margin - margin frozen by working orders.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from shared.domain import Account, Direction, Instrument, Position, Trade
from shared.orders._booking import book, mark, position_direction

PositionKey = tuple[str, Direction]  # "EXCHANGE.symbol", direction


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    account: Account
    position: Position
    trade: Trade  # with its commission


def book_trade(
    account: Account, position: Position | None, trade: Trade, instrument: Instrument
) -> LedgerEntry:
    """``position`` is the account's position the trade changes (None when there is none);
    its margin and unrealized P&L are as last marked."""
    booking = book(position, trade, instrument)
    before_margin = position.margin if position else 0.0
    before_unrealized = position.unrealized_pnl if position else 0.0
    after = mark(booking.position, trade.price, instrument)
    margin = account.margin + after.margin - before_margin
    unrealized = account.unrealized_pnl + after.unrealized_pnl - before_unrealized
    balance = account.balance + booking.realized_pnl - booking.commission
    updated = msgspec.structs.replace(
        account,
        balance=balance,
        realized_pnl=account.realized_pnl + booking.realized_pnl,
        commission=account.commission + booking.commission,
        margin=margin,
        unrealized_pnl=unrealized,
        available=balance + unrealized - margin - account.frozen_margin,
        updated_at=max(account.updated_at, trade.ts),
    )
    return LedgerEntry(
        account=updated,
        position=after,
        trade=msgspec.structs.replace(trade, commission=booking.commission),
    )


def mark_account(
    account: Account,
    positions: Mapping[PositionKey, Position],
    prices: Mapping[str, float],
    instruments: Mapping[str, Instrument],
) -> tuple[Account, dict[PositionKey, Position]]:
    """Every position re-marked at its contract's price in ``prices`` (the others as they
    were), and the account's margin, unrealized P&L and available money with them."""
    marked: dict[PositionKey, Position] = {}
    for position_key, position in positions.items():
        price = prices.get(position_key[0])
        instrument = instruments.get(position_key[0])
        if price is None or instrument is None:
            marked[position_key] = position
        else:
            marked[position_key] = mark(position, price, instrument)
    margin = sum(position.margin for position in marked.values())
    unrealized = sum(position.unrealized_pnl for position in marked.values())
    updated = msgspec.structs.replace(
        account,
        margin=margin,
        unrealized_pnl=unrealized,
        available=account.balance + unrealized - margin - account.frozen_margin,
    )
    return updated, marked


def position_key(trade: Trade) -> PositionKey:
    return (f"{trade.exchange}.{trade.symbol}", position_direction(trade.side, trade.offset))
