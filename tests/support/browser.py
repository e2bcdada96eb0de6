"""A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol.

No node or Playwright: the browser is started with a remote-debugging port and its page is
driven with plain CDP commands over the `websockets` library. Use `headless_chromium()`:

    async with headless_chromium() as browser:
        await browser.navigate("http://127.0.0.1:8000/health")
        assert await browser.evaluate("1 + 1") == 2

The browser always ends with the block: its process group is killed and its profile removed.
Without Chromium the test skips, or fails when QUANT_REQUIRE_SERVICES=1 (CI installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.support.services import unavailable

CHROMIUM = os.environ.get("QUANT_TEST_CHROMIUM", "/usr/bin/chromium")
START_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 30.0

_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-port=0",
]


class BrowserError(AssertionError):
    """The browser failed: it did not start, a command failed, or the JavaScript threw."""


class Browser:
    """One page of a running Chromium, reached over its DevTools WebSocket."""

    def __init__(self, page: ClientConnection, log_path: Path) -> None:
        self._page = page
        self._log_path = log_path
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def log(self) -> str:
        """What Chromium printed so far (for failure messages)."""
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    async def command(
        self, method: str, params: dict[str, Any] | None = None, *, within: float | None = None
    ) -> dict[str, Any]:
        """Send one CDP command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        request_id = self._next_id
        await self._page.send(
            json.dumps({"id": request_id, "method": method, "params": params or {}})
        )
        async with asyncio.timeout(within or COMMAND_TIMEOUT_S):
            while True:
                message = await self._receive()
                if message.get("id") != request_id:
                    self._events.append(message)
                    continue
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def wait_event(self, method: str, *, within: float | None = None) -> dict[str, Any]:
        """The first (already received or next) CDP event named ``method``; consumes it."""
        for index, event in enumerate(self._events):
            if event.get("method") == method:
                del self._events[index]
                return event
        async with asyncio.timeout(within or COMMAND_TIMEOUT_S):
            while True:
                message = await self._receive()
                if message.get("method") == method:
                    return message
                self._events.append(message)

    async def navigate(self, url: str) -> None:
        """Load ``url`` in the page and wait for its load event."""
        await self.command("Page.enable")
        self._events = [e for e in self._events if e.get("method") != "Page.loadEventFired"]
        result = await self.command("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"navigating to {url} failed: {result['errorText']}")
        await self.wait_event("Page.loadEventFired")
        self._events.clear()  # nobody asked for the page's other events

    async def evaluate(self, expression: str, *, within: float | None = None) -> Any:
        """Run JavaScript in the page; a promise is awaited. The value, or BrowserError."""
        limit = within or COMMAND_TIMEOUT_S
        result = await self.command(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            within=limit,
        )
        details = result.get("exceptionDetails")
        if details is not None:
            exception = details.get("exception", {})
            text = exception.get("description") or exception.get("value") or details.get("text")
            raise BrowserError(f"JavaScript threw: {text}")
        return result.get("result", {}).get("value")

    async def _receive(self) -> dict[str, Any]:
        raw = await self._page.recv()
        message: dict[str, Any] = json.loads(raw)
        return message


@contextlib.asynccontextmanager
async def headless_chromium() -> AsyncIterator[Browser]:
    """A fresh headless Chromium with one blank page; killed and cleaned up afterwards."""
    _require_chromium()
    work_dir = Path(tempfile.mkdtemp(prefix="quant-chromium-"))
    profile = work_dir / "profile"
    log_path = work_dir / "chromium.log"
    process: Process | None = None
    try:
        with log_path.open("wb") as log:  # a file, not a pipe: Chromium's chatter never blocks
            # A session of its own: the browser's helper processes die with it.
            process = await asyncio.create_subprocess_exec(
                CHROMIUM,
                *_FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        port = await _devtools_port(process, profile, log_path)
        page_url = await _page_target(port)
        async with connect(page_url, max_size=None, open_timeout=START_TIMEOUT_S) as page:
            yield Browser(page, log_path)
    finally:
        if process is not None:
            await _kill(process)
        shutil.rmtree(work_dir, ignore_errors=True)


def _require_chromium() -> None:
    if not Path(CHROMIUM).is_file():
        unavailable(
            "Chromium",
            f"{CHROMIUM} is missing; install Debian's browser with `apt-get install chromium`",
        )


async def _devtools_port(process: Process, profile: Path, log_path: Path) -> int:
    """Chromium writes its chosen port to DevToolsActivePort in the profile once listening."""
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise BrowserError(f"chromium exited with {process.returncode}: {_tail(log_path)}")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(active.read_text().splitlines()[0])
        await asyncio.sleep(0.05)
    raise BrowserError(
        f"chromium did not open DevTools in {START_TIMEOUT_S:g} s: {_tail(log_path)}"
    )


async def _page_target(port: int) -> str:
    """The DevTools WebSocket URL of the browser's (first) page."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                targets = (await http.get("/json/list")).json()
                for target in targets:
                    if target.get("type") == "page" and "webSocketDebuggerUrl" in target:
                        url: str = target["webSocketDebuggerUrl"]
                        return url
            await asyncio.sleep(0.05)
    raise BrowserError(f"chromium on port {port} showed no page target")


async def _kill(process: Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the group is this browser's alone
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    async with asyncio.timeout(10):
        await process.wait()


def _tail(log_path: Path, size: int = 2000) -> str:
    with contextlib.suppress(OSError):
        return log_path.read_text(encoding="utf-8", errors="replace")[-size:]
    return ""
