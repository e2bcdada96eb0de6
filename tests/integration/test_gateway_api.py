"""The gateway app in-process (ASGI test client) on the embedded default and on PostgreSQL+Redis."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.auth.guards import GUARD_ROLE_ATTRIBUTE
from gateway.auth.middleware import PUBLIC_PATHS
from shared.config import Settings
from shared.store import Role
from tests.support.gateway import add_user, embedded_settings

PASSWORDS = {"ann": "ann-password-1", "tom": "tom-password-1", "root": "root-password-1"}
ROLES = {"ann": Role.VIEWER, "tom": Role.TRADER, "root": Role.ADMIN}


async def _client_for(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    for name, role in ROLES.items():
        await add_user(settings, name, PASSWORDS[name], role)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.fixture(params=["embedded", "postgres+redis"])
async def client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    if request.param == "embedded":
        settings = embedded_settings(tmp_path)
    else:
        postgres_url = request.getfixturevalue("postgres_url")
        redis_url = request.getfixturevalue("redis_server")
        settings = embedded_settings(
            tmp_path,
            database_url=postgres_url,
            bus="redis",
            redis_url=redis_url,
            redis_prefix=request.getfixturevalue("redis_prefix"),
        )
    async for client in _client_for(settings):
        yield client


async def _token(client: AsyncTestClient[Litestar], user: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", json={"username": user, "password": PASSWORDS[user]}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "fields"}
    assert body["error"] == code, body
    if field is not None:
        assert field in body["fields"], body


async def test_health_ready_and_docs(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/health")).json()["status"] == "ok"
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    components = ready.json()["components"]
    assert set(components) == {
        "database",
        "bus",
        "quotes",
        "dispatcher",
        "objects",
        "venue",
        "websocket",
    }
    assert all(c["status"] == "up" for c in components.values()), components
    assert components["websocket"]["detail"] == "0 clients, 0 behind, 0 closed as too slow"
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    schema = (await client.get("/docs/openapi.json")).json()
    assert "/api/v1/auth/token" in schema["paths"]
    assert "bearer" in schema["components"]["securitySchemes"]


async def test_login_refresh_and_me(client: AsyncTestClient[Litestar]) -> None:
    login = await client.post(
        "/api/v1/auth/token", json={"username": "tom", "password": PASSWORDS["tom"]}
    )
    assert login.status_code == 201
    pair = login.json()
    assert pair["token_type"] == "bearer"
    assert pair["role"] == "trader"
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert me.json() == {"id": me.json()["id"], "username": "tom", "role": "trader"}
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 201
    assert refreshed.json()["access_token"] != pair["access_token"]
    # A refresh token cannot be used as an access token, nor an access token to refresh.
    wrong = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['refresh_token']}"}
    )
    _assert_error(wrong, 401, "unauthorized")
    _assert_error(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]}),
        401,
        "invalid_token",
        "refresh_token",
    )


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "tom", "password": "wrong-password"},
        {"username": "nobody", "password": "whatever-123"},
    ],
)
async def test_wrong_credentials_get_one_answer(
    client: AsyncTestClient[Litestar], credentials: dict[str, str]
) -> None:
    response = await client.post("/api/v1/auth/token", json=credentials)
    _assert_error(response, 401, "invalid_credentials")
    assert response.json()["detail"] == "unknown username or wrong password"


async def test_roles_are_enforced(client: AsyncTestClient[Litestar]) -> None:
    _assert_error(await client.get("/api/v1/users"), 401, "unauthorized")
    _assert_error(
        await client.get("/api/v1/users", headers={"Authorization": "Basic abc"}),
        401,
        "unauthorized",
    )
    _assert_error(
        await client.get("/api/v1/users", headers=await _token(client, "tom")), 403, "forbidden"
    )
    admin = await client.get("/api/v1/users", headers=await _token(client, "root"))
    assert sorted(u["username"] for u in admin.json()) == ["ann", "root", "tom"]
    assert (
        await client.get("/api/v1/quotes", headers=await _token(client, "ann"))
    ).status_code == 200


async def test_admin_manages_users_and_a_disabled_user_cannot_log_in(
    client: AsyncTestClient[Litestar],
) -> None:
    root = await _token(client, "root")
    created = await client.post(
        "/api/v1/users",
        headers=root,
        json={"username": "eve", "password": "eve-password-1", "role": "trader"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "trader"
    _assert_error(
        await client.post(
            "/api/v1/users", headers=root, json={"username": "eve", "password": "another-pass-1"}
        ),
        409,
        "user_exists",
        "username",
    )
    eve_id = created.json()["id"]
    refresh = (
        await client.post(
            "/api/v1/auth/token", json={"username": "eve", "password": "eve-password-1"}
        )
    ).json()["refresh_token"]
    changed = await client.patch(f"/api/v1/users/{eve_id}", headers=root, json={"is_active": False})
    assert changed.json()["is_active"] is False
    _assert_error(
        await client.post(
            "/api/v1/auth/token", json={"username": "eve", "password": "eve-password-1"}
        ),
        401,
        "invalid_credentials",
    )
    _assert_error(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}),
        401,
        "invalid_token",
    )
    me = (await client.get("/api/v1/auth/me", headers=root)).json()
    _assert_error(
        await client.patch(f"/api/v1/users/{me['id']}", headers=root, json={"role": "viewer"}),
        422,
        "self_lockout",
        "role",
    )


async def test_bad_input_gets_4xx_naming_the_field(client: AsyncTestClient[Litestar]) -> None:
    root = await _token(client, "root")
    post, get, patch, delete = client.post, client.get, client.patch, client.delete
    cases: list[tuple[Callable[[], Awaitable[httpx.Response]], int, str, str | None]] = [
        (
            lambda: post(
                "/api/v1/auth/token",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            400,
            "malformed_body",
            "body",
        ),
        (
            lambda: post("/api/v1/auth/token", json={"username": "tom"}),
            422,
            "validation_error",
            "password",
        ),
        (
            lambda: post("/api/v1/auth/token", json={"username": 5, "password": "x"}),
            422,
            "validation_error",
            "username",
        ),
        (
            lambda: post(
                "/api/v1/auth/token", json={"username": "tom", "password": "x", "extra": 1}
            ),
            422,
            "validation_error",
            "extra",
        ),
        (lambda: post("/api/v1/auth/token", json=[1, 2]), 422, "validation_error", None),
        (lambda: post("/api/v1/auth/token"), 400, "missing_body", "body"),
        (
            lambda: post(
                "/api/v1/users", headers=root, json={"username": "a b", "password": "long-enough-1"}
            ),
            422,
            "validation_error",
            "username",
        ),
        (
            lambda: post(
                "/api/v1/users", headers=root, json={"username": "abc", "password": "short"}
            ),
            422,
            "weak_password",
            "password",
        ),
        (
            lambda: post(
                "/api/v1/users",
                headers=root,
                json={"username": "abc", "password": "long-enough-1", "role": "god"},
            ),
            422,
            "validation_error",
            "role",
        ),
        (
            lambda: patch("/api/v1/users/0", headers=root, json={}),
            422,
            "validation_error",
            "user_id",
        ),
        (lambda: patch("/api/v1/users/abc", headers=root, json={}), 404, "not_found", None),
        (
            lambda: patch("/api/v1/users/999", headers=root, json={"role": "admin"}),
            404,
            "unknown_user",
            "user_id",
        ),
        (lambda: get("/api/v1/quotes/NOPE.x", headers=root), 404, "unknown_symbol", "key"),
        (
            lambda: get("/api/v1/quotes?symbols=rb2401", headers=root),
            422,
            "validation_error",
            "symbols",
        ),
        (lambda: get("/api/v1/nothing-here"), 404, "not_found", None),
        (lambda: delete("/api/v1/auth/token"), 405, "method_not_allowed", None),
    ]
    for request, status, code, field in cases:
        _assert_error(await request(), status, code, field)
    # Nothing of that was stored.
    users = (await client.get("/api/v1/users", headers=root)).json()
    assert sorted(u["username"] for u in users) == ["ann", "root", "tom"]


async def test_the_venue_feeds_quotes(client: AsyncTestClient[Litestar]) -> None:
    headers = await _token(client, "ann")
    for _ in range(100):
        quote = await client.get("/api/v1/quotes/CFFEX.IF2101", headers=headers)
        if quote.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert quote.status_code == 200, quote.text
    tick = quote.json()
    assert tick["symbol"] == "IF2101"
    assert tick["trading_day"] == "2021-01-04"
    assert tick["ts"].endswith("Z") or tick["ts"].endswith("+00:00")
    some = await client.get(
        "/api/v1/quotes", params={"symbols": "SHFE.rb9999, CFFEX.IF2101"}, headers=headers
    )
    assert [q["symbol"] for q in some.json()] == ["IF2101"]
    assert (
        await client.get("/api/v1/quotes", params={"symbols": ""}, headers=headers)
    ).json() == []


def test_every_api_route_is_guarded_or_explicitly_public(tmp_path: Path) -> None:
    app = create_app(embedded_settings(tmp_path))
    public = [re.compile(p) for p in PUBLIC_PATHS]
    checked = 0
    for route in app.routes:
        if not route.path.startswith("/api/v1"):
            continue
        for handler in route.route_handlers:  # type: ignore[attr-defined]
            if handler.http_methods == {"OPTIONS"}:
                continue  # Litestar's automatic CORS preflight answer carries no data
            checked += 1
            if any(p.match(route.path) for p in public):
                continue
            roles = [
                getattr(g, GUARD_ROLE_ATTRIBUTE, None)
                for layer in handler.ownership_layers
                for g in (layer.guards or [])
            ]
            assert any(roles), f"{route.path} {handler.http_methods} has no role guard"
    assert checked >= 6
