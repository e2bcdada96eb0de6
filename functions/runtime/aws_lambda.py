"""AWS Lambda entry points: ``functions.runtime.aws_lambda.<name>`` for each function.

The event of a per-function handler is the request object itself; the generic ``handler``
takes ``{"function": name, "request": {...}}``. Both answer with the ``CallOutcome`` as a JSON
object. A result too large for a Lambda response goes to the object store and is referenced.
Deps are built once per cold start from the environment (``QUANT_*`` variables).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import msgspec

from functions.deps import Deps, build_deps
from functions.envelope import LAMBDA_INLINE_LIMIT, error_outcome, execute
from functions.registry import load_all
from shared.config import load_settings
from shared.memory_reuse import reuse_freed_memory

reuse_freed_memory()
# Import every function now, in Lambda's init phase, rather than in the first invocation.
load_all()

LambdaHandler = Callable[[Any, Any], dict[str, Any]]

_encoder = msgspec.json.Encoder()
_outcome_as_object = msgspec.json.Decoder(dict[str, Any])


@functools.cache
def deps_from_environment() -> Deps:
    """The deps of this process (one Lambda instance). A settings error is not cached: it
    raises on every invocation, which Lambda reports as a function error."""
    return build_deps(load_settings())


def make_handler(name: str) -> LambdaHandler:
    def handle(event: Any, context: Any) -> dict[str, Any]:
        del context  # deadlines are Lambda's business; the function has none of its own
        return _invoke(name, _encoder.encode(event))

    handle.__name__ = handle.__qualname__ = name
    handle.__doc__ = f"Lambda entry point of the {name!r} function."
    return handle


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Generic entry point: ``{"function": "<name>", "request": {...}}``."""
    del context
    if not isinstance(event, dict) or not isinstance(event.get("function"), str):
        detail = 'the event must be {"function": "<name>", "request": {...}}'
        return _outcome_as_object.decode(error_outcome("invalid_request", detail, ["function"]))
    if "request" not in event:
        detail = "the event has no `request`"
        return _outcome_as_object.decode(error_outcome("invalid_request", detail, ["request"]))
    return _invoke(event["function"], _encoder.encode(event["request"]))


def _invoke(name: str, payload: bytes) -> dict[str, Any]:
    deps = deps_from_environment()
    # One invocation at a time per Lambda instance: a fresh loop per call is cheap and clean.
    outcome = asyncio.run(execute(name, payload, deps, inline_limit=LAMBDA_INLINE_LIMIT))
    return _outcome_as_object.decode(outcome)


# One exported handler per registered function; functions.catalog lists them all and
# tests/runtimes check that none is missing here.
indicators = make_handler("indicators")
orders = make_handler("orders")
backtests = make_handler("backtests")
backtest_chunk = make_handler("backtest_chunk")
walk_forward = make_handler("walk_forward")
