"""Background tasks the gateway starts and must stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from shared.bus import EventBus
from shared.domain import Event

log = logging.getLogger(__name__)
_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 30.0


# How long a cancelled task may take to unwind before it is cancelled again.
_RECANCEL_AFTER_S = 0.5


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait until it has finished unwinding (``None`` is a no-op).

    The cancellation is repeated while the task runs on: a cancellation that lands as a
    timeout inside a client library fires (redis-py's reads on Python 3.11) can be taken for
    that timeout and swallowed, and a task looping on a queue would then never end. Shutdown
    hung on exactly that."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_RECANCEL_AFTER_S)
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def follow_bus(
    bus: EventBus,
    prefixes: tuple[str, ...],
    handle: Callable[[Event], Awaitable[None]],
    *,
    name: str,
) -> None:
    """Hand every event under ``prefixes`` to ``handle``, forever.

    The gateway starts and serves while the bus is away (``/ready`` says so): subscribing is
    retried with backoff and a lost subscription is renewed, so the stream resumes when the
    bus is back. One event that ``handle`` fails on is logged, never the end of the stream.
    """
    delay = _RETRY_FIRST_S
    while True:
        try:
            subscription = await bus.subscribe(*prefixes)
        except ConnectionError as exc:
            log.warning("%s: cannot subscribe to the bus (%s); retry in %g s", name, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)
            continue
        delay = _RETRY_FIRST_S
        try:
            async for event in subscription:
                try:
                    await handle(event)
                except Exception:
                    log.exception("%s: could not handle %s", name, type(event).__name__)
        except ConnectionError as exc:
            log.warning("%s: bus subscription lost (%s); resubscribing", name, exc)
        finally:
            with contextlib.suppress(Exception):
                await subscription.close()


class BackgroundTasks:
    """Fire-and-forget work started from callbacks (which cannot await): each task is kept
    until done, a failure is logged with what the work was, and `wait` lets the gateway
    finish them when it stops."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Awaitable[object], what: str) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("background work failed: %s", what)

        task = asyncio.get_running_loop().create_task(run(), name=what)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, timeout_s: float = 5.0) -> None:
        """Let the running tasks finish (those still running after ``timeout_s`` are
        cancelled)."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)


class ShutdownWatch:
    """Logs what a slow shutdown waits on: if stopping takes longer than ``after_s``, every
    pending task's stack goes to the log (a hang then says where it is), and again each
    ``after_s`` until stopping ends."""

    def __init__(self, after_s: float = 30.0) -> None:
        self._after_s = after_s
        self._timer: asyncio.TimerHandle | None = None
        self._began = 0.0

    async def begin(self) -> None:
        loop = asyncio.get_running_loop()
        self._began = loop.time()
        self._timer = loop.call_later(self._after_s, self._report)

    async def end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _report(self) -> None:
        loop = asyncio.get_running_loop()
        waiting = [task for task in asyncio.all_tasks(loop) if not task.done()]
        lines = [f"shutdown still running after {loop.time() - self._began:.0f}s; tasks:"]
        for task in waiting:
            where = " -> ".join(_await_chain(task.get_coro()))
            lines.append(f"  {task.get_name()}: {where or repr(task.get_coro())}")
        log.warning("\n".join(lines))
        self._timer = loop.call_later(self._after_s, self._report)


def _await_chain(awaitable: object, limit: int = 40) -> list[str]:
    """Where a suspended coroutine waits, outermost first: each coroutine (or generator) it
    awaits, down to the innermost (a task's own stack shows only the outermost frame)."""
    chain: list[str] = []
    last_frame: Any = None
    while awaitable is not None and len(chain) < limit:
        frame = (
            getattr(awaitable, "cr_frame", None)
            or getattr(awaitable, "gi_frame", None)
            or getattr(awaitable, "ag_frame", None)
        )
        if frame is None and last_frame is not None:
            # An async generator's step (an @asynccontextmanager's __aexit__ awaits one)
            # shows no frame: continue with the generator its context manager holds.
            holder = last_frame.f_locals.get("self")
            generator = getattr(holder, "gen", None)
            if generator is not None and generator is not awaitable:
                awaitable = generator
                last_frame = None
                continue
        if frame is not None:
            code = frame.f_code
            chain.append(f"{code.co_name} ({Path(code.co_filename).name}:{frame.f_lineno})")
            last_frame = frame
        awaitable = (
            getattr(awaitable, "cr_await", None)
            or getattr(awaitable, "gi_yieldfrom", None)
            or getattr(awaitable, "ag_await", None)
        )
    return chain
