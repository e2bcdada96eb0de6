"""GET /api/v1/products and /api/v1/instruments in the app (embedded and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from shared.config import Settings
from shared.instruments import SEED_CONTRACTS, shipped_products
from shared.store import Role, create_engine, session_factory
from shared.store.catalogue import load_shipped_catalogue
from tests.support.gateway import add_user, embedded_settings

PASSWORD = "viewer-password-1"


async def _load_catalogue(settings: Settings) -> None:
    # Until the gateway loads the catalogue at start-up, the test does (idempotent either way).
    engine = create_engine(settings.database_url)
    try:
        await load_shipped_catalogue(session_factory(engine))
    finally:
        await engine.dispose()


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
async def client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    overrides = {}
    if request.param == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    settings = embedded_settings(tmp_path, **overrides)
    await add_user(settings, "ann", PASSWORD, Role.VIEWER)  # migrates the database first
    await _load_catalogue(settings)
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        login = await test_client.post(
            "/api/v1/auth/token", json={"username": "ann", "password": PASSWORD}
        )
        assert login.status_code == 201, login.text
        test_client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield test_client


def _assert_error(response: httpx.Response, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert field in body["fields"], body


async def test_products(client: AsyncTestClient[Litestar]) -> None:
    everything = (await client.get("/api/v1/products")).json()
    assert len(everything) == len(shipped_products())
    index = next(item for item in everything if item["code"] == "IF")
    assert index["exchange"] == "CFFEX"
    assert (index["multiplier"], index["price_tick"], index["limit_ratio"]) == (300, 0.2, 0.1)
    assert set(index["commission"]) >= {"open_by_money", "close_today_by_money"}
    gold = next(item for item in everything if item["code"] == "au")
    assert gold["earlier_ticks"] == [{"until": "2019-12-10", "tick": 0.05}]

    czce = (await client.get("/api/v1/products", params={"exchange": "CZCE"})).json()
    assert czce
    assert {item["exchange"] for item in czce} == {"CZCE"}
    _assert_error(
        await client.get("/api/v1/products", params={"exchange": "NYMEX"}),
        422,
        "validation_error",
        "exchange",
    )


async def test_instrument_list_and_filters(client: AsyncTestClient[Litestar]) -> None:
    page = (await client.get("/api/v1/instruments")).json()
    assert page["total"] == len(SEED_CONTRACTS)
    assert [f"{item['exchange']}.{item['symbol']}" for item in page["items"]] == sorted(
        symbol for symbol, _ in SEED_CONTRACTS
    )
    assert (page["limit"], page["offset"]) == (100, 0)

    async def keys(**params: object) -> list[str]:
        response = await client.get("/api/v1/instruments", params=params)
        assert response.status_code == 200, response.text
        return [f"{item['exchange']}.{item['symbol']}" for item in response.json()["items"]]

    assert await keys(exchange="CFFEX") == [
        "CFFEX.IC2105", "CFFEX.IF2003", "CFFEX.IF2101", "CFFEX.T2003",
    ]  # fmt: skip
    assert await keys(product="cu") == ["SHFE.cu1905", "SHFE.cu1909"]
    assert await keys(symbol="rb20") == ["SHFE.rb2002"]
    assert await keys(exchange="DCE", symbol="IF") == []
    first, rest = await keys(limit=5), await keys(limit=100, offset=5)
    assert first + rest == [f"{item['exchange']}.{item['symbol']}" for item in page["items"]]

    for params, field in [
        ({"exchange": "shfe"}, "exchange"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"symbol": "x" * 33}, "symbol"),
        ({"symbol": "rb\x00"}, "symbol"),
        ({"symbol": "rb%"}, "symbol"),
        ({"product": "r_"}, "product"),
    ]:
        response = await client.get("/api/v1/instruments", params=params)
        _assert_error(response, 422, "validation_error", field)


async def test_one_instrument_and_authentication(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/instruments/CFFEX/IF2101")
    assert response.status_code == 200, response.text
    index = response.json()
    assert (index["symbol"], index["product"], index["multiplier"]) == ("IF2101", "IF", 300)
    meal = (await client.get("/api/v1/instruments/CZCE/RM705")).json()
    assert (meal["price_tick"], meal["multiplier"]) == (1.0, 10)

    _assert_error(
        await client.get("/api/v1/instruments/SHFE/rb9999"), 404, "unknown_instrument", "symbol"
    )
    _assert_error(
        await client.get("/api/v1/instruments/DCE/IF2101"), 404, "unknown_instrument", "symbol"
    )
    _assert_error(
        await client.get("/api/v1/instruments/LME/cu1905"), 422, "validation_error", "exchange"
    )
    _assert_error(
        await client.get("/api/v1/instruments/SHFE/rb%002401"), 422, "validation_error", "symbol"
    )

    anonymous = {"Authorization": ""}
    responses = await asyncio.gather(
        client.get("/api/v1/products", headers=anonymous),
        client.get("/api/v1/instruments", headers=anonymous),
        client.get("/api/v1/instruments/CFFEX/IF2101", headers=anonymous),
    )
    assert [response.status_code for response in responses] == [401, 401, 401]
