"""The WebSocket hub: who is subscribed to what, and one task that routes bus events to them.

Every event reaches the hub through the bus, whichever replica or worker published it, so a
client sees the same stream on any gateway replica. Routing is a dictionary lookup per event
and a non-blocking push per subscriber; each payload is encoded once per wire format however
many clients receive it. A watchdog sends heartbeats and closes clients that went silent,
fell behind for too long, or whose access token expired.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import msgspec

from gateway.tasks import cancel_and_wait, follow_bus
from gateway.ws.client import Client, OutboxOverflowError, Payload
from gateway.ws.owners import AccountOwners
from gateway.ws.protocol import Channel, CloseCode, Format, ServerPing
from shared.bus import EventBus
from shared.domain import (
    AccountEvent,
    BacktestProgressEvent,
    BarEvent,
    Event,
    Interval,
    OrderEvent,
    PositionEvent,
    TickEvent,
    TradeEvent,
)

log = logging.getLogger(__name__)
_K = TypeVar("_K")

# Bus prefixes the hub listens to: the market, every account, every user.
BUS_PREFIXES = ("ticks.", "bars.", "account.", "user.")
_ACCOUNT_CHANNELS: dict[type[Event], Channel] = {
    OrderEvent: Channel.ORDERS,
    TradeEvent: Channel.TRADES,
    PositionEvent: Channel.POSITIONS,
    AccountEvent: Channel.ACCOUNT,
}


class HubSettings:
    __slots__ = ("flush_interval_s", "heartbeat_s", "idle_timeout_s", "max_lag_s", "max_pending")

    def __init__(
        self,
        *,
        heartbeat_s: float = 15.0,
        idle_timeout_s: float = 45.0,
        flush_interval_s: float = 0.025,
        max_lag_s: float = 10.0,
        max_pending: int = 10_000,
    ) -> None:
        self.heartbeat_s = heartbeat_s
        self.idle_timeout_s = idle_timeout_s
        self.flush_interval_s = flush_interval_s
        self.max_lag_s = max_lag_s
        self.max_pending = max_pending


class Hub:
    def __init__(
        self,
        bus: EventBus,
        owners: AccountOwners,
        settings: HubSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus = bus
        self._owners = owners
        self.settings = settings or HubSettings()
        self._clock = clock
        self.clients: dict[int, Client] = {}
        # Tick subscribers per wire format, so each tick is encoded once per format and the
        # per-subscriber loop does nothing but hand it over.
        self._ticks: dict[Format, dict[str, set[Client]]] = {"json": {}, "msgpack": {}}
        self._due: list[Client] = []  # clients with ticks for the next flush
        self._bars: dict[tuple[Interval, str], set[Client]] = {}
        self._users: dict[int, set[Client]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()
        self.events_routed = 0
        self.slow_disconnects = 0

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._route_forever(), name="ws-hub-route"),
            asyncio.create_task(self._watch(), name="ws-hub-watchdog"),
        ]
        if self.settings.flush_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._flush_forever(), name="ws-hub-flush"))

    async def stop(self) -> None:
        for client in list(self.clients.values()):
            await self._close_quietly(client, CloseCode.GOING_AWAY, "the gateway is stopping")
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []

    # --- registry -------------------------------------------------------------------------------

    def register(self, client: Client) -> None:
        self.clients[client.id] = client
        if self.settings.flush_interval_s > 0:
            client.on_ticks = self._list_due
        self._users.setdefault(client.user.id, set()).add(client)

    def unregister(self, client: Client) -> None:
        self.clients.pop(client.id, None)
        self._remove(self._users, client.user.id, client)
        for key in client.tick_keys:
            self._remove(self._ticks[client.format], key, client)
        for bar_key in client.bar_keys:
            self._remove(self._bars, bar_key, client)

    def subscribe_ticks(self, client: Client, keys: Iterable[str]) -> None:
        index = self._ticks[client.format]
        for key in keys:
            client.tick_keys.add(key)
            index.setdefault(key, set()).add(client)

    def unsubscribe_ticks(self, client: Client, keys: Iterable[str]) -> None:
        index = self._ticks[client.format]
        for key in keys:
            client.tick_keys.discard(key)
            client.tick_outbox.pop(key, None)  # nothing may follow `unsubscribed` for it
            self._remove(index, key, client)

    def subscribe_bars(self, client: Client, interval: Interval, keys: Iterable[str]) -> None:
        for key in keys:
            client.bar_keys.add((interval, key))
            self._bars.setdefault((interval, key), set()).add(client)

    def unsubscribe_bars(self, client: Client, keys: Iterable[tuple[Interval, str]]) -> None:
        for bar_key in keys:
            client.bar_keys.discard(bar_key)
            self._remove(self._bars, bar_key, client)

    @staticmethod
    def _remove(index: dict[_K, set[Client]], key: _K, client: Client) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(client)
            if not members:
                del index[key]

    # --- routing --------------------------------------------------------------------------------

    async def _route_forever(self) -> None:
        await follow_bus(self._bus, BUS_PREFIXES, self._route, name="ws hub")

    async def _route(self, event: Event) -> None:
        self.events_routed += 1
        await self.deliver(event)

    async def deliver(self, event: Event) -> None:
        """Hand one bus event to its subscribers (never waits on a client)."""
        match event:
            case TickEvent(tick=tick):
                key = f"{tick.exchange}.{tick.symbol}"
                payload: Payload | None = None
                for fmt, index in self._ticks.items():
                    clients = index.get(key)
                    if clients:
                        payload = payload or Payload(tick)
                        raw = payload.raw(fmt)
                        # `Client.push_tick` inlined: a million of these a second under load.
                        for client in clients:
                            client.tick_outbox[key] = raw
                            if not client.listed:
                                client.list_for_flush()
            case BarEvent(bar=bar):
                clients = self._bars.get((bar.interval, f"{bar.exchange}.{bar.symbol}"))
                if clients:
                    self._push_all(clients, Channel.BARS, Payload(bar))
            case BacktestProgressEvent(user_id=user_id):
                self._push_user(_as_user_id(user_id), Channel.BACKTESTS, event)
            case OrderEvent() | TradeEvent() | PositionEvent() | AccountEvent():
                channel = _ACCOUNT_CHANNELS[type(event)]
                owner = await self._owners.owner_of(_account_of(event))
                if owner is not None:
                    self._push_user(owner, channel, event)
            case _:
                pass

    def _push_user(self, user_id: int | None, channel: Channel, event: Event) -> None:
        if user_id is None:
            return
        clients = [c for c in self._users.get(user_id, ()) if channel in c.channels]
        if clients:
            self._push_all(clients, channel, Payload(_payload_of(event)))

    def _push_all(self, clients: Iterable[Client], channel: Channel, payload: Payload) -> None:
        for client in clients:
            try:
                client.push(channel, payload)
            except OutboxOverflowError as exc:
                self._drop_slow(client, str(exc))

    def _list_due(self, client: Client) -> None:
        self._due.append(client)

    async def _flush_forever(self) -> None:
        """Every flush interval, wake the writers of the clients with ticks waiting: one timer
        for the hub, not one per client."""
        interval = self.settings.flush_interval_s
        while True:
            await asyncio.sleep(interval)
            due, self._due = self._due, []
            for client in due:
                client.flush()

    # --- watchdog -------------------------------------------------------------------------------

    async def _watch(self) -> None:
        last_ping = self._clock()
        while True:
            await asyncio.sleep(min(1.0, self.settings.heartbeat_s / 3))
            now = self._clock()
            ping = now - last_ping >= self.settings.heartbeat_s
            if ping:
                last_ping = now
            wall = time.time()
            for client in list(self.clients.values()):
                self._check(client, now, wall, ping=ping)

    def _check(self, client: Client, now: float, wall: float, *, ping: bool) -> None:
        if client.closing:
            return
        settings = self.settings
        if now - client.last_heard > settings.idle_timeout_s:
            self._close_later(
                client, CloseCode.IDLE, f"silent for more than {settings.idle_timeout_s:g} s"
            )
        elif client.send_started is not None and now - client.send_started > settings.max_lag_s:
            self._drop_slow(client, f"a send has been waiting more than {settings.max_lag_s:g} s")
        elif wall >= client.token_expires_at:
            self._close_later(
                client, CloseCode.UNAUTHENTICATED, "access token expired; send a new `auth`"
            )
        elif ping:
            client.push_control(ServerPing(seq=0, ts=wall))

    def _drop_slow(self, client: Client, why: str) -> None:
        if client.closing:
            return
        self.slow_disconnects += 1
        log.info(
            "ws: disconnecting client %d (%s): too slow, %s", client.id, client.user.username, why
        )
        self._close_later(client, CloseCode.TOO_SLOW, f"too slow: {why}")

    def _close_later(self, client: Client, code: int, reason: str) -> None:
        task = asyncio.create_task(self._close_quietly(client, code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_quietly(client: Client, code: int, reason: str) -> None:
        try:
            await client.close(code, reason)
        except Exception as exc:  # noqa: BLE001 - the socket may be gone in any of many ways
            log.debug("ws: closing client %d failed: %s", client.id, exc)


def _account_of(event: OrderEvent | TradeEvent | PositionEvent | AccountEvent) -> str:
    match event:
        case OrderEvent(order=order):
            return order.account_id
        case TradeEvent(trade=trade):
            return trade.account_id
        case PositionEvent(position=position):
            return position.account_id
        case AccountEvent(account=account):
            return account.account_id


def _payload_of(event: Event) -> msgspec.Struct:
    match event:
        case OrderEvent(order=order):
            return order
        case TradeEvent(trade=trade):
            return trade
        case PositionEvent(position=position):
            return position
        case AccountEvent(account=account):
            return account
        case _:
            return event


def _as_user_id(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
