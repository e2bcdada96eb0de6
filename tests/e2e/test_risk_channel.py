"""The `risk` WebSocket channel of a real gateway: a trader nearing a limit is warned before it
stops them, and a halt reaches the trader's socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from shared.config import Settings
from shared.store import Role
from tests.support.gateway import TEST_SECRET, add_user
from tests.support.server import Server
from tests.support.ws_client import next_message, ws_url

PASSWORD = "risk-channel-password"
TRADING_PASSWORD = "risk-channel-trading-9"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/quant.db")
    asyncio.run(add_user(settings, "tom", PASSWORD, Role.TRADER))
    asyncio.run(add_user(settings, "root", PASSWORD, Role.ADMIN))
    running = Server(tmp_path, QUANT_JWT_SECRET=TEST_SECRET, QUANT_BOOTSTRAP_ADMIN="false")
    yield running
    output = running.stop()
    assert "Traceback" not in output, output


async def _login(http: httpx.AsyncClient, user: str) -> dict[str, str]:
    answer = await http.post("/auth/token", json={"username": user, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _order(n: int, price: float) -> dict[str, Any]:
    return {
        "account_id": "tom-paper", "client_order_id": f"w{n}", "exchange": "CFFEX",
        "symbol": "IF2101", "side": "buy", "offset": "open", "type": "limit", "volume": 1,
        "price": price,
    }  # fmt: skip


async def test_a_trader_is_warned_near_a_limit_and_told_of_a_halt(server: Server) -> None:
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1") as http:
        tom, root = await _login(http, "tom"), await _login(http, "root")
        (
            await http.put(
                "/auth/trading-password",
                json={"password": PASSWORD, "new_trading_password": TRADING_PASSWORD},
                headers=tom,
            )
        ).raise_for_status()
        token = (
            await http.post(
                "/auth/trading-token", json={"trading_password": TRADING_PASSWORD}, headers=tom
            )
        ).json()["trading_token"]
        await http.post("/accounts", json={"account_id": "tom-paper"}, headers=tom)
        limits = await http.put(
            "/risk/tom-paper/limits", json={"max_daily_orders": 5}, headers=root
        )
        assert limits.status_code == 200, limits.text

        ws = await connect(ws_url(server, token=tom["Authorization"].removeprefix("Bearer ")))
        async with ws:
            assert (await next_message(ws))["type"] == "welcome"
            await ws.send(json.dumps({"type": "subscribe", "channel": "risk"}))
            assert (await next_message(ws))["type"] == "subscribed"
            snapshot = await next_message(ws, "snapshot")
            assert [(s["account_id"], s["state"]) for s in snapshot["data"]] == [
                ("tom-paper", "active")
            ]
            placing = {**tom, "X-Trading-Token": token}
            for n in range(4):  # 4 of 5: past the 80% warning share
                answer = await http.post("/orders", json=_order(n, 5000.0 + n), headers=placing)
                assert answer.status_code == 201, answer.text
            # The account's first status (no warnings) may come first: it opened a moment ago.
            status = (await next_message(ws, "update", within=5))["data"][0]
            if not status["warnings"]:
                status = (await next_message(ws, "update", within=5))["data"][0]
            (warning,) = status["warnings"]
            assert (warning["rule"], warning["used"], warning["limit"]) == ("daily_orders", 4, 5)

            halt = await http.put(
                "/risk/tom-paper/state",
                json={"state": "halted", "reason": "desk closed early"},
                headers=root,
            )
            assert halt.status_code == 200, halt.text
            halted = await next_message(ws, "update", within=5)
            assert (halted["data"][0]["state"], halted["data"][0]["state_reason"]) == (
                "halted",
                "desk closed early",
            )
