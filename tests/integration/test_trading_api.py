"""Trading through the REST API of a running gateway: paper accounts, orders against the replayed
market, booking into positions and money, cancels, and the refusals a client can cause.

Runs on the embedded default (SQLite, inline functions) and on PostgreSQL + Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.auth.step_up import STEP_UP, TRADING_TOKEN_HEADER
from shared.config import Settings
from shared.domain import Direction, Exchange, Offset, Order, OrderType, Side
from shared.store import Role, UserRepository, create_engine, session_factory
from shared.store.orders import OrderStore
from shared.store.tables import PositionRow
from tests.support.gateway import add_user, embedded_settings

PASSWORDS = {"ann": "ann-password-1", "tom": "tom-password-1", "tim": "tim-password-1"}
ROLES = {"ann": Role.VIEWER, "tom": Role.TRADER, "tim": Role.TRADER}
TRADING_PASSWORD = "tom-trading-secret-9"
KEY = "CFFEX.IF2101"
TICK = 0.2
STARTING_BALANCE = 1_000_000.0

Client = AsyncTestClient[Litestar]


@pytest.fixture(params=["embedded", "postgres+redis"])
async def trading_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    settings = embedded_settings(tmp_path, replay_speed=50.0, mark_interval_s=0.5)
    if request.param == "postgres+redis":
        settings = msgspec.structs.replace(
            settings,
            database_url=request.getfixturevalue("postgres_url"),
            bus="redis",
            redis_url=request.getfixturevalue("redis_server"),
            redis_prefix=request.getfixturevalue("redis_prefix"),
        )
    for name, role in ROLES.items():
        await add_user(settings, name, PASSWORDS[name], role)
    STEP_UP.reset()
    return settings


@pytest.fixture
async def client(trading_settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(trading_settings)) as test_client:
        yield test_client


async def _login(client: Client, user: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", json={"username": user, "password": PASSWORDS[user]}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _trader(client: Client, user: str = "tom") -> dict[str, str]:
    """Logged in, stepped up, with a paper account named after the user."""
    headers = await _login(client, user)
    set_password = await client.put(
        "/api/v1/auth/trading-password",
        json={"password": PASSWORDS[user], "new_trading_password": TRADING_PASSWORD},
        headers=headers,
    )
    assert set_password.status_code in {200, 204}, set_password.text
    token = await client.post(
        "/api/v1/auth/trading-token", json={"trading_password": TRADING_PASSWORD}, headers=headers
    )
    assert token.status_code == 201, token.text
    opened = await client.post(
        "/api/v1/accounts", json={"account_id": f"{user}-paper"}, headers=headers
    )
    assert opened.status_code == 201, opened.text
    return {**headers, TRADING_TOKEN_HEADER: token.json()["trading_token"]}


async def _eventually(
    probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], within_s: float = 15.0
) -> Any:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = await probe()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {within_s}s; last: {value!r}")
        await asyncio.sleep(0.05)


async def _quote(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    """A quote of the continuous session (two-sided, after the 09:30 open)."""

    async def latest() -> httpx.Response:
        return await client.get(f"/api/v1/quotes/{KEY}", headers=headers)

    def two_sided(response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        quote = response.json()
        return bool(quote.get("bid_price") and quote.get("ask_price")) and (
            quote["ts"][11:19] >= "01:30:05"  # 09:30:05 in Shanghai
        )

    response = await _eventually(latest, two_sided)
    quote: dict[str, Any] = response.json()
    return quote


def _order(client_order_id: str, price: float, **fields: Any) -> dict[str, Any]:
    return {
        "account_id": "tom-paper",
        "client_order_id": client_order_id,
        "exchange": "CFFEX",
        "symbol": "IF2101",
        "side": "buy",
        "offset": "open",
        "type": "limit",
        "volume": 1,
        "price": round(price, 1),
        **fields,
    }


def _error(response: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    if field is not None:
        assert field in body["fields"], body


async def test_a_filled_order_is_booked_into_position_trades_and_account(client: Client) -> None:
    headers = await _trader(client)
    accounts = (await client.get("/api/v1/account", headers=headers)).json()
    assert [(a["account"]["account_id"], a["equity"]) for a in accounts] == [
        ("tom-paper", STARTING_BALANCE)
    ]
    quote = await _quote(client, headers)
    placed = await client.post(
        "/api/v1/orders", json=_order("buy-1", quote["ask_price"] + 5 * TICK), headers=headers
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()

    async def get_order() -> dict[str, Any]:
        response = await client.get(f"/api/v1/orders/{order['id']}", headers=headers)
        result: dict[str, Any] = response.json()
        return result

    filled = await _eventually(get_order, lambda o: o["status"] == "filled")
    fill_price = filled["average_fill_price"]
    assert fill_price <= quote["ask_price"] + 5 * TICK + 1e-9

    async def get_positions() -> list[dict[str, Any]]:
        response = await client.get("/api/v1/positions", headers=headers)
        result: list[dict[str, Any]] = response.json()
        return result

    (position,) = await _eventually(get_positions, lambda p: len(p) == 1)
    assert (position["direction"], position["volume"], position["today_volume"]) == ("long", 1, 1)
    assert position["average_price"] == pytest.approx(fill_price)
    assert position["margin"] > 0

    (trade,) = (await client.get("/api/v1/trades", headers=headers)).json()
    assert (trade["order_id"], trade["price"], trade["volume"]) == (order["id"], fill_price, 1)
    assert trade["commission"] > 0  # booked: the instrument's opening fee
    (view,) = (await client.get("/api/v1/account", headers=headers)).json()
    account = view["account"]
    assert account["balance"] == pytest.approx(STARTING_BALANCE - trade["commission"])
    assert account["margin"] == pytest.approx(position["margin"])
    assert account["available"] == pytest.approx(
        account["balance"] + account["unrealized_pnl"] - account["margin"]
    )
    events = (await client.get(f"/api/v1/orders/{order['id']}/events", headers=headers)).json()
    assert [e["kind"] for e in events] == ["accepted", "filled"]

    # A retry of the same request is the same order, and nothing more is sent or booked.
    again = await client.post(
        "/api/v1/orders", json=_order("buy-1", quote["ask_price"] + 5 * TICK), headers=headers
    )
    assert again.status_code == 201
    assert again.json()["id"] == order["id"]
    # The same client id with other terms is a client bug, not a retry.
    _error(
        await client.post(
            "/api/v1/orders", json=_order("buy-1", quote["ask_price"], volume=2), headers=headers
        ),
        409,
        "client_order_id_reused",
        "client_order_id",
    )
    assert len((await client.get("/api/v1/trades", headers=headers)).json()) == 1


async def test_resting_orders_cancel_one_by_one_and_all_at_once(client: Client) -> None:
    headers = await _trader(client)
    quote = await _quote(client, headers)
    far_below = quote["bid_price"] - 50 * TICK
    ids = []
    for n in range(3):
        placed = await client.post(
            "/api/v1/orders", json=_order(f"rest-{n}", far_below - n * TICK), headers=headers
        )
        assert placed.status_code == 201, placed.text
        assert placed.json()["status"] == "submitted"
        ids.append(placed.json()["id"])
    working = (await client.get("/api/v1/orders?status=working", headers=headers)).json()
    assert [o["id"] for o in working] == ids[::-1]  # newest first

    cancelled = await client.delete(f"/api/v1/orders/{ids[0]}", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    _error(await client.delete(f"/api/v1/orders/{ids[0]}", headers=headers), 409, "not_cancellable")

    # Another trader sees none of it and cannot cancel it.
    tim = await _trader(client, "tim")
    _error(await client.delete(f"/api/v1/orders/{ids[1]}", headers=tim), 404, "unknown_order")
    assert (await client.get("/api/v1/orders", headers=tim)).json() == []
    _error(
        await client.get("/api/v1/positions?account_id=tom-paper", headers=tim),
        404,
        "unknown_account",
        "account_id",
    )

    # Cancelling needs no trading token: a trader must always be able to pull orders.
    no_token = {k: v for k, v in headers.items() if k != TRADING_TOKEN_HEADER}
    result = await client.post(
        "/api/v1/orders/cancel-all", json={"symbol": "IF2101"}, headers=no_token
    )
    assert result.status_code == 200, result.text
    body = result.json()
    assert sorted(o["id"] for o in body["cancelled"]) == sorted(ids[1:])
    assert all(o["status"] == "cancelled" for o in body["cancelled"])
    assert body["failed"] == []
    assert (await client.get("/api/v1/orders?status=working", headers=headers)).json() == []


async def test_risk_refusals_are_stored_and_name_the_rule_and_field(client: Client) -> None:
    headers = await _trader(client)
    quote = await _quote(client, headers)
    off_grid = await client.post(
        "/api/v1/orders", json=_order("odd", quote["bid_price"] + 0.1), headers=headers
    )
    _error(off_grid, 422, "risk_rejected", "price")
    assert off_grid.json()["detail"].startswith("price_tick:")
    closing_nothing = await client.post(
        "/api/v1/orders",
        json=_order("close", quote["bid_price"], side="sell", offset="close"),
        headers=headers,
    )
    _error(closing_nothing, 422, "risk_rejected", "volume")
    rejected = (await client.get("/api/v1/orders?status=finished", headers=headers)).json()
    assert {o["client_order_id"]: o["status"] for o in rejected} == {
        "odd": "rejected",
        "close": "rejected",
    }
    assert rejected[1]["reject_reason"].startswith("price_tick:")


async def test_who_may_trade_and_what_a_request_must_hold(client: Client) -> None:
    viewer = await _login(client, "ann")
    _error(await client.get("/api/v1/account", headers=viewer), 403, "forbidden")
    tom = await _login(client, "tom")
    # The broker's view exists only with a live venue.
    _error(await client.get("/api/v1/venue", headers=tom), 404, "no_live_venue")
    # No trading token: the step-up is required before anything else is looked at.
    _error(
        await client.post("/api/v1/orders", json=_order("x", 5000.0), headers=tom),
        403,
        "step_up_required",
        TRADING_TOKEN_HEADER,
    )
    headers = await _trader(client)
    _error(
        await client.post("/api/v1/accounts", json={"account_id": "tom-paper"}, headers=headers),
        409,
        "account_exists",
        "account_id",
    )
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**_order("a", 5000.0), "prcie": 1.0}, 422, "prcie"),
        (_order("b", 5000.0, volume=0), 422, "volume"),
        (_order("c", -1.0), 422, "price"),
        (_order("d", 5000.0, side="long"), 422, "side"),
        (_order("e bad id", 5000.0), 422, "client_order_id"),
        (_order("f", 5000.0, account_id="tim-paper"), 404, "account_id"),
        ({k: v for k, v in _order("g", 5000.0).items() if k != "price"}, 422, "price"),
        (_order("h", 5000.0, type="stop"), 422, "trigger_price"),
    ]
    for body, status, field in cases:
        response = await client.post("/api/v1/orders", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert field in response.json()["fields"], (body, response.text)
    _error(
        await client.get("/api/v1/orders?before=2021-01-04T09:30:00", headers=headers),
        422,
        "validation_error",
        "before",
    )
    _error(
        await client.get("/api/v1/orders?limit=0", headers=headers),
        422,
        "validation_error",
        "limit",
    )
    _error(await client.get("/api/v1/orders/nope", headers=headers), 404, "unknown_order")
    # None of these left an order behind.
    assert (await client.get("/api/v1/orders", headers=headers)).json() == []


async def test_a_restart_restores_working_orders_and_ends_the_unsent_one(
    trading_settings: Settings,
) -> None:
    async with AsyncTestClient(app=create_app(trading_settings)) as client:
        headers = await _trader(client)
        quote = await _quote(client, headers)
        placed = await client.post(
            "/api/v1/orders", json=_order("rest", quote["bid_price"] - 50 * TICK), headers=headers
        )
        assert placed.json()["status"] == "submitted", placed.text
        resting = placed.json()["id"]
    # An order written but never sent: the gateway stopped in between.
    engine = create_engine(trading_settings.database_url)
    try:
        ts = datetime.fromisoformat(placed.json()["created_at"])
        unsent = Order(
            id="unsent-1", client_order_id="unsent", account_id="tom-paper", symbol="IF2101",
            exchange=Exchange.CFFEX, side=Side.BUY, offset=Offset.OPEN, type=OrderType.LIMIT,
            volume=1, price=quote["bid_price"] - 60 * TICK, created_at=ts, updated_at=ts,
        )  # fmt: skip
        sessions = session_factory(engine)
        tom = await UserRepository(sessions).get_by_username("tom")
        assert tom is not None
        await OrderStore(sessions).place(tom.id, unsent)
    finally:
        await engine.dispose()

    async with AsyncTestClient(app=create_app(trading_settings)) as client:
        headers = {**(await _login(client, "tom"))}
        working = (await client.get("/api/v1/orders?status=working", headers=headers)).json()
        assert [o["id"] for o in working] == [resting]
        ended = (await client.get("/api/v1/orders/unsent-1", headers=headers)).json()
        assert ended["status"] == "rejected"
        assert "stopped" in ended["reject_reason"]
        # Restored in the paper exchange: it can be cancelled there.
        cancelled = await client.delete(f"/api/v1/orders/{resting}", headers=headers)
        assert cancelled.json()["status"] == "cancelled", cancelled.text


async def test_closing_a_shfe_position_splits_it_into_yesterday_and_today_orders(
    client: Client, trading_settings: Settings
) -> None:
    headers = await _trader(client)
    listed = await client.get("/api/v1/instruments?exchange=SHFE&limit=1", headers=headers)
    (instrument,) = listed.json()["items"]
    symbol = instrument["symbol"]
    engine = create_engine(trading_settings.database_url)
    try:
        async with session_factory(engine).begin() as session:
            session.add(
                PositionRow(
                    account_id="tom-paper", exchange=Exchange.SHFE, symbol=symbol,
                    direction=Direction.LONG, volume=5, today_volume=2, yesterday_volume=3,
                    average_price=1000.0, realized_pnl=0.0, unrealized_pnl=0.0, margin=0.0,
                    updated_at=datetime.now(UTC),
                )
            )  # fmt: skip
    finally:
        await engine.dispose()

    def close(cid: str, volume: int, **fields: Any) -> dict[str, Any]:
        return {"account_id": "tom-paper", "client_order_id": cid, "exchange": "SHFE",
                "symbol": symbol, "direction": "long", "volume": volume, "price": 1000.0,
                **fields}  # fmt: skip

    split = await client.post("/api/v1/positions/close", json=close("c1", 4), headers=headers)
    assert split.status_code == 201, split.text
    legs = [(o["client_order_id"], o["side"], o["offset"], o["volume"]) for o in split.json()]
    assert legs == [("c1:y", "sell", "close_yesterday", 3), ("c1:t", "sell", "close_today", 1)]
    again = await client.post("/api/v1/positions/close", json=close("c1", 4), headers=headers)
    assert [o["id"] for o in again.json()] == [o["id"] for o in split.json()]  # a retry
    today_first = await client.post(
        "/api/v1/positions/close", json=close("c2", 2, today_first=True), headers=headers
    )
    assert [(o["offset"], o["volume"]) for o in today_first.json()] == [("close_today", 2)]
    _error(
        await client.post("/api/v1/positions/close", json=close("c3", 6), headers=headers),
        422,
        "nothing_to_close",
        "volume",
    )
    _error(
        await client.post(
            "/api/v1/positions/close", json=close("c4", 1, direction="short"), headers=headers
        ),
        422,
        "nothing_to_close",
        "volume",
    )
    _error(
        await client.post("/api/v1/positions/close", json=close("c5:x", 1), headers=headers),
        422,
        "validation_error",
        "client_order_id",
    )
