"""What the market-data and trading sessions share: their state as /ready shows it, a retry
timer on the loop, and request ids."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from shared.domain import ComponentState

log = logging.getLogger(__name__)


class CtpSession:
    def __init__(self, name: str, *, first_request_id: int = 1) -> None:
        self._name = name
        self._request_id = first_request_id - 1
        self._retry: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.state = ComponentState.DOWN
        self.detail = "not started"

    def _set(self, state: ComponentState, detail: str) -> None:
        if (state, detail) != (self.state, self.detail):
            log.info("%s: %s (%s)", self._name, detail, state)
        self.state = state
        self.detail = detail

    def _retry_after(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` on the loop after ``delay``, replacing any retry already set."""
        assert self._loop is not None, "the session is not started"
        self._cancel_retry()

        def run() -> None:
            self._retry = None
            action()

        self._retry = self._loop.call_later(delay, run)

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id
