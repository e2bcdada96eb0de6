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

from collections.abc import Mapping, Sequence
from datetime import date

import msgspec

from shared.domain import Account, Direction, Instrument, Position, Trade
from shared.orders._booking import BookingError, book, mark, position_direction, roll_day

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


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """A trade the books could not take: set aside, so that later trades still book."""

    trade_id: str
    reason: str


class Books(msgspec.Struct, frozen=True, kw_only=True):
    account: Account
    positions: dict[PositionKey, Position]
    booked: list[Trade]  # with their commission, in the order booked
    refused: list[Refusal]


def book_trades(
    account: Account,
    positions: Mapping[PositionKey, Position],
    trades: Sequence[Trade],
    instruments: Mapping[str, Instrument],
    *,
    prices: Mapping[str, float],
    trading_day: date | None = None,
) -> Books:
    """A booking run: ``trades`` (oldest first) into the books, rolling them to each later
    trading day a trade belongs to, then to ``trading_day`` when later still, and every
    position re-marked at ``prices`` at the end."""
    held = dict(positions)
    booked: list[Trade] = []
    refused: list[Refusal] = []
    for trade in trades:
        if trade.trading_day > account.trading_day:
            account, held = roll_account(account, held, trade.trading_day)
        key = position_key(trade)
        instrument = instruments.get(key[0])
        if instrument is None:
            refused.append(Refusal(trade_id=trade.id, reason=f"{key[0]} is not in the catalogue"))
            continue
        try:
            entry = book_trade(account, held.get(key), trade, instrument)
        except BookingError as exc:
            refused.append(Refusal(trade_id=trade.id, reason=str(exc)))
            continue
        account, held[key] = entry.account, entry.position
        booked.append(entry.trade)
    if trading_day is not None and trading_day > account.trading_day:
        account, held = roll_account(account, held, trading_day)
    account, held = mark_account(account, held, prices, instruments)
    return Books(account=account, positions=held, booked=booked, refused=refused)


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


def roll_account(
    account: Account, positions: Mapping[PositionKey, Position], day: date
) -> tuple[Account, dict[PositionKey, Position]]:
    """The books at the start of trading day ``day``: today's lots become earlier lots,
    closed positions go, and the day's realized P&L and commission start again from zero
    (the balance keeps what they added up to)."""
    if day <= account.trading_day:
        raise ValueError(f"cannot roll {account.account_id} from {account.trading_day} to {day}")
    rolled = {
        position_key: msgspec.structs.replace(roll_day(position), realized_pnl=0.0)
        for position_key, position in positions.items()
        if position.volume > 0
    }
    return msgspec.structs.replace(
        account, trading_day=day, realized_pnl=0.0, commission=0.0
    ), rolled


def position_key(trade: Trade) -> PositionKey:
    return (f"{trade.exchange}.{trade.symbol}", position_direction(trade.side, trade.offset))
