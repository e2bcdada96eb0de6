"""Trading endpoints: accounts, orders, trades and positions of the caller's own accounts.

Placing an order needs role `trader` and a trading token (the step-up, `X-Trading-Token`).
Cancelling does not: a trader whose token ran out must still be able to pull orders. An
account, order or trade of someone else answers 404, as if it did not exist. A cancel is not
written to the audit log: the order's own trail (`/orders/{id}/events`) holds the request.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED

from gateway.auth import guards
from gateway.auth.identity import AuthUser
from gateway.auth.step_up import trading_claims
from gateway.auth.tokens import TokenClaims
from gateway.errors import ApiError
from gateway.orders.closing import ClosePosition, NothingToCloseError, close_orders
from gateway.orders.service import OrderFinishedError, OrderRefusedError, OrderRequest
from gateway.orders.trading import Trading
from gateway.services import Services, ServicesDependency
from shared.domain import Account, Order, Position, Trade
from shared.orders import IllegalTransitionError, OrderLifecycleEvent
from shared.risk import Rule
from shared.store.accounts import AccountExistsError
from shared.store.orders import UnknownOrderError

MAX_PAGE = 500
_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
_SYMBOL = r"^[A-Za-z0-9]{1,32}$"
_FIELD = re.compile(r"`(\w+)`")
# The request field a refusal is about, so that a form can point at it.
_RULE_FIELDS: dict[Rule, str] = {
    Rule.UNKNOWN_INSTRUMENT: "symbol",
    Rule.PRICE_TICK: "price",
    Rule.PRICE_LIMIT: "price",
    Rule.VOLUME: "volume",
    Rule.NOTIONAL: "volume",
    Rule.CLOSE_EXCEEDS_POSITION: "volume",
    Rule.MARGIN: "volume",
    Rule.POSITION_LIMIT: "volume",
    Rule.PRODUCT_POSITION_LIMIT: "volume",
    Rule.SELF_TRADE: "price",
}

_OrderId = Annotated[str, Parameter(description="the order's id", pattern=_ID)]
_AccountId = Annotated[str | None, Parameter(description="one of your accounts", pattern=_ID)]

RequestT = Request[AuthUser, TokenClaims, State]


class NewAccount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    account_id: Annotated[str, msgspec.Meta(pattern=_ID)]


class AccountView(msgspec.Struct, frozen=True, kw_only=True):
    """An account with its equity (balance + unrealized P&L) spelt out for the front end."""

    account: Account
    equity: float


class CancelAll(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which working orders to cancel; every field narrows, none means all of yours."""

    account_id: Annotated[str, msgspec.Meta(pattern=_ID)] | None = None
    symbol: Annotated[str, msgspec.Meta(pattern=_SYMBOL)] | None = None
    strategy_id: Annotated[str, msgspec.Meta(pattern=_ID)] | None = None


class CancelFailure(msgspec.Struct, frozen=True):
    order_id: str
    reason: str


class CancelAllResult(msgspec.Struct, frozen=True, kw_only=True):
    cancelled: list[Order]  # as they stand after the request (cancelled or cancel-pending)
    failed: list[CancelFailure]


def _trading(services: Services) -> Trading:
    if services.trading is None:
        raise ApiError(
            503,
            "no_venue",
            "this gateway replica has no venue (QUANT_VENUE=none); send orders to the one "
            "that holds the venue session",
        )
    return services.trading


def _own_accounts(trading: Trading, user: AuthUser, account_id: str | None) -> list[str]:
    mine = trading.desk.accounts_of(user.id)
    if account_id is None:
        return mine
    if account_id not in mine:
        raise ApiError(
            404, "unknown_account", f"you have no account {account_id!r}", ["account_id"]
        )
    return [account_id]


async def _own_order(trading: Trading, user: AuthUser, order_id: str) -> Order:
    order = trading.orders.known(order_id) or await trading.order_store.get(order_id)
    if order is None or trading.desk.owner_of(order.account_id) != user.id:
        raise ApiError(404, "unknown_order", f"you have no order {order_id!r}", ["order_id"])
    return order


def _client_ip(request: RequestT) -> str | None:
    return request.client.host if request.client else None


async def _placed(trading: Trading, user: AuthUser, data: OrderRequest) -> Order:
    """Place, or find the order a retry of ``data`` refers to. Raises `OrderRefusedError`
    when risk refuses it, and a 4xx `ApiError` for a request that cannot be an order."""
    try:
        order = await trading.orders.place(user.id, data)
    except OrderRefusedError:
        # The daily loss rule may have switched the account to reducing-only: stored.
        await trading.desk.persist_state_changes()
        raise
    except ValueError as exc:  # the request is not a valid order; the message names why
        raise ApiError(422, "invalid_order", str(exc), _FIELD.findall(str(exc))[:1]) from None
    if differing := _differs(data, order):
        raise ApiError(
            409,
            "client_order_id_reused",
            f"client_order_id {data.client_order_id!r} belongs to order {order.id}, which "
            f"differs in {', '.join(differing)}",
            ["client_order_id"],
        )
    return order


def _differs(request: OrderRequest, order: Order) -> list[str]:
    """The request's fields that the stored order with its ``client_order_id`` disagrees on."""
    stored = msgspec.structs.asdict(order)
    return [
        name for name, value in msgspec.structs.asdict(request).items() if stored.get(name) != value
    ]


class OrdersController(Controller):
    path = "/api/v1"
    guards = [guards.trader]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["trading"]  # noqa: RUF012

    # --- accounts -------------------------------------------------------------------------------

    @post("/accounts", summary="Open a paper account with the configured starting balance")
    async def open_account(
        self, data: JSONBody[NewAccount], request: RequestT, services: ServicesDependency
    ) -> Account:
        trading = _trading(services)
        if services.settings.venue != "simulated":
            raise ApiError(
                409, "not_paper", "accounts are opened on the paper venue only; a broker "
                "account comes from the venue's login"
            )  # fmt: skip
        try:
            account = await trading.open_paper_account(request.user.id, data.account_id)
        except AccountExistsError as exc:
            raise ApiError(409, "account_exists", str(exc), ["account_id"]) from None
        await services.audit.record(
            "account.opened",
            user_id=request.user.id,
            target=data.account_id,
            detail={},
            client_ip=_client_ip(request),
        )
        return account

    @get("/account", summary="Your accounts: balance, equity, margin, available, P&L")
    async def accounts(self, request: RequestT, services: ServicesDependency) -> list[AccountView]:
        trading = _trading(services)
        views: list[AccountView] = []
        for account_id in trading.desk.accounts_of(request.user.id):
            account = await trading.accounts.get(account_id)
            if account is not None:
                views.append(AccountView(account=account, equity=account.equity))
        return views

    @get("/positions", summary="Your positions (long and short apart, today and earlier lots)")
    async def positions(
        self,
        request: RequestT,
        services: ServicesDependency,
        account_id: _AccountId = None,
        include_flat: Annotated[bool, Parameter(description="closed today, kept for P&L")] = False,
    ) -> list[Position]:
        trading = _trading(services)
        found: list[Position] = []
        for account in _own_accounts(trading, request.user, account_id):
            found += await trading.accounts.positions(account)
        return [p for p in found if include_flat or p.volume > 0]

    # --- orders ---------------------------------------------------------------------------------

    @post(
        "/orders",
        summary="Place an order (needs a trading token in X-Trading-Token)",
        description="Idempotent on `client_order_id`: a retry returns the order the first "
        "request made and sends nothing. An order refused by pre-trade risk is stored as "
        "rejected and answered 422 naming the rule.",
        status_code=HTTP_201_CREATED,
    )
    async def place(
        self, data: JSONBody[OrderRequest], request: RequestT, services: ServicesDependency
    ) -> Order:
        trading = _trading(services)
        trading_claims(request, services)
        _own_accounts(trading, request.user, data.account_id)
        try:
            order = await _placed(trading, request.user, data)
        except OrderRefusedError as exc:
            rule = exc.rejection.rule
            raise ApiError(
                422,
                "risk_rejected",
                f"{rule}: {exc.rejection.detail} (order {exc.order.id})",
                [_RULE_FIELDS.get(rule, "order")],
            ) from None
        return order

    @post(
        "/positions/close",
        summary="Close (part of) a position; on SHFE/INE split into close-yesterday and "
        "close-today orders by what it holds (needs a trading token)",
        description="One order per part, client order ids suffixed `:y` and `:t` on SHFE and "
        "INE. A part refused by pre-trade risk comes back rejected, with the rule in "
        "`reject_reason`. Split by the position as booked.",
        status_code=HTTP_201_CREATED,
    )
    async def close_position(
        self, data: JSONBody[ClosePosition], request: RequestT, services: ServicesDependency
    ) -> list[Order]:
        trading = _trading(services)
        trading_claims(request, services)
        _own_accounts(trading, request.user, data.account_id)
        held = {
            (p.exchange, p.symbol, p.direction): p
            for p in await trading.accounts.positions(data.account_id)
        }
        try:
            parts = close_orders(data, held.get((data.exchange, data.symbol, data.direction)))
        except NothingToCloseError as exc:
            raise ApiError(422, "nothing_to_close", str(exc), ["volume"]) from None
        orders: list[Order] = []
        for part in parts:
            try:
                orders.append(await _placed(trading, request.user, part))
            except OrderRefusedError as exc:
                orders.append(exc.order)
        return orders

    @get("/orders", summary="Your orders, newest first")
    async def orders(
        self,
        *,
        request: RequestT,
        services: ServicesDependency,
        account_id: _AccountId = None,
        status: Annotated[
            Literal["working", "finished", "all"],
            Parameter(description="working: not yet filled, cancelled, rejected or expired"),
        ] = "all",
        symbol: Annotated[str | None, Parameter(pattern=_SYMBOL)] = None,
        strategy_id: Annotated[str | None, Parameter(pattern=_ID)] = None,
        before: Annotated[
            datetime | None,
            Parameter(description="only orders created before (the last one of a page)"),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> list[Order]:
        trading = _trading(services)
        if before is not None and before.tzinfo is None:
            raise ApiError(422, "validation_error", "`before` needs a time zone", ["before"])
        working = {"working": True, "finished": False, "all": None}[status]
        return await trading.order_store.search(
            _own_accounts(trading, request.user, account_id),
            working=working,
            symbol=symbol,
            strategy_id=strategy_id,
            before=before,
            limit=limit,
        )

    @get("/orders/{order_id:str}", summary="One of your orders")
    async def order(
        self, order_id: _OrderId, request: RequestT, services: ServicesDependency
    ) -> Order:
        return await _own_order(_trading(services), request.user, order_id)

    @get("/orders/{order_id:str}/events", summary="Everything the venue said about the order")
    async def order_events(
        self, order_id: _OrderId, request: RequestT, services: ServicesDependency
    ) -> list[OrderLifecycleEvent]:
        trading = _trading(services)
        await _own_order(trading, request.user, order_id)
        return await trading.order_store.events(order_id)

    @delete(
        "/orders/{order_id:str}",
        summary="Cancel an order (no trading token needed)",
        status_code=200,
    )
    async def cancel(
        self, order_id: _OrderId, request: RequestT, services: ServicesDependency
    ) -> Order:
        trading = _trading(services)
        await _own_order(trading, request.user, order_id)
        try:
            order = await trading.orders.cancel(order_id)
        except (OrderFinishedError, IllegalTransitionError) as exc:
            raise ApiError(409, "not_cancellable", str(exc), ["order_id"]) from None
        except UnknownOrderError as exc:
            raise ApiError(404, "unknown_order", str(exc), ["order_id"]) from None
        return order

    @post(
        "/orders/cancel-all",
        summary="Cancel your working orders, optionally of one account, symbol or strategy",
        status_code=200,
    )
    async def cancel_all(
        self, data: JSONBody[CancelAll], request: RequestT, services: ServicesDependency
    ) -> CancelAllResult:
        trading = _trading(services)
        accounts = _own_accounts(trading, request.user, data.account_id)
        working = await trading.order_store.search(
            accounts,
            working=True,
            symbol=data.symbol,
            strategy_id=data.strategy_id,
            limit=100_000,
        )
        cancelled: list[Order] = []
        failed: list[CancelFailure] = []
        for order in working:
            try:
                cancelled.append(await trading.orders.cancel(order.id))
            except (OrderFinishedError, IllegalTransitionError, UnknownOrderError) as exc:
                failed.append(CancelFailure(order.id, str(exc)))
        await services.audit.record(
            "order.cancel_all",
            user_id=request.user.id,
            target=data.account_id or "*",
            detail={
                "symbol": data.symbol,
                "strategy_id": data.strategy_id,
                "cancelled": len(cancelled),
                "failed": len(failed),
            },
            client_ip=_client_ip(request),
        )
        return CancelAllResult(cancelled=cancelled, failed=failed)

    # --- trades ---------------------------------------------------------------------------------

    @get("/trades", summary="Your trades, newest first (commission set once booked)")
    async def trades(
        self,
        *,
        request: RequestT,
        services: ServicesDependency,
        account_id: _AccountId = None,
        trading_day: Annotated[date | None, Parameter(description="e.g. 2021-01-04")] = None,
        symbol: Annotated[str | None, Parameter(pattern=_SYMBOL)] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> list[Trade]:
        trading = _trading(services)
        return await trading.accounts.trades(
            _own_accounts(trading, request.user, account_id),
            trading_day=trading_day,
            symbol=symbol,
            limit=limit,
        )
