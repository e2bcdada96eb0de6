"""The user repository and the users table, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shared.store import (
    Role,
    UserExistsError,
    UserNotFoundError,
    UserRepository,
    role_at_least,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SHANGHAI = ZoneInfo("Asia/Shanghai")


class SteppingClock:
    """Each call returns the previous time plus one second."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(datetime(2026, 3, 2, 21, 0, tzinfo=SHANGHAI))


@pytest.fixture
def users(store_sessions: async_sessionmaker[AsyncSession], clock: SteppingClock) -> UserRepository:
    return UserRepository(store_sessions, clock=clock)


def test_roles_are_ordered() -> None:
    assert role_at_least(Role.ADMIN, Role.TRADER)
    assert role_at_least(Role.TRADER, Role.TRADER)
    assert role_at_least("trader", "viewer")
    assert not role_at_least(Role.VIEWER, Role.TRADER)
    assert not role_at_least(Role.TRADER, Role.ADMIN)
    with pytest.raises(ValueError, match="root"):
        role_at_least("root", Role.VIEWER)


async def test_create_then_read_back(users: UserRepository) -> None:
    assert await users.count() == 0
    created = await users.create("ann", "hash-a", Role.TRADER)

    assert created.username == "ann"
    assert created.role is Role.TRADER
    assert created.is_active
    assert created.password_hash == "hash-a"
    assert await users.get(created.id) == created
    assert await users.get_by_username("ann") == created
    assert await users.get(created.id + 1000) is None
    assert await users.get_by_username("nobody") is None

    second = await users.create("bob", "hash-b", "viewer")
    assert [u.username for u in await users.list_users()] == ["ann", "bob"]
    assert second.role is Role.VIEWER
    assert await users.count() == 2


async def test_duplicate_username_is_refused(users: UserRepository) -> None:
    await users.create("ann", "hash-a", Role.VIEWER)
    with pytest.raises(UserExistsError, match="ann"):
        await users.create("ann", "hash-other", Role.ADMIN)
    assert await users.count() == 1
    original = await users.get_by_username("ann")
    assert original is not None
    assert original.role is Role.VIEWER


async def test_bad_usernames_and_roles_are_refused(
    users: UserRepository, store_sessions: async_sessionmaker[AsyncSession]
) -> None:
    with pytest.raises(ValueError, match="3-64"):
        await users.create("ab", "hash", Role.VIEWER)
    with pytest.raises(ValueError, match="root"):
        await users.create("carol", "hash", "root")
    # The CHECK constraint holds for writers that bypass the repository too.
    insert = text(
        "INSERT INTO users (username, password_hash, role, is_active, created_at, updated_at) "
        "VALUES ('dave', 'h', 'root', true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )
    with pytest.raises(IntegrityError):
        async with store_sessions.begin() as session:
            await session.execute(insert)
    assert await users.count() == 0


async def test_changes_are_stored_and_stamped(users: UserRepository, clock: SteppingClock) -> None:
    created = await users.create("ann", "hash-a", Role.VIEWER)

    promoted = await users.set_role(created.id, Role.ADMIN)
    assert promoted.role is Role.ADMIN
    assert promoted.updated_at > created.updated_at
    assert promoted.updated_at.tzinfo is UTC
    await users.set_active(created.id, False)
    await users.set_password_hash(created.id, "hash-b")

    stored = await users.get(created.id)
    assert stored is not None
    assert (stored.role, stored.is_active, stored.password_hash) == (Role.ADMIN, False, "hash-b")
    assert stored.created_at == created.created_at
    assert stored.updated_at == clock.now

    with pytest.raises(UserNotFoundError):
        await users.set_role(created.id + 1000, Role.TRADER)


async def test_timestamps_come_back_equal_and_in_utc(
    users: UserRepository, clock: SteppingClock
) -> None:
    created = await users.create("ann", "hash-a", Role.VIEWER)
    written = clock.now  # 21:00:01 in Shanghai, 13:00:01 UTC

    stored = await users.get(created.id)
    assert stored is not None
    assert stored.created_at == written
    assert stored.created_at.tzinfo is UTC
    assert stored.created_at.hour == 13


def test_records_keep_the_hash_out_of_their_repr() -> None:
    from shared.store import UserRecord  # noqa: PLC0415

    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = UserRecord(
        id=1, username="ann", role=Role.ADMIN, is_active=True,
        password_hash="$secret$", created_at=now, updated_at=now,
    )  # fmt: skip
    assert "$secret$" not in repr(record)
