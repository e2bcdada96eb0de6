"""Dispatch to the inline runtime: worker threads inside this process (the embedded mode)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

import msgspec

from functions.envelope import decode_outcome, encode_request, error_outcome
from functions.runtime.inline import InlineRuntime

if TYPE_CHECKING:
    from functions.deps import Deps
    from functions.registry import FunctionSpec

Req = TypeVar("Req", bound=msgspec.Struct)
Resp = TypeVar("Resp", bound=msgspec.Struct)


class InlineDispatcher:
    kind = "inline"

    def __init__(self, deps: Deps, *, workers: int, timeout_s: float) -> None:
        self._deps = deps
        self._workers = workers
        self._timeout_s = timeout_s
        self._runtime: InlineRuntime | None = None

    async def start(self) -> None:
        if self._runtime is None:
            self._runtime = InlineRuntime(self._deps, self._workers)

    async def close(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await asyncio.to_thread(runtime.close)

    async def ping(self) -> None:
        if self._runtime is None:
            raise ConnectionError("the inline dispatcher is not started")

    async def call(self, spec: FunctionSpec[Req, Resp], request: Req) -> Resp:
        data = await self.call_raw(spec.name, encode_request(request))
        return await decode_outcome(spec, data, self._deps)

    async def call_raw(self, name: str, payload: bytes) -> bytes:
        if self._runtime is None:
            return error_outcome("unavailable", "the inline dispatcher is not started")
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._runtime.run(name, payload)
        except TimeoutError:
            return error_outcome("timeout", f"{name} did not answer within {self._timeout_s}s")
