"""Engine set-up: URLs, SQLite pragmas and directories, readable errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from shared.store import (
    DatabaseUnavailableError,
    UnsupportedDatabaseError,
    async_url,
    create_engine,
    ping,
    sync_url,
)
from shared.store.checkpoint import WalCheckpointer

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///var/quant.db", "sqlite:///var/quant.db"),
        ("sqlite:////abs/quant.db", "sqlite:////abs/quant.db"),
        ("postgresql+psycopg://u:p%40ss@h:5432/db", "postgresql+psycopg://u:p%40ss@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_sync_url(url: str, expected: str) -> None:
    assert sync_url(url) == expected


def test_async_url_and_unsupported_backends() -> None:
    assert async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert async_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(UnsupportedDatabaseError, match="mysql"):
        sync_url("mysql://u:secret@h/db")


async def test_sqlite_file_engine_setup(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "dir" / "quant.db"
    engine = create_engine(f"sqlite:///{database}")  # the sync form is accepted too
    try:
        await ping(engine)
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert database.is_file()
    assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 5000}


async def test_ping_names_the_database_and_the_reason() -> None:
    # Port 1 on localhost: nothing listens, the connection is refused at once.
    engine = create_engine("postgresql+psycopg://quant:hunter2@127.0.0.1:1/quant")
    try:
        with pytest.raises(DatabaseUnavailableError) as raised:
            await ping(engine)
    finally:
        await engine.dispose()
    message = str(raised.value)
    assert isinstance(raised.value, ConnectionError)
    assert "127.0.0.1:1/quant is unavailable" in message
    assert "hunter2" not in message
    assert "\n" not in message


@pytest.mark.postgres
async def test_ping_reaches_postgresql(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        await ping(engine)
    finally:
        await engine.dispose()


async def test_sqlite_commits_leave_the_log_to_the_background_checkpointer(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/wal.db")
    try:
        async with engine.begin() as connection:
            assert (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
            await connection.execute(text("CREATE TABLE filler (payload TEXT)"))
        # Well past the 1,000 pages at which a commit would otherwise checkpoint.
        for _ in range(5):
            async with engine.begin() as connection:
                await connection.execute(
                    text("INSERT INTO filler VALUES (:payload)"),
                    [{"payload": "x" * 4000} for _ in range(300)],
                )
        checkpointer = WalCheckpointer(tmp_path / "wal.db")
        try:
            in_log, moved = await asyncio.to_thread(checkpointer.checkpoint)
        finally:
            await checkpointer.stop()
        assert in_log > 1000  # no commit checkpointed on its own
        assert moved == in_log  # nobody was reading: everything went into the file
        async with engine.connect() as connection:
            count = (await connection.execute(text("SELECT count(*) FROM filler"))).scalar()
        assert count == 1500
    finally:
        await engine.dispose()


async def test_stopping_the_checkpointer_waits_for_a_checkpoint_in_progress(
    tmp_path: Path,
) -> None:
    """A checkpoint runs on a worker thread; closing its connection under it crashed the
    process. Stopping while checkpoints run back to back must be safe, every time."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/busy.db")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE filler (payload TEXT)"))
            await connection.execute(
                text("INSERT INTO filler VALUES (:payload)"),
                [{"payload": "y" * 4000} for _ in range(500)],
            )
        for _ in range(20):
            checkpointer = WalCheckpointer(tmp_path / "busy.db", interval_s=0.0)
            await checkpointer.start()
            await asyncio.sleep(0.002)
            await checkpointer.stop()
            assert await asyncio.to_thread(checkpointer.checkpoint) == (0, 0)  # stopped
    finally:
        await engine.dispose()
