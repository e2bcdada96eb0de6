"""The trading step-up: a trading password (and TOTP when enabled) buys a short-lived token.

Placing an order needs role ``trader`` *and* a trading token in the ``X-Trading-Token`` header,
so a stolen access token alone cannot trade. The orders routes call :func:`trading_claims`.

Brute-force protection (failed-attempt counters), pending TOTP enrolments and the last TOTP
step accepted per user live in this process's memory (:data:`STEP_UP`): they reset when the
gateway restarts and are not shared between gateway processes, so with N replicas a user gets
up to N times the attempts. Enough for the one always-on gateway this project runs.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from datetime import datetime, timedelta
from typing import Annotated, Any, NoReturn

import msgspec
from litestar import Controller, Request, delete, post, put
from litestar.datastructures import State
from litestar.params import JSONBody

from gateway.auth import guards, totp
from gateway.auth.identity import AuthUser
from gateway.auth.passwords import (
    WeakPasswordError,
    check_password_policy,
    hash_password,
    verify_password,
)
from gateway.auth.tokens import InvalidTokenError, TokenClaims
from gateway.errors import ApiError
from gateway.services import Services, ServicesDependency
from shared.store import UserRecord

TRADING_TOKEN_HEADER = "X-Trading-Token"  # noqa: S105  (a header name, not a secret)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
ENROLMENT_TTL = timedelta(minutes=10)

Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
TotpCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$")]


class TradingPasswordChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    password: Password  # the login password
    new_trading_password: Password
    totp_code: TotpCode | None = None


class TotpStart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    password: Password


class TotpConfirm(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: TotpCode


class TotpDisable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    password: Password
    code: TotpCode


class TradingTokenRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    trading_password: Password
    totp_code: TotpCode | None = None


class TotpEnrolment(msgspec.Struct, frozen=True):
    secret: str
    uri: str
    expires_in: int  # seconds left to confirm with POST /api/v1/auth/totp/confirm


class TradingToken(msgspec.Struct, frozen=True):
    trading_token: str
    expires_in: int


class FailureCounter:
    """Failed attempts per user in a sliding window.

    An attempt is counted *before* the slow password check and forgiven on success, so a burst
    of concurrent requests cannot all slip past the limit while their checks are in flight.
    """

    def __init__(self, limit: int = MAX_FAILURES, window: timedelta = FAILURE_WINDOW) -> None:
        self._limit = limit
        self._window = window
        self._attempts: dict[int, deque[datetime]] = {}

    def retry_after(self, user_id: int, now: datetime) -> int | None:
        """Seconds until the user may try again, or None when not locked out."""
        attempts = self._attempts.get(user_id)
        if attempts is None:
            return None
        while attempts and attempts[0] <= now - self._window:
            attempts.popleft()
        if not attempts:
            del self._attempts[user_id]
            return None
        if len(attempts) < self._limit:
            return None
        wait = attempts[-self._limit] + self._window - now
        return max(1, math.ceil(wait.total_seconds()))

    def begin(self, user_id: int, now: datetime) -> None:
        self._attempts.setdefault(user_id, deque()).append(now)

    def succeeded(self, user_id: int) -> None:
        self._attempts.pop(user_id, None)

    def reset(self) -> None:
        self._attempts.clear()


class _Enrolment(msgspec.Struct, frozen=True):
    secret: str
    expires: datetime


class StepUpState:
    """What the step-up remembers between requests, in memory (see the module docstring)."""

    def __init__(self) -> None:
        self.failures = FailureCounter()
        self.totp = totp.TotpVerifier()
        self._enrolments: dict[int, _Enrolment] = {}

    def start_enrolment(self, user_id: int, secret: str, now: datetime) -> None:
        # A new start replaces an unconfirmed one: the user may have lost the first QR code.
        self._enrolments[user_id] = _Enrolment(secret, now + ENROLMENT_TTL)

    def pending_secret(self, user_id: int, now: datetime) -> str | None:
        enrolment = self._enrolments.get(user_id)
        if enrolment is None:
            return None
        if enrolment.expires <= now:
            del self._enrolments[user_id]
            return None
        return enrolment.secret

    def end_enrolment(self, user_id: int) -> None:
        self._enrolments.pop(user_id, None)

    def reset(self) -> None:
        self.failures.reset()
        self.totp.reset()
        self._enrolments.clear()


STEP_UP = StepUpState()

_STEP_UP_HINT = (
    f"placing orders needs a trading token: POST /api/v1/auth/trading-token with your trading "
    f"password (and TOTP code when enabled), then send it in the {TRADING_TOKEN_HEADER} header"
)


def trading_claims(
    request: Request[AuthUser, TokenClaims, State], services: Services
) -> TokenClaims:
    """The claims of the request's trading token, or a 403 ``step_up_required``.

    The token must be a valid, unexpired trading token of the user the access token names.
    """
    token = request.headers.get(TRADING_TOKEN_HEADER)
    if not token:
        raise ApiError(
            403,
            "step_up_required",
            f"missing trading token; {_STEP_UP_HINT}",
            [TRADING_TOKEN_HEADER],
        )
    try:
        claims = services.tokens.verify(token.strip(), "trading")
    except InvalidTokenError as exc:
        raise ApiError(
            403, "step_up_required", f"{exc}; {_STEP_UP_HINT}", [TRADING_TOKEN_HEADER]
        ) from None
    if claims.user_id != request.user.id:
        raise ApiError(
            403,
            "step_up_required",
            f"the trading token belongs to another user; {_STEP_UP_HINT}",
            [TRADING_TOKEN_HEADER],
        )
    return claims


def _client_ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


class TradingAuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]  # noqa: RUF012
    guards = [guards.trader]  # noqa: RUF012

    @put(
        "/trading-password",
        status_code=204,
        summary="Set or change the trading password (needs the login password, and TOTP if on)",
    )
    async def set_trading_password(
        self,
        data: JSONBody[TradingPasswordChange],
        services: ServicesDependency,
        request: Request[AuthUser, TokenClaims, State],
    ) -> None:
        user = await _current_user(services, request)
        try:
            check_password_policy(data.new_trading_password)
        except WeakPasswordError as exc:
            raise ApiError(
                422, "weak_password", f"trading {exc}", ["new_trading_password"]
            ) from None
        _require_code_if_enabled(user, data.totp_code)
        action = "auth.trading_password_set"
        _begin_attempt(services, user)
        if not await _password_matches(data.password, user.password_hash):
            await _fail(services, request, user, action, "password")
        await _check_totp(services, request, user, action, data.totp_code)
        STEP_UP.failures.succeeded(user.id)
        # The point of a second password is lost if it is the first one again.
        if await _password_matches(data.new_trading_password, user.password_hash):
            raise ApiError(
                422,
                "same_as_login_password",
                "the trading password must differ from the login password",
                ["new_trading_password"],
            )
        encoded = await asyncio.to_thread(hash_password, data.new_trading_password)
        await services.users.set_trading_password_hash(user.id, encoded)
        await services.audit.record(
            action,
            user_id=user.id,
            target=user.username,
            detail={"changed": user.trading_password_hash is not None},
            client_ip=_client_ip(request),
        )

    @post("/totp", summary="Start TOTP enrolment: returns a secret to confirm within 10 minutes")
    async def start_totp(
        self,
        data: JSONBody[TotpStart],
        services: ServicesDependency,
        request: Request[AuthUser, TokenClaims, State],
    ) -> TotpEnrolment:
        user = await _current_user(services, request)
        _refuse_if_totp_enabled(user)
        _begin_attempt(services, user)
        if not await _password_matches(data.password, user.password_hash):
            await _fail(services, request, user, "auth.totp_enrol", "password")
        STEP_UP.failures.succeeded(user.id)
        secret = totp.new_secret()
        STEP_UP.start_enrolment(user.id, secret, services.clock())
        await services.audit.record(
            "auth.totp_enrol",
            user_id=user.id,
            target=user.username,
            detail={},
            client_ip=_client_ip(request),
        )
        return TotpEnrolment(
            secret=secret,
            uri=totp.provisioning_uri(secret, user.username),
            expires_in=int(ENROLMENT_TTL.total_seconds()),
        )

    @post(
        "/totp/confirm",
        status_code=204,
        summary="Finish TOTP enrolment with a code from the authenticator app",
    )
    async def confirm_totp(
        self,
        data: JSONBody[TotpConfirm],
        services: ServicesDependency,
        request: Request[AuthUser, TokenClaims, State],
    ) -> None:
        user = await _current_user(services, request)
        _refuse_if_totp_enabled(user)
        now = services.clock()
        secret = STEP_UP.pending_secret(user.id, now)
        if secret is None:
            raise ApiError(
                409,
                "no_pending_enrolment",
                "no TOTP enrolment in progress (or it expired): start one with "
                "POST /api/v1/auth/totp",
            )
        _begin_attempt(services, user)
        if not STEP_UP.totp.verify(user.id, secret, data.code, now):
            await _fail(services, request, user, "auth.totp_enable", "code")
        STEP_UP.failures.succeeded(user.id)
        await services.users.set_totp_secret(user.id, secret)
        STEP_UP.end_enrolment(user.id)
        await services.audit.record(
            "auth.totp_enable",
            user_id=user.id,
            target=user.username,
            detail={},
            client_ip=_client_ip(request),
        )

    @delete("/totp", summary="Turn TOTP off (needs the login password and a current code)")
    async def disable_totp(
        self,
        data: JSONBody[TotpDisable],
        services: ServicesDependency,
        request: Request[AuthUser, TokenClaims, State],
    ) -> None:
        user = await _current_user(services, request)
        if user.totp_secret is None:
            raise ApiError(409, "totp_not_enabled", "TOTP is not enabled")
        action = "auth.totp_disable"
        _begin_attempt(services, user)
        if not await _password_matches(data.password, user.password_hash):
            await _fail(services, request, user, action, "password")
        if not STEP_UP.totp.verify(user.id, user.totp_secret, data.code, services.clock()):
            await _fail(services, request, user, action, "code")
        STEP_UP.failures.succeeded(user.id)
        await services.users.set_totp_secret(user.id, None)
        await services.audit.record(
            action, user_id=user.id, target=user.username, detail={}, client_ip=_client_ip(request)
        )

    @post(
        "/trading-token",
        summary="Step up: trade the trading password (and TOTP code) for a short-lived token",
    )
    async def trading_token(
        self,
        data: JSONBody[TradingTokenRequest],
        services: ServicesDependency,
        request: Request[AuthUser, TokenClaims, State],
    ) -> TradingToken:
        user = await _current_user(services, request)
        if user.trading_password_hash is None:
            raise ApiError(
                403,
                "trading_password_not_set",
                "no trading password is set: set one with PUT /api/v1/auth/trading-password",
            )
        _require_code_if_enabled(user, data.totp_code)
        action = "auth.trading_token"
        _begin_attempt(services, user)
        if not await _password_matches(data.trading_password, user.trading_password_hash):
            await _fail(services, request, user, action, "trading_password")
        await _check_totp(services, request, user, action, data.totp_code)
        STEP_UP.failures.succeeded(user.id)
        now = services.clock()
        token = services.tokens.issue("trading", user.id, user.username, user.role, now)
        await services.audit.record(
            action, user_id=user.id, target=user.username, detail={}, client_ip=_client_ip(request)
        )
        return TradingToken(
            trading_token=token,
            expires_in=int(services.tokens.ttl("trading").total_seconds()),
        )


async def _current_user(
    services: Services, request: Request[AuthUser, TokenClaims, State]
) -> UserRecord:
    # Re-read: the access token may outlive the user's deactivation.
    user = await services.users.get(request.user.id)
    if user is None or not user.is_active:
        raise ApiError(401, "invalid_token", "the user no longer exists or is disabled")
    return user


async def _password_matches(password: str, encoded: str) -> bool:
    # scrypt takes tens of milliseconds: keep it off the event loop.
    return await asyncio.to_thread(verify_password, password, encoded)


def _require_code_if_enabled(user: UserRecord, code: str | None) -> None:
    if user.totp_secret is not None and code is None:
        raise ApiError(
            422, "totp_required", "TOTP is enabled: a totp_code is required", ["totp_code"]
        )


def _refuse_if_totp_enabled(user: UserRecord) -> None:
    if user.totp_secret is not None:
        raise ApiError(
            409, "totp_already_enabled", "TOTP is already enabled: DELETE /api/v1/auth/totp first"
        )


def _begin_attempt(services: Services, user: UserRecord) -> None:
    now = services.clock()
    wait = STEP_UP.failures.retry_after(user.id, now)
    if wait is not None:
        error = ApiError(
            429,
            "too_many_attempts",
            f"too many failed attempts: try again in {wait} s",
        )
        error.headers = {"Retry-After": str(wait)}
        raise error
    STEP_UP.failures.begin(user.id, now)


async def _check_totp(
    services: Services,
    request: Request[AuthUser, TokenClaims, State],
    user: UserRecord,
    action: str,
    code: str | None,
) -> None:
    if user.totp_secret is None:
        return
    if code is None or not STEP_UP.totp.verify(user.id, user.totp_secret, code, services.clock()):
        await _fail(services, request, user, action, "totp_code")


async def _fail(
    services: Services,
    request: Request[AuthUser, TokenClaims, State],
    user: UserRecord,
    action: str,
    field: str,
) -> NoReturn:
    """Audit the failure (naming the field, never its value) and answer 401."""
    await services.audit.record(
        f"{action}_failed",
        user_id=user.id,
        target=user.username,
        detail={"field": field},
        client_ip=_client_ip(request),
    )
    raise ApiError(401, "invalid_credentials", f"wrong {field.replace('_', ' ')}", [field])
