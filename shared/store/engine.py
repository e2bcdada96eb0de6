"""Async engines for SQLite (embedded mode) and PostgreSQL (production), set up alike."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_SQLITE_BUSY_TIMEOUT_MS = 5_000  # writers queue behind each other instead of failing at once
_CONNECT_TIMEOUT_S = 5

# Async and sync drivers per backend. psycopg 3 serves both; SQLAlchemy picks its async
# variant under create_async_engine.
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}

_json_encoder = msgspec.json.Encoder()


class DatabaseUnavailableError(ConnectionError):
    """The database cannot be reached or refuses queries; the message says which and why."""


class UnsupportedDatabaseError(ValueError):
    """The URL names a backend other than SQLite or PostgreSQL."""


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise UnsupportedDatabaseError(
            f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}: "
            "use sqlite+aiosqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    return parsed.set(drivername=drivers[backend])


def async_url(url: str) -> URL:
    """The URL with the async driver this project uses for its backend."""
    return _with_driver(url, _ASYNC_DRIVERS)


def sync_url(url: str) -> str:
    """The URL with the sync driver (for Alembic), password kept."""
    return _with_driver(url, _SYNC_DRIVERS).render_as_string(hide_password=False)


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory or non-SQLite database."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None  # URI filenames: leave them to SQLite
    return Path(database)


def prepare_sqlite_directory(url: str | URL) -> None:
    """SQLite creates the file but not its directory (``var/`` on a fresh checkout)."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # SQLite leaves foreign keys unenforced unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        # WAL lets the gateway read while the recorder writes; NORMAL is durable under WAL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints run off the write path (`checkpoint.WalCheckpointer`), not in commits.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()


def _json_serializer(value: object) -> str:
    # msgspec also writes datetimes, enums and Structs (JSON payloads of events and metrics).
    return _json_encoder.encode(value).decode()


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite[+aiosqlite]://`` or ``postgresql[+psycopg]://``)."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        prepare_sqlite_directory(target)
        # One file, one writer at a time: the dialect's default pool is right for it.
        engine = _create_async_engine(
            target, json_serializer=_json_serializer, json_deserializer=msgspec.json.decode
        )
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    return _create_async_engine(
        target,
        pool_size=pool_size,
        pool_pre_ping=True,  # a restarted server or a dropped idle connection is retried once
        connect_args={"connect_timeout": _CONNECT_TIMEOUT_S},
        json_serializer=_json_serializer,
        json_deserializer=msgspec.json.decode,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Rows outlive their session in the repositories: no expiry on commit.
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Run ``SELECT 1``; raise DatabaseUnavailableError with a readable reason on failure."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        reason = getattr(exc, "orig", None) or exc
        lines = str(reason).strip().splitlines()
        detail = lines[0] if lines else type(reason).__name__
        raise DatabaseUnavailableError(f"database {where} is unavailable: {detail}") from exc
