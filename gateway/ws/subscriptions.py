"""A client's `subscribe` / `unsubscribe`: checked, applied to the hub, answered with a snapshot.

Order on the wire: `subscribed`, then the `snapshot` (latest quotes, the bars in progress),
then `update`s; no update overtakes the snapshot. Latest quotes are read just before the
subscription takes effect: a tick published during that read is superseded by the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from gateway.venues import BrokerLink
from gateway.ws.client import Client, Payload
from gateway.ws.hub import Hub
from gateway.ws.protocol import (
    MARKET_CHANNELS,
    Channel,
    ProtocolError,
    Snapshot,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    parse_market_symbol,
)
from shared.clock import utc_now
from shared.domain import Exchange, Interval, VenueStatusEvent

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger(__name__)

# Per connection: far more than a screen shows, few enough that one client cannot bloat the hub.
MAX_SYMBOLS = 2000


class SubscriptionHandler:
    def __init__(self, hub: Hub, client: Client, services: Services) -> None:
        self._hub = hub
        self._client = client
        self._services = services

    async def subscribe(self, message: Subscribe) -> None:
        client = self._client
        channel = message.channel
        if channel in MARKET_CHANNELS:
            keys = self._market_keys(message.symbols, message.id, required=True)
            if channel is Channel.TICKS:
                self._check_room(len(set(keys) - client.tick_keys), message.id)
                # Read first, then subscribe and queue both answers with no await in between,
                # so no update can overtake the snapshot.
                snapshot = await self._tick_snapshot(keys)
                self._hub.subscribe_ticks(client, keys)
                self._subscribed(message, keys)
                if snapshot is not None:
                    client.push_control(snapshot)
            else:
                interval = self._interval(message.interval, message.id)
                held = {key for iv, key in client.bar_keys if iv is interval}
                self._check_room(len(set(keys) - held), message.id)
                self._hub.subscribe_bars(client, interval, keys)
                self._subscribed(message, keys)
                self._bar_snapshot(interval, keys)
            return
        if message.symbols:
            raise ProtocolError(
                f"the {channel} channel takes no symbols: it is the signed-in user's",
                "symbols",
                message.id,
            )
        # Updates start queueing before the stored state is read, and wait until the snapshot
        # is out: none is lost in between, and one may repeat what the snapshot shows.
        client.hold(channel)
        client.channels.add(channel)
        try:
            data = await self._user_snapshot(channel)
            self._subscribed(message, [])
            client.push_control(Snapshot(channel=channel, seq=0, data=data))
        except ConnectionError as exc:
            client.channels.discard(channel)
            raise ProtocolError(
                f"the {channel} channel is unavailable: {exc}", "channel", message.id
            ) from None
        finally:
            client.release(channel)

    def unsubscribe(self, message: Unsubscribe) -> None:
        client = self._client
        channel = message.channel
        if channel is Channel.TICKS:
            keys = (
                self._market_keys(message.symbols, message.id, required=False)
                if message.symbols
                else sorted(client.tick_keys)
            )
            self._hub.unsubscribe_ticks(client, keys)
        elif channel is Channel.BARS:
            wanted = set(self._market_keys(message.symbols, message.id, required=False))
            interval = message.interval
            dropped = [
                (iv, key)
                for iv, key in client.bar_keys
                if (interval is None or iv is interval) and (not wanted or key in wanted)
            ]
            self._hub.unsubscribe_bars(client, dropped)
            keys = sorted({key for _, key in dropped})
        else:
            client.channels.discard(channel)
            keys = []
        client.push_control(
            Unsubscribed(
                channel=channel, seq=0, symbols=keys, interval=message.interval, id=message.id
            )
        )

    def _subscribed(self, message: Subscribe, keys: list[str]) -> None:
        self._client.push_control(
            Subscribed(
                channel=message.channel,
                seq=0,
                symbols=keys,
                interval=message.interval,
                id=message.id,
            )
        )

    @staticmethod
    def _market_keys(symbols: list[str], request_id: str | None, *, required: bool) -> list[str]:
        if required and not symbols:
            raise ProtocolError("name at least one EXCHANGE.symbol", "symbols", request_id)
        keys: list[str] = []
        for text in symbols:
            try:
                keys.append(parse_market_symbol(text))
            except ProtocolError as exc:
                raise ProtocolError(exc.detail, "symbols", request_id) from None
        return list(dict.fromkeys(keys))

    def _check_room(self, adding: int, request_id: str | None) -> None:
        client = self._client
        held = len(client.tick_keys) + len(client.bar_keys)
        if held + adding > MAX_SYMBOLS:
            raise ProtocolError(
                f"at most {MAX_SYMBOLS} subscriptions per connection ({held} held)",
                "symbols",
                request_id,
            )

    @staticmethod
    def _interval(interval: Interval | None, request_id: str | None) -> Interval:
        if interval is None:
            raise ProtocolError("the bars channel needs an `interval`", "interval", request_id)
        return interval

    async def _tick_snapshot(self, keys: list[str]) -> Snapshot | None:
        client = self._client
        try:
            quotes = await self._services.quotes.get_many(keys)
        except ConnectionError as exc:
            client.error("snapshot_unavailable", f"latest quotes unavailable: {exc}")
            return None
        data = [Payload(quotes[key]).raw(client.format) for key in keys if key in quotes]
        return Snapshot(channel=Channel.TICKS, seq=0, data=data)

    async def _user_snapshot(self, channel: Channel) -> list[msgspec.Raw]:
        """What the signed-in user has on ``channel`` right now, from the database."""
        state = self._services.account_state
        user_id = self._client.user.id
        values: Sequence[msgspec.Struct]
        match channel:
            case Channel.ORDERS:
                values = await state.working_orders(user_id)
            case Channel.TRADES:
                values = await state.trades_today(user_id)
            case Channel.POSITIONS:
                values = await state.open_positions(user_id)
            case Channel.ACCOUNT:
                values = [*await state.accounts(user_id), *self._venue_status(user_id)]
            case Channel.RISK:
                values = await state.risk_statuses(user_id)
            case _:
                # Backtest progress and strategies are streams of events; what ran before is
                # served by their REST endpoints.
                values = []
        fmt = self._client.format
        return [Payload(value).raw(fmt) for value in values]

    def _venue_status(self, user_id: int) -> list[VenueStatusEvent]:
        """The live venue's state, for the owner of the account it trades."""
        venue, trading = self._services.venue, self._services.trading
        if not isinstance(venue, BrokerLink) or trading is None:
            return []
        if trading.desk.owner_of(venue.account_id) != user_id:
            return []
        status = VenueStatusEvent(
            venue=venue.name,
            state=venue.state,
            detail=venue.detail,
            ts=utc_now(),
            account_id=venue.account_id,
        )
        return [status]

    def _bar_snapshot(self, interval: Interval, keys: list[str]) -> None:
        client = self._client
        bars = self._services.live_bars
        data: list[msgspec.Raw] = []
        if bars is not None:
            for key in keys:
                exchange, _, symbol = key.partition(".")
                current = bars.current(Exchange(exchange), symbol, interval)
                if current is not None:
                    data.append(Payload(current).raw(client.format))
        client.push_control(Snapshot(channel=Channel.BARS, seq=0, data=data, interval=interval))
