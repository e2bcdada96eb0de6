"""The Lambda entry points in this process, called the way the Lambda runtime calls them."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from functions.envelope import CallOutcome, decode_outcome, encode_request
from functions.indicators import INDICATORS, IndicatorSpec, IndicatorsRequest
from functions.registry import all_functions
from functions.runtime import aws_lambda
from shared.config import SettingsError

if TYPE_CHECKING:
    from functions.deps import Deps


def outcome_of(answer: dict[str, Any]) -> CallOutcome:
    # What the Lambda runtime does with the return value: json.dumps.
    return msgspec.json.decode(json.dumps(answer), type=CallOutcome)


def test_every_registered_function_has_an_entry_point() -> None:
    for spec in all_functions():
        entry_point = getattr(aws_lambda, spec.name, None)
        assert callable(entry_point), f"functions.runtime.aws_lambda.{spec.name} is missing"
        assert entry_point.__name__ == spec.name


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ([1, 2], "function"),
        ({"request": {}}, "function"),
        ({"function": 7, "request": {}}, "function"),
        ({"function": "indicators"}, "request"),
    ],
)
async def test_the_generic_handler_names_what_is_wrong_with_the_event(
    event: Any, field: str, lambda_environment: None
) -> None:
    outcome = outcome_of(await asyncio.to_thread(aws_lambda.handler, event, None))
    assert outcome.error is not None
    assert outcome.error.code == "invalid_request"
    assert outcome.error.fields == [field]


async def test_the_generic_handler_reports_an_unknown_function(lambda_environment: None) -> None:
    event = {"function": "no_such_function", "request": {}}
    outcome = outcome_of(await asyncio.to_thread(aws_lambda.handler, event, None))
    assert outcome.error is not None
    assert outcome.error.code == "unknown_function"


async def test_an_event_that_is_not_a_request_is_an_invalid_request(
    lambda_environment: None,
) -> None:
    outcome = outcome_of(await asyncio.to_thread(aws_lambda.indicators, "sma please", None))
    assert outcome.error is not None
    assert outcome.error.code == "invalid_request"


async def test_deps_are_built_once_per_cold_start(
    bars_request: IndicatorsRequest, deps: Deps, lambda_environment: None
) -> None:
    request = IndicatorsRequest(
        bars=bars_request.bars, indicators=[IndicatorSpec(name="rsi", params={"timeperiod": 7})]
    )
    event = json.loads(encode_request(request))
    for _ in range(3):
        answer = await asyncio.to_thread(aws_lambda.indicators, event, None)
        assert await decode_outcome(INDICATORS, json.dumps(answer), deps) == (
            await INDICATORS.handler(request, deps)
        )
    cache = aws_lambda.deps_from_environment.cache_info()
    assert (cache.misses, cache.hits) == (1, 2)


async def test_a_broken_setting_raises_so_that_lambda_reports_a_function_error(
    monkeypatch: pytest.MonkeyPatch, lambda_environment: None
) -> None:
    monkeypatch.setenv("QUANT_OBJECTS", "ftp")
    with pytest.raises(SettingsError, match="QUANT_OBJECTS"):
        await asyncio.to_thread(aws_lambda.indicators, {}, None)
