"""Store fixtures: the same tests run on a SQLite file and on PostgreSQL.

Migrating once per session and copying (SQLite) or truncating (PostgreSQL) keeps these tests
fast: a database per test costs a checkpoint on DROP DATABASE, seconds on a loaded machine.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from shared.store import Base, create_engine, session_factory
from shared.store.migrate import upgrade

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from tests.conftest import PostgresDatabases

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, not yet migrated: a SQLite file under tmp_path or a PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/store.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def store_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied by each test (no WAL yet: one file to copy)."""
    path = tmp_path_factory.mktemp("store-template") / "store.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def store_postgres_database(postgres_database_factory: PostgresDatabases) -> str:
    """A PostgreSQL database migrated to head, shared by the tests and emptied after each."""
    url = postgres_database_factory.create("store")
    upgrade(url)
    return url


async def _empty_postgres(engine: AsyncEngine) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
async def store_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database migrated to head."""
    if request.param == "sqlite":
        database = tmp_path / "store.db"
        await asyncio.to_thread(
            shutil.copyfile, request.getfixturevalue("store_sqlite_template"), database
        )
        url = f"sqlite+aiosqlite:///{database}"
    else:
        url = request.getfixturevalue("store_postgres_database")
    engine = create_engine(url, pool_size=2)
    try:
        yield engine
    finally:
        if engine.dialect.name == "postgresql":
            await _empty_postgres(engine)
        await engine.dispose()


@pytest.fixture
def store_sessions(store_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(store_engine)
