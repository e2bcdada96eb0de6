"""One contract for every dispatcher: inline threads, Dramatiq workers, AWS Lambda."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec
import pytest

from functions.envelope import CallOutcome, FunctionCallError, decode_outcome, encode_request
from functions.indicators import INDICATORS, IndicatorSpec, IndicatorsRequest

if TYPE_CHECKING:
    from functions.deps import Deps
    from functions.dispatch import Dispatcher

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def shorter(request: IndicatorsRequest, rows: int, *specs: IndicatorSpec) -> IndicatorsRequest:
    bars = request.bars
    return IndicatorsRequest(
        bars=msgspec.structs.replace(
            bars,
            ts=bars.ts[:rows],
            open=bars.open[:rows],
            high=bars.high[:rows],
            low=bars.low[:rows],
            close=bars.close[:rows],
            volume=bars.volume[:rows],
        ),
        indicators=list(specs) or request.indicators,
    )


async def test_ping(dispatcher: Dispatcher) -> None:
    await dispatcher.ping()


async def test_a_valid_call_returns_the_handlers_result(
    dispatcher: Dispatcher, bars_request: IndicatorsRequest, deps: Deps
) -> None:
    request = shorter(bars_request, 300)
    result = await dispatcher.call(INDICATORS, request)
    assert result == await INDICATORS.handler(request, deps)
    assert result.columns["rsi_14"][14] is not None


async def test_concurrent_calls_each_get_their_own_answer(
    dispatcher: Dispatcher, bars_request: IndicatorsRequest, deps: Deps
) -> None:
    requests = [
        shorter(bars_request, 200, IndicatorSpec(name="sma", params={"timeperiod": period}))
        for period in (2, 3, 4, 5, 6)
    ]
    results = await asyncio.gather(*(dispatcher.call(INDICATORS, r) for r in requests))
    for request, result in zip(requests, results, strict=True):
        assert result == await INDICATORS.handler(request, deps)


async def test_a_request_refused_by_the_handler_names_the_field(
    dispatcher: Dispatcher, bars_request: IndicatorsRequest
) -> None:
    request = shorter(
        bars_request,
        50,
        IndicatorSpec(name="sma"),
        IndicatorSpec(name="rsi", params={"timeperiod": 1}),
    )
    with pytest.raises(FunctionCallError) as caught:
        await dispatcher.call(INDICATORS, request)
    assert caught.value.error.code == "invalid_request"
    assert caught.value.error.fields == ["indicators[1].params.timeperiod"]


async def test_a_request_that_does_not_decode_names_the_field(
    dispatcher: Dispatcher, bars_request: IndicatorsRequest, deps: Deps
) -> None:
    document = msgspec.to_builtins(shorter(bars_request, 50))
    document["indicators"] = [{"name": "wmaa"}]
    data = await dispatcher.call_raw("indicators", msgspec.json.encode(document))
    with pytest.raises(FunctionCallError) as caught:
        await decode_outcome(INDICATORS, data, deps)
    assert caught.value.error.code == "invalid_request"
    assert caught.value.error.fields == ["indicators[0].name"]


async def test_malformed_json_is_an_invalid_request(dispatcher: Dispatcher) -> None:
    outcome = msgspec.json.decode(
        await dispatcher.call_raw("indicators", b'{"bars": '), type=CallOutcome
    )
    assert outcome.error is not None
    assert outcome.error.code == "invalid_request"


async def test_an_unknown_function_is_reported_by_name(
    dispatcher: Dispatcher, bars_request: IndicatorsRequest
) -> None:
    payload = encode_request(shorter(bars_request, 10))
    outcome = msgspec.json.decode(
        await dispatcher.call_raw("no_such_function", payload), type=CallOutcome
    )
    assert outcome.error is not None
    assert outcome.error.code == "unknown_function"
    assert "no_such_function" in outcome.error.detail
