"""The audit log: who did what to which target, from where. Append-only."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select

from shared.clock import Clock, utc_now
from shared.domain import to_utc
from shared.store.tables import AuditRow

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    ts: datetime
    user_id: int | None
    action: str  # dotted verb: auth.login, user.create, order.cancel
    target: str
    detail: dict[str, Any]
    client_ip: str | None


class AuditLog:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock = utc_now,
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    async def record(
        self,
        action: str,
        *,
        user_id: int | None,
        target: str,
        detail: Mapping[str, Any],
        client_ip: str | None,
    ) -> int:
        """Append one entry and return its id. ``detail`` must be JSON-encodable."""
        row = AuditRow(
            ts=to_utc(self._clock()),
            user_id=user_id,
            action=action,
            target=target,
            detail=dict(detail),
            client_ip=client_ip,
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return row.id

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        if limit <= 0:
            raise ValueError(f"`limit` must be positive, got {limit}")
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        async with self._sessions() as session:
            rows = await session.scalars(query)
            return [
                AuditEntry(
                    id=row.id,
                    ts=row.ts,
                    user_id=row.user_id,
                    action=row.action,
                    target=row.target,
                    detail=row.detail,
                    client_ip=row.client_ip,
                )
                for row in rows
            ]
