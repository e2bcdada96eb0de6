"""Getting and refreshing tokens, and who am I."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from gateway.auth import guards
from gateway.auth.identity import AuthUser
from gateway.auth.passwords import DUMMY_HASH, verify_password
from gateway.auth.tokens import InvalidTokenError, TokenClaims, TokenPair
from gateway.errors import ApiError
from gateway.services import ServicesDependency
from shared.store import Role

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class TokenRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: Username
    password: Password


class RefreshRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class Me(msgspec.Struct, frozen=True):
    id: int
    username: str
    role: Role


_BAD_CREDENTIALS = "unknown username or wrong password"


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]  # noqa: RUF012

    @post(
        "/token", summary="Log in: trade a username and password for an access and a refresh token"
    )
    async def token(
        self,
        data: JSONBody[TokenRequest],
        services: ServicesDependency,
        request: Request[AuthUser, TokenClaims, State],
    ) -> TokenPair:
        user = await services.users.get_by_username(data.username)
        # Same cost with or without the user, so that usernames cannot be probed by timing.
        encoded = user.password_hash if user is not None else DUMMY_HASH
        valid = await asyncio.to_thread(verify_password, data.password, encoded)
        if user is None or not valid or not user.is_active:
            await services.audit.record(
                "auth.login_failed",
                user_id=user.id if user else None,
                target=data.username,
                detail={},
                client_ip=request.client.host if request.client else None,
            )
            raise ApiError(401, "invalid_credentials", _BAD_CREDENTIALS)
        await services.audit.record(
            "auth.login",
            user_id=user.id,
            target=user.username,
            detail={},
            client_ip=request.client.host if request.client else None,
        )
        return services.tokens.issue_pair(user.id, user.username, user.role, services.clock())

    @post("/refresh", summary="Trade a refresh token for a new token pair")
    async def refresh(
        self, data: JSONBody[RefreshRequest], services: ServicesDependency
    ) -> TokenPair:
        try:
            claims = services.tokens.verify(data.refresh_token, "refresh")
        except InvalidTokenError as exc:
            raise ApiError(401, "invalid_token", str(exc), ["refresh_token"]) from None
        # Re-read the user: a deactivated user or a changed role takes effect here.
        user = await services.users.get(claims.user_id)
        if user is None or not user.is_active:
            raise ApiError(401, "invalid_token", "the user no longer exists or is disabled")
        return services.tokens.issue_pair(user.id, user.username, user.role, services.clock())

    @get("/me", guards=[guards.viewer], summary="The user the access token belongs to")
    async def me(self, request: Request[AuthUser, TokenClaims, State]) -> Me:
        return Me(id=request.user.id, username=request.user.username, role=request.user.role)
