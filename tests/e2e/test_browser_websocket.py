"""/ws from a real headless browser: Chromium's own `WebSocket`, as the front end uses it.

A small client (`CLIENT_JS`) is installed in a page served from the gateway's origin. It keeps
every frame a socket receives (JSON parsed; binary frames as their bytes, decoded here with
msgpack), answers the server's `ping` with `pong` as a front end must, and records the close
event the browser reports.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from shared.store import Role
from tests.support.browser import Browser, headless_chromium
from tests.support.gateway import add_user, embedded_settings
from tests.support.server import Server

pytestmark = pytest.mark.slow

PASSWORD = "browser-test-password"
IF = "CFFEX.IF2101"
HEARTBEAT_S = 0.4
IDLE_TIMEOUT_S = 2.0

CLIENT_JS = """
window.hub = (() => {
  const sockets = [];
  const settle = (state) => { for (const wake of state.waiters.splice(0)) wake(); };
  const changed = (state, ms) => new Promise((resolve) => {
    state.waiters.push(resolve);
    setTimeout(resolve, ms);
  });
  return {
    open(url, binaryType) {
      const ws = new WebSocket(url);
      if (binaryType) ws.binaryType = binaryType;
      const state = {ws, frames: [], cursor: 0, waiters: [], opened: false, close: null, pongs: 0};
      ws.onopen = () => { state.opened = true; settle(state); };
      ws.onmessage = (event) => {
        if (typeof event.data === "string") {
          const frame = JSON.parse(event.data);
          if (frame.type === "ping") {
            ws.send(JSON.stringify({type: "pong", id: frame.id}));
            state.pongs += 1;
          }
          state.frames.push({text: true, frame});
        } else {
          state.frames.push({
            text: false,
            arrayBuffer: event.data instanceof ArrayBuffer,
            bytes: Array.from(new Uint8Array(event.data)),
          });
        }
        settle(state);
      };
      ws.onclose = (event) => {
        state.close = {code: event.code, reason: event.reason, wasClean: event.wasClean};
        settle(state);
      };
      sockets.push(state);
      return sockets.length - 1;
    },
    async opened(id, ms) {
      const state = sockets[id], end = Date.now() + ms;
      while (!state.opened && !state.close && Date.now() < end) {
        await changed(state, end - Date.now());
      }
      if (!state.opened) throw new Error("socket did not open: " + JSON.stringify(state.close));
      return true;
    },
    send(id, message) { sockets[id].ws.send(JSON.stringify(message)); return true; },
    // The next received frame (of JSON `type` kind, skipping others), or throw after ms.
    async next(id, kind, ms) {
      const state = sockets[id], end = Date.now() + ms;
      for (;;) {
        while (state.cursor < state.frames.length) {
          const item = state.frames[state.cursor++];
          if (!kind || (item.text && item.frame.type === kind)) return item;
        }
        const closed = JSON.stringify(state.close);
        if (state.close) throw new Error("closed before " + kind + ": " + closed);
        if (Date.now() >= end) throw new Error("no " + kind + " within " + ms + " ms");
        await changed(state, end - Date.now());
      }
    },
    async closed(id, ms) {
      const state = sockets[id], end = Date.now() + ms;
      while (!state.close && Date.now() < end) await changed(state, end - Date.now());
      if (!state.close) throw new Error("still open after " + ms + " ms");
      return state.close;
    },
    status(id) {
      const s = sockets[id];
      return {readyState: s.ws.readyState, close: s.close, pongs: s.pongs, frames: s.frames.length};
    },
    frames(id) { return sockets[id].frames; },
    close(id) { sockets[id].ws.close(1000, "done"); return true; },
  };
})();
true
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    var_dir: Path = tmp_path_factory.mktemp("browser-ws") / "var"
    var_dir.mkdir()
    asyncio.run(add_user(embedded_settings(var_dir), "bea", PASSWORD, Role.VIEWER))
    running = Server(
        var_dir,
        QUANT_BOOTSTRAP_ADMIN="false",
        QUANT_WS_AUTH_TIMEOUT_S="2",
        QUANT_WS_HEARTBEAT_S=str(HEARTBEAT_S),
        QUANT_WS_IDLE_TIMEOUT_S=str(IDLE_TIMEOUT_S),
    )
    yield running
    output = running.stop()
    assert "internal_error" not in output, output


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    answer = httpx.post(
        f"{server.url}/api/v1/auth/token", json={"username": "bea", "password": PASSWORD}
    )
    assert answer.status_code in {200, 201}, answer.text
    value: str = answer.json()["access_token"]
    return value


@pytest.fixture
async def page(server: Server) -> AsyncIterator[Browser]:
    """A headless Chromium page on the gateway's own origin with `window.hub` installed."""
    async with headless_chromium() as browser:
        await browser.navigate(f"{server.url}/health")
        assert await browser.evaluate("location.origin") == server.url
        assert await browser.evaluate(CLIENT_JS) is True
        yield browser


def _ws_url(server: Server, **query: str) -> str:
    base = server.url.replace("http://", "ws://") + "/ws"
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


class Socket:
    """One browser WebSocket, operated through `window.hub` in the page."""

    def __init__(self, browser: Browser, socket_id: int) -> None:
        self.browser = browser
        self.id = socket_id

    @classmethod
    async def open(cls, browser: Browser, url: str, binary_type: str = "") -> Socket:
        socket_id = await browser.evaluate(
            f"hub.open({json.dumps(url)}, {json.dumps(binary_type)})"
        )
        assert isinstance(socket_id, int)
        return cls(browser, socket_id)

    async def call(self, method: str, *args: Any) -> Any:
        arguments = ", ".join(json.dumps(a) for a in (self.id, *args))
        return await self.browser.evaluate(f"hub.{method}({arguments})")

    async def next(self, kind: str = "", within: float = 5.0) -> Any:
        """The next frame (of `type` kind): a JSON object, or the bytes of a binary frame."""
        item = await self.call("next", kind, int(within * 1000))
        if item["text"]:
            return item["frame"]
        assert item["arrayBuffer"], "a binary frame must arrive as an ArrayBuffer"
        return bytes(item["bytes"])

    async def send(self, message: dict[str, Any]) -> None:
        await self.call("send", message)


async def test_browser_subscribes_to_ticks_gets_snapshot_and_updates_in_sequence(
    page: Browser, server: Server, token: str
) -> None:
    ws = await Socket.open(page, _ws_url(server, token=token))
    welcome = await ws.next()
    assert (welcome["type"], welcome["user"], welcome["format"]) == ("welcome", "bea", "json")
    assert welcome["heartbeat_s"] == HEARTBEAT_S
    await ws.send({"type": "subscribe", "channel": "ticks", "symbols": [IF], "id": "b1"})
    # The server's heartbeat `ping` may come first on a busy machine: wait for the answer.
    subscribed = await ws.next("subscribed")
    assert (subscribed["channel"], subscribed["symbols"], subscribed["id"]) == ("ticks", [IF], "b1")

    ticks: list[dict[str, Any]] = []
    while len(ticks) < 5:
        frame = await ws.next(within=10)
        assert frame["type"] in {"snapshot", "update", "ping", "pong"}, frame
        if frame["type"] in {"snapshot", "update"}:
            assert frame["channel"] == "ticks"
            ticks.extend(frame["data"])
    assert ticks
    assert {(t["exchange"], t["symbol"]) for t in ticks} == {("CFFEX", "IF2101")}
    assert all(t["last_price"] > 0 for t in ticks)

    # Every frame the browser saw on this socket, heartbeats included, is numbered 1, 2, 3...
    frames = await ws.call("frames")
    seqs = [item["frame"]["seq"] for item in frames]
    assert seqs == list(range(1, len(seqs) + 1))

    # Silent but for its pongs, the browser outlives the idle timeout: pongs keep it open.
    await asyncio.sleep(IDLE_TIMEOUT_S * 1.5)
    status = await ws.call("status")
    assert status["close"] is None, status
    assert status["readyState"] == 1  # WebSocket.OPEN
    assert status["pongs"] >= 2
    assert (await ws.next("update"))["data"][0]["symbol"] == "IF2101"  # still streaming
    await ws.call("close")
    assert (await ws.call("closed", 5000))["code"] == 1000


async def test_browser_logs_in_with_a_first_auth_message(
    page: Browser, server: Server, token: str
) -> None:
    ws = await Socket.open(page, _ws_url(server))
    await ws.call("opened", 5000)
    await ws.send({"type": "auth", "token": token})
    welcome = await ws.next()
    assert (welcome["type"], welcome["user"], welcome["seq"]) == ("welcome", "bea", 1)
    await ws.send({"type": "ping", "id": "p1"})
    pong = await ws.next("pong")
    assert pong["id"] == "p1"


async def test_browser_gets_msgpack_as_binary_arraybuffer_frames(
    page: Browser, server: Server, token: str
) -> None:
    ws = await Socket.open(page, _ws_url(server, token=token, format="msgpack"), "arraybuffer")
    raw = await ws.next()
    assert isinstance(raw, bytes)
    assert raw
    assert 0x80 <= raw[0] <= 0x8F or raw[0] in {0xDE, 0xDF}  # a msgpack map
    welcome = msgspec.msgpack.decode(raw)
    assert (welcome["type"], welcome["format"]) == ("welcome", "msgpack")
    await ws.send({"type": "subscribe", "channel": "ticks", "symbols": [IF]})  # JSON text is fine
    decoded: list[dict[str, Any]] = []
    while not any(m["type"] == "update" for m in decoded):
        frame = await ws.next(within=10)
        assert isinstance(frame, bytes)  # never a text frame on a msgpack socket
        decoded.append(msgspec.msgpack.decode(frame))
    assert decoded[0]["type"] == "subscribed"
    update = next(m for m in decoded if m["type"] == "update")
    assert update["data"][0]["symbol"] == "IF2101"
    assert [m["seq"] for m in decoded] == list(range(2, len(decoded) + 2))


@pytest.mark.parametrize(
    ("query", "reason"),
    [({"token": "not-a-jwt"}, "invalid access token"), ({}, "no access token in time")],
)
async def test_browser_sees_close_code_4401_without_a_valid_token(
    page: Browser, server: Server, query: dict[str, str], reason: str
) -> None:
    ws = await Socket.open(page, _ws_url(server, **query))
    close = await ws.call("closed", 8000)
    assert close["code"] == 4401, close
    assert reason in close["reason"]
    assert (await ws.call("status"))["frames"] == 0  # no welcome, no data
