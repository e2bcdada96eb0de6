"""Dispatch to AWS Lambda (or a local emulator): one Lambda function per registered function.

The Lambda function ``<lambda_function_prefix><name>`` runs ``functions.runtime.aws_lambda.<name>``
and answers with the ``CallOutcome`` as JSON. boto3 blocks, so each invoke runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, TypeVar

import boto3
import msgspec
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ReadTimeoutError,
)

from functions.envelope import decode_outcome, encode_request, error_outcome
from functions.registry import UnknownFunctionError, all_functions, get_function

if TYPE_CHECKING:
    from types_boto3_lambda.client import LambdaClient

    from functions.deps import Deps
    from functions.registry import FunctionSpec
    from shared.config import Settings

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=msgspec.Struct)
Resp = TypeVar("Resp", bound=msgspec.Struct)

_CONNECT_TIMEOUT_S = 5.0
# The function's own limit ends the call first; this only catches a silent network.
_READ_MARGIN_S = 10.0
# Lambda's own answer for a payload it cannot parse: the caller's fault.
_CALLER_ERRORS = frozenset({"InvalidRequestContentException", "RequestTooLargeException"})


class _Unhandled(msgspec.Struct):
    errorType: str = "Error"  # noqa: N815  (Lambda's field names)
    errorMessage: str = ""  # noqa: N815


class LambdaDispatcher:
    kind = "lambda"

    def __init__(self, settings: Settings, deps: Deps) -> None:
        self._settings = settings
        self._deps = deps
        self._client: LambdaClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = await asyncio.to_thread(self._new_client)

    def _new_client(self) -> LambdaClient:
        config = Config(
            connect_timeout=_CONNECT_TIMEOUT_S,
            read_timeout=self._settings.function_timeout_s + _READ_MARGIN_S,
            # An invoke is not idempotent in general: never let botocore repeat one.
            retries={"total_max_attempts": 1},
        )
        return boto3.session.Session().client(
            "lambda",
            region_name=self._settings.aws_region,
            endpoint_url=self._settings.lambda_endpoint_url,
            config=config,
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)

    def function_name(self, name: str) -> str:
        return f"{self._settings.lambda_function_prefix}{name}"

    async def ping(self) -> None:
        """A dry-run invoke of every function: checks the endpoint, the deployment and the IAM."""
        client = self._client
        if client is None:
            raise ConnectionError("the Lambda dispatcher is not started")
        for spec in all_functions():
            try:
                await asyncio.to_thread(
                    client.invoke,
                    FunctionName=self.function_name(spec.name),
                    InvocationType="DryRun",
                )
            except (BotoCoreError, ClientError) as exc:
                raise ConnectionError(f"Lambda {self.function_name(spec.name)}: {exc}") from exc

    async def call(self, spec: FunctionSpec[Req, Resp], request: Req) -> Resp:
        data = await self.call_raw(spec.name, encode_request(request))
        return await decode_outcome(spec, data, self._deps)

    async def call_raw(self, name: str, payload: bytes) -> bytes:
        client = self._client
        if client is None:
            return error_outcome("unavailable", "the Lambda dispatcher is not started")
        try:
            get_function(name)  # the deployed functions run the same code
        except UnknownFunctionError as exc:
            return error_outcome("unknown_function", str(exc))
        target = self.function_name(name)
        try:
            function_error, body = await asyncio.to_thread(self._invoke, client, target, payload)
        except (BotoCoreError, ClientError) as exc:
            return _transport_error_outcome(target, exc)
        if function_error is not None:
            return _function_error_outcome(target, function_error, body)
        return body

    @staticmethod
    def _invoke(client: LambdaClient, target: str, payload: bytes) -> tuple[str | None, bytes]:
        response = client.invoke(
            FunctionName=target, InvocationType="RequestResponse", Payload=payload
        )
        return response.get("FunctionError"), response["Payload"].read()


def _transport_error_outcome(target: str, exc: BotoCoreError | ClientError) -> bytes:
    if isinstance(exc, ReadTimeoutError):
        return error_outcome("timeout", f"Lambda {target} did not answer in time")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _CALLER_ERRORS:
            return error_outcome("invalid_request", f"Lambda {target} refused the request: {exc}")
    # Unreachable, not deployed, throttled, no permission: nothing the caller can fix.
    log.warning("Lambda %s: %s", target, exc)
    return error_outcome("unavailable", f"Lambda {target}: {exc}")


def _function_error_outcome(target: str, kind: str, body: bytes) -> bytes:
    # The handler raised (or the runtime died) instead of answering with an outcome.
    try:
        error = msgspec.json.decode(body, type=_Unhandled)
        detail = f"{error.errorType}: {error.errorMessage}"
    except msgspec.DecodeError:
        detail = body[:500].decode(errors="replace")
    log.error("Lambda %s failed (%s): %s", target, kind, detail)
    return error_outcome("failed", f"Lambda {target} failed ({kind}): {detail}")
