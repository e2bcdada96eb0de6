"""Risk endpoints: each account's limits, trading state and warnings, and the kill switch.

A trader reads the status of their own accounts and may make their own trading stricter
(active -> reducing-only -> halted) without a trading token, like a cancel: getting out must
never wait on a step-up. Loosening it, and every limit, is an admin's. Every change is stored
before it is applied (see `TradingDesk`) and audited.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter

from gateway.auth import guards as role_guards
from gateway.auth.identity import AuthUser
from gateway.auth.tokens import TokenClaims
from gateway.errors import ApiError
from gateway.orders.desk import is_stricter
from gateway.orders.service import OrderFinishedError
from gateway.orders.trading import Trading
from gateway.services import Services, ServicesDependency
from shared.domain import Offset, Order
from shared.orders import IllegalTransitionError
from shared.risk import LimitWarning, RiskEngine, RiskLimits, TradingState
from shared.store import Role
from shared.store.orders import UnknownOrderError
from shared.store.risk_settings import RiskSettingsStore

_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
_ALL_WORKING = 100_000
_REASON = msgspec.Meta(min_length=1, max_length=500)
# msgspec names the field either in the path of a type error or first in a __post_init__ error.
_AT_PATH = re.compile(r"\s*- at `\$\.(\w+)`")
_LEADING_FIELD = re.compile(r"^`(\w+)`\s*")

_AccountPath = Annotated[str, Parameter(description="the account's id", pattern=_ID)]
_AccountQuery = Annotated[
    str | None, Parameter(description="one account (admin: anyone's)", pattern=_ID)
]
_StrategyQuery = Annotated[
    str | None, Parameter(description="a strategy's own limits, not the account's", pattern=_ID)
]
_StrategyRequired = Annotated[str, Parameter(description="the strategy", pattern=_ID)]

RequestT = Request[AuthUser, TokenClaims, State]


class RiskStatus(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    state: TradingState
    state_reason: str
    limits: RiskLimits
    strategy_limits: dict[str, RiskLimits]
    warnings: list[LimitWarning]


class StateChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    state: TradingState
    reason: Annotated[str, _REASON]
    # Halting cancels every working order; reducing-only the working opening orders.
    cancel_working: bool = True


class HaltAll(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, _REASON]


class CancelFailure(msgspec.Struct, frozen=True):
    order_id: str
    reason: str


class StateChangeResult(msgspec.Struct, frozen=True, kw_only=True):
    status: RiskStatus
    cancelled: list[str]  # order ids, cancelled or cancel-pending
    failed: list[CancelFailure]


class HaltAllResult(msgspec.Struct, frozen=True, kw_only=True):
    accounts: int
    cancelled: int
    failed: list[CancelFailure]


def _trading(services: Services) -> Trading:
    if services.trading is None:
        raise ApiError(
            503,
            "no_venue",
            "this gateway replica has no venue (QUANT_VENUE=none); ask the one that holds "
            "the venue session",
        )
    return services.trading


def _settings_store(services: Services) -> RiskSettingsStore:
    # Stateless over the session factory: one per request costs nothing, and the desk needs
    # no store of its own to persist what this controller changes.
    return RiskSettingsStore(services.sessions)


def _is_admin(user: AuthUser) -> bool:
    return user.role is Role.ADMIN


def _account(trading: Trading, user: AuthUser, account_id: str) -> RiskEngine:
    """The account's engine; an unknown account, or a trader's not their own, is 404."""
    owner = trading.desk.owner_of(account_id)
    if owner is None or (owner != user.id and not _is_admin(user)):
        raise ApiError(404, "unknown_account", f"no account {account_id!r}", ["account_id"])
    return trading.desk.risk_for(account_id)


def _status(engine: RiskEngine) -> RiskStatus:
    return RiskStatus(
        account_id=engine.account_id,
        state=engine.state,
        state_reason=engine.state_reason,
        limits=engine.limits,
        strategy_limits=dict(sorted(engine.strategy_limits.items())),
        warnings=engine.warnings(),
    )


def _limits_from(fields: dict[str, Any]) -> RiskLimits:
    """The body as `RiskLimits`: absent fields take the defaults, an unknown one is refused
    (a misspelt limit silently left at its default is the mistake to prevent)."""
    unknown = sorted(set(fields) - set(RiskLimits.__struct_fields__))
    if unknown:
        raise ApiError(422, "validation_error", f"{unknown[0]}: not a risk limit", unknown[:1])
    try:
        return msgspec.convert(fields, RiskLimits)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if path := _AT_PATH.search(message):
            field, text = path.group(1), message[: path.start()]
        elif lead := _LEADING_FIELD.match(message):
            field, text = lead.group(1), message[lead.end() :]
        else:
            field, text = "body", message
        raise ApiError(422, "validation_error", f"{field}: {text}", [field]) from None


async def _cancel_working(
    trading: Trading, account_ids: list[str], *, opening_only: bool
) -> tuple[list[str], list[CancelFailure]]:
    working = await trading.order_store.search(account_ids, working=True, limit=_ALL_WORKING)
    cancelled: list[str] = []
    failed: list[CancelFailure] = []
    for order in working:
        if opening_only and order.offset is not Offset.OPEN:
            continue
        try:
            done: Order = await trading.orders.cancel(order.id)
        except (OrderFinishedError, IllegalTransitionError, UnknownOrderError) as exc:
            failed.append(CancelFailure(order.id, str(exc)))  # e.g. filled meanwhile
        else:
            cancelled.append(done.id)
    return cancelled, failed


def _client_ip(request: RequestT) -> str | None:
    return request.client.host if request.client else None


class RiskController(Controller):
    path = "/api/v1/risk"
    guards = [role_guards.trader]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["risk"]  # noqa: RUF012

    @get("", summary="Trading state, limits and warnings of your accounts")
    async def status(
        self, request: RequestT, services: ServicesDependency, account_id: _AccountQuery = None
    ) -> list[RiskStatus]:
        trading = _trading(services)
        if account_id is not None:
            return [_status(_account(trading, request.user, account_id))]
        return [
            _status(trading.desk.risk_for(own)) for own in trading.desk.accounts_of(request.user.id)
        ]

    @put(
        "/{account_id:str}/limits",
        guards=[role_guards.admin],
        summary="Set an account's limits, or a strategy's (admin)",
        description="The body holds `RiskLimits` fields; an absent field takes its default, "
        "`null` switches a limit off. With `strategy_id` the limits are the strategy's own, "
        "on top of the account's (flow limits only: rates, counts, duplicates).",
    )
    async def set_limits(
        self,
        account_id: _AccountPath,
        data: JSONBody[dict[str, Any]],
        request: RequestT,
        services: ServicesDependency,
        strategy_id: _StrategyQuery = None,
    ) -> RiskStatus:
        trading = _trading(services)
        engine = _account(trading, request.user, account_id)
        limits = _limits_from(data)
        await trading.desk.set_limits(
            account_id,
            strategy_id,
            limits,
            user_id=request.user.id,
            now=services.clock(),
            store=_settings_store(services),
        )
        await services.audit.record(
            "risk.limits_set",
            user_id=request.user.id,
            target=account_id,
            detail={"strategy_id": strategy_id, "limits": msgspec.to_builtins(limits)},
            client_ip=_client_ip(request),
        )
        return _status(engine)

    @delete(
        "/{account_id:str}/limits",
        guards=[role_guards.admin],
        summary="Remove a strategy's own limits (admin)",
        status_code=200,
    )
    async def remove_strategy_limits(
        self,
        account_id: _AccountPath,
        strategy_id: _StrategyRequired,
        request: RequestT,
        services: ServicesDependency,
    ) -> RiskStatus:
        trading = _trading(services)
        engine = _account(trading, request.user, account_id)
        removed = await trading.desk.remove_strategy_limits(
            account_id, strategy_id, store=_settings_store(services)
        )
        if not removed:
            raise ApiError(
                404,
                "unknown_strategy_limits",
                f"strategy {strategy_id!r} has no limits of its own on {account_id!r}",
                ["strategy_id"],
            )
        await services.audit.record(
            "risk.limits_removed",
            user_id=request.user.id,
            target=account_id,
            detail={"strategy_id": strategy_id},
            client_ip=_client_ip(request),
        )
        return _status(engine)

    @put(
        "/{account_id:str}/state",
        summary="Switch an account's trading state (a trader: only stricter, own accounts)",
        description="`halted` refuses every new order, `reducing_only` every opening order. "
        "With `cancel_working` (the default) halting cancels the account's working orders "
        "and reducing-only its working opening orders.",
    )
    async def set_state(
        self,
        account_id: _AccountPath,
        data: JSONBody[StateChange],
        request: RequestT,
        services: ServicesDependency,
    ) -> StateChangeResult:
        trading = _trading(services)
        engine = _account(trading, request.user, account_id)
        previous = engine.state
        if is_stricter(previous, data.state) and not _is_admin(request.user):
            raise ApiError(
                403,
                "forbidden",
                f"only an admin may loosen trading from {previous} to {data.state}",
                ["state"],
            )
        await trading.desk.set_state(
            [account_id], data.state, data.reason, store=_settings_store(services)
        )
        cancelled: list[str] = []
        failed: list[CancelFailure] = []
        if data.cancel_working and data.state is not TradingState.ACTIVE:
            opening_only = data.state is TradingState.REDUCING_ONLY
            cancelled, failed = await _cancel_working(
                trading, [account_id], opening_only=opening_only
            )
        await services.audit.record(
            "risk.state_set",
            user_id=request.user.id,
            target=account_id,
            detail={
                "state": data.state,
                "previous": previous,
                "reason": data.reason,
                "cancelled": len(cancelled),
                "failed": len(failed),
            },
            client_ip=_client_ip(request),
        )
        return StateChangeResult(status=_status(engine), cancelled=cancelled, failed=failed)

    @post(
        "/halt-all",
        guards=[role_guards.admin],
        summary="The kill switch: halt every account and cancel every working order (admin)",
        status_code=200,
    )
    async def halt_all(
        self, data: JSONBody[HaltAll], request: RequestT, services: ServicesDependency
    ) -> HaltAllResult:
        trading = _trading(services)
        accounts = trading.desk.account_ids
        await trading.desk.set_state(
            accounts, TradingState.HALTED, data.reason, store=_settings_store(services)
        )
        cancelled, failed = (
            await _cancel_working(trading, accounts, opening_only=False) if accounts else ([], [])
        )
        await services.audit.record(
            "risk.halt_all",
            user_id=request.user.id,
            target="*",
            detail={
                "reason": data.reason,
                "accounts": len(accounts),
                "cancelled": len(cancelled),
                "failed": len(failed),
            },
            client_ip=_client_ip(request),
        )
        return HaltAllResult(accounts=len(accounts), cancelled=len(cancelled), failed=failed)
