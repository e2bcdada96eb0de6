"""The WebSocket hub: who is subscribed to what, and one task that routes bus events to them.

Every event reaches the hub through the bus, whichever replica or worker published it, so a
client sees the same stream on any gateway replica. Ticks are the bulk: the hub keeps the
newest tick of each symbol that changed since the last flush, and on its flush tick gives each
client the symbols it subscribed to among them (picked out in C, not in a Python loop) as one
frame. So a tick costs a dictionary store per flush group however many clients want it, and
is encoded once per wire format. The clients are spread over flush groups that take turns
through the interval: each client still gets a frame once per interval, but the hub writes a
fraction of them at a time, so no tick waits behind a thousand writes and the clients' frames
do not all arrive at once. Other events go to their subscribers at once, also encoded once per
format. A watchdog sends heartbeats and closes clients that went silent, fell behind for too
long, or whose access token expired.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

import msgspec

from gateway.tasks import cancel_and_wait, follow_bus
from gateway.ws.client import Client, OutboxOverflowError, Payload
from gateway.ws.owners import AccountOwners
from gateway.ws.protocol import Channel, CloseCode, Format, IndicatorBar, ServerPing
from shared.bus import EventBus
from shared.domain import (
    AccountEvent,
    BacktestProgressEvent,
    Bar,
    BarEvent,
    Event,
    Interval,
    OrderEvent,
    PositionEvent,
    RiskEvent,
    TickEvent,
    TradeEvent,
    VenueStatusEvent,
)
from shared.indicators import LiveIndicatorSet

log = logging.getLogger(__name__)
_K = TypeVar("_K")

# Bus prefixes the hub listens to: the market, every account, every user.
BUS_PREFIXES = ("ticks.", "bars.", "account.", "user.")
# How often the hub flushes a group of clients; the flush interval sets how many groups.
FLUSH_STEP_S = 0.005
_ACCOUNT_CHANNELS: dict[type[Event], Channel] = {
    OrderEvent: Channel.ORDERS,
    TradeEvent: Channel.TRADES,
    PositionEvent: Channel.POSITIONS,
    AccountEvent: Channel.ACCOUNT,
    RiskEvent: Channel.RISK,
    VenueStatusEvent: Channel.ACCOUNT,
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
        # How many clients want each symbol's ticks.
        self._tick_keys: dict[str, int] = {}
        # The clients that want any, by flush group, and the newest tick of each subscribed
        # symbol since that group's last flush.
        interval = self.settings.flush_interval_s
        groups = max(1, round(interval / FLUSH_STEP_S)) if interval > 0 else 1
        self._groups: list[set[Client]] = [set() for _ in range(groups)]
        self._group_of: dict[Client, int] = {}
        self._changed: list[dict[str, Payload]] = [{} for _ in range(groups)]
        self._flush_scheduled = False
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

    def describe(self) -> str:
        behind = sum(client.behind_since is not None for client in self.clients.values())
        return (
            f"{len(self.clients)} clients, {behind} behind, "
            f"{self.slow_disconnects} closed as too slow"
        )

    # --- registry -------------------------------------------------------------------------------

    def register(self, client: Client) -> None:
        self.clients[client.id] = client
        self._users.setdefault(client.user.id, set()).add(client)

    def unregister(self, client: Client) -> None:
        self.clients.pop(client.id, None)
        self._remove(self._users, client.user.id, client)
        self.unsubscribe_ticks(client, list(client.tick_keys))
        for bar_key in client.bar_keys:
            self._remove(self._bars, bar_key, client)

    def subscribe_ticks(self, client: Client, keys: Iterable[str]) -> None:
        counts = self._tick_keys
        for name in keys:
            # Interned, as the routing's keys are: set lookups then match by identity.
            key = sys.intern(name)
            if key not in client.tick_keys:
                client.tick_keys.add(key)
                counts[key] = counts.get(key, 0) + 1
        client.tick_keys_changed()
        if client.tick_keys and client not in self._group_of:
            group = min(range(len(self._groups)), key=lambda index: len(self._groups[index]))
            self._groups[group].add(client)
            self._group_of[client] = group

    def unsubscribe_ticks(self, client: Client, keys: Iterable[str]) -> None:
        counts = self._tick_keys
        for key in keys:
            if key in client.tick_keys:
                client.tick_keys.discard(key)
                client.tick_outbox.pop(key, None)  # nothing may follow `unsubscribed` for it
                left = counts[key] - 1
                if left:
                    counts[key] = left
                else:
                    del counts[key]
        client.tick_keys_changed()
        if not client.tick_keys and client in self._group_of:
            self._groups[self._group_of.pop(client)].discard(client)

    def subscribe_bars(
        self,
        client: Client,
        interval: Interval,
        keys: Iterable[str],
        indicators: Mapping[str, LiveIndicatorSet] | None = None,
    ) -> None:
        """``indicators``: by key, the sets kept up to date and sent with each closed bar
        (a key without one gets its bars plain, or stops getting indicators)."""
        for key in keys:
            client.bar_keys.add((interval, key))
            live = (indicators or {}).get(key)
            if live is None:
                client.bar_indicators.pop((interval, key), None)
            else:
                client.bar_indicators[(interval, key)] = live
            self._bars.setdefault((interval, key), set()).add(client)

    def unsubscribe_bars(self, client: Client, keys: Iterable[tuple[Interval, str]]) -> None:
        for bar_key in keys:
            client.bar_keys.discard(bar_key)
            client.bar_indicators.pop(bar_key, None)
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
                key = sys.intern(f"{tick.exchange}.{tick.symbol}")
                if key in self._tick_keys:
                    payload = Payload(tick)
                    for changed in self._changed:
                        changed[key] = payload  # the newest wins
                    if not self._flush_scheduled and self.settings.flush_interval_s <= 0:
                        self._flush_scheduled = True
                        asyncio.get_running_loop().call_soon(self.flush_ticks, 0)
            case BarEvent(bar=bar):
                bar_key = (bar.interval, f"{bar.exchange}.{bar.symbol}")
                clients = self._bars.get(bar_key)
                if clients:
                    self._push_bar(clients, bar_key, bar)
            case BacktestProgressEvent(user_id=user_id):
                self._push_user(_as_user_id(user_id), Channel.BACKTESTS, event)
            case (
                OrderEvent()
                | TradeEvent()
                | PositionEvent()
                | AccountEvent()
                | RiskEvent()
                | VenueStatusEvent(account_id=str())
            ):
                channel = _ACCOUNT_CHANNELS[type(event)]
                owner = await self._owners.owner_of(_account_of(event))
                if owner is not None:
                    self._push_user(owner, channel, event)
            case _:
                pass

    def _push_bar(self, clients: set[Client], bar_key: tuple[Interval, str], bar: Bar) -> None:
        """The bar, encoded once for every client that asked for it plain; with each client's
        own indicator values for those that asked for some."""
        plain: list[Client] = []
        for client in clients:
            live = client.bar_indicators.get(bar_key)
            if live is None:
                plain.append(client)
                continue
            values = live.update(bar)
            if values is None:
                continue  # a bar the set already took (from the stored history)
            fields = msgspec.structs.asdict(bar)
            payload = Payload(IndicatorBar(**fields, indicators=values))
            self._push_all([client], Channel.BARS, payload)
        if plain:
            self._push_all(plain, Channel.BARS, Payload(bar))

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

    async def _flush_forever(self) -> None:
        """One timer for the hub, not one per client: each step flushes the next group. Steps
        keep to a fixed schedule, so the time spent flushing does not stretch the interval."""
        loop = asyncio.get_running_loop()
        step = self.settings.flush_interval_s / len(self._groups)
        due = loop.time()
        group = 0
        while True:
            due += step
            now = loop.time()
            due = max(due, now)  # fell behind: carry on from here, not in a burst
            await asyncio.sleep(due - now)
            self.flush_ticks(group)
            group = (group + 1) % len(self._groups)

    def flush_ticks(self, group: int) -> None:
        """Give each client of the group the ticks that changed among its symbols since the
        group's last flush."""
        self._flush_scheduled = False
        changed = self._changed[group]
        if not changed:
            return
        self._changed[group] = {}
        encoded: dict[Format, dict[str, msgspec.Raw]] = {}
        for client in self._groups[group]:
            raws = encoded.get(client.format)
            if raws is None:
                fmt = client.format
                raws = encoded[fmt] = {key: p.raw(fmt) for key, p in changed.items()}
            client.offer_ticks(raws)

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
        elif client.behind_since is not None and now - client.behind_since > settings.max_lag_s:
            self._drop_slow(client, f"not reading for more than {settings.max_lag_s:g} s")
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


def _account_of(
    event: OrderEvent | TradeEvent | PositionEvent | AccountEvent | RiskEvent | VenueStatusEvent,
) -> str:
    match event:
        case OrderEvent(order=order):
            return order.account_id
        case TradeEvent(trade=trade):
            return trade.account_id
        case PositionEvent(position=position):
            return position.account_id
        case AccountEvent(account=account):
            return account.account_id
        case RiskEvent(status=status):
            return status.account_id
        case VenueStatusEvent(account_id=account_id):
            return account_id or ""


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
        case RiskEvent(status=status):
            return status
        case _:
            return event


def _as_user_id(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
