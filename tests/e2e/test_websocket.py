"""/ws against a real gateway process, with real WebSocket clients (the `websockets` library)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect

from shared.store import Role, UserRepository, create_engine, session_factory
from tests.support.gateway import add_user, embedded_settings
from tests.support.server import Server
from tests.support.ws_client import any_message, closed_with, next_message, ws_url

PASSWORD = "ws-test-password"
IF = "CFFEX.IF2101"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    var_dir: Path = tmp_path_factory.mktemp("ws") / "var"
    var_dir.mkdir()
    asyncio.run(add_user(embedded_settings(var_dir), "ann", PASSWORD, Role.VIEWER))
    asyncio.run(add_user(embedded_settings(var_dir), "dora", PASSWORD, Role.VIEWER))
    running = Server(
        var_dir,
        QUANT_BOOTSTRAP_ADMIN="false",
        QUANT_WS_AUTH_TIMEOUT_S="0.5",
        QUANT_WS_HEARTBEAT_S="0.3",
        QUANT_WS_IDLE_TIMEOUT_S="1.5",
    )
    yield running
    output = running.stop()
    assert "internal_error" not in output, output


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    answer = httpx.post(
        f"{server.url}/api/v1/auth/token", json={"username": "ann", "password": PASSWORD}
    )
    value: str = answer.json()["access_token"]
    return value


async def test_subscribe_gets_subscribed_then_a_snapshot_then_updates_in_sequence(
    server: Server, token: str
) -> None:
    async with connect(ws_url(server, token=token)) as ws:
        welcome = await next_message(ws)
        assert welcome["type"] == "welcome"
        assert (welcome["user"], welcome["format"], welcome["seq"]) == ("ann", "json", 1)
        await ws.send(
            json.dumps({"type": "subscribe", "channel": "ticks", "symbols": [IF], "id": "a"})
        )
        subscribed = await next_message(ws)
        assert subscribed == {
            "type": "subscribed",
            "channel": "ticks",
            "seq": 2,
            "symbols": [IF],
            "interval": None,
            "id": "a",
        }
        snapshot = await next_message(ws)
        assert (snapshot["type"], snapshot["channel"], snapshot["seq"]) == ("snapshot", "ticks", 3)
        assert [t["symbol"] for t in snapshot["data"]] == ["IF2101"]
        seqs = [3]
        for _ in range(3):
            update = await any_message(ws)  # heartbeats included: they are numbered too
            seqs.append(update["seq"])
            if update["type"] == "update":
                assert update["channel"] == "ticks"
                assert {t["symbol"] for t in update["data"]} == {"IF2101"}
        assert seqs == list(range(3, 7))  # one sequence per connection


async def test_token_in_a_first_auth_message_and_msgpack_frames(server: Server, token: str) -> None:
    async with connect(ws_url(server, format="msgpack")) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        raw = await ws.recv()
        assert isinstance(raw, bytes)  # binary frames as asked
        assert msgspec.msgpack.decode(raw)["type"] == "welcome"
        await ws.send(
            msgspec.msgpack.encode({"type": "subscribe", "channel": "ticks", "symbols": [IF]})
        )
        assert (await next_message(ws, "subscribed"))["symbols"] == [IF]
        update = await next_message(ws, "update")
        assert update["data"][0]["exchange"] == "CFFEX"


@pytest.mark.parametrize(
    ("query", "first", "reason"),
    [
        ({}, None, "no access token in time"),
        ({"token": "not-a-jwt"}, None, "invalid access token"),
        ({}, {"type": "ping"}, "the first message must be `auth`"),
    ],
)
async def test_unauthenticated_sockets_are_closed_with_4401(
    server: Server, query: dict[str, str], first: dict[str, str] | None, reason: str
) -> None:
    async with connect(ws_url(server, **query)) as ws:
        if first is not None:
            await ws.send(json.dumps(first))
        assert await closed_with(ws) == 4401
        assert ws.close_reason is not None
        assert reason in ws.close_reason


async def test_malformed_messages_get_an_error_naming_the_problem_and_the_socket_stays(
    server: Server, token: str
) -> None:
    async with connect(ws_url(server, token=token)) as ws:
        await next_message(ws, "welcome")
        cases = [
            ("{not json", None),
            (json.dumps({"type": "subscribe", "channel": "weather", "symbols": [IF]}), "channel"),
            (
                json.dumps({"type": "subscribe", "channel": "ticks", "symbols": ["IF2101"]}),
                "symbols",
            ),
            (json.dumps({"type": "subscribe", "channel": "bars", "symbols": [IF]}), "interval"),
            (json.dumps({"type": "subscribe", "channel": "orders", "symbols": [IF]}), "symbols"),
            (
                json.dumps(
                    {
                        "type": "subscribe",
                        "channel": "bars",
                        "symbols": [IF],
                        "interval": "1m",
                        "indicators": [{"name": "cci"}],
                    }
                ),
                "indicators[0].name",
            ),
            (
                json.dumps(
                    {
                        "type": "subscribe",
                        "channel": "bars",
                        "symbols": [IF],
                        "interval": "1m",
                        "indicators": [{"name": "sma", "params": {"timeperiod": 0}}],
                    }
                ),
                "indicators[0].params.timeperiod",
            ),
            (
                json.dumps(
                    {
                        "type": "subscribe",
                        "channel": "ticks",
                        "symbols": [IF],
                        "indicators": [{"name": "sma"}],
                    }
                ),
                "indicators",
            ),
            (json.dumps({"type": "launch"}), "type"),
            (json.dumps([1, 2]), None),
        ]
        for frame, field in cases:
            await ws.send(frame)
            error = await next_message(ws, "error")
            assert error["error"] == "bad_message"
            assert error["detail"]
            assert error["field"] == field, (frame, error)
        await ws.send(json.dumps({"type": "ping", "id": "still-here"}))
        assert (await next_message(ws, "pong"))["id"] == "still-here"


async def _next_bar_update(ws: ClientConnection, within: float = 15.0) -> dict[str, Any]:
    """The next bars update, pinging meanwhile: this server closes a client silent for 1.5 s,
    and a replay's lunch break can hold the next bar back longer than that."""
    async with asyncio.timeout(within):
        while True:
            await ws.send(json.dumps({"type": "ping"}))
            try:
                update: dict[str, Any] = await next_message(ws, "update", within=1.0)
            except TimeoutError:
                continue
            if update["channel"] == "bars":
                return update


async def test_live_bars_arrive_on_the_bars_channel(server: Server, token: str) -> None:
    async with connect(ws_url(server, token=token)) as ws:
        await next_message(ws, "welcome")
        await ws.send(
            json.dumps({"type": "subscribe", "channel": "bars", "symbols": [IF], "interval": "1m"})
        )
        assert (await next_message(ws, "subscribed"))["interval"] == "1m"
        snapshot = await next_message(ws, "snapshot")
        assert snapshot["interval"] == "1m"
        # At replay speed 50 a market minute lasts 1.2 s: a closed 1-minute bar comes soon.
        update = await _next_bar_update(ws)
        bar = update["data"][0]
        assert (bar["symbol"], bar["interval"]) == ("IF2101", "1m")
        assert bar["low"] <= bar["open"] <= bar["high"]


async def test_live_bars_come_with_the_indicators_asked_for(server: Server, token: str) -> None:
    async with connect(ws_url(server, token=token)) as ws:
        await next_message(ws, "welcome")
        subscribe = {
            "type": "subscribe", "channel": "bars", "symbols": [IF], "interval": "1m",
            "indicators": [{"name": "sma", "params": {"timeperiod": 2}}, {"name": "macd"}],
        }  # fmt: skip
        await ws.send(json.dumps(subscribe))
        await next_message(ws, "subscribed")
        await next_message(ws, "snapshot")
        # Nothing is stored for the replay: the indicators start cold and fill in.
        closes: list[float] = []
        while len(closes) < 3:
            bar = (await _next_bar_update(ws))["data"][0]
            closes.append(bar["close"])
            assert set(bar["indicators"]) == {
                "sma_2", "macd_12_26_9.macd", "macd_12_26_9.macdsignal", "macd_12_26_9.macdhist",
            }  # fmt: skip
            assert bar["indicators"]["macd_12_26_9.macd"] is None  # 33 bars of warm-up
        assert bar["indicators"]["sma_2"] == pytest.approx((closes[-1] + closes[-2]) / 2)


async def test_after_unsubscribe_no_more_ticks_arrive(server: Server, token: str) -> None:
    async with connect(ws_url(server, token=token)) as ws:
        await next_message(ws, "welcome")
        await ws.send(json.dumps({"type": "subscribe", "channel": "ticks", "symbols": [IF]}))
        await next_message(ws, "update")
        await ws.send(json.dumps({"type": "unsubscribe", "channel": "ticks"}))
        await next_message(ws, "unsubscribed")
        with pytest.raises(TimeoutError):
            await next_message(ws, "update", within=1.0)


async def test_a_silent_client_gets_heartbeats_then_is_closed_with_4408(
    server: Server, token: str
) -> None:
    async with connect(ws_url(server, token=token)) as ws:
        await next_message(ws, "welcome")
        assert (await next_message(ws, "ping"))["ts"] > 0
        assert await closed_with(ws, within=5) == 4408


async def test_a_user_disabled_after_login_cannot_open_a_socket(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.post(
            "/api/v1/auth/token", json={"username": "dora", "password": PASSWORD}
        )
    dora_token = answer.json()["access_token"]
    async with connect(ws_url(server, token=dora_token)) as ws:
        assert (await next_message(ws, "welcome"))["user"] == "dora"
    engine = create_engine(server.env["QUANT_DATABASE_URL"])
    try:
        users = UserRepository(session_factory(engine))
        dora = await users.get_by_username("dora")
        assert dora is not None
        await users.set_active(dora.id, False)
    finally:
        await engine.dispose()
    async with connect(ws_url(server, token=dora_token)) as ws:
        assert await closed_with(ws) == 4403
        assert "disabled" in (ws.close_reason or "")
