"""The run rows of backtests and optimisations: each write after creation is conditional on
the state it expects, so a late worker can never revive a cancelled run, on SQLite and
PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.store import Role, UserRepository
from shared.store.backtest_runs import BacktestRunStore
from shared.store.tables import BacktestStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


async def _store(sessions: async_sessionmaker[AsyncSession]) -> tuple[BacktestRunStore, int, int]:
    users = UserRepository(sessions)
    one = await users.create("vera", "hash", Role.VIEWER)
    two = await users.create("otto", "hash", Role.VIEWER)
    return BacktestRunStore(sessions), one.id, two.id


async def _new(store: BacktestRunStore, run_id: str, user: int, at: datetime) -> None:
    await store.create(
        run_id, user, kind="backtest", strategy="sma_cross", params={"fast": 10},
        request={"strategy": "sma_cross"}, now=at,
    )  # fmt: skip


async def test_a_run_goes_queued_running_finished(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store, vera, _ = await _store(store_sessions)
    await _new(store, "r1", vera, T0)
    assert await store.start("r1", now=T0 + timedelta(seconds=1))
    assert not await store.start("r1", now=T0)  # already running
    assert await store.progress("r1", 0.5)
    assert await store.finish(
        "r1", summary={"trades": 3}, artifacts_prefix="backtests/r1/", now=T0 + timedelta(2)
    )
    run = await store.get("r1", vera)
    assert run is not None
    assert run.status is BacktestStatus.FINISHED
    assert run.progress == 1.0
    assert run.summary == {"trades": 3}
    assert run.artifacts_prefix == "backtests/r1/"
    assert run.started_at == T0 + timedelta(seconds=1)
    # An ended run moves no more.
    assert not await store.cancel("r1", now=T0)
    assert not await store.fail("r1", "late", now=T0)
    assert not await store.progress("r1", 0.1)


async def test_a_cancelled_run_stays_cancelled(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store, vera, _ = await _store(store_sessions)
    await _new(store, "r2", vera, T0)
    assert await store.start("r2", now=T0)
    assert await store.cancel("r2", now=T0)
    assert await store.is_cancelled("r2")
    assert not await store.finish("r2", summary={"trades": 1}, now=T0)  # the worker came late
    run = await store.get("r2")
    assert run is not None
    assert run.status is BacktestStatus.CANCELLED
    assert run.summary is None
    await _new(store, "r3", vera, T0)
    assert await store.cancel("r3", now=T0)
    assert not await store.start("r3", now=T0)  # a queued run cancelled never starts


async def test_runs_are_the_owners_and_listed_newest_first(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store, vera, otto = await _store(store_sessions)
    for n in range(3):
        await _new(store, f"v{n}", vera, T0 + timedelta(minutes=n))
    await _new(store, "o1", otto, T0)
    assert [r.id for r in await store.list(vera)] == ["v2", "v1", "v0"]
    assert [r.id for r in await store.list(vera, limit=1, offset=1)] == ["v1"]
    assert await store.list(vera, kind="optimization") == []
    assert await store.get("o1", vera) is None
    assert await store.get("o1", otto) is not None


async def test_runs_left_live_by_a_stopped_gateway_are_failed(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store, vera, _ = await _store(store_sessions)
    await _new(store, "q", vera, T0)
    await _new(store, "r", vera, T0)
    await _new(store, "f", vera, T0)
    await store.start("r", now=T0)
    await store.start("f", now=T0)
    await store.finish("f", summary={}, now=T0)
    assert await store.interrupted(now=T0) == 2
    statuses = {r.id: r.status for r in await store.list(vera)}
    assert statuses == {
        "q": BacktestStatus.FAILED,
        "r": BacktestStatus.FAILED,
        "f": BacktestStatus.FINISHED,
    }
    failed = await store.get("q")
    assert failed is not None
    assert failed.error is not None
    assert "interrupted" in failed.error
