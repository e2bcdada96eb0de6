"""A lean WebSocket client for load generation: thousands of connections on one core.

A general client library spends more per frame than the server under test; this one parses
the server's (unmasked) frames straight off the transport and hands each text payload to a
callback. Client frames are masked with a zero key, which RFC 6455 allows.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Callable

OnFrame = Callable[[bytes], None]

_TEXT, _BINARY, _CLOSE, _PING = 0x1, 0x2, 0x8, 0x9


class LeanClient(asyncio.Protocol):
    def __init__(self, on_frame: OnFrame) -> None:
        self._on_frame = on_frame
        self._buffer = bytearray()
        self._handshaken = False
        self._transport: asyncio.Transport | None = None
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._fragments = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.connected.set_result(None)  # uvloop calls this on a later turn

    def handshake(self, host: str, path: str, headers: dict[str, str]) -> None:
        assert self._transport is not None
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send_text(self, text: str) -> None:
        assert self._transport is not None
        payload = text.encode()
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | _TEXT, 0x80 | size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x80 | _TEXT, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | _TEXT, 0x80 | 127, size)
        self._transport.write(header + b"\0\0\0\0" + payload)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def pause_reading(self) -> None:
        """Stop reading the socket, as a client stuck on something else would."""
        assert self._transport is not None
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        assert self._transport is not None
        self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._handshaken:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:end]).split(b"\r\n", 1)[0]
            del buffer[: end + 4]
            if b" 101 " not in status:
                self._fail(f"handshake refused: {status.decode(errors='replace')}")
                return
            self._handshaken = True
            self.opened.set_result(None)
        self._parse(buffer)

    def _parse(self, buffer: bytearray) -> None:
        offset, end = 0, len(buffer)
        while end - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1] & 0x7F
            start = offset + 2
            if second == 126:
                if end - offset < 4:
                    break
                (second,) = struct.unpack_from("!H", buffer, offset + 2)
                start = offset + 4
            elif second == 127:
                if end - offset < 10:
                    break
                (second,) = struct.unpack_from("!Q", buffer, offset + 2)
                start = offset + 10
            if end - start < second:
                break
            payload = bytes(buffer[start : start + second])
            offset = start + second
            opcode = first & 0x0F
            if opcode == _CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                if not self.closed.done():
                    self.closed.set_result(code)
                self.close()
                break
            if opcode == _PING:
                continue  # the gateway's heartbeat is an application message, not this
            if not first & 0x80:  # a fragment: keep until the final one
                self._fragments += payload
                continue
            if opcode == 0 and self._fragments:
                payload = bytes(self._fragments) + payload
                self._fragments.clear()
            self._on_frame(payload)
        del buffer[:offset]

    def _fail(self, why: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(why))
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(1006)


async def open_lean(
    port: int,
    path: str,
    on_frame: OnFrame,
    headers: dict[str, str] | None = None,
    *,
    receive_buffer: int | None = None,
) -> LeanClient:
    """``receive_buffer`` sets SO_RCVBUF before connecting (a small one backs up sooner)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    _, client = await loop.create_connection(lambda: LeanClient(on_frame), sock=sock)
    await client.connected
    client.handshake(f"127.0.0.1:{port}", path, headers or {})
    await asyncio.wait_for(client.opened, 30)
    return client
