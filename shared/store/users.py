"""User accounts: the only way the gateway reads or changes the ``users`` table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from shared.clock import Clock, utc_now
from shared.domain import to_utc
from shared.store.roles import Role
from shared.store.tables import UserRow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

USERNAME_MIN_LENGTH = 3
USERNAME_MAX_LENGTH = 64


class UserExistsError(ValueError):
    """The username is taken."""


class UserNotFoundError(LookupError):
    """No user with that id."""


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    username: str
    role: Role
    is_active: bool
    password_hash: str
    created_at: datetime
    updated_at: datetime
    # Set by the user for the step-up that placing orders needs; None until then.
    trading_password_hash: str | None = None
    totp_secret: str | None = None

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None

    def __repr__(self) -> str:
        # Keep the hashes and the TOTP secret out of logs and tracebacks.
        return f"UserRecord(id={self.id}, username={self.username!r}, role={self.role.value!r})"


def _record(row: UserRow) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        role=row.role,
        is_active=row.is_active,
        password_hash=row.password_hash,
        created_at=row.created_at,
        updated_at=row.updated_at,
        trading_password_hash=row.trading_password_hash,
        totp_secret=row.totp_secret,
    )


class UserRepository:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock = utc_now,
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    async def create(self, username: str, password_hash: str, role: Role | str) -> UserRecord:
        """Add an active user; raise UserExistsError when the name is taken."""
        if not USERNAME_MIN_LENGTH <= len(username) <= USERNAME_MAX_LENGTH:
            raise ValueError(
                f"username must be {USERNAME_MIN_LENGTH}-{USERNAME_MAX_LENGTH} characters, "
                f"got {len(username)}"
            )
        now = to_utc(self._clock())
        row = UserRow(
            username=username,
            password_hash=password_hash,
            role=Role(role),
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            # The unique constraint decides, so two concurrent creations cannot both win.
            if await self.get_by_username(username) is not None:
                raise UserExistsError(f"user {username!r} exists already") from None
            raise
        return await self._require(row.id)

    async def get(self, user_id: int) -> UserRecord | None:
        async with self._sessions() as session:
            row = await session.get(UserRow, user_id)
            return None if row is None else _record(row)

    async def get_by_username(self, username: str) -> UserRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(select(UserRow).where(UserRow.username == username))
            return None if row is None else _record(row)

    async def list_users(self) -> list[UserRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(select(UserRow).order_by(UserRow.id))
            return [_record(row) for row in rows]

    async def count(self) -> int:
        async with self._sessions() as session:
            return await session.scalar(select(func.count()).select_from(UserRow)) or 0

    async def set_password_hash(self, user_id: int, password_hash: str) -> UserRecord:
        return await self._update(user_id, password_hash=password_hash)

    async def set_trading_password_hash(self, user_id: int, password_hash: str) -> UserRecord:
        return await self._update(user_id, trading_password_hash=password_hash)

    async def set_totp_secret(self, user_id: int, secret: str | None) -> UserRecord:
        """Enable TOTP with ``secret``, or disable it with None."""
        return await self._update(user_id, totp_secret=secret)

    async def set_role(self, user_id: int, role: Role | str) -> UserRecord:
        return await self._update(user_id, role=Role(role))

    async def set_active(self, user_id: int, is_active: bool) -> UserRecord:
        return await self._update(user_id, is_active=is_active)

    async def _update(self, user_id: int, **values: object) -> UserRecord:
        async with self._sessions.begin() as session:
            row = await session.get(UserRow, user_id, with_for_update=True)
            if row is None:
                raise UserNotFoundError(f"no user with id {user_id}")
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = to_utc(self._clock())
        return _record(row)

    async def _require(self, user_id: int) -> UserRecord:
        record = await self.get(user_id)
        if record is None:
            raise UserNotFoundError(f"no user with id {user_id}")
        return record
