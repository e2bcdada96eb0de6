"""The trading step-up: trading password, TOTP enrolment, trading tokens and their check."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
from litestar import Litestar, Request, post
from litestar.datastructures import State
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.auth import guards
from gateway.auth.identity import AuthUser
from gateway.auth.step_up import (
    STEP_UP,
    TRADING_TOKEN_HEADER,
    FailureCounter,
    trading_claims,
)
from gateway.auth.tokens import TokenClaims
from gateway.auth.totp import TotpVerifier, matching_step, new_secret
from gateway.services import Services, ServicesDependency
from shared.clock import utc_now
from shared.store import Role
from tests.support.gateway import add_user, embedded_settings

PASSWORDS = {"ann": "ann-password-1", "tom": "tom-password-1", "sue": "sue-password-1"}
ROLES = {"ann": Role.VIEWER, "tom": Role.TRADER, "sue": Role.TRADER}
TRADING_PASSWORD = "tom-trading-pw-1"
NEEDS_STEP_UP = "/api/v1/test/needs-step-up"


@post(NEEDS_STEP_UP, guards=[guards.trader], status_code=200)
async def needs_step_up(
    request: Request[AuthUser, TokenClaims, State], services: ServicesDependency
) -> dict[str, object]:
    claims = trading_claims(request, services)
    return {"user_id": claims.user_id, "type": claims.type}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[Litestar]]:
    settings = embedded_settings(tmp_path)
    for name, role in ROLES.items():
        await add_user(settings, name, PASSWORDS[name], role)
    app = create_app(settings)
    app.register(needs_step_up)
    # The step-up state is per process; user ids repeat from one test database to the next.
    STEP_UP.reset()
    async with AsyncTestClient(app=app) as client:
        yield client
    STEP_UP.reset()


async def _auth(client: AsyncTestClient[Litestar], user: str) -> dict[str, str]:
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
    assert body["error"] == code, body
    if field is not None:
        assert field in body["fields"], body


def _services(client: AsyncTestClient[Litestar]) -> Services:
    services: Services = client.app.state.services
    return services


async def _set_trading_password(
    client: AsyncTestClient[Litestar], auth: dict[str, str], **extra: str
) -> httpx.Response:
    body = {"password": PASSWORDS["tom"], "new_trading_password": TRADING_PASSWORD, **extra}
    return await client.put("/api/v1/auth/trading-password", json=body, headers=auth)


async def _trading_token(
    client: AsyncTestClient[Litestar], auth: dict[str, str], **body: str
) -> httpx.Response:
    return await client.post("/api/v1/auth/trading-token", json=body, headers=auth)


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps_ahead)


def _wrong_code(secret: str) -> str:
    valid = {_code(secret, offset) for offset in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(1000)) if c not in valid)


async def test_viewer_cannot_use_the_step_up_routes(client: AsyncTestClient[Litestar]) -> None:
    auth = await _auth(client, "ann")
    calls = [
        client.put(
            "/api/v1/auth/trading-password",
            json={"password": PASSWORDS["ann"], "new_trading_password": TRADING_PASSWORD},
            headers=auth,
        ),
        client.post("/api/v1/auth/totp", json={"password": PASSWORDS["ann"]}, headers=auth),
        client.post("/api/v1/auth/totp/confirm", json={"code": "123456"}, headers=auth),
        client.request(
            "DELETE",
            "/api/v1/auth/totp",
            json={"password": PASSWORDS["ann"], "code": "123456"},
            headers=auth,
        ),
        client.post(
            "/api/v1/auth/trading-token", json={"trading_password": "x" * 10}, headers=auth
        ),
    ]
    for call in calls:
        _assert_error(await call, 403, "forbidden")
    # And without an access token at all, 401.
    _assert_error(await client.post("/api/v1/auth/trading-token", json={}), 401, "unauthorized")


async def test_set_trading_password_checks(client: AsyncTestClient[Litestar]) -> None:
    auth = await _auth(client, "tom")
    _assert_error(
        await _trading_token(client, auth, trading_password=TRADING_PASSWORD),
        403,
        "trading_password_not_set",
    )
    _assert_error(
        await _set_trading_password(client, auth, password="not-my-password"),
        401,
        "invalid_credentials",
        "password",
    )
    _assert_error(
        await _set_trading_password(client, auth, new_trading_password="short"),
        422,
        "weak_password",
        "new_trading_password",
    )
    _assert_error(
        await _set_trading_password(client, auth, new_trading_password=PASSWORDS["tom"]),
        422,
        "same_as_login_password",
        "new_trading_password",
    )
    _assert_error(
        await _set_trading_password(client, auth, extra_field="x"),
        422,
        "validation_error",
        "extra_field",
    )
    ok = await _set_trading_password(client, auth)
    assert ok.status_code == 204, ok.text
    user = await _services(client).users.get_by_username("tom")
    assert user is not None
    assert user.trading_password_hash is not None
    assert TRADING_PASSWORD not in user.trading_password_hash
    assert "trading_password_hash" not in repr(user)
    actions = [entry.action for entry in await _services(client).audit.recent(20)]
    assert "auth.trading_password_set" in actions


async def test_trading_token_and_its_check(client: AsyncTestClient[Litestar]) -> None:
    tom = await _auth(client, "tom")
    assert (await _set_trading_password(client, tom)).status_code == 204
    _assert_error(
        await _trading_token(client, tom, trading_password="wrong-trading-pw"),
        401,
        "invalid_credentials",
        "trading_password",
    )
    issued = await _trading_token(client, tom, trading_password=TRADING_PASSWORD)
    assert issued.status_code == 201, issued.text
    assert issued.json()["expires_in"] == 600
    token = issued.json()["trading_token"]

    passed = await client.post(NEEDS_STEP_UP, headers={**tom, TRADING_TOKEN_HEADER: token})
    assert passed.status_code == 200, passed.text
    assert passed.json()["type"] == "trading"

    # Missing, an access token instead, garbage: all 403 naming the header.
    _assert_error(await client.post(NEEDS_STEP_UP, headers=tom), 403, "step_up_required")
    access = tom["Authorization"].removeprefix("Bearer ")
    for wrong in (access, "not-a-jwt"):
        _assert_error(
            await client.post(NEEDS_STEP_UP, headers={**tom, TRADING_TOKEN_HEADER: wrong}),
            403,
            "step_up_required",
            TRADING_TOKEN_HEADER,
        )
    # A trading token is no access token either.
    _assert_error(
        await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}),
        401,
        "unauthorized",
    )
    # Another trader cannot use tom's trading token.
    sue = await _auth(client, "sue")
    response = await client.post(NEEDS_STEP_UP, headers={**sue, TRADING_TOKEN_HEADER: token})
    _assert_error(response, 403, "step_up_required")
    assert "another user" in response.json()["detail"]
    # Expired: issued eleven minutes ago with a ten-minute lifetime.
    services = _services(client)
    me = (await client.get("/api/v1/auth/me", headers=tom)).json()
    stale = services.tokens.issue(
        "trading", me["id"], "tom", Role.TRADER, services.clock() - timedelta(minutes=11)
    )
    response = await client.post(NEEDS_STEP_UP, headers={**tom, TRADING_TOKEN_HEADER: stale})
    _assert_error(response, 403, "step_up_required")
    assert "expired" in response.json()["detail"]

    actions = [entry.action for entry in await services.audit.recent(20)]
    assert "auth.trading_token" in actions
    assert "auth.trading_token_failed" in actions


async def test_totp_enrolment_and_trading_token_with_code(
    client: AsyncTestClient[Litestar],
) -> None:
    tom = await _auth(client, "tom")
    assert (await _set_trading_password(client, tom)).status_code == 204
    _assert_error(
        await client.post("/api/v1/auth/totp", json={"password": "wrong-password"}, headers=tom),
        401,
        "invalid_credentials",
        "password",
    )
    _assert_error(
        await client.post("/api/v1/auth/totp/confirm", json={"code": "123456"}, headers=tom),
        409,
        "no_pending_enrolment",
    )
    started = await client.post(
        "/api/v1/auth/totp", json={"password": PASSWORDS["tom"]}, headers=tom
    )
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    assert started.json()["uri"].startswith("otpauth://totp/quant-backend:tom?")
    # Not enabled until confirmed.
    assert (await _trading_token(client, tom, trading_password=TRADING_PASSWORD)).is_success
    _assert_error(
        await client.post(
            "/api/v1/auth/totp/confirm", json={"code": _wrong_code(secret)}, headers=tom
        ),
        401,
        "invalid_credentials",
        "code",
    )
    _assert_error(
        await client.post("/api/v1/auth/totp/confirm", json={"code": "12ab56"}, headers=tom),
        422,
        "validation_error",
        "code",
    )
    enrolment_code = pyotp.TOTP(secret).now()
    confirmed = await client.post(
        "/api/v1/auth/totp/confirm", json={"code": enrolment_code}, headers=tom
    )
    assert confirmed.status_code == 204, confirmed.text
    _assert_error(
        await client.post("/api/v1/auth/totp", json={"password": PASSWORDS["tom"]}, headers=tom),
        409,
        "totp_already_enabled",
    )

    _assert_error(
        await _trading_token(client, tom, trading_password=TRADING_PASSWORD),
        422,
        "totp_required",
        "totp_code",
    )
    _assert_error(
        await _trading_token(
            client, tom, trading_password=TRADING_PASSWORD, totp_code=_wrong_code(secret)
        ),
        401,
        "invalid_credentials",
        "totp_code",
    )
    # The code that confirmed the enrolment is spent: the next step's code is accepted once.
    _assert_error(
        await _trading_token(
            client, tom, trading_password=TRADING_PASSWORD, totp_code=enrolment_code
        ),
        401,
        "invalid_credentials",
        "totp_code",
    )
    code = _code(secret, steps_ahead=1)
    issued = await _trading_token(client, tom, trading_password=TRADING_PASSWORD, totp_code=code)
    assert issued.status_code == 201, issued.text
    _assert_error(
        await _trading_token(client, tom, trading_password=TRADING_PASSWORD, totp_code=code),
        401,
        "invalid_credentials",
        "totp_code",
    )
    # Changing the trading password now needs a code too.
    _assert_error(
        await _set_trading_password(client, tom, new_trading_password="another-trading-pw"),
        422,
        "totp_required",
        "totp_code",
    )

    # Disabling needs the login password and a fresh code: the last accepted step is now one
    # ahead, so move the server's clock two steps on rather than wait a minute.
    services = _services(client)
    disable = {"password": PASSWORDS["tom"], "code": code}
    _assert_error(
        await client.request("DELETE", "/api/v1/auth/totp", json=disable, headers=tom),
        401,
        "invalid_credentials",
        "code",
    )
    services.clock = lambda: utc_now() + timedelta(seconds=60)
    try:
        disable["code"] = _code(secret, steps_ahead=2)
        response = await client.request("DELETE", "/api/v1/auth/totp", json=disable, headers=tom)
        assert response.status_code == 204, response.text
    finally:
        services.clock = utc_now
    assert (await _trading_token(client, tom, trading_password=TRADING_PASSWORD)).is_success

    actions = [entry.action for entry in await services.audit.recent(50)]
    for action in ("auth.totp_enrol", "auth.totp_enable", "auth.totp_disable"):
        assert action in actions
    user = await services.users.get_by_username("tom")
    assert user is not None
    assert user.totp_secret is None


async def test_lockout_after_five_failures(client: AsyncTestClient[Litestar]) -> None:
    tom = await _auth(client, "tom")
    assert (await _set_trading_password(client, tom)).status_code == 204
    for _ in range(5):
        _assert_error(
            await _trading_token(client, tom, trading_password="wrong-trading-pw"),
            401,
            "invalid_credentials",
        )
    # Locked out even with the right password, until the window passes.
    locked = await _trading_token(client, tom, trading_password=TRADING_PASSWORD)
    _assert_error(locked, 429, "too_many_attempts")
    retry_after = int(locked.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    # Other users are not affected.
    sue = await _auth(client, "sue")
    _assert_error(
        await _trading_token(client, sue, trading_password=TRADING_PASSWORD),
        403,
        "trading_password_not_set",
    )


async def test_routes_are_documented(client: AsyncTestClient[Litestar]) -> None:
    paths = (await client.get("/docs/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/auth/trading-password",
        "/api/v1/auth/totp",
        "/api/v1/auth/trading-token",
    ):
        assert path in paths


def test_failures_are_forgotten_once_the_window_passes() -> None:
    counter = FailureCounter(limit=2, window=timedelta(minutes=15))
    start = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)
    counter.begin(1, start)
    counter.begin(1, start + timedelta(minutes=5))
    assert counter.retry_after(1, start + timedelta(minutes=6)) == 9 * 60
    assert counter.retry_after(2, start + timedelta(minutes=6)) is None
    # The oldest failure leaves the window: one left, under the limit.
    assert counter.retry_after(1, start + timedelta(minutes=15)) is None
    counter.begin(1, start + timedelta(minutes=16))
    assert counter.retry_after(1, start + timedelta(minutes=16)) == 4 * 60
    counter.succeeded(1)
    assert counter.retry_after(1, start + timedelta(minutes=16)) is None


def test_totp_window_and_replay() -> None:
    secret = new_secret()
    now = datetime(2025, 1, 6, 1, 0, 10, tzinfo=UTC)
    totp = pyotp.TOTP(secret)
    for offset in (-1, 0, 1):
        assert matching_step(secret, totp.at(now, counter_offset=offset), now) is not None
    for offset in (-2, 2):
        code = totp.at(now, counter_offset=offset)
        if code not in {totp.at(now, counter_offset=o) for o in (-1, 0, 1)}:
            assert matching_step(secret, code, now) is None
    assert matching_step(secret, "12345", now) is None
    verifier = TotpVerifier()
    assert verifier.verify(7, secret, totp.at(now), now)
    assert not verifier.verify(7, secret, totp.at(now), now)  # replayed
    assert not verifier.verify(7, secret, totp.at(now, counter_offset=-1), now)  # older
    assert verifier.verify(8, secret, totp.at(now), now)  # another user's own window
    assert verifier.verify(7, secret, totp.at(now, counter_offset=1), now)
