"""Server WebSocket frames written straight into the connection's transport.

Under load the gateway writes tens of thousands of frames a second. Through ASGI each costs an
awaited ``send`` through the framework, a bytes-to-str-to-bytes round trip for text, and the
`websockets` library's frame builder; here it is a two- to ten-byte header and one
``transport.write``. `DirectFrameProtocol` is uvicorn's sans-I/O WebSocket protocol that also
offers a `DirectWire` to the app in the ASGI scope's extensions; the handshake, reading,
control frames and the closing handshake stay uvicorn's. Frames are never compressed: the
server does not offer permessage-deflate (`UVICORN_OPTIONS`), since compressing every frame
for every client costs more CPU than the bandwidth saved on the networks traders run on.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Mapping
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

EXTENSION = "quant.direct_frames"

_FIN_TEXT = 0x81
_FIN_BINARY = 0x82
_LENGTH_16 = struct.Struct("!BBH")
_LENGTH_64 = struct.Struct("!BBQ")


def frame_header(length: int, binary: bool) -> bytes:
    """RFC 6455 header of an unmasked, unfragmented server message."""
    first = _FIN_BINARY if binary else _FIN_TEXT
    if length < 126:
        return bytes((first, length))
    if length < 65_536:
        return _LENGTH_16.pack(first, 126, length)
    return _LENGTH_64.pack(first, 127, length)


class DirectWire:
    """A `gateway.ws.wire.Wire` on one uvicorn connection."""

    __slots__ = ("_protocol", "on_writable")

    def __init__(self, protocol: DirectFrameProtocol) -> None:
        self._protocol = protocol
        self.on_writable: Callable[[], None] | None = None

    def write(self, frame: bytes, binary: bool) -> bool:
        protocol = self._protocol
        # Nothing may follow a close frame, either side's; and nothing goes out before the
        # handshake's response.
        if protocol.close_sent or protocol.conn.state is not State.OPEN:
            return False
        if not protocol.handshake_complete or protocol.transport.is_closing():
            return False
        protocol.transport.write(frame_header(len(frame), binary) + frame)
        return protocol.paused  # the transport pauses us from inside `write`

    def backed_up(self) -> bool:
        return self._protocol.paused

    def abort(self) -> None:
        self._protocol.transport.abort()


class DirectFrameProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol with a `DirectWire` for the app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paused = False
        self.wire = DirectWire(self)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # None when the upgrade was refused
            scope["extensions"][EXTENSION] = {"wire": self.wire}

    def pause_writing(self) -> None:
        super().pause_writing()
        self.paused = True

    def resume_writing(self) -> None:
        super().resume_writing()
        self.paused = False
        on_writable = self.wire.on_writable
        if on_writable is not None:
            # Not from inside the transport's write-ready callback: on the next turn.
            asyncio.get_running_loop().call_soon(on_writable)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.wire.on_writable = None


def direct_wire(scope: Mapping[str, Any]) -> DirectWire | None:
    """The connection's `DirectWire` when the server is `DirectFrameProtocol`."""
    extension = scope.get("extensions", {}).get(EXTENSION)
    if not extension:
        return None
    wire = extension.get("wire")
    return wire if isinstance(wire, DirectWire) else None


# How `quant serve` (and the benchmarks, to measure the same server) runs uvicorn.
UVICORN_OPTIONS: dict[str, Any] = {
    "ws": DirectFrameProtocol,
    "ws_per_message_deflate": False,
    "ws_ping_interval": None,  # the WebSocket hub runs its own heartbeat
}
