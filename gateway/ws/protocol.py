"""The `/ws` protocol as msgspec types: what a client may send and what the server sends.

Every server frame is an object with `type`, `channel` (empty for connection-level frames), a
per-connection `seq` that increases by one per frame, and, for market and account data, `data`:
a list of payloads (ticks, bars, orders...). Frames are JSON text by default and msgpack binary
when the client asked for it (``?format=msgpack`` or ``"format"`` in its ``auth`` message).
docs/websocket.md shows an example of every message.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

import msgspec

from shared.domain import Bar, Exchange, Interval
from shared.indicators import LiveIndicatorSpec


class Channel(StrEnum):
    TICKS = "ticks"
    BARS = "bars"
    ORDERS = "orders"
    TRADES = "trades"
    POSITIONS = "positions"
    ACCOUNT = "account"
    RISK = "risk"
    BACKTESTS = "backtests"
    STRATEGIES = "strategies"


MARKET_CHANNELS = frozenset({Channel.TICKS, Channel.BARS})
Format = Literal["json", "msgpack"]


class CloseCode:
    """WebSocket close codes the server uses (4000-4999 are the application's)."""

    BAD_REQUEST = 4400  # the connection's query parameters are wrong (e.g. `format`)
    UNAUTHENTICATED = 4401  # no valid access token within the grace period
    FORBIDDEN = 4403  # the token's user is disabled or no longer exists
    IDLE = 4408  # the client stayed silent past the heartbeat timeout
    TOO_SLOW = 4429  # the client fell behind for too long
    GOING_AWAY = 1001  # the gateway is shutting down


# --- client -> server --------------------------------------------------------------------------


class _ClientMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    id: str | None = None  # echoed in the answer, so a client can match replies to requests


class Auth(_ClientMessage, frozen=True, tag="auth"):
    token: str
    format: Format | None = None


class Subscribe(_ClientMessage, frozen=True, tag="subscribe"):
    channel: Channel
    symbols: list[str] = []
    interval: Interval | None = None  # the `bars` channel only
    # The `bars` channel only: indicators kept up to date with each closed bar and sent with
    # it (the live ones: sma, ema, wma, rsi, macd, atr, bbands, kdj, supertrend).
    indicators: list[LiveIndicatorSpec] = []


class IndicatorBar(Bar, frozen=True, kw_only=True):
    """A closed bar with the values of the indicators the client asked for, by column name
    (`sma_20`, `macd_12_26_9.macdsignal`); null before an indicator is defined."""

    indicators: dict[str, float | None]


class Unsubscribe(_ClientMessage, frozen=True, tag="unsubscribe"):
    channel: Channel
    symbols: list[str] = []  # empty: every symbol of the channel
    interval: Interval | None = None


class Ping(_ClientMessage, frozen=True, tag="ping"):
    pass


class Pong(_ClientMessage, frozen=True, tag="pong"):
    pass


ClientMessage = Auth | Subscribe | Unsubscribe | Ping | Pong

_json_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)
_msgpack_decoder: msgspec.msgpack.Decoder[ClientMessage] = msgspec.msgpack.Decoder(ClientMessage)
_FIELD = re.compile(r"at `\$\.(\w+)")


class ProtocolError(ValueError):
    """A client message the server cannot act on; ``field`` names the culprit when known."""

    def __init__(self, detail: str, field: str | None = None, request_id: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.request_id = request_id


def decode_client_message(data: str | bytes) -> ClientMessage:
    """A text frame is JSON, a binary frame msgpack. Raises ProtocolError naming the field."""
    try:
        if isinstance(data, str):
            return _json_decoder.decode(data)
        return _msgpack_decoder.decode(data)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _FIELD.search(message)
        raise ProtocolError(message, match.group(1) if match else None) from None
    except msgspec.DecodeError as exc:
        kind = "JSON" if isinstance(data, str) else "msgpack"
        raise ProtocolError(f"not a {kind} message: {exc}") from None


_SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,31}")
_EXCHANGES = frozenset(exchange.value for exchange in Exchange)


def parse_market_symbol(text: str) -> str:
    """``EXCHANGE.symbol`` checked and returned as the key ticks and quotes use."""
    exchange, dot, symbol = text.partition(".")
    if not dot or exchange not in _EXCHANGES or not _SYMBOL.fullmatch(symbol):
        known = ", ".join(sorted(_EXCHANGES))
        raise ProtocolError(
            f"symbol {text!r} is not EXCHANGE.symbol with EXCHANGE one of {known}", "symbols"
        )
    return f"{exchange}.{symbol}"


# --- server -> client --------------------------------------------------------------------------


class Welcome(msgspec.Struct, frozen=True, kw_only=True, tag="welcome", tag_field="type"):
    channel: str = ""
    seq: int
    user: str
    role: str
    format: Format
    heartbeat_s: float
    idle_timeout_s: float
    channels: list[Channel]


class Subscribed(msgspec.Struct, frozen=True, kw_only=True, tag="subscribed", tag_field="type"):
    channel: Channel
    seq: int
    symbols: list[str]
    interval: Interval | None = None
    id: str | None = None


class Unsubscribed(msgspec.Struct, frozen=True, kw_only=True, tag="unsubscribed", tag_field="type"):
    channel: Channel
    seq: int
    symbols: list[str]
    interval: Interval | None = None
    id: str | None = None


class ServerPing(msgspec.Struct, frozen=True, kw_only=True, tag="ping", tag_field="type"):
    channel: str = ""
    seq: int
    ts: float  # server time, Unix seconds


class ServerPong(msgspec.Struct, frozen=True, kw_only=True, tag="pong", tag_field="type"):
    channel: str = ""
    seq: int
    ts: float
    id: str | None = None


class ErrorMessage(msgspec.Struct, frozen=True, kw_only=True, tag="error", tag_field="type"):
    channel: str = ""
    seq: int
    error: str  # machine-readable: bad_message, bad_symbol, not_authenticated, ...
    detail: str
    field: str | None = None
    id: str | None = None


class _DataMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """``snapshot`` or ``update``: a list of payloads already encoded (``msgspec.Raw``)."""

    channel: Channel
    seq: int
    data: list[msgspec.Raw]


class Snapshot(_DataMessage, frozen=True, tag="snapshot"):
    interval: Interval | None = None


class Update(_DataMessage, frozen=True, tag="update"):
    pass


ServerMessage = (
    Welcome | Subscribed | Unsubscribed | ServerPing | ServerPong | ErrorMessage | Snapshot | Update
)
