"""docs/websocket.md stays true to gateway/ws/protocol.py.

Every fenced ```json block in the doc must sit right under ``<!-- client -->`` or
``<!-- server -->``. A client example must decode with the server's own decoder, use no field the
message type does not have, and be a request the server would accept. A server example must be
exactly what the server encodes: decoded into the server message union and encoded again, it must
come back identical (neither side forbids unknown fields, so this is what catches a typo), and so
must every payload in its ``data`` with the channel's payload type. Every message type, channel,
close code and ``QUANT_WS_*`` setting must be documented.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest

import gateway.ws.endpoint
import gateway.ws.hub
from gateway.ws.protocol import (
    MARKET_CHANNELS,
    Channel,
    ClientMessage,
    CloseCode,
    IndicatorBar,
    ProtocolError,
    ServerMessage,
    Snapshot,
    Subscribe,
    Unsubscribe,
    Update,
    Welcome,
    decode_client_message,
    parse_market_symbol,
)
from gateway.ws.subscriptions import MAX_SYMBOLS
from shared.config import Settings
from shared.domain import (
    Account,
    BacktestProgressEvent,
    Bar,
    Order,
    Position,
    RiskStatus,
    Tick,
    Trade,
    VenueStatusEvent,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "websocket.md"

# What one element of `data` is on each channel (hub.py: the event's inner struct, or the
# BacktestProgressEvent itself). None: nothing is published on the channel, `data` stays empty.
PAYLOADS: dict[Channel, type[msgspec.Struct] | None] = {
    Channel.TICKS: Tick,
    Channel.BARS: Bar,
    Channel.ORDERS: Order,
    Channel.TRADES: Trade,
    Channel.POSITIONS: Position,
    Channel.ACCOUNT: Account,
    Channel.RISK: RiskStatus,
    Channel.BACKTESTS: BacktestProgressEvent,
    Channel.STRATEGIES: None,
}

_FENCE = re.compile(r"^```json[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*(\w+)\s*-->\s*\Z")


class DocExampleError(AssertionError):
    """An example in the doc that the protocol code does not produce or accept."""


@dataclass(frozen=True)
class Example:
    kind: str  # "client" | "server" | whatever the marker said
    text: str
    line: int


def extract_examples(markdown: str) -> list[Example]:
    """Every ```json block, with the marker on the line just above it ("" when there is none)."""
    examples = []
    for match in _FENCE.finditer(markdown):
        before = markdown[: match.start()].rstrip()
        marker = _MARKER.search(before)
        line = markdown.count("\n", 0, match.start()) + 1
        examples.append(Example(marker.group(1) if marker else "", match.group(1), line))
    return examples


def _as_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocExampleError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise DocExampleError("an example must be a JSON object")
    return value


def check_client(text: str) -> ClientMessage:
    """A client example: decoded as the server decodes it, no stray field, and acceptable."""
    original = _as_object(text)
    try:
        message = decode_client_message(text)
    except ProtocolError as exc:
        raise DocExampleError(f"the server rejects it: {exc.detail} (field {exc.field})") from None
    decoded = msgspec.to_builtins(message)
    unknown = sorted(set(original) - set(decoded))
    if unknown:
        raise DocExampleError(f"fields {unknown} are not in {type(message).__name__}")
    for key, value in original.items():
        if decoded[key] != value:
            raise DocExampleError(f"`{key}` decodes to {decoded[key]!r}, not {value!r}")
    if isinstance(message, Subscribe | Unsubscribe):
        _check_request(message)
    return message


def _check_request(message: Subscribe | Unsubscribe) -> None:
    """What subscriptions.py would answer with an `error` instead of acting on."""
    try:
        for symbol in message.symbols:
            parse_market_symbol(symbol)
    except ProtocolError as exc:
        raise DocExampleError(exc.detail) from None
    if isinstance(message, Unsubscribe):
        return
    if message.channel in MARKET_CHANNELS:
        if not message.symbols:
            raise DocExampleError(f"subscribing to {message.channel} needs symbols")
        if len(message.symbols) > MAX_SYMBOLS:
            raise DocExampleError(f"more than {MAX_SYMBOLS} symbols")
    elif message.symbols:
        raise DocExampleError(f"the {message.channel} channel takes no symbols")
    if message.channel is Channel.BARS and message.interval is None:
        raise DocExampleError("subscribing to bars needs an interval")


def check_server(text: str) -> ServerMessage:
    """A server example: exactly what the server would encode, payloads included."""
    original = _as_object(text)
    try:
        message: ServerMessage = msgspec.json.decode(text, type=ServerMessage)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DocExampleError(f"not a server message: {exc}") from None
    encoded = json.loads(msgspec.json.encode(message))
    if encoded != original:
        missing = sorted(set(encoded) - set(original))
        unknown = sorted(set(original) - set(encoded))
        raise DocExampleError(
            f"the server would send {encoded}; missing fields {missing}, unknown fields {unknown}"
        )
    if message.seq < 1:
        raise DocExampleError("`seq` starts at 1")
    if isinstance(message, Welcome) and message.seq != 1:
        raise DocExampleError("`welcome` is always the first frame: seq 1")
    if isinstance(message, Snapshot | Update):
        _check_data(message)
    return message


def _payload_type(
    channel: Channel, raw: msgspec.Raw, usual: type[msgspec.Struct]
) -> type[msgspec.Struct]:
    """Two channels carry a second kind of item: bars with the indicators a client asked for,
    and the live venue's state among an owner's account items."""
    item = json.loads(bytes(raw))
    if channel is Channel.BARS and "indicators" in item:
        return IndicatorBar
    if channel is Channel.ACCOUNT and item.get("type") == "venue_status":
        return VenueStatusEvent
    return usual


def _check_data(message: Snapshot | Update) -> None:
    payload_type = PAYLOADS[message.channel]
    bars = message.channel is Channel.BARS
    if isinstance(message, Snapshot) and (message.interval is not None) != bars:
        raise DocExampleError("a snapshot has an `interval` on the bars channel only")
    if payload_type is None:
        if message.data:
            raise DocExampleError(f"nothing is published on {message.channel}: `data` is empty")
        return
    for raw in message.data:
        payload_type = _payload_type(message.channel, raw, payload_type)
        try:
            payload = msgspec.json.decode(raw, type=payload_type)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise DocExampleError(f"not a {payload_type.__name__}: {exc}") from None
        original = json.loads(bytes(raw))
        encoded = json.loads(msgspec.json.encode(payload))
        if encoded != original:
            raise DocExampleError(
                f"a {payload_type.__name__} payload is encoded as {encoded}, not {original}"
            )
        bar = payload if isinstance(payload, Bar) else None
        if isinstance(message, Snapshot) and bar is not None and bar.interval != message.interval:
            raise DocExampleError("a bars snapshot holds bars of its own interval only")


# --- the doc ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _examples() -> list[Example]:
    return extract_examples(DOC.read_text(encoding="utf-8"))


def _of(kind: str) -> list[Any]:
    return [pytest.param(e, id=f"line{e.line}") for e in _examples() if e.kind == kind]


def test_every_json_block_is_marked_client_or_server() -> None:
    examples = _examples()
    assert len(examples) >= 10
    unmarked = [e.line for e in examples if e.kind not in {"client", "server"}]
    assert not unmarked, f"json blocks without <!-- client --> / <!-- server --> at {unmarked}"


@pytest.mark.parametrize("example", _of("client"))
def test_client_example_is_accepted_by_the_server(example: Example) -> None:
    check_client(example.text)


@pytest.mark.parametrize("example", _of("server"))
def test_server_example_is_what_the_server_sends(example: Example) -> None:
    check_server(example.text)


def test_every_client_message_type_has_an_example() -> None:
    shown = {type(check_client(e.text)) for e in _examples() if e.kind == "client"}
    missing = [t.__name__ for t in get_args(ClientMessage) if t not in shown]
    assert not missing, f"no client example of {missing}"


def test_every_server_message_type_has_an_example() -> None:
    shown = {type(check_server(e.text)) for e in _examples() if e.kind == "server"}
    missing = [t.__name__ for t in get_args(ServerMessage) if t not in shown]
    assert not missing, f"no server example of {missing}"


def test_every_channel_has_a_snapshot_or_update_example(doc: str) -> None:
    messages = [check_server(e.text) for e in _examples() if e.kind == "server"]
    shown = {m.channel for m in messages if isinstance(m, Snapshot | Update)}
    missing = [c.value for c in Channel if c not in shown]
    assert not missing, f"no snapshot/update example on {missing}"
    for channel in Channel:
        assert f"### `{channel.value}`" in doc, f"no section for the {channel.value} channel"


def _close_codes() -> set[int]:
    """CloseCode's values, and any literal 4xxx code endpoint.py or hub.py closes with."""
    codes = {v for k, v in vars(CloseCode).items() if not k.startswith("_") and isinstance(v, int)}
    for module in (gateway.ws.endpoint, gateway.ws.hub):
        source = Path(str(module.__file__)).read_text(encoding="utf-8")
        codes |= {int(c) for c in re.findall(r"\b(4\d{3})\b", source)}
    return codes


def test_every_close_code_has_a_row_in_the_close_code_table(doc: str) -> None:
    codes = _close_codes()
    assert {1001, 4400, 4401, 4408, 4429} <= codes  # the scan itself found what it should
    missing = sorted(code for code in codes if f"\n| {code} |" not in doc)
    assert not missing, f"close codes missing from the table: {missing}"


def test_every_ws_setting_is_documented_with_its_default(doc: str) -> None:
    defaults = Settings()
    names = [n for n in Settings.__struct_fields__ if n.startswith("ws_")]
    assert len(names) >= 5
    for name in names:
        variable = f"QUANT_{name.upper()}"
        rows = [line for line in doc.splitlines() if line.startswith(f"| `{variable}` |")]
        assert rows, f"{variable} has no row in the settings table"
        default = getattr(defaults, name)
        assert f"`{default!r}`" in rows[0], f"{variable}: the default is {default!r}"


def test_the_subscription_limit_is_the_code_s(doc: str) -> None:
    assert f"**{MAX_SYMBOLS} subscriptions per connection**" in doc


# --- the checker catches what it is for ---------------------------------------------------------


def test_extract_examples_reads_the_marker_above_each_block() -> None:
    markdown = (
        'text\n\n<!-- client -->\n```json\n{"type": "ping"}\n```\n\n'
        '```json\n{"a": 1}\n```\n<!-- server -->\n\n```json\n{"b": 2}\n```\n'
    )
    found = extract_examples(markdown)
    assert [(e.kind, json.loads(e.text)) for e in found] == [
        ("client", {"type": "ping"}),
        ("", {"a": 1}),
        ("server", {"b": 2}),
    ]
    assert found[0].line == 4


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "subscribe", "chanel": "ticks", "symbols": ["CFFEX.IF2101"]}',  # typo'd field
        '{"type": "subscribe", "channel": "tick", "symbols": ["CFFEX.IF2101"]}',  # no such channel
        '{"type": "subscribe", "channel": "ticks", "symbols": ["IF2101"]}',  # no exchange
        '{"type": "subscribe", "channel": "ticks"}',  # no symbols
        '{"type": "subscribe", "channel": "bars", "symbols": ["CFFEX.IF2101"]}',  # no interval
        '{"type": "subscribe", "channel": "orders", "symbols": ["CFFEX.IF2101"]}',
        '{"type": "auth"}',  # no token
        '{"type": "hello"}',
        '["ping"]',
    ],
)
def test_check_client_rejects_a_wrong_example(text: str) -> None:
    with pytest.raises(DocExampleError):
        check_client(text)


_WELCOME = {
    "type": "welcome",
    "channel": "",
    "seq": 1,
    "user": "ann",
    "role": "viewer",
    "format": "json",
    "heartbeat_s": 15.0,
    "idle_timeout_s": 45.0,
    "channels": [c.value for c in Channel],
}
_TICK = {
    "symbol": "IF2101",
    "exchange": "CFFEX",
    "ts": "2021-01-04T01:30:00Z",
    "trading_day": "2021-01-04",
    "last_price": 5267.2,
    "volume": 1,
    "turnover": 1.0,
    "open_interest": 1.0,
    "bid_price": None,
    "bid_volume": 0,
    "ask_price": None,
    "ask_volume": 0,
    "upper_limit": None,
    "lower_limit": None,
}
_TICKS = {"type": "update", "channel": "ticks", "seq": 2, "data": [_TICK]}


def test_check_server_accepts_what_the_server_encodes() -> None:
    check_server(json.dumps(_WELCOME))
    check_server(json.dumps(_TICKS))


@pytest.mark.parametrize(
    "example",
    [
        {**_WELCOME, "usr": "ann"},  # typo'd extra field
        {k: v for k, v in _WELCOME.items() if k != "channel"},  # a field the server always sends
        {**_WELCOME, "seq": 2},  # welcome is the first frame
        {**_WELCOME, "type": "hello"},
        {**_TICKS, "seq": 0},
        {**_TICKS, "data": [{**_TICK, "price": 1.0}]},  # payload with a stray field
        {**_TICKS, "data": [{k: v for k, v in _TICK.items() if k != "bid_price"}]},
        {**_TICKS, "data": [{**_TICK, "ts": "2021-01-04T01:30:00.000000Z"}]},  # not msgspec's
        {**_TICKS, "channel": "strategies"},  # nothing is published there
        {"type": "snapshot", "channel": "ticks", "seq": 3, "data": [], "interval": "1m"},
        {"type": "update", "channel": "ticks", "seq": 3, "data": [], "interval": None},
    ],
)
def test_check_server_rejects_a_wrong_example(example: dict[str, Any]) -> None:
    with pytest.raises(DocExampleError):
        check_server(json.dumps(example))
