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
from sqlalchemy.exc import SQLAlchemyError

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
from shared.domain import Bar, Exchange, Interval, VenueStatusEvent
from shared.indicators import IndicatorError, LiveIndicatorSet

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger(__name__)

# Per connection: far more than a screen shows, few enough that one client cannot bloat the hub.
MAX_SYMBOLS = 2000


# Stored bars read to seed live indicators: a few times the slowest one's warm-up (EMA-like
# indicators settle as the seed's influence fades), within bounds.
_SEED_MIN_BARS = 300
_SEED_MAX_BARS = 5_000
_BAR_FIELDS = (
    "symbol",
    "exchange",
    "interval",
    "start",
    "trading_day",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "turnover",
    "open_interest",
)


class SubscriptionHandler:
    def __init__(self, hub: Hub, client: Client, services: Services) -> None:
        self._hub = hub
        self._client = client
        self._services = services

    async def subscribe(self, message: Subscribe) -> None:
        client = self._client
        channel = message.channel
        if message.indicators and channel is not Channel.BARS:
            raise ProtocolError("only the bars channel takes indicators", "indicators", message.id)
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
                live = await self._live_indicators(message, interval, keys)
                self._hub.subscribe_bars(client, interval, keys, live)
                self._subscribed(message, keys)
                self._bar_snapshot(interval, keys)
            return
        if message.indicators:
            raise ProtocolError("only the bars channel takes indicators", "indicators", message.id)
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

    async def _live_indicators(
        self, message: Subscribe, interval: Interval, keys: list[str]
    ) -> dict[str, LiveIndicatorSet]:
        """One set per symbol, seeded with the stored history so that the values are
        defined from the first live bar (a symbol without stored bars starts cold)."""
        if not message.indicators:
            return {}
        try:
            LiveIndicatorSet(message.indicators)  # checked once, before anything is read
        except IndicatorError as exc:
            raise ProtocolError(str(exc), exc.field, message.id) from None
        sets: dict[str, LiveIndicatorSet] = {}
        for key in keys:
            live = LiveIndicatorSet(message.indicators)
            exchange, _, symbol = key.partition(".")
            wanted = min(max(4 * live.lookback, _SEED_MIN_BARS), _SEED_MAX_BARS)
            try:
                frame = await self._services.bars.load(
                    Exchange(exchange), symbol, interval, limit=wanted
                )
            except (ConnectionError, OSError, SQLAlchemyError) as exc:
                log.warning("ws: no stored history for %s %s indicators: %s", key, interval, exc)
            else:
                live.seed(Bar(**row) for row in frame.select(_BAR_FIELDS).iter_rows(named=True))
            sets[key] = live
        return sets

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
