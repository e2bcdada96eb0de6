"""Building gateway settings and users for tests."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import msgspec

from gateway.auth.passwords import hash_password
from shared.config import Settings
from shared.store import Role, UserRepository, create_engine, session_factory
from shared.store.migrate import upgrade

TEST_SECRET = "test-secret-" + "x" * 32


def embedded_settings(var_dir: Path, **overrides: object) -> Settings:
    """The embedded default, confined to ``var_dir``, with no first-admin banner."""
    base = Settings(
        var_dir=str(var_dir),
        database_url=f"sqlite+aiosqlite:///{var_dir}/quant.db",
        objects_dir=str(var_dir / "objects"),
        bootstrap_admin=False,
        replay_speed=20.0,
        jwt_secret=TEST_SECRET,
    )
    return msgspec.structs.replace(base, **overrides)


async def add_user(settings: Settings, username: str, password: str, role: Role) -> int:
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        record = await UserRepository(session_factory(engine)).create(
            username, await asyncio.to_thread(hash_password, password), role
        )
    finally:
        await engine.dispose()
    return record.id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
