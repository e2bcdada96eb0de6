"""User roles: each one includes the rights of those below it."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # market data, reports, own backtests
    TRADER = "trader"  # + orders (with the trading-password / TOTP step-up)
    ADMIN = "admin"  # + users, venue sessions, kill switch


_RANK = {Role.VIEWER: 0, Role.TRADER: 1, Role.ADMIN: 2}


def role_at_least(role: Role | str, required: Role | str) -> bool:
    """Whether ``role`` carries the rights of ``required``; an unknown role raises ValueError."""
    return _RANK[Role(role)] >= _RANK[Role(required)]
