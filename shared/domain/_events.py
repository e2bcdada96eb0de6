"""Events that cross process boundaries: one tagged union, one encoder/decoder pair per format."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from shared.domain._market import Bar, Tick
from shared.domain._time import require_aware
from shared.domain._trading import Account, Order, Position, RiskStatus, Trade


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class TickEvent(_Event, frozen=True, tag="tick"):
    tick: Tick


class BarEvent(_Event, frozen=True, tag="bar"):
    bar: Bar


class OrderEvent(_Event, frozen=True, tag="order"):
    order: Order


class TradeEvent(_Event, frozen=True, tag="trade"):
    trade: Trade


class PositionEvent(_Event, frozen=True, tag="position"):
    position: Position


class AccountEvent(_Event, frozen=True, tag="account"):
    account: Account


class RiskEvent(_Event, frozen=True, tag="risk"):
    status: RiskStatus


class ComponentState(StrEnum):
    STARTING = "starting"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


class VenueStatusEvent(_Event, frozen=True, tag="venue_status"):
    """A venue's session state; with ``account_id``, for the owner of the account it trades
    (the `account` channel)."""

    venue: str
    state: ComponentState
    ts: datetime
    detail: str = ""
    account_id: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.ts, "ts")


class BacktestProgressEvent(_Event, frozen=True, tag="backtest_progress"):
    run_id: str
    user_id: str
    progress: float  # 0..1
    state: str  # queued | running | finished | failed
    detail: str = ""


Event = (
    TickEvent
    | BarEvent
    | OrderEvent
    | TradeEvent
    | PositionEvent
    | AccountEvent
    | RiskEvent
    | VenueStatusEvent
    | BacktestProgressEvent
)

_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder: msgspec.msgpack.Decoder[Event] = msgspec.msgpack.Decoder(Event)
_json_encoder = msgspec.json.Encoder()
_json_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    """Bus format: msgpack."""
    return _msgpack_encoder.encode(event)


def decode_event(data: bytes) -> Event:
    return _msgpack_decoder.decode(data)


def encode_event_json(event: Event) -> bytes:
    """Front-end format: JSON."""
    return _json_encoder.encode(event)


def decode_event_json(data: bytes | str) -> Event:
    return _json_decoder.decode(data)


def topic_for(event: Event) -> str:  # noqa: PLR0911  (one return per event type)
    """The bus channel an event is published on; subscribers pick by prefix."""
    match event:
        case TickEvent(tick=tick):
            return f"ticks.{tick.exchange}.{tick.symbol}"
        case BarEvent(bar=bar):
            return f"bars.{bar.interval}.{bar.exchange}.{bar.symbol}"
        case OrderEvent(order=order):
            return f"account.{order.account_id}.orders"
        case TradeEvent(trade=trade):
            return f"account.{trade.account_id}.trades"
        case PositionEvent(position=position):
            return f"account.{position.account_id}.positions"
        case AccountEvent(account=account):
            return f"account.{account.account_id}.account"
        case RiskEvent(status=status):
            return f"account.{status.account_id}.risk"
        case VenueStatusEvent(venue=venue, account_id=account_id):
            return f"account.{account_id}.venue" if account_id else f"venue.{venue}"
        case BacktestProgressEvent(user_id=user_id):
            return f"user.{user_id}.backtests"
