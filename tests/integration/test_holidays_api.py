"""The calendar endpoints in the app: reading, the admin's yearly update, and its lasting effect."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from shared.config import Settings
from shared.sessions import parse_holidays_csv
from shared.store import AuditLog, Role, create_engine, session_factory
from tests.support.gateway import add_user, embedded_settings

PASSWORDS = {"ann": "ann-password-1", "root": "root-password-1"}
SHIPPED_CSV = resources.files("shared.sessions").joinpath("data", "holidays.csv")
SHIPPED_HOLIDAYS = {h.date: h.name for h in parse_holidays_csv(SHIPPED_CSV.read_text("utf-8"))}
LAST_YEAR = max(SHIPPED_HOLIDAYS).year


def _weekdays(first: date, last: date) -> list[date]:
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [day for day in days if day.weekday() < 5]


def _iso(days: list[date]) -> list[str]:
    return [day.isoformat() for day in days]


@contextlib.asynccontextmanager
async def _serving(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def _login(client: AsyncTestClient[Litestar], user: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", json={"username": user, "password": PASSWORDS[user]}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _settings_with_users(settings: Settings) -> Settings:
    await add_user(settings, "ann", PASSWORDS["ann"], Role.VIEWER)
    await add_user(settings, "root", PASSWORDS["root"], Role.ADMIN)
    return settings


@pytest.fixture
async def embedded(tmp_path: Path) -> Settings:
    return await _settings_with_users(embedded_settings(tmp_path))


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
async def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    overrides = {}
    if request.param == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    return await _settings_with_users(embedded_settings(tmp_path, **overrides))


def _assert_error(response: httpx.Response, status: int, code: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    if field is not None:
        assert field in body["fields"], body


async def _calendar_updates(settings: Settings) -> list[dict[str, object]]:
    engine = create_engine(settings.database_url)
    try:
        entries = await AuditLog(session_factory(engine)).recent()
    finally:
        await engine.dispose()
    return [e.detail | {"target": e.target} for e in entries if e.action == "calendar.update"]


async def test_the_shipped_calendar_is_served(embedded: Settings) -> None:
    async with _serving(embedded) as client:
        viewer = await _login(client, "ann")
        year = await client.get(f"/api/v1/calendar/holidays?year={LAST_YEAR}", headers=viewer)
        assert year.status_code == 200, year.text
        expected = [
            {"date": day.isoformat(), "name": name}
            for day, name in sorted(SHIPPED_HOLIDAYS.items())
            if day.year == LAST_YEAR
        ]
        assert year.json()["holidays"] == expected
        everything = (await client.get("/api/v1/calendar/holidays", headers=viewer)).json()
        assert len(everything["holidays"]) == len(SHIPPED_HOLIDAYS)
        assert everything["first_year"] == min(SHIPPED_HOLIDAYS).year
        # 2020-02-03 (a Monday) is inside the shipped COVID-19 night suspension.
        assert "2020-02-03" in everything["night_suspensions"]

        first, last = date(LAST_YEAR, 9, 1), date(LAST_YEAR, 10, 31)
        days = await client.get(
            f"/api/v1/calendar/trading-days?start={first}&end={last}", headers=viewer
        )
        assert days.status_code == 200, days.text
        trading = [day for day in _weekdays(first, last) if day not in SHIPPED_HOLIDAYS]
        assert days.json()["trading_days"] == _iso(trading)
        assert days.json()["count"] == len(trading)


async def test_trading_day_of_a_timestamp(embedded: Settings) -> None:
    friday = date(2021, 1, 8)
    monday = next(
        day
        for day in _weekdays(friday + timedelta(days=1), friday + timedelta(days=10))
        if day not in SHIPPED_HOLIDAYS
    )

    async with _serving(embedded) as client:
        viewer = await _login(client, "ann")

        async def trading_day(ts: str, product: str) -> object:
            response = await client.get(
                "/api/v1/calendar/trading-day",
                params={"ts": ts, "product": product},
                headers=viewer,
            )
            assert response.status_code == 200, response.text
            return response.json()["trading_day"]

        # Friday night belongs to the next trading day, including its part after midnight.
        assert await trading_day(f"{friday}T21:30:00+08:00", "rb") == monday.isoformat()
        assert await trading_day(f"{friday}T16:30:00Z", "au") == monday.isoformat()  # 00:30
        assert await trading_day(f"{friday}T10:00:00+08:00", "rb") == friday.isoformat()
        assert await trading_day(f"{friday}T12:00:00+08:00", "rb") is None  # lunch break
        assert await trading_day(f"{friday}T21:30:00+08:00", "IF") is None  # no CFFEX night


async def test_an_update_takes_effect_at_once_and_survives_a_restart(any_backend: Settings) -> None:
    year = LAST_YEAR
    october = (date(year, 10, 1), date(year, 10, 31))
    query = f"/api/v1/calendar/trading-days?start={october[0]}&end={october[1]}"
    new_table = {
        "holidays": [{"date": f"{year}-01-01", "name": "New Year"}],
        "night_suspensions": [f"{year}-03-06"],
    }
    async with _serving(any_backend) as client:
        admin = await _login(client, "root")
        before = (await client.get(query, headers=admin)).json()["trading_days"]
        assert f"{year}-10-01" not in before  # the shipped National Day closure

        put = await client.put(f"/api/v1/calendar/holidays/{year}", json=new_table, headers=admin)
        assert put.status_code == 200, put.text
        assert put.json()["holidays"] == new_table["holidays"]
        assert put.json()["night_suspensions"] == new_table["night_suspensions"]
        after = (await client.get(query, headers=admin)).json()["trading_days"]
        assert after == _iso(_weekdays(*october))

    async with _serving(any_backend) as restarted:
        viewer = await _login(restarted, "ann")
        assert (await restarted.get(query, headers=viewer)).json()["trading_days"] == after
        served = (
            await restarted.get(f"/api/v1/calendar/holidays?year={year}", headers=viewer)
        ).json()
        assert served["holidays"] == new_table["holidays"]
        assert served["night_suspensions"] == new_table["night_suspensions"]

    (update,) = await _calendar_updates(any_backend)
    kept = date(year, 1, 1)
    removed = sorted(d.isoformat() for d in SHIPPED_HOLIDAYS if d.year == year and d != kept)
    assert update["target"] == f"holidays/{year}"
    assert update["removed"] == removed
    assert update["added"] == []
    assert update["format"] == "json"


async def test_a_csv_update_adds_the_next_year(embedded: Settings) -> None:
    year = LAST_YEAR + 1
    new_year = date(year, 1, 1) if date(year, 1, 1).weekday() < 5 else date(year, 1, 4)
    body = (
        "# The next year, in the layout of the shipped holidays.csv.\n"
        "date,name\n"
        f"{new_year},New Year\n"
        f'{year}-10-01,"National Day, first day"\n'
    )
    async with _serving(embedded) as client:
        admin = await _login(client, "root")
        put = await client.put(
            f"/api/v1/calendar/holidays/{year}",
            content=body.encode(),
            headers=admin | {"Content-Type": "text/csv"},
        )
        assert put.status_code == 200, put.text
        assert put.json()["holidays"][1] == {
            "date": f"{year}-10-01",
            "name": "National Day, first day",
        }
        days = await client.get(
            f"/api/v1/calendar/trading-days?start={year}-01-01&end={year}-12-31", headers=admin
        )
        assert days.status_code == 200, days.text
        closed = {new_year, date(year, 10, 1)}
        expected = [d for d in _weekdays(date(year, 1, 1), date(year, 12, 31)) if d not in closed]
        assert days.json()["trading_days"] == _iso(expected)
    assert [u["format"] for u in await _calendar_updates(embedded)] == ["csv"]
