"""Fixtures every test layer shares: the real services, each namespaced to this run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import redis.asyncio

from tests.support.services import (
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    RUN_ID,
    sqlalchemy_url,
    unavailable,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real market data beside the project (../shared/data), or skip with the reason."""
    if not SHARED_DATA.is_dir():
        unavailable("../shared/data", f"{SHARED_DATA} does not exist")
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin (libpq) URL of a reachable PostgreSQL server."""
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        unavailable("PostgreSQL", str(exc).strip())
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def postgres_database_factory(postgres_server: str) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_server)
    yield databases
    databases.drop_all()


class PostgresDatabases:
    """Creates empty databases named after this run and drops them all at the end."""

    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url
        self._created: list[str] = []

    def create(self, label: str) -> str:
        name = f"quant_test_{RUN_ID}_{label}_{len(self._created)}"
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return sqlalchemy_url(self._admin_url, name)

    def drop_all(self) -> None:
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            for name in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()


@pytest.fixture
def postgres_url(
    postgres_database_factory: PostgresDatabases, request: pytest.FixtureRequest
) -> str:
    """A fresh, empty PostgreSQL database for one test (SQLAlchemy URL, psycopg driver)."""
    label = "".join(c for c in request.node.name.lower() if c.isalnum())[:20]
    return postgres_database_factory.create(label)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """URL of a reachable Redis; every key made under this run's prefix is deleted after."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", str(exc))
    yield REDIS_URL
    for key in client.scan_iter(match=f"qtest-{RUN_ID}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def redis_prefix(redis_server: str, request: pytest.FixtureRequest) -> str:
    """A key prefix owned by one test (all of the run's prefixes are removed at the end)."""
    label = "".join(c for c in request.node.name.lower() if c.isalnum())[:24]
    return f"qtest-{RUN_ID}-{label}"


@pytest.fixture
async def redis_client(redis_server: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_server)
    yield client
    await client.aclose()
