"""One WebSocket client's subscriptions and outbox, and the task that writes to its socket.

The hub never waits on a client: it drops payloads into the outbox and wakes the writer. The
outbox keeps the newest tick per symbol (a client that falls behind gets conflated ticks, never
a growing backlog) and, for every other channel, the payloads in order up to a bound. Ticks
wait for the hub's flush tick, so a busy stream costs one frame per flush interval whatever the
tick rate; everything else wakes the writer at once. The writer sends whatever is pending as
one frame per channel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from itertools import count

import msgspec

from gateway.auth.identity import AuthUser
from gateway.ws.protocol import (
    Channel,
    ErrorMessage,
    Format,
    ServerMessage,
    Update,
)
from shared.domain import Interval

Send = Callable[[str | bytes], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]

_ids = count(1)


class Payload:
    """One event's payload, encoded at most once per wire format whatever the fan-out."""

    __slots__ = ("_json", "_msgpack", "value")

    def __init__(self, value: msgspec.Struct) -> None:
        self.value = value
        self._json: msgspec.Raw | None = None
        self._msgpack: msgspec.Raw | None = None

    def raw(self, fmt: Format) -> msgspec.Raw:
        if fmt == "json":
            if self._json is None:
                self._json = msgspec.Raw(_json_encoder.encode(self.value))
            return self._json
        if self._msgpack is None:
            self._msgpack = msgspec.Raw(_msgpack_encoder.encode(self.value))
        return self._msgpack


_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()


class OutboxOverflowError(Exception):
    """A client let more non-tick payloads pile up than its outbox holds."""


class Client:
    """State of one authenticated connection. All methods run on the event loop."""

    def __init__(
        self,
        user: AuthUser,
        fmt: Format,
        send: Send,
        close: Close,
        *,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = next(_ids)
        self.user = user
        self.format: Format = fmt
        self._send = send
        self._close = close
        self._max_pending = max_pending
        self._clock = clock
        self._encode = _json_encoder.encode if fmt == "json" else _msgpack_encoder.encode
        # What the client subscribed to; the hub's index mirrors these.
        self.tick_keys: set[str] = set()
        self.bar_keys: set[tuple[Interval, str]] = set()
        self.channels: set[Channel] = set()
        # The outbox.
        self._control: list[ServerMessage] = []
        # Newest tick per symbol, filled by the hub's routing loop directly (the hot path).
        self.tick_outbox: dict[str, msgspec.Raw] = {}
        self._events: dict[Channel, list[msgspec.Raw]] = {}
        self._pending_events = 0
        # Channels whose snapshot is being read: their updates wait, so none overtakes it.
        self._held: set[Channel] = set()
        # Set while the writer waits for something to send; the first push completes it.
        self._waiter: asyncio.Future[None] | None = None
        # Ticks go out on the hub's flush tick: the first tick since the last flush calls
        # ``on_ticks`` (the hub lists the client for its next flush); None sends at once.
        self.on_ticks: Callable[[Client], None] | None = None
        self.listed = False
        self._flush_due = False
        self._seq = 0
        self.last_heard = clock()
        self.send_started: float | None = None
        self.closing = False
        # Figures for /ready-style reporting and the benchmarks.
        self.ticks_delivered = 0
        self.frames_sent = 0
        self.token_expires_at = float("inf")

    # --- filling the outbox (the hub) ---------------------------------------------------------

    def push_tick(self, key: str, raw: msgspec.Raw) -> None:
        """One tick; the hub's routing loop does the same inline (see `Hub.deliver`)."""
        self.tick_outbox[key] = raw  # the newest tick per symbol wins
        if not self.listed:
            self.list_for_flush()

    def list_for_flush(self) -> None:
        self.listed = True
        if self.on_ticks is not None:
            self.on_ticks(self)
        else:
            self.flush()

    def flush(self) -> None:
        """Send the pending ticks now (the hub's flush tick)."""
        self.listed = False
        self._flush_due = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # cancelled with the writer when the socket closed
                waiter.set_result(None)

    def push(self, channel: Channel, payload: Payload) -> None:
        """Queue a payload that must not be conflated (bars, orders, trades...)."""
        if self._pending_events >= self._max_pending:
            raise OutboxOverflowError(f"more than {self._max_pending} messages waiting")
        self._events.setdefault(channel, []).append(payload.raw(self.format))
        self._pending_events += 1
        self._wake()

    def push_control(self, message: ServerMessage) -> None:
        """Queue a connection-level message; its ``seq`` is set when it is sent."""
        self._control.append(message)
        self._wake()

    def error(
        self, error: str, detail: str, field: str | None = None, request_id: str | None = None
    ) -> None:
        self.push_control(
            ErrorMessage(seq=0, error=error, detail=detail, field=field, id=request_id)
        )

    def hold(self, channel: Channel) -> None:
        self._held.add(channel)

    def release(self, channel: Channel) -> None:
        self._held.discard(channel)
        if self._events.get(channel):
            self._wake()

    @property
    def pending(self) -> int:
        return len(self._control) + len(self.tick_outbox) + self._pending_events

    # --- writing --------------------------------------------------------------------------------

    async def run_writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not (self._control or self._flush_due or self._sendable_events()):
                self._waiter = loop.create_future()
                await self._waiter
            for frame in self._take_frames():
                self.send_started = self._clock()
                await self._send(frame)
                self.frames_sent += 1
            self.send_started = None

    def _sendable_events(self) -> bool:
        return any(channel not in self._held for channel in self._events)

    def _take_frames(self) -> list[bytes]:
        frames = [self._encode(self._numbered(message)) for message in self._control]
        self._control = []
        if self._events:
            held = {ch: self._events.pop(ch) for ch in self._held if ch in self._events}
            for channel, payloads in self._events.items():
                update = Update(channel=channel, seq=self._next(), data=payloads)
                frames.append(self._encode(update))
            self._events = held
            self._pending_events = sum(len(payloads) for payloads in held.values())
        self._flush_due = False
        if self.tick_outbox:
            ticks = list(self.tick_outbox.values())
            self.tick_outbox = {}
            self.ticks_delivered += len(ticks)
            frames.append(self._encode(Update(channel=Channel.TICKS, seq=self._next(), data=ticks)))
        return frames

    def _numbered(self, message: ServerMessage) -> ServerMessage:
        return msgspec.structs.replace(message, seq=self._next())

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    async def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        await self._close(code, reason)
