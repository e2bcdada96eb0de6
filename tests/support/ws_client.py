"""Talking to a real gateway's /ws with the `websockets` library, for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.server import Server


def ws_url(server: Server, **query: str) -> str:
    base = server.url.replace("http://", "ws://") + "/ws"
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


async def any_message(ws: ClientConnection) -> Any:
    raw = await ws.recv()
    return json.loads(raw) if isinstance(raw, str) else msgspec.msgpack.decode(raw)


async def next_message(ws: ClientConnection, kind: str | None = None, within: float = 5.0) -> Any:
    """The next message (of type ``kind``), skipping heartbeats."""
    async with asyncio.timeout(within):
        while True:
            message = await any_message(ws)
            if message["type"] == "ping" and kind != "ping":
                continue
            if kind is None or message["type"] == kind:
                return message


async def drain(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


async def closed_with(ws: ClientConnection, within: float = 5.0) -> int | None:
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(drain(ws), within)
    return ws.close_code
