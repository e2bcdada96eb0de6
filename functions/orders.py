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
from shared.store.booking import book_accounts

if TYPE_CHECKING:
    from functions.deps import Deps

AccountId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
PositiveFinite = Annotated[float, msgspec.Meta(gt=0, lt=1e12)]


class AccountMarks(msgspec.Struct, frozen=True, kw_only=True):
    account_id: AccountId
    # "EXCHANGE.symbol" -> the price to mark the position at (the last price).
    prices: Annotated[dict[str, PositiveFinite], msgspec.Meta(max_length=10_000)] = msgspec.field(
        default_factory=dict
    )


class BookRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Several accounts per call: a burst of fills across accounts costs one call."""

    accounts: Annotated[list[AccountMarks], msgspec.Meta(min_length=1, max_length=1_000)]
    # The market's trading day: an account still on an earlier one rolls to it first.
    trading_day: date | None = None


class AccountBooked(msgspec.Struct, frozen=True, kw_only=True):
    account: Account
    positions: list[Position]
    booked: list[Trade]
    refused: list[Refusal]


class BookResponse(msgspec.Struct, frozen=True, kw_only=True):
    results: list[AccountBooked]
    unknown: list[str]  # accounts not in the database


@function("orders", request=BookRequest, response=BookResponse, max_retries=3)
async def book_trades(request: BookRequest, deps: Deps) -> BookResponse:
    """Book accounts' pending trades into positions, P&L, margin and equity."""
    # One transaction for the call: a burst of fills costs one commit, not one per account.
    if len({marks.account_id for marks in request.accounts}) < len(request.accounts):
        raise RequestError("an account is named twice", "accounts")
    runs, unknown = await book_accounts(
        deps.database(),
        {marks.account_id: marks.prices for marks in request.accounts},
        datetime.now(UTC),
        trading_day=request.trading_day,
    )
    results = [
        AccountBooked(
            account=run.account, positions=run.positions, booked=run.booked, refused=run.refused
        )
        for run in runs
    ]
    return BookResponse(results=results, unknown=unknown)
