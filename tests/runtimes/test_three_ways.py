"""The same request on real bars, computed every way a function can run: identical answers."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from functions.envelope import (
    DRAMATIQ_INLINE_LIMIT,
    LAMBDA_INLINE_LIMIT,
    decode_outcome,
    encode_request,
)
from functions.indicators import INDICATORS, IndicatorSpec, IndicatorsRequest, IndicatorsResponse
from functions.runtime import aws_lambda
from tests.support.market_data import load_bars

if TYPE_CHECKING:
    from pathlib import Path

    from functions.deps import Deps
    from functions.dispatch import Dispatcher, InlineDispatcher

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def through_lambda_handler(event: Any, *, generic: bool = False) -> dict[str, Any]:
    if generic:
        return aws_lambda.handler({"function": "indicators", "request": event}, None)
    return aws_lambda.indicators(event, None)


async def test_every_runtime_gives_the_identical_result(
    bars_request: IndicatorsRequest,
    deps: Deps,
    inline_dispatcher: InlineDispatcher,
    dramatiq_dispatcher: Dispatcher,
    lambda_dispatcher: Dispatcher,
    lambda_environment: None,
) -> None:
    direct = await INDICATORS.handler(bars_request, deps)

    via_inline = await inline_dispatcher.call(INDICATORS, bars_request)
    via_dramatiq = await dramatiq_dispatcher.call(INDICATORS, bars_request)
    # Lambda hands the handler the parsed JSON event and serialises its answer with json.
    event = json.loads(encode_request(bars_request))
    answers = [
        json.dumps(await asyncio.to_thread(through_lambda_handler, event, generic=generic))
        for generic in (False, True)
    ]
    via_handlers = [await decode_outcome(INDICATORS, answer, deps) for answer in answers]
    via_lambda = await lambda_dispatcher.call(INDICATORS, bars_request)

    assert list(direct.columns) == [
        "sma_20",
        "ema_60",
        "rsi_14",
        "macd_12_26_9.macd",
        "macd_12_26_9.macdsignal",
        "macd_12_26_9.macdhist",
    ]
    assert len(direct.ts) == 2000
    assert sum(value is None for value in direct.columns["ema_60"]) == 59
    for name, result in [
        ("inline", via_inline),
        ("dramatiq", via_dramatiq),
        ("lambda handler", via_handlers[0]),
        ("generic lambda handler", via_handlers[1]),
        ("lambda", via_lambda),
    ]:
        assert result == direct, name


@pytest.mark.parametrize(
    ("runtime", "limit"), [("lambda", LAMBDA_INLINE_LIMIT), ("dramatiq", DRAMATIQ_INLINE_LIMIT)]
)
async def test_a_large_result_arrives_through_the_object_store(
    shared_data: Path, deps: Deps, request: pytest.FixtureRequest, runtime: str, limit: int
) -> None:
    dispatcher: Dispatcher = request.getfixturevalue(f"{runtime}_dispatcher")
    # Every SHFE au1912 minute bar with a dozen series: about 8 MB of JSON.
    periods = (5, 10, 20, 60, 120)
    request = IndicatorsRequest(
        bars=load_bars(shared_data),
        indicators=[
            *(IndicatorSpec(name="sma", params={"timeperiod": period}) for period in periods),
            *(IndicatorSpec(name="ema", params={"timeperiod": period}) for period in periods),
            IndicatorSpec(name="macd"),
        ],
    )
    before = set(await deps.objects.list("results/indicators/"))

    result = await dispatcher.call(INDICATORS, request)

    direct = await INDICATORS.handler(request, deps)
    assert len(msgspec.json.encode(direct)) > limit
    assert result == direct
    written = set(await deps.objects.list("results/indicators/")) - before
    assert len(written) == 1, f"the {runtime} runtime stored the result and sent its key"
    (key,) = written
    stored = msgspec.json.decode(await deps.objects.get(key), type=IndicatorsResponse)
    assert stored == direct
    await deps.objects.delete(key)
