"""The inline runtime: handlers on a bounded pool of threads, never on the caller's loop."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec
import pytest

from functions.dispatch import InlineDispatcher
from functions.envelope import CallOutcome, FunctionCallError, encode_request
from functions.runtime.inline import InlineRuntime
from tests.runtimes.conftest import SLEEPING, SleepRequest, SleepResponse

if TYPE_CHECKING:
    from functions.deps import Deps
    from functions.registry import FunctionSpec


def sleep_payload(seconds: float) -> bytes:
    return encode_request(SleepRequest(seconds=seconds))


def response_of(data: bytes) -> SleepResponse:
    outcome = msgspec.json.decode(data, type=CallOutcome)
    assert outcome.error is None, outcome.error
    assert isinstance(outcome.result, msgspec.Raw)
    return msgspec.json.decode(outcome.result, type=SleepResponse)


async def test_a_blocking_handler_does_not_stall_the_callers_loop(
    deps: Deps, sleeper: FunctionSpec[SleepRequest, SleepResponse]
) -> None:
    runtime = InlineRuntime(deps, workers=1)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        answer = await runtime.run(sleeper.name, sleep_payload(0.3))
    finally:
        ticker.cancel()
        await asyncio.to_thread(runtime.close)
    assert response_of(answer).thread == "function-worker-0"
    assert ticks >= 10, "the loop kept running while the handler blocked its thread"


async def test_no_more_calls_run_at_once_than_there_are_workers(
    deps: Deps, sleeper: FunctionSpec[SleepRequest, SleepResponse]
) -> None:
    runtime = InlineRuntime(deps, workers=2)
    try:
        answers = await asyncio.gather(
            *(runtime.run(sleeper.name, sleep_payload(0.15)) for _ in range(5))
        )
    finally:
        await asyncio.to_thread(runtime.close)
    assert {response_of(answer).thread for answer in answers} == {
        "function-worker-0",
        "function-worker-1",
    }
    assert SLEEPING.peak == 2, "both threads worked at once, and never more than two calls"


async def test_a_call_past_the_timeout_reports_timeout_and_keeps_its_thread_until_done(
    deps: Deps, sleeper: FunctionSpec[SleepRequest, SleepResponse]
) -> None:
    dispatcher = InlineDispatcher(deps, workers=1, timeout_s=0.25)
    await dispatcher.start()
    try:
        with pytest.raises(FunctionCallError) as caught:
            await dispatcher.call(sleeper, SleepRequest(seconds=0.8))
        assert caught.value.error.code == "timeout"
        # The handler cannot be interrupted: it holds the only thread until it returns, so
        # the pool stays bounded and the next call waits (here: past its own timeout).
        with pytest.raises(FunctionCallError, match="timeout"):
            await dispatcher.call(sleeper, SleepRequest(seconds=0))
        assert SLEEPING.running == 1
        await asyncio.sleep(0.5)
        assert SLEEPING.running == 0
        result = await dispatcher.call(sleeper, SleepRequest(seconds=0))
    finally:
        await dispatcher.close()
    assert result.thread == "function-worker-0"


async def test_a_closed_runtime_refuses_calls(deps: Deps) -> None:
    runtime = InlineRuntime(deps, workers=1)
    await asyncio.to_thread(runtime.close)
    with pytest.raises(RuntimeError, match="closed"):
        await runtime.run("indicators", b"{}")


async def test_an_unstarted_dispatcher_is_unavailable(deps: Deps) -> None:
    dispatcher = InlineDispatcher(deps, workers=1, timeout_s=1)
    outcome = msgspec.json.decode(await dispatcher.call_raw("indicators", b"{}"), type=CallOutcome)
    assert outcome.error is not None
    assert outcome.error.code == "unavailable"
    with pytest.raises(ConnectionError):
        await dispatcher.ping()


def test_workers_must_be_positive(deps: Deps) -> None:
    with pytest.raises(ValueError, match="workers"):
        InlineRuntime(deps, workers=0)
