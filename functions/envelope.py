"""The wire format of a function call, the same for every runtime.

Request: the request Struct as JSON. Response: a ``CallOutcome`` as JSON. A result larger
than a runtime can return (Lambda: 6 MB) is written to the object store and referenced.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from functions.registry import FunctionSpec, RequestError, UnknownFunctionError, get_function
from shared.objects import ObjectNotFoundError

if TYPE_CHECKING:
    from functions.deps import Deps

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=msgspec.Struct)
Resp = TypeVar("Resp", bound=msgspec.Struct)


class CallError(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # unknown_function | invalid_request | failed | timeout | unavailable
    detail: str
    fields: list[str] = msgspec.field(default_factory=list)


class CallOutcome(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    # UNSET, not None: msgspec cannot decode ``Raw | None`` (it would accept only null).
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    result_ref: str | None = None  # object-store key holding the JSON result
    error: CallError | None = None


class FunctionCallError(Exception):
    """A call did not produce a result; ``code`` says whose fault it was."""

    def __init__(self, error: CallError) -> None:
        super().__init__(f"{error.code}: {error.detail}")
        self.error = error


_encoder = msgspec.json.Encoder()
_outcome_decoder = msgspec.json.Decoder(CallOutcome)

# Lambda answers at most 6 MB synchronously; leave room for the envelope around the result.
LAMBDA_INLINE_LIMIT = 5 * 1024 * 1024
# Dramatiq keeps results in Redis: large ones go to the object store to bound Redis memory.
DRAMATIQ_INLINE_LIMIT = 1024 * 1024


def encode_request(request: msgspec.Struct) -> bytes:
    return _encoder.encode(request)


def error_outcome(code: str, detail: str, fields: list[str] | None = None) -> bytes:
    """An encoded ``CallOutcome`` carrying an error (dispatchers report transport faults so)."""
    return _encoder.encode(CallOutcome(error=_call_error(code, detail, fields).error))


T = TypeVar("T", bound=msgspec.Struct)

# One decoder per Struct type, built on first use (registration happens at import time).
_decoders: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {}


def _decode(struct_type: type[T], data: bytes | str | msgspec.Raw) -> T:
    decoder = _decoders.get(struct_type)
    if decoder is None:
        decoder = _decoders.setdefault(struct_type, msgspec.json.Decoder(struct_type))
    value: T = decoder.decode(data)
    return value


def _field_of(exc: msgspec.ValidationError) -> list[str]:
    message = str(exc)
    marker = " - at `$."
    if marker not in message:
        return []
    path = message.split(marker, 1)[1].rstrip("`")
    # msgspec writes a dict value's key as "[...]": name the dict itself instead.
    return [path.split("[...]", 1)[0]]


async def execute(
    name: str, payload: bytes | str, deps: Deps, *, inline_limit: int | None = None
) -> bytes:
    """Decode, run, encode. Never raises for a bad request or a failing handler."""
    try:
        spec = _spec_named(name)
        request = _decode_request(spec, payload)
        response = await _run_handler(spec, request, deps)
    except FunctionCallError as exc:
        return _encoder.encode(CallOutcome(error=exc.error))
    body = _encoder.encode(response)
    if inline_limit is not None and len(body) > inline_limit:
        key = f"results/{name}/{hashlib.sha256(body).hexdigest()}.json"
        await deps.objects.put(key, body, "application/json")
        return _encoder.encode(CallOutcome(result_ref=key))
    return _encoder.encode(CallOutcome(result=msgspec.Raw(body)))


def _spec_named(name: str) -> FunctionSpec[Any, Any]:
    try:
        return get_function(name)
    except UnknownFunctionError as exc:
        raise _call_error("unknown_function", str(exc)) from None


def _decode_request(spec: FunctionSpec[Req, Any], payload: bytes | str) -> Req:
    try:
        return _decode(spec.request_type, payload)
    except msgspec.ValidationError as exc:
        log.warning("function %s: rejected request: %s", spec.name, exc)
        raise _call_error("invalid_request", str(exc), _field_of(exc)) from None
    except msgspec.DecodeError as exc:
        log.warning("function %s: malformed request: %s", spec.name, exc)
        raise _call_error("invalid_request", f"malformed JSON: {exc}") from None


async def _run_handler(spec: FunctionSpec[Req, Resp], request: Req, deps: Deps) -> Resp:
    try:
        return await spec.handler(request, deps)
    except ValueError as exc:
        # Handlers raise RequestError (a ValueError) for requests that decode but make no
        # sense; a msgspec.ValidationError from a nested convert names its field in the text.
        log.warning("function %s: request refused: %s", spec.name, exc)
        if isinstance(exc, RequestError):
            fields = exc.fields
        elif isinstance(exc, msgspec.ValidationError):
            fields = _field_of(exc)
        else:
            fields = []
        raise _call_error("invalid_request", str(exc), fields) from None
    except Exception as exc:
        log.exception("function %s failed", spec.name)
        raise _call_error("failed", f"{type(exc).__name__}: {exc}") from None


async def decode_outcome(spec: FunctionSpec[Any, Resp], data: bytes | str, deps: Deps) -> Resp:
    """Turn a runtime's answer back into the response Struct, or raise ``FunctionCallError``."""
    try:
        outcome = _outcome_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise _failed(f"unreadable answer from {spec.name}: {exc}") from None
    if outcome.error is not None:
        raise FunctionCallError(outcome.error)
    if outcome.result_ref is not None:
        try:
            body: bytes | msgspec.Raw = await deps.objects.get(outcome.result_ref)
        except ObjectNotFoundError:
            raise _failed(f"{spec.name} result {outcome.result_ref!r} is missing") from None
    elif outcome.result is not msgspec.UNSET:
        body = outcome.result
    else:
        raise _failed(f"empty answer from {spec.name}")
    try:
        return _decode(spec.response_type, body)
    except msgspec.DecodeError as exc:
        raise _failed(f"{spec.name} answered with an invalid result: {exc}") from None


def _call_error(code: str, detail: str, fields: list[str] | None = None) -> FunctionCallError:
    return FunctionCallError(CallError(code=code, detail=detail, fields=fields or []))


def _failed(detail: str) -> FunctionCallError:
    return _call_error("failed", detail)
