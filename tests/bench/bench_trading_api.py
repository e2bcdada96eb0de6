"""Orders through the REST API of a real gateway process on the embedded default, against the
issue's target: 1,000 orders a second sustained with p95 < 50 ms.

`quant serve` runs as the README starts it (SQLite file, inline functions, the paper exchange
on the replayed IF2101 market, real time). One trader with 60 paper accounts sends, on a fixed
schedule, the mix of a market-making front end: 48% resting limit orders, 48% cancels of
them, and 4% marketable FAK orders, whose fills the `orders` function books. Requests go to
the accounts in turn, keeping each inside the default per-account risk limits (20 orders a
second), which stay on. Latency counts from when a request was due (open loop).
"""

from __future__ import annotations

import asyncio
import collections
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec

from shared.config import Settings
from shared.store import Role
from tests.bench._table import Row
from tests.bench.rest_load import HttpConnection, LoadResult, header_block, json_body, open_loop
from tests.support.gateway import TEST_SECRET, add_user
from tests.support.load_gateway import cpu_seconds_of
from tests.support.server import Server

RATE = 1_000.0
SECONDS = 10.0
WARM_UP_SECONDS = 3.0
ACCOUNTS = 60
CONNECTIONS = 64
TARGET_P95_MS = 50.0
TICK = 0.2
PASSWORD = "bench-password-1"
TRADING_PASSWORD = "bench-trading-secret-2"


def _price(value: float) -> float:
    return round(round(value / TICK) * TICK, 1)


class Trader:
    """The request mix, from one quote taken at the start (the offsets outlast the moves of a
    short run). Of every 25 requests: 12 resting limit buys, 12 cancels of them, and one
    marketable FAK order, which fills what the replayed market shows (the paper exchange
    honours displayed volume) and cancels the rest. An account with a filled open closes it
    with its next marketable order. Prices do not repeat within a second per account (the
    duplicate-order rule), and resting buys sit below the account's own sells (self-trade)."""

    def __init__(self, headers: dict[str, str], bid: float, ask: float) -> None:
        self._headers = header_block({**headers, "Content-Type": "application/json"})
        self._bid = bid
        self._ask = ask
        self._resting: collections.deque[str] = collections.deque()
        self._long: set[str] = set()
        self._sent = 0
        self._tries: collections.Counter[str] = collections.Counter()
        self.refusals: collections.Counter[str] = collections.Counter()  # by error and rule
        self.fills = 0

    async def __call__(self, connection: HttpConnection, n: int) -> int:
        slot = n % 25
        self._sent += 1
        account = f"bench-{n % ACCOUNTS:02d}"
        if slot >= 12 and slot < 24 and self._resting:
            order_id = self._resting.popleft()
            path = f"/api/v1/orders/{order_id}"
            status, _ = await connection.request("DELETE", path, self._headers)
            return status
        self._tries[account] += 1
        step = TICK * (self._tries[account] % 200)
        if slot == 24:
            closing = account in self._long
            self._long.discard(account)
            body = (
                self._order(account, "sell", "close", _price(self._bid - 20.0 - step), "fak")
                if closing
                else self._order(account, "buy", "open", _price(self._ask + 30.0 + step), "fak")
            )
        else:
            body = self._order(account, "buy", "open", _price(self._bid - 30.0 - step), "day")
        status, answer = await connection.request("POST", "/api/v1/orders", self._headers, body)
        if status >= 400:
            detail = msgspec.json.decode(answer)
            self.refusals[f"{detail['error']} {detail['detail'].split(':', 1)[0]}"] += 1
        elif slot < 24:
            self._resting.append(answer.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode())
        elif b'"filled_volume":1' in answer:
            self.fills += 1
            if b'"offset":"open"' in answer:
                self._long.add(account)
        return status

    def _order(self, account: str, side: str, offset: str, price: float, tif: str) -> bytes:
        return json_body(
            {
                "account_id": account,
                "client_order_id": f"b{self._sent}",
                "exchange": "CFFEX",
                "symbol": "IF2101",
                "side": side,
                "offset": offset,
                "type": "limit",
                "time_in_force": tif,
                "volume": 1,
                "price": price,
            }
        )


def _prepare(server: Server) -> tuple[dict[str, str], dict[str, Any]]:
    url = f"{server.url}/api/v1"
    login = httpx.post(f"{url}/auth/token", json={"username": "bench", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    httpx.put(
        f"{url}/auth/trading-password",
        json={"password": PASSWORD, "new_trading_password": TRADING_PASSWORD},
        headers=headers,
    ).raise_for_status()
    token = httpx.post(
        f"{url}/auth/trading-token", json={"trading_password": TRADING_PASSWORD}, headers=headers
    )
    token.raise_for_status()
    for index in range(ACCOUNTS):
        httpx.post(
            f"{url}/accounts", json={"account_id": f"bench-{index:02d}"}, headers=headers
        ).raise_for_status()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        quote = httpx.get(f"{url}/quotes/CFFEX.IF2101", headers=headers)
        body = quote.json() if quote.status_code == 200 else {}
        if body.get("bid_price") and body.get("ask_price") and body["ts"][11:19] >= "01:30:05":
            return {**headers, "X-Trading-Token": token.json()["trading_token"]}, body
        time.sleep(0.2)
    raise RuntimeError("the replay showed no two-sided quote in 30 s")


async def _load(server: Server, trader: Trader) -> tuple[LoadResult, float]:
    await open_loop("127.0.0.1", server.port, trader, rate=RATE / 5, seconds=WARM_UP_SECONDS,
                    connections=CONNECTIONS)  # fmt: skip
    cpu_before = cpu_seconds_of(server.process.pid)
    result = await open_loop(
        "127.0.0.1", server.port, trader, rate=RATE, seconds=SECONDS, connections=CONNECTIONS
    )
    return result, cpu_seconds_of(server.process.pid) - cpu_before


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-trading-api-") as tmp:
        var = Path(tmp)
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{var}/quant.db", jwt_secret=TEST_SECRET
        )
        asyncio.run(add_user(settings, "bench", PASSWORD, Role.TRADER))
        server = Server(
            var,
            QUANT_REPLAY_SPEED="1",
            QUANT_JWT_SECRET=TEST_SECRET,
            QUANT_BOOTSTRAP_ADMIN="false",
            QUANT_LOG_LEVEL="WARNING",
            QUANT_PAPER_STARTING_BALANCE="100000000",
        )
        try:
            headers, quote = _prepare(server)
            trader = Trader(headers, quote["bid_price"], quote["ask_price"])
            result, cpu_s = asyncio.run(_load(server, trader))
        finally:
            output = server.stop()
        if "Traceback" in output:
            sys.stderr.write(output[-4000:])
    sys.stderr.write(
        f"bench_trading_api: {result.sent} requests in {result.seconds:.1f}s, statuses "
        f"{dict(sorted(result.statuses.items()))}, p50 {result.percentile(0.5):.1f} ms, "
        f"p99 {result.percentile(0.99):.1f} ms, gateway CPU {cpu_s / result.seconds:.2f} cores, "
        f"{trader.fills} fills, refusals {dict(trader.refusals.most_common())}\n"
    )
    return [
        Row("REST orders+cancels sustained, embedded", result.rate, "target", RATE, "req/s",
            higher_is_better=True),
        Row(f"REST order p95 at {RATE:,.0f}/s, embedded", result.percentile(0.95), "target",
            TARGET_P95_MS, "ms", higher_is_better=False),
    ]  # fmt: skip
