"""What a function may use besides its request. Built per runtime from settings.

Everything here must work from any event loop and any thread: the inline runtime runs
handlers on worker threads, Dramatiq and Lambda in their own processes.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.objects import ObjectStore, open_object_store
from shared.store import create_engine, session_factory

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from shared.config import Settings

# A function's database connections are few: it holds one for a transaction at a time.
_POOL_SIZE = 2


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    objects: ObjectStore
    # An async engine belongs to the event loop that opened its connections, and every
    # worker thread has a loop of its own: one engine per loop, made on first use.
    _databases: weakref.WeakKeyDictionary[
        asyncio.AbstractEventLoop, tuple[AsyncEngine, async_sessionmaker[AsyncSession]]
    ] = field(default_factory=weakref.WeakKeyDictionary)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _opened(self) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
        loop = asyncio.get_running_loop()
        with self._lock:
            opened = self._databases.get(loop)
            if opened is None:
                engine = create_engine(self.settings.database_url, pool_size=_POOL_SIZE)
                opened = self._databases[loop] = (engine, session_factory(engine))
            return opened

    def database(self) -> async_sessionmaker[AsyncSession]:
        """Sessions on the configured database, for the calling event loop."""
        return self._opened()[1]

    def database_engine(self) -> AsyncEngine:
        """The engine behind `database()` (the market-data stores read through it)."""
        return self._opened()[0]

    async def close_database(self) -> None:
        """Close the calling loop's connections; a runtime calls it on a loop it retires."""
        with self._lock:
            opened = self._databases.pop(asyncio.get_running_loop(), None)
        if opened is not None:
            await opened[0].dispose()


def build_deps(settings: Settings) -> Deps:
    return Deps(settings=settings, objects=open_object_store(settings))
