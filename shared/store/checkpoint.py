"""Moving SQLite's write-ahead log into the database file off the write path.

By default SQLite checkpoints inside the commit that fills the log past 1,000 pages, on the
committing connection, with an fsync: the gateway's order writes stopped for tens of
milliseconds each time, which showed as the slowest orders of a busy second. Connections are
opened with automatic checkpoints off (`engine`), and the long-running process checkpoints
from a thread of its own instead, in PASSIVE mode, which never waits for (or blocks) readers
and writers. Short-lived processes need nothing: SQLite checkpoints when the last connection
to a file closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class WalCheckpointer:
    def __init__(self, path: Path, *, interval_s: float = 1.0) -> None:
        self._path = path
        self._interval_s = interval_s
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        # A checkpoint runs on a worker thread that cancelling the task does not stop: the
        # connection is closed only once it is done (closing it under a running statement
        # crashed the process).
        self._lock = threading.Lock()
        self._closed = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sqlite-checkpoint")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def checkpoint(self) -> tuple[int, int]:
        """One PASSIVE checkpoint: (pages in the log, pages moved into the file); (0, 0)
        once stopped."""
        with self._lock:
            if self._closed:
                return 0, 0
            if self._connection is None:
                # Used by one thread at a time (the lock), though not always the same one.
                self._connection = sqlite3.connect(self._path, check_same_thread=False)
            row = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(row[1]), int(row[2])

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await asyncio.to_thread(self.checkpoint)
            except sqlite3.Error as exc:  # a busy or locked file: the next round catches up
                log.warning("sqlite checkpoint of %s failed: %s", self._path, exc)
