"""The audit log on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import TYPE_CHECKING

import pytest

from shared.store import AuditLog, Role, UserRepository

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def audit(store_sessions: async_sessionmaker[AsyncSession]) -> AuditLog:
    ticks = count()
    return AuditLog(store_sessions, clock=lambda: START + timedelta(seconds=next(ticks)))


async def test_record_then_recent_newest_first(
    audit: AuditLog, store_sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await UserRepository(store_sessions).create("root", "h", Role.ADMIN)
    first = await audit.record(
        "auth.login", user_id=admin.id, target="root", detail={}, client_ip="10.0.0.7"
    )
    await audit.record(
        "auth.login_failed", user_id=None, target="mallory", detail={"attempt": 3}, client_ip=None
    )
    await audit.record(
        "user.create", user_id=admin.id, target="ann",
        detail={"role": Role.TRADER, "at": START}, client_ip="::1",
    )  # fmt: skip

    entries = await audit.recent(10)
    assert [e.action for e in entries] == ["user.create", "auth.login_failed", "auth.login"]
    assert entries[-1].id == first
    assert entries[0].detail == {"role": "trader", "at": "2026-03-02T01:00:00Z"}
    assert entries[1].user_id is None
    assert entries[1].detail == {"attempt": 3}
    assert entries[2].client_ip == "10.0.0.7"
    assert entries[2].ts == START
    assert entries[0].ts == START + timedelta(seconds=2)

    assert [e.action for e in await audit.recent(1)] == ["user.create"]
    with pytest.raises(ValueError, match="limit"):
        await audit.recent(0)
