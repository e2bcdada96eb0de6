"""What the market-data and trading sessions share: starting and stopping the API, their
state as /ready shows it, a retry timer on the loop, and request ids.

A session can be stopped and started again (the venue does so at the edges of the trading
hours); what it knows of orders and subscriptions lives on in the session object, while the
API, which the library cannot reuse after `Release`, is made anew.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gateway.venues.ctp.environment import flow_prefix
from shared.domain import ComponentState

log = logging.getLogger(__name__)


class CtpSession:
    def __init__(
        self,
        name: str,
        *,
        fronts: Sequence[str],
        flow_dir: Path,
        first_request_id: int = 1,
    ) -> None:
        if not fronts:
            raise ValueError(f"{name}: at least one front address is needed")
        self._name = name
        self._fronts = tuple(fronts)
        self._flow_dir = flow_dir
        self._request_id = first_request_id - 1
        self._retry: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._api: Any = None
        self._spi: Any = None
        self.state = ComponentState.DOWN
        self.detail = "not started"
        # Told (on the loop) after every change of state or detail.
        self.on_change: Callable[[], None] | None = None

    # --- what each session adds ---------------------------------------------------------------

    def _create_api(self, flow_prefix: str) -> Any:
        """The library's API object (CreateFtdcMdApi / CreateFtdcTraderApi)."""
        raise NotImplementedError

    def _create_spi(self, loop: asyncio.AbstractEventLoop) -> Any:
        raise NotImplementedError

    def _before_init(self, api: Any) -> None:
        """Set what must be set between RegisterSpi and Init (the trading topics)."""

    def _stopping(self) -> None:
        """Drop what the session's own tasks hold (the API is released after this)."""

    # --- start and stop -------------------------------------------------------------------------

    def start(self, api: Any = None) -> None:
        """Create the API (or use ``api``, a stand-in for the request side in tests), register
        the SPI and every front, and connect; returns at once, the rest comes by callbacks.
        With several fronts the library picks one and moves on when it fails."""
        self._loop = asyncio.get_running_loop()
        self._spi = self._create_spi(self._loop)
        if api is None:
            self._flow_dir.mkdir(parents=True, exist_ok=True)
            api = self._create_api(flow_prefix(self._flow_dir))
        api.RegisterSpi(self._spi)
        self._before_init(api)
        for front in self._fronts:
            api.RegisterFront(front)
        api.Init()
        self._api = api
        self._set(ComponentState.STARTING, f"connecting to {', '.join(self._fronts)}")

    def stop(self, detail: str = "stopped") -> None:
        self._cancel_retry()
        self._stopping()
        api, self._api = self._api, None
        self._spi = None  # callbacks still on their way to the loop are dropped
        if api is not None:
            api.RegisterSpi(None)
            api.Release()
        self._set(ComponentState.DOWN, detail)

    @property
    def spi(self) -> Any:
        return self._spi

    @property
    def started(self) -> bool:
        return self._api is not None

    # --- helpers --------------------------------------------------------------------------------

    def _set(self, state: ComponentState, detail: str) -> None:
        if (state, detail) == (self.state, self.detail):
            return
        log.info("%s: %s (%s)", self._name, detail, state)
        self.state = state
        self.detail = detail
        if self.on_change is not None:
            self.on_change()

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
