"""An open-loop HTTP/1.1 load generator for the REST benchmarks.

Requests go out on a fixed schedule whatever the server's pace, and each one's latency counts
from when it was *due*, not from when a connection was free: a server that falls behind shows
it in the figures (no coordinated omission). The client is a few lines over asyncio streams
with keep-alive, so that it costs the shared CPU far less than the server it measures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, headers: bytes, body: bytes = b""
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
        self._writer.write(head.encode() + headers + b"\r\n" + body)
        status_line = await self._reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while (line := await self._reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length) if length else b""

    def close(self) -> None:
        self._writer.close()


def header_block(headers: dict[str, str]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()


Call = Callable[[HttpConnection, int], Awaitable[int]]


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    sent: int = 0
    seconds: float = 0.0  # from the first request due to the last answered
    scheduled_seconds: float = 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def rate(self) -> float:
        """Requests answered per second of the schedule: the offered rate when the server
        kept up (its lag shows in the latencies, which count from when each was due)."""
        answered = sum(count for status, count in self.statuses.items() if status < 500)
        return answered / self.scheduled_seconds


async def open_loop(
    host: str, port: int, call: Call, *, rate: float, seconds: float, connections: int
) -> LoadResult:
    """``call(connection, n)`` for n = 0, 1, ... at ``rate`` a second for ``seconds``; it
    returns the response status."""
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    opened = [await HttpConnection.open(host, port) for _ in range(connections)]
    for connection in opened:
        pool.put_nowait(connection)
    result = LoadResult()
    total = int(rate * seconds)
    start = time.perf_counter()

    async def one(n: int, due: float) -> None:
        connection = await pool.get()
        try:
            status = await call(connection, n)
        finally:
            pool.put_nowait(connection)
        result.latencies_ms.append((time.perf_counter() - due) * 1000)
        result.statuses[status] = result.statuses.get(status, 0) + 1

    tasks: set[asyncio.Task[None]] = set()
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(n, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        result.sent += 1
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - start
    result.scheduled_seconds = total / rate
    for connection in opened:
        connection.close()
    return result


def json_body(value: object) -> bytes:
    return msgspec.json.encode(value)
