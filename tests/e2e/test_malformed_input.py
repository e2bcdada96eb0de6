"""No endpoint answers 5xx to malformed input: hypothesis throws arbitrary JSON and bytes at
every route of a real server and checks the answer is a 2xx/4xx in the one error shape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.store import Role
from tests.support.gateway import add_user, embedded_settings
from tests.support.server import Server

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "fuzz-admin-password"

# JSON values, shallow enough to stay fast but covering every JSON type and odd strings.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

# Bodies that look like each endpoint's own: its field names with arbitrary values, so the
# fuzz reaches past "not an object" into field validation and the handlers.
FIELDS = {
    "/api/v1/auth/token": ["username", "password"],
    "/api/v1/auth/refresh": ["refresh_token"],
    "/api/v1/users": ["username", "password", "role"],
    "/api/v1/users/1": ["role", "is_active", "password"],
    "/api/v1/indicators/compute": ["bars", "indicators"],
}
METHOD = {"/api/v1/users/1": "PATCH"}


def _shaped(path: str) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS[path], json_values))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    var_dir: Path = tmp_path_factory.mktemp("fuzz") / "var"
    var_dir.mkdir()
    asyncio.run(add_user(embedded_settings(var_dir), "root", ADMIN_PASSWORD, Role.ADMIN))
    running = Server(var_dir, QUANT_BOOTSTRAP_ADMIN="false")
    yield running
    output = running.stop()
    assert "internal_error" not in output, output


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as plain:
        token = plain.post(
            "/api/v1/auth/token", json={"username": "root", "password": ADMIN_PASSWORD}
        ).json()["access_token"]
    with httpx.Client(
        base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as authorised:
        yield authorised


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, (
        response.request.method,
        response.request.url,
        response.text,
    )
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail", "fields"}, body


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("path", sorted(FIELDS))
@FUZZ
@given(data=st.data())
def test_json_bodies_never_cause_a_server_error(
    client: httpx.Client, path: str, data: st.DataObject
) -> None:
    body = data.draw(_shaped(path) | json_values)
    _check(client.request(METHOD.get(path, "POST"), path, json=body))


@pytest.mark.parametrize("path", sorted(FIELDS))
@FUZZ
@given(raw=st.binary(max_size=200))
def test_raw_bytes_never_cause_a_server_error(client: httpx.Client, path: str, raw: bytes) -> None:
    response = client.request(
        METHOD.get(path, "POST"), path, content=raw, headers={"content-type": "application/json"}
    )
    _check(response)


@FUZZ
@given(segment=st.text(min_size=1, max_size=30))
def test_odd_path_parameters_never_cause_a_server_error(client: httpx.Client, segment: str) -> None:
    encoded = quote(segment, safe="")  # every character reaches the router, percent-encoded
    _check(client.get(f"/api/v1/quotes/{encoded}"))
    _check(client.get("/api/v1/quotes", params={"symbols": segment}))
    _check(client.patch(f"/api/v1/users/{encoded}", json={}))


@FUZZ
@given(header=st.text(max_size=60))
def test_odd_authorization_headers_are_refused_not_crashed(server: Server, header: str) -> None:
    try:
        response = httpx.get(f"{server.url}/api/v1/auth/me", headers={"Authorization": header})
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        return  # httpx refuses to send it: nothing reached the server
    if response.status_code == 400:
        # uvicorn's HTTP parser refuses control characters before the app sees the request.
        assert response.text == "Invalid HTTP request received."
        return
    assert response.status_code == 401, response.text
