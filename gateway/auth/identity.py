"""Who is calling: set on every authenticated connection by the middleware."""

from __future__ import annotations

import msgspec

from shared.store import Role


class AuthUser(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    username: str
    role: Role
