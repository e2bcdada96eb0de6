"""A slow shutdown says what it waits on: the stacks of the tasks still pending."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.tasks import ShutdownWatch, cancel_and_wait


async def test_a_slow_shutdown_logs_the_pending_tasks_until_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def stuck_in_a_close() -> None:
        await asyncio.sleep(10)

    stuck = asyncio.create_task(stuck_in_a_close(), name="redis-close")
    watch = ShutdownWatch(after_s=0.05)
    with caplog.at_level(logging.WARNING, logger="gateway.tasks"):
        await watch.begin()
        await asyncio.sleep(0.13)  # two reports
        await watch.end()
        reports = [r.getMessage() for r in caplog.records if "shutdown still running" in r.message]
        await asyncio.sleep(0.1)  # none after the end
    stuck.cancel()
    assert len(reports) == 2
    assert "redis-close: stuck_in_a_close (test_shutdown_watch.py:17) -> sleep" in reports[0]
    assert len([r for r in caplog.records if "shutdown still running" in r.message]) == 2


async def test_a_quick_shutdown_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    watch = ShutdownWatch(after_s=0.05)
    with caplog.at_level(logging.WARNING, logger="gateway.tasks"):
        await watch.begin()
        await watch.end()
        await asyncio.sleep(0.1)
    assert not caplog.records


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again() -> None:
    """What a timeout racing a cancellation inside a client library does: the first cancel is
    taken for the timeout, and the task goes back to waiting on its queue."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    swallowed = 0

    async def loop_on_a_queue() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)  # "a read with a timeout"
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # taken for the timeout
            await queue.get()

    task = asyncio.create_task(loop_on_a_queue())
    await asyncio.sleep(0.01)
    async with asyncio.timeout(5):
        await cancel_and_wait(task)
    assert task.cancelled()
    assert swallowed == 1
