"""Functions are registered once by name; every runtime looks them up here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from functions.deps import Deps

Req = TypeVar("Req", bound=msgspec.Struct)
Resp = TypeVar("Resp", bound=msgspec.Struct)

Handler = Callable[[Req, Deps], Awaitable[Resp]]


class RequestError(ValueError):
    """A request that decodes but makes no sense; ``fields`` names the culprits (``bars.ts[3]``).

    Field paths use the same form as msgspec's decode errors, without the leading ``$.``.
    """

    def __init__(self, message: str, *fields: str) -> None:
        super().__init__(message)
        self.fields = list(fields)


class UnknownFunctionError(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no function named {name!r}; known: {', '.join(sorted(_REGISTRY))}")
        self.name = name


@dataclass(frozen=True, slots=True)
class FunctionSpec(Generic[Req, Resp]):
    name: str
    request_type: type[Req]
    response_type: type[Resp]
    handler: Handler[Req, Resp]
    # Retrying is safe only for idempotent functions: order handlers keep 0.
    max_retries: int = 0
    description: str = ""


_REGISTRY: dict[str, FunctionSpec[Any, Any]] = {}


def function(
    name: str,
    *,
    request: type[Req],
    response: type[Resp],
    max_retries: int = 0,
) -> Callable[[Handler[Req, Resp]], FunctionSpec[Req, Resp]]:
    """Register ``async def handle(request, deps) -> response`` under ``name``."""

    def register(handler: Handler[Req, Resp]) -> FunctionSpec[Req, Resp]:
        if name in _REGISTRY:
            raise ValueError(f"function {name!r} is registered twice")
        spec = FunctionSpec(
            name=name,
            request_type=request,
            response_type=response,
            handler=handler,
            max_retries=max_retries,
            description=(handler.__doc__ or "").strip().split("\n")[0],
        )
        _REGISTRY[name] = spec
        return spec

    return register


def get_function(name: str) -> FunctionSpec[Any, Any]:
    load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownFunctionError(name) from None


def all_functions() -> list[FunctionSpec[Any, Any]]:
    load_all()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def load_all() -> None:
    """Import the modules that register functions (idempotent)."""
    import functions.catalog  # noqa: F401, PLC0415  (registration is an import side effect)
