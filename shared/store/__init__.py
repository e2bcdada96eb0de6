"""Storage: SQLAlchemy models, engines, migrations and repositories (SQLite or PostgreSQL)."""

from __future__ import annotations

from shared.store.audit import AuditEntry, AuditLog
from shared.store.engine import (
    DatabaseUnavailableError,
    UnsupportedDatabaseError,
    async_url,
    create_engine,
    ping,
    session_factory,
    sync_url,
)
from shared.store.roles import Role, role_at_least
from shared.store.tables import BacktestStatus, Base
from shared.store.types import NaiveDatetimeError, UTCDateTime
from shared.store.users import UserExistsError, UserNotFoundError, UserRecord, UserRepository

__all__ = [
    "AuditEntry",
    "AuditLog",
    "BacktestStatus",
    "Base",
    "DatabaseUnavailableError",
    "NaiveDatetimeError",
    "Role",
    "UTCDateTime",
    "UnsupportedDatabaseError",
    "UserExistsError",
    "UserNotFoundError",
    "UserRecord",
    "UserRepository",
    "async_url",
    "create_engine",
    "ping",
    "role_at_least",
    "session_factory",
    "sync_url",
]
