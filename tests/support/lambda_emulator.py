"""A local stand-in for the AWS Lambda Invoke API, serving ``functions.runtime.aws_lambda``.

Run ``python -m tests.support.lambda_emulator --port 0``: it prints ``LISTENING <port>`` once
it accepts requests. ``POST /2015-03-31/functions/<prefix><name>/invocations`` calls the
exported handler ``<name>`` with the JSON body as the event, the way Lambda does: the answer
is the handler's return value as JSON; a handler that raises gives status 200 with the
``X-Amz-Function-Error: Unhandled`` header and Lambda's error object; an unknown function is a
404 ``ResourceNotFoundException``. Invocations run one at a time, like one Lambda instance.
Settings for the handlers come from the ``QUANT_*`` environment, as in a deployed function.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from functions.registry import all_functions
from functions.runtime import aws_lambda

# Lambda's limit for a synchronous request payload.
MAX_PAYLOAD = 6 * 1024 * 1024
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


class LambdaEmulator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], function_prefix: str) -> None:
        super().__init__(address, _InvokeHandler)
        self.function_prefix = function_prefix
        self.one_at_a_time = threading.Lock()

    def handler_for(self, lambda_name: str) -> Any:
        if not lambda_name.startswith(self.function_prefix):
            return None
        name = lambda_name.removeprefix(self.function_prefix)
        if name not in {spec.name for spec in all_functions()}:
            return None
        return getattr(aws_lambda, name, None)


class _InvokeHandler(BaseHTTPRequestHandler):
    server: LambdaEmulator

    def do_POST(self) -> None:
        match = _INVOKE_PATH.match(self.path.split("?", 1)[0])
        if match is None:
            self._error(HTTPStatus.NOT_FOUND, "UnknownOperationException", self.path)
            return
        lambda_name = unquote(match["name"])
        handler = self.server.handler_for(lambda_name)
        if handler is None:
            self._error(
                HTTPStatus.NOT_FOUND,
                "ResourceNotFoundException",
                f"Function not found: arn:aws:lambda:local:000000000000:function:{lambda_name}",
            )
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if length > MAX_PAYLOAD:
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "RequestTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD} bytes for the Invoke operation",
            )
            return
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            self._send(HTTPStatus.NO_CONTENT, b"", {})
            return
        if invocation_type != "RequestResponse":
            self._error(HTTPStatus.BAD_REQUEST, "InvalidParameterValueException", invocation_type)
            return
        try:
            event = json.loads(body or b"null")
        except ValueError as exc:
            self._error(
                HTTPStatus.BAD_REQUEST,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
            )
            return
        self._invoke(handler, event)

    def _invoke(self, handler: Any, event: Any) -> None:
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        with self.server.one_at_a_time:
            try:
                answer = json.dumps(handler(event, None)).encode()
            except Exception as exc:
                headers["X-Amz-Function-Error"] = "Unhandled"
                answer = json.dumps(
                    {
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "stackTrace": traceback.format_tb(exc.__traceback__),
                    }
                ).encode()
        self._send(HTTPStatus.OK, answer, headers)

    def _error(self, status: HTTPStatus, error_type: str, message: str) -> None:
        body = json.dumps({"Type": "User", "message": message}).encode()
        self._send(status, body, {"x-amzn-ErrorType": error_type})

    def _send(self, status: HTTPStatus, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per request would drown the test output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--function-prefix", default="quant-")
    args = parser.parse_args()
    server = LambdaEmulator((args.host, args.port), args.function_prefix)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
