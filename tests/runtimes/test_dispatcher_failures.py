"""What a caller sees when a runtime cannot be reached, does not answer, or breaks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
import pytest

from functions.dispatch import InlineDispatcher, open_dispatcher
from functions.envelope import FunctionCallError
from functions.indicators import INDICATORS, IndicatorSpec, IndicatorsRequest
from tests.runtimes.conftest import runtime_settings
from tests.support.market_data import first_bars
from tests.support.services import RUN_ID
from tests.support.workers import LambdaEmulatorProcess

if TYPE_CHECKING:
    from pathlib import Path

    from functions.deps import Deps
    from shared.config import Settings

pytestmark = [pytest.mark.redis, pytest.mark.slow]

# Nothing listens on port 1: connections are refused at once.
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"
CLOSED_PORT_HTTP = "http://127.0.0.1:1"


@pytest.fixture
def small_request(bars_request: IndicatorsRequest) -> IndicatorsRequest:
    bars = bars_request.bars
    return IndicatorsRequest(
        bars=first_bars(bars, 30),
        indicators=[IndicatorSpec(name="sma", params={"timeperiod": 5})],
    )


def test_open_dispatcher_builds_the_configured_kind(settings: Settings, deps: Deps) -> None:
    for kind in ("inline", "dramatiq", "lambda"):
        chosen = open_dispatcher(msgspec.structs.replace(settings, dispatcher=kind), deps)
        assert chosen.kind == kind
    assert isinstance(open_dispatcher(settings, deps), InlineDispatcher)


async def test_dramatiq_without_redis_is_unavailable(
    settings: Settings, deps: Deps, small_request: IndicatorsRequest
) -> None:
    from functions.dispatch.dramatiq import DramatiqDispatcher  # noqa: PLC0415

    dispatcher = DramatiqDispatcher(
        msgspec.structs.replace(settings, redis_url=CLOSED_PORT_REDIS), deps
    )
    await dispatcher.start()
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionError, match="unreachable"):
            await dispatcher.ping()
        with pytest.raises(FunctionCallError) as caught:
            await dispatcher.call(INDICATORS, small_request)
    finally:
        await dispatcher.close()
    assert caught.value.error.code == "unavailable"
    assert time.monotonic() - started < 5, "a dead Redis is reported quickly"


async def test_dramatiq_without_a_worker_times_out(
    redis_server: str, objects_dir: Path, deps: Deps, small_request: IndicatorsRequest
) -> None:
    from functions.dispatch.dramatiq import DramatiqDispatcher  # noqa: PLC0415

    # A namespace no worker consumes; its keys go with the run's.
    lonely = runtime_settings(
        redis_server,
        f"qtest-{RUN_ID}-noworker",
        objects_dir,
        deps.settings.database_url,
        function_timeout_s=0.3,
    )
    dispatcher = DramatiqDispatcher(lonely, deps)
    await dispatcher.start()
    started = time.monotonic()
    try:
        await dispatcher.ping()  # Redis itself is fine
        with pytest.raises(FunctionCallError) as caught:
            await dispatcher.call(INDICATORS, small_request)
    finally:
        await dispatcher.close()
    assert caught.value.error.code == "timeout"
    assert 0.25 <= time.monotonic() - started < 3


async def test_lambda_without_an_endpoint_is_unavailable(
    settings: Settings, deps: Deps, small_request: IndicatorsRequest, aws_credentials: None
) -> None:
    from functions.dispatch.aws_lambda import LambdaDispatcher  # noqa: PLC0415

    dispatcher = LambdaDispatcher(
        msgspec.structs.replace(settings, lambda_endpoint_url=CLOSED_PORT_HTTP), deps
    )
    await dispatcher.start()
    try:
        with pytest.raises(ConnectionError):
            await dispatcher.ping()
        with pytest.raises(FunctionCallError) as caught:
            await dispatcher.call(INDICATORS, small_request)
    finally:
        await dispatcher.close()
    assert caught.value.error.code == "unavailable"


async def test_lambda_function_not_deployed_is_unavailable(
    settings: Settings,
    deps: Deps,
    small_request: IndicatorsRequest,
    lambda_emulator: LambdaEmulatorProcess,
    aws_credentials: None,
) -> None:
    from functions.dispatch.aws_lambda import LambdaDispatcher  # noqa: PLC0415

    elsewhere = msgspec.structs.replace(
        settings,
        lambda_endpoint_url=lambda_emulator.endpoint_url,
        lambda_function_prefix="not-deployed-",
    )
    dispatcher = LambdaDispatcher(elsewhere, deps)
    await dispatcher.start()
    try:
        with pytest.raises(ConnectionError, match="ResourceNotFoundException"):
            await dispatcher.ping()
        with pytest.raises(FunctionCallError) as caught:
            await dispatcher.call(INDICATORS, small_request)
    finally:
        await dispatcher.close()
    assert caught.value.error.code == "unavailable"
    assert "not-deployed-indicators" in caught.value.error.detail


async def test_lambda_handler_crash_is_failed(
    settings: Settings,
    deps: Deps,
    small_request: IndicatorsRequest,
    objects_dir: Path,
    aws_credentials: None,
) -> None:
    from functions.dispatch.aws_lambda import LambdaDispatcher  # noqa: PLC0415

    # A deployment with a broken setting: the handler raises while building its deps, and
    # Lambda answers with the X-Amz-Function-Error header instead of an outcome.
    with LambdaEmulatorProcess(
        objects_dir=objects_dir, extra_settings={"QUANT_OBJECTS": "ftp"}
    ) as broken:
        dispatcher = LambdaDispatcher(
            msgspec.structs.replace(settings, lambda_endpoint_url=broken.endpoint_url), deps
        )
        await dispatcher.start()
        try:
            with pytest.raises(FunctionCallError) as caught:
                await dispatcher.call(INDICATORS, small_request)
        finally:
            await dispatcher.close()
    assert caught.value.error.code == "failed"
    assert "Unhandled" in caught.value.error.detail
    assert "SettingsError" in caught.value.error.detail
    assert "QUANT_OBJECTS" in caught.value.error.detail
