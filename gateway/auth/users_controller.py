"""User administration (role admin)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter

from gateway.auth import guards
from gateway.auth.identity import AuthUser
from gateway.auth.passwords import WeakPasswordError, check_password_policy, hash_password
from gateway.auth.tokens import TokenClaims
from gateway.errors import ApiError
from gateway.services import ServicesDependency
from shared.store import Role, UserExistsError, UserRecord

# Row ids are 32-bit on PostgreSQL; a larger id is a 422, not a database overflow.
MAX_ID = 2**31 - 1

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,64}$"
_USERNAME = re.compile(USERNAME_PATTERN)


class NewUser(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(pattern=USERNAME_PATTERN)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    role: Role = Role.VIEWER


class UserChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    role: Role | None = None
    is_active: bool | None = None
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None


class UserView(msgspec.Struct, frozen=True):
    id: int
    username: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: UserRecord) -> UserView:
        return cls(
            id=record.id,
            username=record.username,
            role=record.role,
            is_active=record.is_active,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


def valid_username(username: str) -> bool:
    return _USERNAME.fullmatch(username) is not None


async def hashed(password: str) -> str:
    try:
        check_password_policy(password)
    except WeakPasswordError as exc:
        raise ApiError(422, "weak_password", str(exc), ["password"]) from None
    return await asyncio.to_thread(hash_password, password)


class UsersController(Controller):
    path = "/api/v1/users"
    guards = [guards.admin]  # noqa: RUF012
    tags = ["users"]  # noqa: RUF012

    @get("", summary="All users")
    async def list_users(self, services: ServicesDependency) -> list[UserView]:
        return [UserView.of(user) for user in await services.users.list_users()]

    @post("", summary="Create a user")
    async def create_user(
        self,
        data: JSONBody[NewUser],
        services: ServicesDependency,
        request: Request[AuthUser, TokenClaims, State],
    ) -> UserView:
        try:
            user = await services.users.create(
                data.username, await hashed(data.password), data.role
            )
        except UserExistsError:
            raise ApiError(
                409, "user_exists", f"user {data.username!r} exists", ["username"]
            ) from None
        await services.audit.record(
            "user.create",
            user_id=request.user.id,
            target=user.username,
            detail={"role": str(user.role)},
            client_ip=None,
        )
        return UserView.of(user)

    @patch("/{user_id:int}", summary="Change a user's role, password or active flag")
    async def change_user(
        self,
        user_id: Annotated[int, Parameter(ge=1, le=MAX_ID)],
        data: JSONBody[UserChange],
        services: ServicesDependency,
        request: Request[AuthUser, TokenClaims, State],
    ) -> UserView:
        user = await services.users.get(user_id)
        if user is None:
            raise ApiError(404, "unknown_user", f"no user with id {user_id}", ["user_id"])
        if user_id == request.user.id and (
            data.role not in {None, Role.ADMIN} or data.is_active is False
        ):
            raise ApiError(
                422, "self_lockout", "an admin cannot demote or disable itself", ["role"]
            )
        if data.password is not None:
            await services.users.set_password_hash(user_id, await hashed(data.password))
        if data.role is not None:
            await services.users.set_role(user_id, data.role)
        if data.is_active is not None:
            await services.users.set_active(user_id, data.is_active)
        await services.audit.record(
            "user.change",
            user_id=request.user.id,
            target=user.username,
            detail={k: v for k, v in msgspec.to_builtins(data).items() if k != "password"},
            client_ip=None,
        )
        updated = await services.users.get(user_id)
        assert updated is not None
        return UserView.of(updated)
