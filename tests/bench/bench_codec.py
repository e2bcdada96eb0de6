"""Event codec: msgspec (the bus and WebSocket formats) against the standard library's json."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import msgspec

from shared.domain import (
    Exchange,
    Tick,
    TickEvent,
    decode_event,
    decode_event_json,
    encode_event,
    encode_event_json,
)
from tests.bench._table import Row, best_of

COUNT = 100_000


def _events() -> list[TickEvent]:
    start = datetime(2021, 1, 4, 1, 30, tzinfo=UTC)
    return [
        TickEvent(
            tick=Tick(
                symbol="IF2101",
                exchange=Exchange.CFFEX,
                ts=start + timedelta(milliseconds=500 * i),
                trading_day=date(2021, 1, 4),
                last_price=5230.2 + (i % 50) * 0.2,
                volume=240 + i,
                turnover=3.7e8 + i * 1e5,
                open_interest=90767.0,
                bid_price=5230.0,
                bid_volume=1,
                ask_price=5230.4,
                ask_volume=2,
            )
        )
        for i in range(COUNT)
    ]


def run() -> list[Row]:
    events = _events()
    # The peer: what a hand-made service does with the standard library: dicts through json,
    # then back into a typed, validated object.
    builtins = [msgspec.to_builtins(e) for e in events]

    def stdlib_round_trip() -> None:
        for item in builtins:
            decoded = json.loads(json.dumps(item))
            msgspec.convert(decoded, TickEvent)

    def msgpack_round_trip() -> None:
        for event in events:
            decode_event(encode_event(event))

    def json_round_trip() -> None:
        for event in events:
            decode_event_json(encode_event_json(event))

    peer = COUNT / best_of(3, stdlib_round_trip)
    return [
        Row(
            "tick event encode+decode, msgpack (bus)",
            COUNT / best_of(3, msgpack_round_trip),
            "stdlib json + convert",
            peer,
            "events/s",
            higher_is_better=True,
        ),
        Row(
            "tick event encode+decode, JSON (WebSocket)",
            COUNT / best_of(3, json_round_trip),
            "stdlib json + convert",
            peer,
            "events/s",
            higher_is_better=True,
        ),
    ]
