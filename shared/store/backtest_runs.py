"""Backtest and optimisation runs (`backtest_runs`): who asked for what, where the run is,
and what came out. The row is the run's state for every reader (API, WebSocket, a restarted
gateway); the function writes the outcome, so a run finishes even if its gateway went away.

A run moves queued -> running -> finished | failed, or to cancelled from queued or running.
Every write after the first is conditional on the status it expects, so a cancelled run
never comes back to life when its worker reports late.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from sqlalchemy import select, update

from shared.domain import to_utc
from shared.store.tables import BacktestRunRow, BacktestStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

RunKind = Literal["backtest", "optimization"]
_LIVE = (BacktestStatus.QUEUED, BacktestStatus.RUNNING)


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: RunKind
    status: BacktestStatus
    strategy: str
    params: dict[str, Any]
    progress: float
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    request: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    artifacts_prefix: str | None = None
    user_id: int = 0


def _record(row: BacktestRunRow) -> RunRecord:
    return RunRecord(
        id=row.id,
        kind="optimization" if row.kind == "optimization" else "backtest",
        status=row.status,
        strategy=row.strategy,
        params=row.params,
        progress=row.progress,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        request=row.request,
        summary=row.metrics,
        result=row.result,
        error=row.error,
        artifacts_prefix=row.artifacts_prefix,
        user_id=row.user_id,
    )


class BacktestRunStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self,
        run_id: str,
        user_id: int,
        *,
        kind: RunKind,
        strategy: str,
        params: dict[str, Any],
        request: dict[str, Any],
        now: datetime,
    ) -> RunRecord:
        row = BacktestRunRow(
            id=run_id,
            user_id=user_id,
            kind=kind,
            status=BacktestStatus.QUEUED,
            strategy=strategy,
            params=params,
            request=request,
            progress=0.0,
            created_at=to_utc(now),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return _record(row)

    async def get(self, run_id: str, user_id: int | None = None) -> RunRecord | None:
        """The run; with `user_id`, only if it is that user's."""
        query = select(BacktestRunRow).where(BacktestRunRow.id == run_id)
        if user_id is not None:
            query = query.where(BacktestRunRow.user_id == user_id)
        async with self._sessions() as session:
            row = await session.scalar(query)
        return None if row is None else _record(row)

    async def list(
        self, user_id: int, *, kind: RunKind | None = None, limit: int = 50, offset: int = 0
    ) -> list[RunRecord]:
        query = select(BacktestRunRow).where(BacktestRunRow.user_id == user_id)
        if kind is not None:
            query = query.where(BacktestRunRow.kind == kind)
        query = query.order_by(BacktestRunRow.created_at.desc(), BacktestRunRow.id)
        async with self._sessions() as session:
            rows = await session.scalars(query.limit(limit).offset(offset))
            return [_record(row) for row in rows]

    async def _move(
        self, run_id: str, expected: tuple[BacktestStatus, ...], values: dict[str, Any]
    ) -> bool:
        statement = (
            update(BacktestRunRow)
            .where(BacktestRunRow.id == run_id, BacktestRunRow.status.in_(expected))
            .values(values)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def start(self, run_id: str, *, now: datetime) -> bool:
        """queued -> running; False when the run is no longer queued (e.g. cancelled)."""
        return await self._move(
            run_id,
            (BacktestStatus.QUEUED,),
            {"status": BacktestStatus.RUNNING, "started_at": to_utc(now)},
        )

    async def progress(self, run_id: str, fraction: float) -> bool:
        return await self._move(run_id, _LIVE, {"progress": min(max(fraction, 0.0), 1.0)})

    async def finish(
        self,
        run_id: str,
        *,
        summary: dict[str, Any],
        now: datetime,
        result: dict[str, Any] | None = None,
        artifacts_prefix: str | None = None,
    ) -> bool:
        return await self._move(
            run_id,
            _LIVE,
            {
                "status": BacktestStatus.FINISHED,
                "progress": 1.0,
                "metrics": summary,
                "result": result,
                "artifacts_prefix": artifacts_prefix,
                "finished_at": to_utc(now),
            },
        )

    async def fail(self, run_id: str, error: str, *, now: datetime) -> bool:
        return await self._move(
            run_id,
            _LIVE,
            {"status": BacktestStatus.FAILED, "error": error, "finished_at": to_utc(now)},
        )

    async def cancel(self, run_id: str, *, now: datetime) -> bool:
        """queued/running -> cancelled; False when it had already ended."""
        return await self._move(
            run_id,
            _LIVE,
            {"status": BacktestStatus.CANCELLED, "finished_at": to_utc(now)},
        )

    async def is_cancelled(self, run_id: str) -> bool:
        query = select(BacktestRunRow.status).where(BacktestRunRow.id == run_id)
        async with self._sessions() as session:
            status = await session.scalar(query)
        return status is BacktestStatus.CANCELLED

    async def interrupted(self, *, now: datetime) -> int:
        """Runs left queued or running by a gateway that stopped: failed, saying so."""
        statement = (
            update(BacktestRunRow)
            .where(BacktestRunRow.status.in_(_LIVE))
            .values(
                status=BacktestStatus.FAILED,
                error="interrupted: the gateway stopped before the run ended",
                finished_at=to_utc(now),
            )
        )
        async with self._sessions.begin() as session:
            result = await session.execute(statement)
        return int(getattr(result, "rowcount", 0))
