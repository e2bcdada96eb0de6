"""The wire format of a function call, the same for every runtime.

Request: the request Struct as JSON. Response: a ``CallOutcome`` as JSON. A result larger
than a runtime can return (Lambda: 6 MB) is written to the object store and referenced.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import msgspec

from functions.deps import Deps
from functions.registry import FunctionSpec, UnknownFunctionError, get_function

log = logging.getLogger(__name__)

Resp = TypeVar("Resp", bound=msgspec.Struct)


class CallError(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # unknown_function | invalid_request | failed | timeout | unavailable
    detail: str
    fields: list[str] = msgspec.field(default_factory=list)


class CallOutcome(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    result: msgspec.Raw | None = None
    result_ref: str | None = None  # object-store key holding the JSON result
    error: CallError | None = None


class FunctionCallError(Exception):
    """A call did not produce a result; ``code`` says whose fault it was."""

    def __init__(self, error: CallError) -> None:
        super().__init__(f"{error.code}: {error.detail}")
        self.error = error


_encoder = msgspec.json.Encoder()
_outcome_decoder = msgspec.json.Decoder(CallOutcome)


def encode_request(request: msgspec.Struct) -> bytes:
    return _encoder.encode(request)


def _field_of(exc: msgspec.ValidationError) -> list[str]:
    message = str(exc)
    marker = " - at `$."
    if marker not in message:
        return []
    return [message.split(marker, 1)[1].rstrip("`")]


async def execute(
    name: str, payload: bytes | str, deps: Deps, *, inline_limit: int | None = None
) -> bytes:
    """Decode, run, encode. Never raises for a bad request or a failing handler."""
    try:
        spec = get_function(name)
    except UnknownFunctionError as exc:
        return _error("unknown_function", str(exc))
    try:
        request = msgspec.json.decode(payload, type=spec.request_type)
    except msgspec.ValidationError as exc:
        log.warning("function %s: rejected request: %s", name, exc)
        return _error("invalid_request", str(exc), _field_of(exc))
    except msgspec.DecodeError as exc:
        log.warning("function %s: malformed request: %s", name, exc)
        return _error("invalid_request", f"malformed JSON: {exc}")
    try:
        response = await spec.handler(request, deps)
    except (ValueError, msgspec.ValidationError) as exc:
        # Handlers raise ValueError for requests that decode but make no sense.
        log.warning("function %s: request refused: %s", name, exc)
        return _error("invalid_request", str(exc), getattr(exc, "fields", []))
    except Exception as exc:
        log.exception("function %s failed", name)
        return _error("failed", f"{type(exc).__name__}: {exc}")
    body = _encoder.encode(response)
    if inline_limit is not None and len(body) > inline_limit:
        key = f"results/{name}/{_content_key(body)}.json"
        await deps.objects.put(key, body, "application/json")
        return _encoder.encode(CallOutcome(result_ref=key))
    return _encoder.encode(CallOutcome(result=msgspec.Raw(body)))


def _content_key(body: bytes) -> str:
    import hashlib  # noqa: PLC0415  (only on the large-result path)

    return hashlib.sha256(body).hexdigest()


def _error(code: str, detail: str, fields: list[str] | None = None) -> bytes:
    return _encoder.encode(CallOutcome(error=CallError(code=code, detail=detail, fields=fields or [])))


async def decode_outcome(spec: FunctionSpec[Any, Resp], data: bytes | str, deps: Deps) -> Resp:
    """Turn a runtime's answer back into the response Struct, or raise ``FunctionCallError``."""
    try:
        outcome = _outcome_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise FunctionCallError(
            CallError(code="failed", detail=f"unreadable answer from {spec.name}: {exc}")
        ) from None
    if outcome.error is not None:
        raise FunctionCallError(outcome.error)
    if outcome.result_ref is not None:
        body: bytes | msgspec.Raw = await deps.objects.get(outcome.result_ref)
    elif outcome.result is not None:
        body = outcome.result
    else:
        raise FunctionCallError(CallError(code="failed", detail=f"empty answer from {spec.name}"))
    return msgspec.json.decode(body, type=spec.response_type)
