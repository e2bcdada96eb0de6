"""How a client's frames reach its socket.

A `Client` writes whole frames, synchronously, and never waits: the wire either takes the frame
at once or says it is backed up, and then the client keeps its outbox (conflating ticks) until
the wire calls ``on_writable``. Two wires exist: the direct one writes WebSocket frames straight
into the connection's transport (`gateway.ws.direct`, under `quant serve`), and `AsgiWire`
goes through the ASGI ``send`` of whatever server runs the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)

AsgiSend = Callable[[bytes, bool], Awaitable[None]]


class Wire(Protocol):
    on_writable: Callable[[], None] | None

    def write(self, frame: bytes, binary: bool) -> bool:
        """Send one message: text (UTF-8 JSON) or binary (msgpack). True when the wire is
        backed up after it."""

    def backed_up(self) -> bool:
        """True while earlier frames are still waiting to leave: write no more now."""

    def abort(self) -> None:
        """Drop the connection at once (a client that does not read its close frame)."""


class AsgiWire:
    """Frames through the server's ASGI ``send``, one at a time from a task of its own.

    Backed up while a send is under way: a fast client finishes it within one turn of the
    event loop; a client that stops reading leaves it hanging, and its ticks conflate.
    """

    __slots__ = ("_frames", "_send", "_task", "on_writable")

    def __init__(self, send: AsgiSend) -> None:
        self._send = send
        self._frames: deque[tuple[bytes, bool]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.on_writable: Callable[[], None] | None = None

    def write(self, frame: bytes, binary: bool) -> bool:
        self._frames.append((frame, binary))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ws-asgi-wire")
        return True

    def backed_up(self) -> bool:
        return self._task is not None

    def abort(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._frames.clear()

    async def _run(self) -> None:
        try:
            while self._frames:
                frame, binary = self._frames.popleft()
                await self._send(frame, binary)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed send means the socket is gone
            log.debug("ws: send failed, the socket is gone: %s", exc)
            self._frames.clear()
            return  # stays backed up: nothing more is written to a dead socket
        self._task = None
        if self.on_writable is not None:
            self.on_writable()

    async def aclose(self) -> None:
        """Stop the sending task (the connection is over)."""
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
