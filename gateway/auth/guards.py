"""Role guards: every /api/v1 route declares the least role it needs."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from gateway.auth.identity import AuthUser
from shared.store import Role, role_at_least

GUARD_ROLE_ATTRIBUTE = "required_role"


def requires(role: Role) -> Guard:
    # Async on purpose: Litestar runs a synchronous guard on a worker thread, which cost
    # more than the check itself on every request.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, AuthUser):
            raise NotAuthorizedException("authentication required")
        if not role_at_least(user.role, role):
            raise PermissionDeniedException(f"role `{role}` or higher is required")

    setattr(guard, GUARD_ROLE_ATTRIBUTE, role)
    guard.__name__ = f"requires_{role}"
    return guard


viewer = requires(Role.VIEWER)
trader = requires(Role.TRADER)
admin = requires(Role.ADMIN)
