"""GET /api/v1/bars in-process, on the embedded default (SQLite) and on PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from polars.testing import assert_frame_equal

from gateway.app import create_app
from shared.store import Role, create_engine
from shared.store.market_data import BarStore
from tests.support.gateway import add_user, embedded_settings
from tests.support.market_data import real_bars

if TYPE_CHECKING:
    from tests.conftest import PostgresDatabases

SHANGHAI = ZoneInfo("Asia/Shanghai")
PARQUET = "application/vnd.apache.parquet"
PASSWORD = "viewer-password-1"
COLUMNS = ["start", "open", "high", "low", "close", "volume", "turnover", "open_interest",
           "trading_day"]  # fmt: skip


@pytest.fixture(scope="module")
def au1912(shared_data: Path) -> pl.DataFrame:
    return real_bars(shared_data)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def client(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    au1912: pl.DataFrame,
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """One app per backend for the module, its database holding the au1912 bars."""
    var_dir = tmp_path_factory.mktemp("bars-api")
    settings = embedded_settings(var_dir)
    if request.param == "postgresql":
        databases: PostgresDatabases = request.getfixturevalue("postgres_database_factory")
        settings = embedded_settings(var_dir, database_url=databases.create("barsapi"))
    await add_user(settings, "viewer", PASSWORD, Role.VIEWER)  # migrates the database
    engine = create_engine(settings.database_url)
    await BarStore(engine).ingest(au1912)
    await engine.dispose()
    async with AsyncTestClient(app=create_app(settings)) as client:
        login = await client.post(
            "/api/v1/auth/token", json={"username": "viewer", "password": PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield client


def _as_frame(columns: dict[str, list[object]]) -> pl.DataFrame:
    return pl.DataFrame(columns).with_columns(
        pl.col("start").str.to_datetime(time_zone="UTC", time_unit="us"),
        pl.col("trading_day").str.to_date(),
        pl.col("volume").cast(pl.Int64),
    )


async def test_json_columns_are_the_stored_bars(
    client: AsyncTestClient[Litestar], au1912: pl.DataFrame
) -> None:
    response = await client.get("/api/v1/bars", params={"symbol": "SHFE.au1912", "limit": 100_000})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["symbol"], body["exchange"], body["interval"]) == ("au1912", "SHFE", "1m")
    assert list(body["columns"]) == COLUMNS
    assert body["columns"]["start"][0] == "2019-04-08T05:36:00Z"  # 13:36 Shanghai, the first bar
    assert_frame_equal(_as_frame(body["columns"]), au1912.select(COLUMNS))


async def test_default_limit_is_the_latest_5000(
    client: AsyncTestClient[Litestar], au1912: pl.DataFrame
) -> None:
    response = await client.get("/api/v1/bars?symbol=SHFE.au1912&interval=1m")
    assert_frame_equal(_as_frame(response.json()["columns"]), au1912.tail(5000).select(COLUMNS))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2019-05-06T21:00:00+08:00", "2019-05-07T02:30:00+08:00"),
        ("2019-05-06T13:00:00Z", "2019-05-06T18:30:00Z"),
        ("2019-05-06T21:00:00 08:00", "2019-05-07T02:30:00 08:00"),  # an unescaped "+"
    ],
)
async def test_range_start_inclusive_end_exclusive(
    client: AsyncTestClient[Litestar], au1912: pl.DataFrame, start: str, end: str
) -> None:
    response = await client.get(
        "/api/v1/bars", params={"symbol": "SHFE.au1912", "start": start, "end": end}
    )
    assert response.status_code == 200, response.text
    first = datetime(2019, 5, 6, 21, tzinfo=SHANGHAI).astimezone(UTC)
    until = datetime(2019, 5, 7, 2, 30, tzinfo=SHANGHAI).astimezone(UTC)
    expected = au1912.filter((pl.col("start") >= first) & (pl.col("start") < until))
    assert_frame_equal(_as_frame(response.json()["columns"]), expected.select(COLUMNS))
    limited = await client.get(
        "/api/v1/bars", params={"symbol": "SHFE.au1912", "start": start, "end": end, "limit": 7}
    )
    assert_frame_equal(_as_frame(limited.json()["columns"]), expected.tail(7).select(COLUMNS))


async def test_parquet_round_trip(client: AsyncTestClient[Litestar], au1912: pl.DataFrame) -> None:
    response = await client.get(
        "/api/v1/bars",
        params={"symbol": "SHFE.au1912", "limit": 100_000},
        headers={"Accept": PARQUET},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PARQUET
    table = pl.read_parquet(io.BytesIO(response.content))
    assert_frame_equal(table, au1912.select(COLUMNS))
    metadata = pl.read_parquet_metadata(io.BytesIO(response.content))
    assert (metadata["exchange"], metadata["symbol"], metadata["interval"]) == (
        "SHFE",
        "au1912",
        "1m",
    )


async def test_known_symbol_without_bars_in_the_window_is_empty(
    client: AsyncTestClient[Litestar],
) -> None:
    for params in ({"interval": "5m"}, {"start": "2030-01-01T00:00:00Z"}):
        response = await client.get("/api/v1/bars", params={"symbol": "SHFE.au1912", **params})
        assert response.status_code == 200, response.text
        assert all(values == [] for values in response.json()["columns"].values())


async def test_unknown_symbol_is_404(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/bars", params={"symbol": "SHFE.au2012"})
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_symbol"
    assert response.json()["fields"] == ["symbol"]


async def test_a_token_is_required(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get(
        "/api/v1/bars", params={"symbol": "SHFE.au1912"}, headers={"Authorization": ""}
    )
    assert response.status_code == 401


async def test_the_endpoint_is_documented(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/docs/openapi.json")).json()
    parameters = {p["name"] for p in schema["paths"]["/api/v1/bars"]["get"]["parameters"]}
    assert {"symbol", "interval", "start", "end", "limit"} <= parameters


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("symbol=au1912", "symbol"),
        ("symbol=LME.au1912", "symbol"),
        ("symbol=SHFE.", "symbol"),
        ("symbol=", "symbol"),
        ("interval=1m", "symbol"),  # no symbol at all
        ("symbol=SHFE.au1912&interval=7m", "interval"),
        ("symbol=SHFE.au1912&interval=", "interval"),
        ("symbol=SHFE.au1912&start=yesterday", "start"),
        ("symbol=SHFE.au1912&start=2019-05-06T21:00:00", "start"),  # naive
        ("symbol=SHFE.au1912&end=2019-05-06", "end"),  # a date: naive
        ("symbol=SHFE.au1912&start=2019-05-07T00:00:00Z&end=2019-05-06T00:00:00Z", "start"),
        ("symbol=SHFE.au1912&start=2019-05-07T00:00:00Z&end=2019-05-07T08:00:00%2B08:00", "end"),
        ("symbol=SHFE.au1912&limit=0", "limit"),
        ("symbol=SHFE.au1912&limit=100001", "limit"),
        ("symbol=SHFE.au1912&limit=ten", "limit"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    client: AsyncTestClient[Litestar], query: str, field: str
) -> None:
    response = await client.get(f"/api/v1/bars?{query}")
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == "validation_error"
    assert field in body["fields"], body


@pytest.mark.parametrize(
    "query",
    [
        "symbol=%ZZ",
        "symbol=%00",
        "symbol=SHFE.au1912%00",
        "symbol=" + "A" * 5000,
        "symbol=SHFE.%E9%BB%84%E9%87%91",
        "symbol=SHFE.au1912&symbol=DCE.m2005",
        "symbol=SHFE.au1912&start=%",
        "symbol=SHFE.au1912&start=0001-01-01T00:00:00%2B01:00",
        "symbol=SHFE.au1912&end=9999-12-31T23:59:59-23:59",
        "symbol=SHFE.au1912&start=2019-05-06T21:00:00%2B99:00",
        "symbol=SHFE.au1912&limit=99999999999999999999999999",
        "symbol=SHFE.au1912&limit=1e5",
        "symbol=SHFE.au1912&limit=-1",
        "symbol=SHFE.au1912&interval=1m&interval=5m",
        "symbol=SHFE.au1912&&&=&start",
        "symbol[]=SHFE.au1912",
    ],
)
async def test_malformed_queries_never_fail_the_server(
    client: AsyncTestClient[Litestar], query: str
) -> None:
    response = await client.get(f"/api/v1/bars?{query}")
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "detail", "fields"}


@pytest.mark.parametrize("accept", ["application/json;q=abc", "*/*;;;", "text/html", ","])
async def test_odd_accept_headers_get_json(client: AsyncTestClient[Litestar], accept: str) -> None:
    response = await client.get(
        "/api/v1/bars", params={"symbol": "SHFE.au1912", "limit": 3}, headers={"Accept": accept}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["columns"]["start"]) == 3
