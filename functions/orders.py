"""The ``orders`` function: book an account's new trades into its positions and money.

The gateway stores each fill as a trade and asks for a booking run of the account; the run
books whatever is still unbooked, so asking twice, retrying after a lost worker or running
late after a restart all come to the same books. Marks positions at the prices sent too: the
same call, with no trades pending, is the periodic mark-to-market.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import msgspec

from functions.registry import RequestError, function
from shared.domain import Account, Position, Trade
from shared.orders import Refusal
from shared.store.accounts import AccountStore, UnknownAccountError

if TYPE_CHECKING:
    from functions.deps import Deps

AccountId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
PositiveFinite = Annotated[float, msgspec.Meta(gt=0, lt=1e12)]


class BookRequest(msgspec.Struct, frozen=True, kw_only=True):
    account_id: AccountId
    # "EXCHANGE.symbol" -> the price to mark the position at (the last price).
    prices: Annotated[dict[str, PositiveFinite], msgspec.Meta(max_length=10_000)] = msgspec.field(
        default_factory=dict
    )
    # The market's trading day: an account still on an earlier one rolls to it first.
    trading_day: date | None = None


class BookResponse(msgspec.Struct, frozen=True, kw_only=True):
    account: Account
    positions: list[Position]
    booked: list[Trade]
    refused: list[Refusal]


@function("orders", request=BookRequest, response=BookResponse, max_retries=3)
async def book_trades(request: BookRequest, deps: Deps) -> BookResponse:
    """Book an account's pending trades into positions, P&L, margin and equity."""
    store = AccountStore(deps.database())
    try:
        run = await store.book(
            request.account_id,
            request.prices,
            datetime.now(UTC),
            trading_day=request.trading_day,
        )
    except UnknownAccountError as exc:
        raise RequestError(str(exc), "account_id") from None
    return BookResponse(
        account=run.account, positions=run.positions, booked=run.booked, refused=run.refused
    )
