"""The gateway on the CTP venue, end to end: a real HTTP and WebSocket server (uvicorn, in this
process) whose CTP APIs are a scripted front (`tests.support.ctp_front`) that answers with the
library's own structs from a thread of its own. Everything between the REST API and the API
boundary is the production code: the order service, risk, routing, the trading session, the
mapping, booking and the hub.

A trader's day: the session logs in (authenticate, login, settlement confirmation) and catches
up, the broker's balance opens the account, an order is accepted, filled in two parts and
booked; another is cancelled; CTP refuses a third; risk refuses a fourth before it reaches
CTP; the front drops and the session logs in again; and a restarted gateway learns of a fill
that happened while it was down.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from gateway.app import create_app
from gateway.orders.trading import trading_day_at
from shared.clock import utc_now
from shared.config import Settings
from shared.sessions import load_calendar
from shared.store import Role
from tests.support.ctp_front import Contract, ScriptedBroker, ctp_settings
from tests.support.gateway import add_user, free_port
from tests.support.waiting import wait_until

PASSWORD = "ctp-trader-password"
TRADING_PASSWORD = "ctp-trading-secret-7"
ACCOUNT = "000001"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BALANCE = 1_000_000.0
REFUSE_ABOVE = 4000.0  # the scripted broker answers "insufficient funds" above this price


def _contract() -> Contract:
    expires = utc_now().date() + timedelta(days=200)
    return Contract(
        symbol=f"rb{expires:%y%m}",
        exchange="SHFE",
        product="rb",
        multiplier=10,
        price_tick=1.0,
        expires=expires,
    )


def _settings(var_dir: Path) -> Settings:
    return ctp_settings(var_dir, ctp_user_id=ACCOUNT, ctp_account_owner="tom", mark_interval_s=0.5)


class Gateway:
    """`create_app` served by uvicorn on a free port, in this event loop."""

    def __init__(self, settings: Settings, broker: ScriptedBroker) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings, ctp_apis=broker.apis),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Gateway:
        self._task = asyncio.create_task(self._server.serve())
        await wait_until(lambda: self._server.started, timeout_s=30)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.should_exit = True
        assert self._task is not None
        # Past the gateway's own 30 s shutdown watch, so a slow stop logs what it waits on.
        await asyncio.wait_for(self._task, 60)


async def _eventually(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], check: Callable[[Any], bool]
) -> Any:
    """GET ``path`` until ``check`` holds for the answer's JSON."""
    async with asyncio.timeout(10):
        while True:
            answer = await http.get(path, headers=headers)
            if answer.status_code == 200 and check(answer.json()):
                return answer.json()
            await asyncio.sleep(0.05)


async def _next_message(ws: ClientConnection, kind: str) -> Any:
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def _next_update(ws: ClientConnection, channel: str, check: Callable[[Any], bool]) -> Any:
    """The first item pushed on ``channel`` that ``check`` accepts."""
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await ws.recv())
            if message.get("channel") != channel or message["type"] not in {"update", "snapshot"}:
                continue
            for item in message["data"]:
                if check(item):
                    return item


@pytest.fixture
async def broker() -> ScriptedBroker:
    now = utc_now()
    return ScriptedBroker(
        contracts=[_contract()],
        balance=BALANCE,
        clock=utc_now,
        trading_day=trading_day_at(load_calendar(), now),
        refuse_above=REFUSE_ABOVE,
    )


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    settings = _settings(tmp_path)
    await add_user(settings, "tom", PASSWORD, Role.TRADER)
    await add_user(settings, "ann", PASSWORD, Role.TRADER)
    return settings


async def _login(http: httpx.AsyncClient, user: str = "tom") -> dict[str, str]:
    answer = await http.post("/auth/token", json={"username": user, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _trader(http: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    """(tom's headers, tom's headers with a trading token)."""
    headers = await _login(http)
    (
        await http.put(
            "/auth/trading-password",
            json={"password": PASSWORD, "new_trading_password": TRADING_PASSWORD},
            headers=headers,
        )
    ).raise_for_status()
    token = await http.post(
        "/auth/trading-token", json={"trading_password": TRADING_PASSWORD}, headers=headers
    )
    return headers, {**headers, "X-Trading-Token": token.json()["trading_token"]}


def _order(n: int, symbol: str, price: float, volume: int = 2) -> dict[str, Any]:
    return {
        "account_id": ACCOUNT,
        "client_order_id": f"ctp-{n}",
        "exchange": "SHFE",
        "symbol": symbol,
        "side": "buy",
        "offset": "open",
        "type": "limit",
        "volume": volume,
        "price": price,
    }


async def _venue_state(http: httpx.AsyncClient) -> dict[str, Any]:
    answer = await http.get("/ready", timeout=5)
    venue: dict[str, Any] = answer.json()["components"]["venue"]
    return venue


async def test_a_trading_day_through_ctp(
    settings: Settings, broker: ScriptedBroker, tmp_path: Path
) -> None:
    symbol = broker.contracts[0].symbol
    async with (
        Gateway(settings, broker) as gateway,
        httpx.AsyncClient(base_url=gateway.url) as root,
    ):
        # Logged in and caught up: authenticate, login, confirm, then the queries.
        await wait_until(lambda: "ReqQryInvestorPosition" in broker.requests, timeout_s=10)
        assert broker.requests[:3] == [
            "ReqAuthenticate",
            "ReqUserLogin",
            "ReqSettlementInfoConfirm",
        ]
        assert broker.requests[3:7] == [
            "ReqQryInstrument",
            "ReqQryOrder",
            "ReqQryTrade",
            "ReqQryTradingAccount",
        ]
        venue = await _venue_state(root)
        assert venue["status"] == "up", venue
        assert "session 101" in venue["detail"]
        assert symbol in broker.subscribed  # the broker's contract, subscribed

        http = httpx.AsyncClient(base_url=f"{gateway.url}/api/v1")
        async with http:
            tom, placing = await _trader(http)
            # The broker's balance opened the account the venue trades, owned by tom.
            [view] = await _eventually(http, "/account", tom, lambda a: len(a) == 1)
            assert (view["account"]["account_id"], view["account"]["balance"]) == (ACCOUNT, BALANCE)
            # The contract is in the catalogue, stored.
            found = await _eventually(
                http, f"/instruments?symbol={symbol}", tom, lambda page: page["items"]
            )
            assert found["items"][0]["multiplier"] == 10

            token = tom["Authorization"].removeprefix("Bearer ")
            async with connect(f"ws://127.0.0.1:{gateway.port}/ws?token={token}") as ws:
                for channel in ("orders", "trades", "account"):
                    await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
                    await _next_message(ws, "subscribed")

                # Accepted, part-filled, filled, booked.
                placed = await http.post("/orders", json=_order(1, symbol, 3500.0), headers=placing)
                assert placed.status_code == 201, placed.text
                order_id = placed.json()["id"]
                submitted = await _next_update(
                    ws, "orders", lambda o: o["id"] == order_id and o["status"] == "submitted"
                )
                assert submitted["venue_order_id"] == "1_101_1"  # FrontID_SessionID_OrderRef
                broker.fill("1", 1, 3499.0)
                part = await _next_update(
                    ws, "orders", lambda o: o["id"] == order_id and o["filled_volume"] == 1
                )
                assert part["status"] == "partially_filled"
                broker.fill("1", 1, 3500.0)
                done = await _next_update(
                    ws, "orders", lambda o: o["id"] == order_id and o["status"] == "filled"
                )
                assert done["average_fill_price"] == pytest.approx(3499.5)
                trades = await _eventually(http, "/trades", tom, lambda t: len(t) == 2)
                assert sorted(t["price"] for t in trades) == [3499.0, 3500.0]
                assert {t["venue_trade_id"] for t in trades} == {"SHFE:9001", "SHFE:9002"}
                positions = await _eventually(http, "/positions", tom, lambda p: len(p) == 1)
                assert (positions[0]["symbol"], positions[0]["volume"]) == (symbol, 2)
                # The broker's view, refreshed after the fills, agrees with the books.
                view = await _eventually(
                    http,
                    "/venue",
                    tom,
                    lambda v: v["positions"] and v["positions"][0]["volume"] == 2,
                )
                assert view["account_id"] == ACCOUNT
                # Another trader has no account there: the broker's figures are not theirs.
                ann = await http.get("/venue", headers=await _login(http, "ann"))
                assert (ann.status_code, ann.json()["error"]) == (404, "no_live_venue")
                assert view["accounts"][0]["balance"] == BALANCE
                held = view["positions"][0]
                assert (held["symbol"], held["direction"], held["today_volume"]) == (
                    symbol,
                    "long",
                    2,
                )

                # Cancelled at the exchange.
                resting = await http.post(
                    "/orders", json=_order(2, symbol, 3400.0), headers=placing
                )
                resting_id = resting.json()["id"]
                await _next_update(
                    ws, "orders", lambda o: o["id"] == resting_id and o["status"] == "submitted"
                )
                cancel = await http.delete(f"/orders/{resting_id}", headers=tom)
                assert cancel.status_code == 200, cancel.text
                await _next_update(
                    ws, "orders", lambda o: o["id"] == resting_id and o["status"] == "cancelled"
                )

                # Refused by CTP: the reason, readable.
                refused = await http.post(
                    "/orders", json=_order(3, symbol, REFUSE_ABOVE + 100), headers=placing
                )
                refused_id = refused.json()["id"]
                rejected = await _next_update(
                    ws, "orders", lambda o: o["id"] == refused_id and o["status"] == "rejected"
                )
                assert rejected["reject_reason"].startswith("insufficient funds (CTP 31")

                # Refused by risk before CTP sees it: off the price grid.
                sent_before = broker.requests.count("ReqOrderInsert")
                off_grid = await http.post(
                    "/orders", json=_order(4, symbol, 3500.5), headers=placing
                )
                assert off_grid.status_code == 422, off_grid.text
                assert "price" in off_grid.text
                assert broker.requests.count("ReqOrderInsert") == sent_before

                # The front drops: the owner sees it on the account channel; the session
                # logs in again, and new orders carry the new session's id.
                broker.drop()
                down = await _next_update(
                    ws,
                    "account",
                    lambda m: m.get("type") == "venue_status" and m["state"] == "down",
                )
                assert "network read failed" in down["detail"]
                await _next_update(
                    ws, "account", lambda m: m.get("type") == "venue_status" and m["state"] == "up"
                )
                again = await http.post("/orders", json=_order(5, symbol, 3300.0), headers=placing)
                again_id = again.json()["id"]
                resumed = await _next_update(
                    ws, "orders", lambda o: o["id"] == again_id and o["status"] == "submitted"
                )
                assert resumed["venue_order_id"] == "1_102_4"  # refs go on from MaxOrderRef

                # Market data: a tick inside the session reaches the quotes.
                opening = datetime.combine(broker.trading_day, time(10, 0), SHANGHAI)
                broker.tick(symbol, last=3510.0, bid=3509.0, ask=3511.0, at=opening)
                quote = await _eventually(
                    http, f"/quotes/SHFE.{symbol}", tom, lambda q: q["last_price"] == 3510.0
                )
                assert quote["trading_day"] == broker.trading_day.isoformat()

                # What CTP cannot take is refused at once, saying why.
                market = {**_order(6, symbol, 3500.0), "type": "market", "price": None}
                refused_market = await http.post("/orders", json=market, headers=placing)
                assert refused_market.json()["status"] == "rejected"
                assert (
                    "SHFE does not accept market orders" in refused_market.json()["reject_reason"]
                )
                stop = {
                    **market,
                    "client_order_id": "ctp-7",
                    "type": "stop",
                    "trigger_price": 3600.0,
                    "volume": 1,
                }
                refused_stop = await http.post("/orders", json=stop, headers=placing)
                assert refused_stop.status_code == 201, refused_stop.text
                assert refused_stop.json()["status"] == "rejected"
                assert "held locally" in refused_stop.json()["reject_reason"]

    # A restart: the resting order is filled while the gateway is down; the catch-up after
    # the next login applies the fill, and it is booked.
    broker.fill("4", 2, 3300.0)
    async with Gateway(settings, broker) as gateway:
        http = httpx.AsyncClient(base_url=f"{gateway.url}/api/v1")
        async with http:
            tom = await _login(http)
            order = await _eventually(
                http, f"/orders/{again_id}", tom, lambda o: o["status"] == "filled"
            )
            assert order["venue_order_id"] == "1_102_4"
            positions = await _eventually(
                http, "/positions", tom, lambda p: p and p[0]["volume"] == 4
            )
            assert positions[0]["symbol"] == symbol
