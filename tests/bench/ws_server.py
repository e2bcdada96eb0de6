"""The gateway as the WebSocket benchmarks run it: `quant serve`'s app with a load venue.

``python -m tests.bench.ws_server PORT SYMBOLS RATE NAIVE_CLIENTS`` serves the real app
(settings from the environment, as `quant serve`) whose venue emits ``RATE`` ticks a second
spread over ``SYMBOLS`` symbols, each stamped with the wall clock when it leaves the venue, so
that a client can tell the venue-to-client latency. ``/naive-ws`` is the peer: the loop a
home-made server writes, one ``send`` per tick per subscribed client, fed by the same bus.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import uvicorn
from litestar import WebSocket, websocket

import gateway.services
from gateway.app import create_app
from gateway.venues import MarketSink
from gateway.ws.direct import UVICORN_OPTIONS
from shared.config import load_settings
from shared.domain import ComponentState, Exchange, Tick, TickEvent

TICK_INTERVAL_S = 0.005
EXCHANGE = Exchange.SHFE


def symbol_names(count: int) -> list[str]:
    return [f"ld{index:04d}" for index in range(count)]


class LoadVenue:
    """Ticks at a steady rate, round-robin over the symbols."""

    name = "load"

    def __init__(self, symbols: int, rate: float) -> None:
        self._symbols = symbol_names(symbols)
        self._rate = rate
        self._task: asyncio.Task[None] | None = None
        self.emitted = 0

    @property
    def state(self) -> ComponentState:
        return ComponentState.UP

    @property
    def detail(self) -> str:
        return f"load venue: {self._rate:g} ticks/s over {len(self._symbols)} symbols"

    def order_route(self) -> None:
        return None

    def market_time(self) -> datetime:
        return datetime.now(UTC)

    async def start(self, sink: MarketSink) -> None:
        self._task = asyncio.create_task(self._run(sink))

    async def _run(self, sink: MarketSink) -> None:
        started = time.monotonic()
        symbols, count = self._symbols, len(self._symbols)
        day = date(2021, 1, 4)
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            due = int((time.monotonic() - started) * self._rate)
            now = datetime.now(UTC)
            while self.emitted < due:
                index = self.emitted
                self.emitted += 1
                sink.accept(
                    Tick(
                        symbol=symbols[index % count],
                        exchange=EXCHANGE,
                        ts=now,
                        trading_day=day,
                        last_price=4000.0 + index % 17,
                        volume=index,
                        turnover=4000.0 * index,
                        open_interest=1000.0,
                        bid_price=3999.0,
                        bid_volume=3,
                        ask_price=4001.0,
                        ask_volume=4,
                    )
                )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class NaiveFanOut:
    """The peer: for every tick, for every client subscribed to its symbol, one ``send``."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[WebSocket[Any, Any, Any]]] = {}
        self.expected = 0
        self.joined = 0
        self._task: asyncio.Task[None] | None = None

    def joined_one(self, socket: WebSocket[Any, Any, Any]) -> None:
        # The loop never yields while ticks are queued, so it starts only once every client is
        # in: after that, no handshake would get a turn.
        self.joined += 1
        if self._task is None and self.joined >= self.expected:
            self._task = asyncio.create_task(self._run(socket.app.state.services.bus))

    async def _run(self, bus: Any) -> None:
        encode = msgspec.json.Encoder().encode
        subscription = await bus.subscribe("ticks.")
        async for event in subscription:
            if not isinstance(event, TickEvent):
                continue
            tick = event.tick
            sockets = self.subscribers.get(f"{tick.exchange}.{tick.symbol}")
            if not sockets:
                continue
            text = encode(tick).decode()  # encoded once per tick, to be fair to the peer
            for socket in list(sockets):
                try:
                    await socket.send({"type": "websocket.send", "text": text, "bytes": None})
                except Exception:
                    sockets.discard(socket)


NAIVE = NaiveFanOut()


@websocket("/naive-ws")
async def naive_ws(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    message = msgspec.json.decode(await socket.receive_text())
    keys = list(message["symbols"])
    for key in keys:
        NAIVE.subscribers.setdefault(key, set()).add(socket)
    NAIVE.joined_one(socket)
    try:
        while (await socket.receive())["type"] == "websocket.receive":
            pass
    finally:
        for key in keys:
            NAIVE.subscribers.get(key, set()).discard(socket)


def main() -> None:
    port, symbols, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    NAIVE.expected = int(sys.argv[4])
    venue = LoadVenue(symbols, rate)
    gateway.services.open_venue = lambda settings, engine, **_: venue  # type: ignore[assignment]
    settings = load_settings()
    app = create_app(settings)
    app.register(naive_ws)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        backlog=4096,
        lifespan="on",
        **UVICORN_OPTIONS,  # as `quant serve`
    )


if __name__ == "__main__":
    main()
