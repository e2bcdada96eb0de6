"""The dispatcher port: call a registered function somewhere and await its result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

import msgspec

if TYPE_CHECKING:
    from functions.registry import FunctionSpec

Req = TypeVar("Req", bound=msgspec.Struct)
Resp = TypeVar("Resp", bound=msgspec.Struct)


class Dispatcher(Protocol):
    """Inline (threads in this process), Dramatiq (workers on Redis) or AWS Lambda.

    ``call`` raises ``functions.envelope.FunctionCallError`` when the function reports an
    error (``invalid_request`` is the caller's fault, the rest are not) or cannot be reached
    (``unavailable``) or does not answer in time (``timeout``).
    """

    kind: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise ``ConnectionError`` when calls cannot currently be delivered."""

    async def call(self, spec: FunctionSpec[Req, Resp], request: Req) -> Resp: ...

    async def call_raw(self, name: str, payload: bytes) -> bytes:
        """Send an encoded request, return the encoded ``CallOutcome``."""
