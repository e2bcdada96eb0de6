"""One WebSocket client's subscriptions and outbox, written to its wire without waiting.

The hub never waits on a client: it drops payloads into the outbox. The outbox keeps the newest
tick per symbol (a client that falls behind gets conflated ticks, never a growing backlog) and,
for every other channel, the payloads in order up to a bound. Ticks wait for the hub's flush
tick, so a busy stream costs one frame per flush interval whatever the tick rate; everything
else is written on the event loop's next turn, one frame per channel. While the wire is backed
up (the client is not reading fast enough) nothing is written and the outbox conflates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
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
from gateway.ws.wire import Wire
from shared.domain import Interval
from shared.indicators import LiveIndicatorSet

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

    @staticmethod
    def encoder(fmt: Format) -> Callable[[object], bytes]:
        return _json_encoder.encode if fmt == "json" else _msgpack_encoder.encode


_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()


def json_tick_update(seq: int, ticks: list[msgspec.Raw]) -> bytes:
    """The JSON `Update` of the ticks channel, byte for byte as msgspec would encode it, put
    together from the encoded ticks without walking them in Python."""
    return _JSON_TICK_UPDATE % (seq, b",".join(ticks))


_JSON_TICK_UPDATE = b'{"type":"update","channel":"ticks","seq":%d,"data":[%b]}'


class OutboxOverflowError(Exception):
    """A client let more non-tick payloads pile up than its outbox holds."""


class Client:
    """State of one authenticated connection. All methods run on the event loop."""

    def __init__(
        self,
        user: AuthUser,
        fmt: Format,
        wire: Wire,
        close: Close,
        *,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = next(_ids)
        self.user = user
        self.format: Format = fmt
        self._wire = wire
        self._binary = fmt == "msgpack"
        self._close = close
        self._max_pending = max_pending
        self._clock = clock
        self._encode = _json_encoder.encode if fmt == "json" else _msgpack_encoder.encode
        # What the client subscribed to; the hub's index mirrors these.
        self.tick_keys: set[str] = set()
        self._tick_key_list: tuple[str, ...] = ()  # the same, compact for the flush to scan
        self.bar_keys: set[tuple[Interval, str]] = set()
        # Bars subscribed with indicators: their values, kept up to date per closed bar.
        self.bar_indicators: dict[tuple[Interval, str], LiveIndicatorSet] = {}
        self.channels: set[Channel] = set()
        # The outbox.
        self._control: list[ServerMessage] = []
        # Newest tick per symbol, filled by the hub's routing loop directly (the hot path).
        self.tick_outbox: dict[str, msgspec.Raw] = {}
        self._events: dict[Channel, list[msgspec.Raw]] = {}
        self._pending_events = 0
        # Channels whose snapshot is being read: their updates wait, so none overtakes it.
        self._held: set[Channel] = set()
        self._drain_scheduled = False
        self._seq = 0
        self.last_heard = clock()
        # Since when the wire has been backed up; None while it takes frames.
        self.behind_since: float | None = None
        self.closing = False
        # Figures for /ready-style reporting and the benchmarks.
        self.ticks_delivered = 0
        self.frames_sent = 0
        self.token_expires_at = float("inf")
        wire.on_writable = self._drain

    # --- filling the outbox (the hub) ---------------------------------------------------------

    def tick_keys_changed(self) -> None:
        """The hub changed `tick_keys`."""
        self._tick_key_list = tuple(self.tick_keys)

    def offer_ticks(self, raws: Mapping[str, msgspec.Raw]) -> None:
        """The hub's flush: the newest tick of every symbol that changed. Those the client
        subscribed to are written now unless the wire is backed up; then they wait in the
        outbox, where newer ticks replace them."""
        if self.tick_outbox or self._drain_scheduled or self.behind_since is not None:
            # Behind, or a snapshot may be waiting to go first: through the outbox.
            outbox = self.tick_outbox
            for key in self._tick_key_list:
                raw = raws.get(key)
                if raw is not None:
                    outbox[key] = raw
            self._drain()
            return
        # The common case, once per client per flush: no Python-level loop over the symbols
        # (encoded ticks are never empty, so `filter` drops exactly the unchanged ones).
        ticks = list(filter(None, map(raws.get, self._tick_key_list)))
        if ticks and not self.closing:
            self.ticks_delivered += len(ticks)
            self._write(self._tick_frame(self._next(), ticks))

    def _wake(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            # On the next turn, so that a burst of pushes goes out as one frame per channel.
            asyncio.get_running_loop().call_soon(self._drain)

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

    def _drain(self) -> None:
        """Write what may go out now, each frame numbered as it is written: the order of
        ``seq`` is the order on the wire."""
        self._drain_scheduled = False
        if self.closing:
            return
        if self._wire.backed_up():
            if self.behind_since is None:
                self.behind_since = self._clock()
            return  # the wire calls `_drain` again once it has room
        self.behind_since = None
        for message in self._control:
            self._write(self._encode(self._numbered(message)))
        self._control = []
        if self._events:
            held = {ch: self._events.pop(ch) for ch in self._held if ch in self._events}
            for channel, payloads in self._events.items():
                self._write(self._encode(Update(channel=channel, seq=self._next(), data=payloads)))
            self._events = held
            self._pending_events = sum(len(payloads) for payloads in held.values())
        if self.tick_outbox:
            ticks = list(self.tick_outbox.values())
            self.tick_outbox = {}
            self.ticks_delivered += len(ticks)
            self._write(self._tick_frame(self._next(), ticks))

    def _write(self, frame: bytes) -> None:
        self.frames_sent += 1
        if self._wire.write(frame, self._binary) and self.behind_since is None:
            self.behind_since = self._clock()  # cleared when the wire has room again

    def _tick_frame(self, seq: int, ticks: list[msgspec.Raw]) -> bytes:
        if self._binary:
            return self._encode(Update(channel=Channel.TICKS, seq=seq, data=ticks))
        return json_tick_update(seq, ticks)

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

    def abort(self) -> None:
        """Drop the connection without the closing handshake."""
        self.closing = True
        self._wire.abort()
