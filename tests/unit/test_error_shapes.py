"""The error handler names the field even where Litestar only says it in prose."""

from __future__ import annotations

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.testing import RequestFactory

from gateway.errors import http_exception_handler


def _body(exc: ValidationException) -> tuple[int, dict[str, object]]:
    request: Request[object, object, object] = RequestFactory().get("/api/v1/bars")
    response = http_exception_handler(request, exc)
    return response.status_code, msgspec.to_builtins(response.content)


def test_a_missing_query_parameter_is_named() -> None:
    status, body = _body(
        ValidationException("Missing required query parameter 'symbol' for path /api/v1/bars")
    )
    assert status == 422
    assert body["fields"] == ["symbol"]
    assert body["error"] == "validation_error"


def test_a_type_error_in_a_nested_body_field_names_the_path() -> None:
    exc = ValidationException(
        "Validation failed for POST /x",
        extra=[
            {
                "message": "Expected `int`, got `str` - at `$.bars.volume[3]`",
                "key": "data",
                "source": "body",
            }
        ],
    )
    status, body = _body(exc)
    assert status == 422
    assert body["fields"] == ["bars.volume[3]"]
