"""Run functions inside this process on a bounded pool of threads, each with its own event loop.

Handlers may be CPU-bound (TA-Lib, backtests). Running them on the gateway's loop would stall
every WebSocket; running each on a thread of its own keeps the loop free, and a long-lived loop
per thread lets async handlers keep connections between calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from functions.envelope import execute

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from functions.deps import Deps

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_SHUTDOWN_GRACE_S = 5.0


class InlineRuntime:
    """At most ``workers`` calls run at once; further calls wait for a free thread."""

    def __init__(self, deps: Deps, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"`workers` must be at least 1, got {workers}")
        self._deps = deps
        self._threads = [_LoopThread(f"function-worker-{index}") for index in range(workers)]
        # Created on first use so that it binds to the caller's loop, not to a loop at import.
        self._idle: asyncio.Queue[_LoopThread] | None = None
        self._closed = False

    @property
    def workers(self) -> int:
        return len(self._threads)

    async def run(self, name: str, payload: bytes) -> bytes:
        """Run function ``name`` on ``payload`` (request JSON); return the ``CallOutcome`` JSON."""
        if self._closed:
            raise RuntimeError("the inline runtime is closed")
        idle = self._idle_threads()
        worker = await idle.get()
        caller = asyncio.get_running_loop()

        def give_back(_: concurrent.futures.Future[bytes]) -> None:
            # Runs on the worker thread; the thread is free only once the call really ended,
            # even when the caller stopped waiting (cancellation) earlier.
            with contextlib.suppress(RuntimeError):  # the caller's loop is already closed
                caller.call_soon_threadsafe(idle.put_nowait, worker)

        future = worker.submit(execute(name, payload, self._deps))
        future.add_done_callback(give_back)
        return await asyncio.wrap_future(future)

    def _idle_threads(self) -> asyncio.Queue[_LoopThread]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for thread in self._threads:
                self._idle.put_nowait(thread)
        return self._idle

    def close(self) -> None:
        """Cancel what still runs and stop the threads (blocks: call it via ``to_thread``)."""
        self._closed = True
        for thread in self._threads:
            thread.finish(self._deps.close_database())
            thread.stop()


class _LoopThread:
    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        running = threading.Event()
        self._loop.call_soon(running.set)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        running.wait()  # so that stop() always finds the loop running

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def submit(self, call: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        try:
            return asyncio.run_coroutine_threadsafe(call, self._loop)
        except RuntimeError:
            call.close()  # never started: close it so that it is not reported as un-awaited
            raise

    def finish(self, call: Coroutine[Any, Any, None]) -> None:
        """Run ``call`` on this thread's loop and wait for it (a last tidy-up)."""
        try:
            self.submit(call).result(timeout=_SHUTDOWN_GRACE_S)
        except (RuntimeError, TimeoutError, concurrent.futures.CancelledError):
            log.warning("%s: could not finish cleanly", self._thread.name)

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        if self._loop.is_running():
            done = asyncio.run_coroutine_threadsafe(_cancel_the_rest(), self._loop)
            try:
                done.result(timeout=_SHUTDOWN_GRACE_S)
            except (TimeoutError, concurrent.futures.CancelledError):
                log.warning("%s: calls still running at shutdown", self._thread.name)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_SHUTDOWN_GRACE_S)
        if not self._thread.is_alive():
            self._loop.close()


async def _cancel_the_rest() -> None:
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()
