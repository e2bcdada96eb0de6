"""Records the live market into the database: the venue's ticks and the closed live bars.

Writes happen on their own task, once per flush interval, so a slow database never holds up
the feed. The buffer is bounded: during a long outage the oldest rows are dropped (and counted)
rather than memory growing without limit. A row the store refuses as invalid is logged and
dropped, the rest of its batch written; a batch that failed because the database was
unreachable is kept and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Iterable
from typing import TypeVar

import polars as pl
import psycopg
from sqlalchemy.exc import DBAPIError

from gateway.tasks import cancel_and_wait
from shared.domain import Bar, Tick
from shared.store.market_data import BarStore, FrameError, TickStore, bar_rows, tick_rows

log = logging.getLogger(__name__)

# The stores write through SQLAlchemy and, on their fast paths, through the raw drivers.
_TRANSIENT = (
    ConnectionError,
    OSError,
    DBAPIError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
)
_Row = TypeVar("_Row", Tick, Bar)
_TICK_KEY = ["exchange", "symbol", "ts"]
_BAR_KEY = ["exchange", "symbol", "interval", "start"]
_MAX_REFUSED_ROWS = 20  # beyond that a batch is bad as a whole, not a stray row
_STOP_RETRY_S = 0.2
# Well inside the 30 s an orchestrator (Kubernetes, systemd) allows a process to stop in: the
# rest of the shutdown runs after the recorder, and one attempt may wait out SQLite's 5 s lock.
_STOP_TIMEOUT_S = 10.0


class MarketRecorder:
    def __init__(
        self,
        ticks: TickStore | None,
        bars: BarStore | None,
        *,
        flush_interval_s: float = 1.0,
        capacity: int = 500_000,
    ) -> None:
        self._tick_store = ticks
        self._bar_store = bars
        self._interval = flush_interval_s
        self._ticks: deque[Tick] = deque(maxlen=capacity)
        self._bars: deque[Bar] = deque(maxlen=capacity)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.ticks_written = 0
        self.bars_written = 0
        self.dropped = 0
        self.failures = 0

    @property
    def records_ticks(self) -> bool:
        return self._tick_store is not None

    @property
    def records_bars(self) -> bool:
        return self._bar_store is not None

    @property
    def pending(self) -> int:
        return len(self._ticks) + len(self._bars)

    def add(self, ticks: Iterable[Tick], bars: Iterable[Bar]) -> None:
        """Queue rows for the next flush; never blocks."""
        if self._tick_store is not None:
            self._extend(self._ticks, ticks)
        if self._bar_store is not None:
            self._extend(self._bars, bars)

    def _extend(self, buffer: deque[_Row], rows: Iterable[_Row]) -> None:
        for row in rows:
            if len(buffer) == buffer.maxlen:
                self.dropped += 1  # the deque drops the oldest on append
            buffer.append(row)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="market-recorder")

    async def _loop(self) -> None:
        # Stopping wakes the loop for one last flush rather than cancelling it mid-write.
        while True:
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._interval)
            try:
                await self.flush()
            except Exception:
                # Keep recording: the next flush may succeed where this one failed.
                log.exception("recorder: flush failed; %d rows pending", self.pending)
            if self._stopping.is_set():
                if not self.pending:
                    return
                # The last write failed (the database busy or away): the rows are kept and
                # tried again until `stop` gives up, instead of being lost with the process.
                await asyncio.sleep(_STOP_RETRY_S)

    async def flush(self) -> None:
        """Write what is buffered now."""
        if self._tick_store is not None and self._ticks:
            batch = list(self._ticks)
            self._ticks.clear()  # rows arriving during the write wait for the next flush
            # Venues repeat a timestamp (CZCE stamps every tick at .000): the last one wins.
            frame = tick_rows(batch).unique(_TICK_KEY, keep="last", maintain_order=True)
            written = await self._write(self._tick_store, frame, "ticks")
            if written is None:
                self._ticks = self._requeued(batch, self._ticks)
            else:
                self.ticks_written += written
        if self._bar_store is not None and self._bars:
            bars = list(self._bars)
            self._bars.clear()
            # A replay looping faster than the flush interval closes the same bar twice.
            frame = bar_rows(bars).unique(_BAR_KEY, keep="last", maintain_order=True)
            written = await self._write(self._bar_store, frame, "bars")
            if written is None:
                self._bars = self._requeued(bars, self._bars)
            else:
                self.bars_written += written

    async def _write(
        self, store: TickStore | BarStore, frame: pl.DataFrame, what: str
    ) -> int | None:
        """Rows written; None when the database was unreachable and the rows should be retried.

        A row the store refuses is dropped (and logged) and the rest written."""
        for _ in range(_MAX_REFUSED_ROWS):
            try:
                await store.ingest(frame)
            except FrameError as exc:
                self.dropped += 1 if exc.row is not None else frame.height
                log.error("recorder: %s refused by the store: %s", what, exc)  # noqa: TRY400
                if exc.row is None:
                    return 0
                frame = pl.concat([frame.head(exc.row), frame.slice(exc.row + 1)])
                if frame.is_empty():
                    return 0
            except _TRANSIENT as exc:
                self.failures += 1
                log.warning(
                    "recorder: writing %d %s failed, will retry: %s", frame.height, what, exc
                )
                return None
            else:
                return frame.height
        self.dropped += frame.height
        log.error("recorder: too many refused %s in one batch; dropped %d", what, frame.height)
        return 0

    def _requeued(self, batch: list[_Row], arrived: deque[_Row]) -> deque[_Row]:
        kept: deque[_Row] = deque(maxlen=arrived.maxlen)
        self._extend(kept, batch)
        self._extend(kept, arrived)
        return kept

    async def stop(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """Write what is buffered, then stop; gives up on the database after ``timeout_s``."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except TimeoutError:
            log.error("recorder: stopped before the database took %d rows", self.pending)  # noqa: TRY400
            await cancel_and_wait(self._task)
        self._task = None
