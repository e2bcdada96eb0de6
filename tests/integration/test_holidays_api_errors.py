"""Every refusal of the calendar endpoints: status, error code and the field (or CSV line) named,
and nothing stored or changed by a refused update."""

from __future__ import annotations

from pathlib import Path

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from shared.config import Settings
from shared.store import AuditLog, Role, create_engine, session_factory
from tests.support.gateway import add_user, embedded_settings

PASSWORDS = {"ann": "ann-password-1", "root": "root-password-1"}
YEAR = 2026  # the last year of the shipped file
NEXT = YEAR + 1


async def _login(client: AsyncTestClient[Litestar], user: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", json={"username": user, "password": PASSWORDS[user]}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _assert_error(response: httpx.Response, status: int, code: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}, body
    assert body["error"] == code, body
    if field is not None:
        assert field in body["fields"], body


async def _settings(tmp_path: Path) -> Settings:
    settings = embedded_settings(tmp_path)
    await add_user(settings, "ann", PASSWORDS["ann"], Role.VIEWER)
    await add_user(settings, "root", PASSWORDS["root"], Role.ADMIN)
    return settings


async def test_reading_refusals(tmp_path: Path) -> None:
    async with AsyncTestClient(app=create_app(await _settings(tmp_path))) as client:
        _assert_error(await client.get("/api/v1/calendar/holidays"), 401, "unauthorized", None)
        viewer = await _login(client, "ann")

        async def get(path: str, **params: str) -> httpx.Response:
            return await client.get(f"/api/v1/calendar/{path}", params=params, headers=viewer)

        _assert_error(await get("holidays", year="1900"), 404, "unknown_year", "year")
        _assert_error(await get("holidays", year="soon"), 422, "validation_error", "year")

        cases = [
            ({"end": f"{YEAR}-01-31"}, "start"),
            ({"start": f"{YEAR}-01-01"}, "end"),
            ({"start": f"{YEAR}-13-01", "end": f"{YEAR}-12-31"}, "start"),
            ({"start": f"{YEAR}-02-01", "end": f"{YEAR}-01-01"}, "start"),
            ({"start": "2015-01-01", "end": "2018-12-31"}, "end"),  # more than 3 years
            ({"start": "2000-01-03", "end": "2000-01-31"}, "start"),  # before the calendar
            ({"start": f"{YEAR}-12-01", "end": f"{NEXT}-01-31"}, "end"),  # after it
        ]
        for params, field in cases:
            _assert_error(await get("trading-days", **params), 422, "validation_error", field)

        at = f"{YEAR}-03-06T21:30:00+08:00"
        cases = [
            ({"product": "rb"}, "ts"),
            ({"ts": f"{YEAR}-03-06T21:30:00", "product": "rb"}, "ts"),  # no offset
            ({"ts": "yesterday", "product": "rb"}, "ts"),
            ({"ts": at}, "product"),
            ({"ts": at, "product": "zz"}, "product"),  # no such product, no exchange given
            ({"ts": at, "product": "rb1"}, "product"),
            ({"ts": at, "product": "rb", "exchange": "NYMEX"}, "exchange"),
            ({"ts": "2040-03-06T21:30:00+08:00", "product": "rb"}, "ts"),
        ]
        for params, field in cases:
            _assert_error(await get("trading-day", **params), 422, "validation_error", field)


async def test_refused_updates_change_nothing(tmp_path: Path) -> None:
    settings = await _settings(tmp_path)
    async with AsyncTestClient(app=create_app(settings)) as client:
        viewer, admin = await _login(client, "ann"), await _login(client, "root")
        url = f"/api/v1/calendar/holidays/{YEAR}"
        good = {"holidays": [{"date": f"{YEAR}-01-01", "name": "New Year"}]}
        before = (await client.get("/api/v1/calendar/holidays", headers=viewer)).json()

        _assert_error(await client.put(url, json=good), 401, "unauthorized", None)
        _assert_error(await client.put(url, json=good, headers=viewer), 403, "forbidden", None)

        def holidays(*items: tuple[str, str]) -> dict[str, object]:
            return {"holidays": [{"date": day, "name": name} for day, name in items]}

        json_cases: list[tuple[str, object, str]] = [
            (url, {"night_suspensions": []}, "holidays"),
            (url, {"holidays": [{"name": "x"}]}, "holidays[0].date"),
            (url, holidays((f"{YEAR}-02-30", "x")), "holidays[0].date"),
            (url, holidays((f"{YEAR}-01-01", "x"), (f"{NEXT}-01-01", "y")), "holidays[1].date"),
            (url, holidays((f"{YEAR}-01-03", "a Saturday")), "holidays[0].date"),
            (url, holidays((f"{YEAR}-01-01", "x"), (f"{YEAR}-01-01", "x")), "holidays"),
            (url, holidays((f"{YEAR}-01-01", "x" * 65)), "holidays[0].name"),
            (url, {"holidays": []}, "holidays"),
            (url, good | {"extra": 1}, "extra"),
            (url, good | {"night_suspensions": [f"{YEAR}-01-01"]}, "night_suspensions[0]"),
            (url, good | {"night_suspensions": [f"{YEAR}-01-04"]}, "night_suspensions[0]"),
            (url, [1, 2], "body"),
            # A year after a gap: the calendar's years must stay contiguous.
            (f"/api/v1/calendar/holidays/{NEXT + 1}", holidays((f"{NEXT + 1}-01-03", "x")), "year"),
            ("/api/v1/calendar/holidays/1800", good, "year"),
        ]
        for target, body, field in json_cases:
            response = await client.put(target, json=body, headers=admin)
            _assert_error(response, 422, "validation_error", field)

        csv_cases = [
            ("day,name\n2026-01-01,x\n", "line 1"),
            ("# comment\ndate,name\n2026-01-01,x\n2026-1-2,y\n", "line 4"),
            ("date,name\n2026-01-01,x\n2026-01-03,Saturday\n", "line 3"),
            ("date,name\n2026-01-01,x,extra\n", "line 2"),
            ("date,name,kind\n2026-01-01,x,holiday\n2026-01-05,,closure\n", "line 3"),
            ("date,name,kind\n2026-01-01,x,holiday\n2026-01-04,,night_suspension\n", "line 3"),
            ("# only a comment\n", "body"),
        ]
        for text, field in csv_cases:
            headers = admin | {"Content-Type": "text/csv"}
            response = await client.put(url, content=text.encode(), headers=headers)
            _assert_error(response, 422, "validation_error", field)

        csv_headers = admin | {"Content-Type": "text/csv"}
        latin1 = "date,name\n2026-01-01,Neujahr \xe4\n".encode("latin-1")
        _assert_error(
            await client.put(url, content=latin1, headers=csv_headers),
            422,
            "validation_error",
            "body",
        )
        json_headers = admin | {"Content-Type": "application/json"}
        _assert_error(
            await client.put(url, content=b'{"holidays": [', headers=json_headers),
            400,
            "malformed_body",
            "body",
        )
        _assert_error(
            await client.put(url, content=b"", headers=json_headers), 400, "missing_body", "body"
        )
        _assert_error(
            await client.put(
                url, content=b"2026-01-01", headers=admin | {"Content-Type": "text/plain"}
            ),
            415,
            "unsupported_media_type",
            "content-type",
        )

        assert (await client.get("/api/v1/calendar/holidays", headers=viewer)).json() == before
    engine = create_engine(settings.database_url)
    try:
        entries = await AuditLog(session_factory(engine)).recent()
    finally:
        await engine.dispose()
    assert [e for e in entries if e.action == "calendar.update"] == []
