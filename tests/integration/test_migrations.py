"""The one set of revisions builds, removes and rebuilds the schema on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, create_engine, inspect

from shared.store import Base, sync_url
from shared.store.migrate import (
    MIGRATIONS_DIR,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

APPLICATION_TABLES = set(Base.metadata.tables)


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _schema_differences(url: str, metadata: MetaData) -> list[object]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_the_schema_has_the_expected_tables() -> None:
    expected = {
        "users", "instruments", "products", "accounts", "orders", "order_events", "trades",
        "positions", "ticks", "bars", "backtest_runs", "audit_log", "holidays",
        "risk_limits", "indicator_formulas",
    }  # fmt: skip
    assert expected == APPLICATION_TABLES


async def test_upgrade_downgrade_and_upgrade_again(store_url: str) -> None:
    assert await asyncio.to_thread(current_revision, store_url) is None

    await asyncio.to_thread(upgrade, store_url)
    assert await asyncio.to_thread(_tables, store_url) == APPLICATION_TABLES
    assert await asyncio.to_thread(current_revision, store_url) == head_revision()

    await asyncio.to_thread(downgrade, store_url, "base")
    assert await asyncio.to_thread(_tables, store_url) == set()
    assert await asyncio.to_thread(current_revision, store_url) is None

    await asyncio.to_thread(upgrade, store_url)
    assert await asyncio.to_thread(_tables, store_url) == APPLICATION_TABLES


async def test_migrated_database_matches_the_models(store_url: str) -> None:
    await asyncio.to_thread(upgrade, store_url)
    assert await asyncio.to_thread(_schema_differences, store_url, Base.metadata) == []

    # The comparison is able to see a difference: a model column the migration never made.
    altered = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(altered)
    altered.tables["users"].append_column(Column("nickname", Integer(), nullable=True))
    differences = await asyncio.to_thread(_schema_differences, store_url, altered)
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["add_column"]


def test_upgrade_creates_the_sqlite_directory_and_current_creates_nothing(tmp_path: Path) -> None:
    database = tmp_path / "fresh" / "var" / "quant.db"
    url = f"sqlite+aiosqlite:///{database}"
    assert current_revision(url) is None
    assert not database.parent.exists()

    upgrade(url)
    assert database.is_file()
    assert current_revision(f"sqlite:///{database}") == head_revision()  # the sync form too


def test_env_falls_back_to_the_database_url_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As `alembic upgrade head` run by hand: no URL in the config, QUANT_DATABASE_URL decides.
    database = tmp_path / "from-env.db"
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    monkeypatch.setenv("QUANT_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))

    command.upgrade(config, "head")

    assert current_revision(f"sqlite:///{database}") == head_revision()
    assert _tables(f"sqlite:///{database}") == APPLICATION_TABLES
