"""The call envelope every runtime shares: decode, run, encode, and back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import pytest

from functions import registry
from functions.deps import Deps
from functions.envelope import (
    CallError,
    CallOutcome,
    FunctionCallError,
    decode_outcome,
    encode_request,
    error_outcome,
    execute,
)
from functions.registry import FunctionSpec, RequestError, get_function
from shared.config import Settings
from shared.objects import LocalObjectStore

if TYPE_CHECKING:
    from pathlib import Path


class EchoRequest(msgspec.Struct, frozen=True):
    text: str
    repeat: int = 1
    mode: str = "echo"  # "echo" | "crash" | "refuse" | "complain"


class EchoResponse(msgspec.Struct, frozen=True):
    text: str


async def echo(request: EchoRequest, deps: Deps) -> EchoResponse:
    del deps
    match request.mode:
        case "crash":
            raise ZeroDivisionError("the handler divided by zero")
        case "refuse":
            raise RequestError("`repeat` is too large for this text", "repeat")
        case "complain":
            raise ValueError("a plain ValueError")
    return EchoResponse(text=request.text * request.repeat)


ECHO = FunctionSpec(
    name="test_echo", request_type=EchoRequest, response_type=EchoResponse, handler=echo
)


@pytest.fixture
def echo_function(monkeypatch: pytest.MonkeyPatch) -> FunctionSpec[EchoRequest, EchoResponse]:
    """A function registered for one test only (the registry is process-wide)."""
    registry.load_all()
    monkeypatch.setitem(registry._REGISTRY, ECHO.name, ECHO)
    return ECHO


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    settings = Settings(objects_dir=str(tmp_path / "objects"))
    return Deps(settings=settings, objects=LocalObjectStore(settings.objects_dir))


def outcome_of(data: bytes) -> CallOutcome:
    return msgspec.json.decode(data, type=CallOutcome)


async def test_unknown_function_names_the_known_ones(deps: Deps) -> None:
    outcome = outcome_of(await execute("no_such_function", b"{}", deps))
    assert outcome.error is not None
    assert outcome.error.code == "unknown_function"
    assert "'no_such_function'" in outcome.error.detail
    assert "indicators" in outcome.error.detail


@pytest.mark.parametrize("payload", [b"{not json", b"", b'{"text": "a"'])
async def test_malformed_json_is_an_invalid_request(
    echo_function: FunctionSpec[EchoRequest, EchoResponse], deps: Deps, payload: bytes
) -> None:
    outcome = outcome_of(await execute(echo_function.name, payload, deps))
    assert outcome.error is not None
    assert outcome.error.code == "invalid_request"
    assert outcome.error.detail.startswith("malformed JSON")


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        (b'{"text": 5}', ["text"]),
        (b'{"text": "a", "repeat": "twice"}', ["repeat"]),
        (b"{}", []),  # a missing field is named in the detail, not at a path
        (b"[1]", []),
    ],
)
async def test_invalid_request_names_the_field(
    echo_function: FunctionSpec[EchoRequest, EchoResponse],
    deps: Deps,
    payload: bytes,
    fields: list[str],
) -> None:
    outcome = outcome_of(await execute(echo_function.name, payload, deps))
    assert outcome.error is not None
    assert outcome.error.code == "invalid_request"
    assert outcome.error.fields == fields
    if payload == b"{}":
        assert "`text`" in outcome.error.detail


async def test_request_error_from_the_handler_keeps_its_fields(
    echo_function: FunctionSpec[EchoRequest, EchoResponse], deps: Deps
) -> None:
    payload = encode_request(EchoRequest(text="a", mode="refuse"))
    error = outcome_of(await execute(echo_function.name, payload, deps)).error
    assert error == CallError(
        code="invalid_request", detail="`repeat` is too large for this text", fields=["repeat"]
    )


async def test_a_plain_value_error_is_the_callers_fault_without_fields(
    echo_function: FunctionSpec[EchoRequest, EchoResponse], deps: Deps
) -> None:
    payload = encode_request(EchoRequest(text="a", mode="complain"))
    error = outcome_of(await execute(echo_function.name, payload, deps)).error
    assert error == CallError(code="invalid_request", detail="a plain ValueError", fields=[])


async def test_handler_exception_is_failed_and_logged(
    echo_function: FunctionSpec[EchoRequest, EchoResponse],
    deps: Deps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = encode_request(EchoRequest(text="a", mode="crash"))
    error = outcome_of(await execute(echo_function.name, payload, deps)).error
    assert error is not None
    assert error.code == "failed"
    assert error.detail == "ZeroDivisionError: the handler divided by zero"
    assert any(record.exc_info for record in caplog.records), "the traceback is logged"


async def test_small_result_travels_inline(
    echo_function: FunctionSpec[EchoRequest, EchoResponse], deps: Deps
) -> None:
    payload = encode_request(EchoRequest(text="ab", repeat=3))
    data = await execute(echo_function.name, payload, deps, inline_limit=1000)
    assert data == b'{"result":{"text":"ababab"}}'
    assert await deps.objects.list() == []


async def test_large_result_goes_to_the_object_store(
    echo_function: FunctionSpec[EchoRequest, EchoResponse], deps: Deps
) -> None:
    payload = encode_request(EchoRequest(text="x", repeat=5000))
    outcome = outcome_of(await execute(echo_function.name, payload, deps, inline_limit=1000))
    assert outcome.result is msgspec.UNSET
    assert outcome.result_ref is not None
    assert outcome.result_ref.startswith("results/test_echo/")
    assert await deps.objects.list("results/") == [outcome.result_ref]
    stored = msgspec.json.decode(await deps.objects.get(outcome.result_ref), type=EchoResponse)
    assert stored == EchoResponse(text="x" * 5000)
    # and the dispatcher side resolves the reference
    data = msgspec.json.encode(outcome)
    assert await decode_outcome(echo_function, data, deps) == EchoResponse(text="x" * 5000)


async def test_decode_outcome_round_trip(
    echo_function: FunctionSpec[EchoRequest, EchoResponse], deps: Deps
) -> None:
    request = EchoRequest(text="hi", repeat=2)
    data = await execute(echo_function.name, encode_request(request), deps)
    assert await decode_outcome(echo_function, data, deps) == await echo(request, deps)


async def test_decode_outcome_raises_the_functions_error(
    echo_function: FunctionSpec[EchoRequest, EchoResponse], deps: Deps
) -> None:
    data = await execute(echo_function.name, b'{"text": 1}', deps)
    with pytest.raises(FunctionCallError) as caught:
        await decode_outcome(echo_function, data, deps)
    assert caught.value.error.code == "invalid_request"
    assert caught.value.error.fields == ["text"]


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"<html>502 Bad Gateway</html>", "unreadable answer"),
        (b"{}", "empty answer"),
        (b'{"result": {"wrong": true}}', "invalid result"),
        (b'{"result": null}', "invalid result"),
        (b'{"result_ref": "results/test_echo/gone.json"}', "is missing"),
    ],
)
async def test_decode_outcome_reports_a_broken_answer_as_failed(
    echo_function: FunctionSpec[EchoRequest, EchoResponse], deps: Deps, data: bytes, detail: str
) -> None:
    with pytest.raises(FunctionCallError) as caught:
        await decode_outcome(echo_function, data, deps)
    assert caught.value.error.code == "failed"
    assert detail in caught.value.error.detail


async def test_error_outcome_is_decoded_as_that_error(deps: Deps) -> None:
    data = error_outcome("timeout", "no answer within 1s")
    with pytest.raises(FunctionCallError, match="timeout: no answer within 1s") as caught:
        await decode_outcome(get_function("indicators"), data, deps)
    assert caught.value.error == CallError(code="timeout", detail="no answer within 1s")


def test_outcome_with_a_result_omits_the_other_fields() -> None:
    encoded = msgspec.json.encode(CallOutcome(result=msgspec.Raw(b"[1,2]")))
    assert encoded == b'{"result":[1,2]}'
    result = outcome_of(encoded).result
    assert isinstance(result, msgspec.Raw)
    assert bytes(result) == b"[1,2]"
