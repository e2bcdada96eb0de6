"""One error shape for every failure: ``{"error": code, "detail": ..., "fields": [...]}``.

Malformed JSON is 400, a body or parameter that decodes but is invalid is 422 naming the
field, and an unexpected exception is a 500 that reveals nothing but a request id.
"""

from __future__ import annotations

import logging
import re
import uuid
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
)

log = logging.getLogger(__name__)

# msgspec names the offending key in the message for these two; the path is the parent object.
_NAMED_FIELD = re.compile(r"(?:missing required field|contains unknown field) `([^`]+)`")
_PATH_IN_MESSAGE = re.compile(r" - at `\$\.([^`]+)`")
# Litestar reports a missing query/header/cookie parameter only in its detail text.
_MISSING_PARAMETER = re.compile(r"Missing required (\w+) parameter '([^']+)'")


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    error: str
    detail: str | list[dict[str, str]]
    fields: list[str] = msgspec.field(default_factory=list)


class ApiError(HTTPException):
    """Raised by handlers for an expected failure with a stable machine-readable code."""

    def __init__(
        self, status_code: int, code: str, detail: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=detail)
        self.code = code
        self.fields = fields or []


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _validation_items(exc: ValidationException) -> list[dict[str, str]]:
    items: list[dict[str, str]] = []
    for raw in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(raw, dict):
            continue
        message = str(raw.get("message", ""))
        key = str(raw.get("key") or "")
        source = str(raw.get("source") or "")
        # Litestar names the whole body "data"; the real field is in msgspec's message.
        named = _NAMED_FIELD.search(message)
        path = _PATH_IN_MESSAGE.search(message)
        if named:
            parent = path.group(1) if path and path.group(1) != "data" else ""
            key = f"{parent}.{named.group(1)}" if parent else named.group(1)
        elif path:
            key = path.group(1) if key in {"", "data"} else f"{key}.{path.group(1)}"
        if key == "data" and source == "body" and message == "'data'":
            message = "a JSON request body is required"
            key = "body"
        items.append({"field": key, "source": source, "message": message})
    return items


def _is_malformed_body(exc: HTTPException) -> bool:
    return exc.status_code == HTTP_400_BAD_REQUEST and str(exc.detail).startswith(
        ("JSON is malformed", "Invalid JSON", "Malformed")
    )


def http_exception_handler(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[ErrorBody]:
    if isinstance(exc, ApiError):
        body = ErrorBody(error=exc.code, detail=exc.detail, fields=exc.fields)
        return Response(body, status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc, ValidationException):
        items = _validation_items(exc)
        missing = _MISSING_PARAMETER.search(str(exc.detail))
        if not items and missing:
            items = [{"field": missing.group(2), "source": missing.group(1), "message": "required"}]
        if items and items[0]["field"] == "body":
            body = ErrorBody(error="missing_body", detail=items[0]["message"], fields=["body"])
            return Response(body, status_code=HTTP_400_BAD_REQUEST)
        detail = "; ".join(f"{i['field']}: {i['message']}" for i in items) or str(exc.detail)
        body = ErrorBody(
            error="validation_error", detail=detail, fields=[i["field"] for i in items]
        )
        return Response(body, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
    if _is_malformed_body(exc):
        body = ErrorBody(error="malformed_body", detail=str(exc.detail), fields=["body"])
        return Response(body, status_code=HTTP_400_BAD_REQUEST)
    if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
        log.error("%s %s -> %s: %s", request.method, request.url.path, exc.status_code, exc.detail)
    body = ErrorBody(error=_code_for(exc.status_code), detail=str(exc.detail))
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def unexpected_exception_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[ErrorBody]:
    incident = uuid.uuid4().hex[:12]
    log.error(
        "unhandled error %s on %s %s",
        incident,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    body = ErrorBody(
        error="internal_error", detail=f"unexpected server error (incident {incident})"
    )
    return Response(body, status_code=HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    HTTPException: http_exception_handler,
    Exception: unexpected_exception_handler,
}
