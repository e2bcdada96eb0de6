"""Risk limits and the kill switch through the REST API of a running gateway: who may read and
change them, the orders they refuse, the working orders a halt cancels, and that a restart
keeps them.

Runs on the embedded default (SQLite, inline functions) and on PostgreSQL + Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.services import Services
from shared.config import Settings
from shared.risk import RiskLimits
from shared.store import Role
from tests.integration.test_trading_api import (
    TICK,
    _error,
    _login,
    _order,
    _quote,
    _trader,
    trading_settings,  # noqa: F401  (a fixture, used by name)
)
from tests.support.gateway import add_user

ADMIN, ADMIN_PASSWORD = "root", "root-password-1"
DEFAULTS: dict[str, Any] = {
    name: getattr(RiskLimits(), name) for name in RiskLimits.__struct_fields__
}

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def settings(trading_settings: Settings) -> Settings:  # noqa: F811
    await add_user(trading_settings, ADMIN, ADMIN_PASSWORD, Role.ADMIN)
    return trading_settings


def _app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=_app(settings)) as test_client:
        yield test_client


async def _admin(client: Client) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", json={"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _status(client: Client, headers: dict[str, str], account: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/risk?account_id={account}", headers=headers)
    assert response.status_code == 200, response.text
    (status,) = response.json()
    result: dict[str, Any] = status
    return result


async def _resting(
    client: Client, headers: dict[str, str], client_order_id: str, price: float, **fields: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/orders", json=_order(client_order_id, price, **fields), headers=headers
    )


def _placed(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


def _refused_by(response: httpx.Response, rule: str) -> None:
    _error(response, 422, "risk_rejected")
    assert response.json()["detail"].startswith(f"{rule}:"), response.text


async def test_who_reads_the_risk_status_of_which_account(client: Client) -> None:
    tom = await _trader(client)
    (status,) = (await client.get("/api/v1/risk", headers=tom)).json()
    assert status == {
        "account_id": "tom-paper",
        "state": "active",
        "state_reason": "",
        "limits": DEFAULTS,
        "strategy_limits": {},
        "warnings": [],
    }
    tim = await _trader(client, "tim")
    assert [s["account_id"] for s in (await client.get("/api/v1/risk", headers=tim)).json()] == [
        "tim-paper"
    ]
    _error(
        await client.get("/api/v1/risk?account_id=tom-paper", headers=tim),
        404,
        "unknown_account",
        "account_id",
    )
    admin = await _admin(client)
    assert (await _status(client, admin, "tom-paper"))["account_id"] == "tom-paper"
    _error(
        await client.get("/api/v1/risk?account_id=nope", headers=admin),
        404,
        "unknown_account",
        "account_id",
    )
    viewer = await _login(client, "ann")
    _error(await client.get("/api/v1/risk", headers=viewer), 403, "forbidden")
    # Limits and the kill switch of all accounts are an admin's.
    _error(
        await client.put("/api/v1/risk/tom-paper/limits", json={}, headers=tom), 403, "forbidden"
    )
    _error(
        await client.post("/api/v1/risk/halt-all", json={"reason": "x"}, headers=tom),
        403,
        "forbidden",
    )


async def test_limits_an_admin_sets_refuse_the_next_orders(client: Client) -> None:
    tom = await _trader(client)
    admin = await _admin(client)
    changed = await client.put(
        "/api/v1/risk/tom-paper/limits", json={"max_order_volume": 1}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["limits"] == {**DEFAULTS, "max_order_volume": 1}
    quote = await _quote(client, tom)
    below = quote["bid_price"] - 50 * TICK
    refused = await _resting(client, tom, "two-lots", below, volume=2)
    _error(refused, 422, "risk_rejected", "volume")
    _placed(await _resting(client, tom, "one-lot", below))

    # A strategy's limits bind only that strategy's orders.
    strategy = await client.put(
        "/api/v1/risk/tom-paper/limits?strategy_id=s1",
        json={"max_active_orders": 1, "duplicate_window_s": None},
        headers=admin,
    )
    assert strategy.status_code == 200, strategy.text
    assert strategy.json()["strategy_limits"] == {
        "s1": {**DEFAULTS, "max_active_orders": 1, "duplicate_window_s": None}
    }
    _placed(await _resting(client, tom, "s1-a", below - TICK, strategy_id="s1"))
    _refused_by(
        await _resting(client, tom, "s1-b", below - 2 * TICK, strategy_id="s1"), "active_orders"
    )
    _placed(await _resting(client, tom, "s2-a", below - 3 * TICK, strategy_id="s2"))
    _placed(await _resting(client, tom, "none-a", below - 4 * TICK))

    removed = await client.delete("/api/v1/risk/tom-paper/limits?strategy_id=s1", headers=admin)
    assert removed.status_code == 200, removed.text
    assert removed.json()["strategy_limits"] == {}
    _placed(await _resting(client, tom, "s1-c", below - 5 * TICK, strategy_id="s1"))
    _error(
        await client.delete("/api/v1/risk/tom-paper/limits?strategy_id=s1", headers=admin),
        404,
        "unknown_strategy_limits",
        "strategy_id",
    )


async def test_a_trader_tightens_own_trading_and_only_an_admin_loosens_it(
    client: Client,
) -> None:
    tom = await _trader(client)
    quote = await _quote(client, tom)
    below = quote["bid_price"] - 50 * TICK
    first = _placed(await _resting(client, tom, "rest-1", below))

    reducing = await client.put(
        "/api/v1/risk/tom-paper/state",
        json={"state": "reducing_only", "reason": "leaving for lunch"},
        headers=tom,
    )
    assert reducing.status_code == 200, reducing.text
    body = reducing.json()
    assert (body["status"]["state"], body["status"]["state_reason"]) == (
        "reducing_only",
        "leaving for lunch",
    )
    assert (body["cancelled"], body["failed"]) == ([first], [])
    _refused_by(await _resting(client, tom, "rest-2", below), "trading_state")

    halted = await client.put(
        "/api/v1/risk/tom-paper/state",
        json={"state": "halted", "reason": "runaway strategy", "cancel_working": False},
        headers=tom,
    )
    assert halted.status_code == 200, halted.text
    assert (halted.json()["status"]["state"], halted.json()["cancelled"]) == ("halted", [])
    for looser in ("reducing_only", "active"):
        _error(
            await client.put(
                "/api/v1/risk/tom-paper/state",
                json={"state": looser, "reason": "back"},
                headers=tom,
            ),
            403,
            "forbidden",
            "state",
        )
    tim = await _trader(client, "tim")
    _error(
        await client.put(
            "/api/v1/risk/tom-paper/state", json={"state": "halted", "reason": "x"}, headers=tim
        ),
        404,
        "unknown_account",
        "account_id",
    )

    admin = await _admin(client)
    active = await client.put(
        "/api/v1/risk/tom-paper/state", json={"state": "active", "reason": "fixed"}, headers=admin
    )
    assert active.status_code == 200, active.text
    assert active.json()["status"]["state"] == "active"
    services: Services = client.app.state.services
    audited = [
        (e.action, e.detail["state"])
        for e in await services.audit.recent()
        if e.action.startswith("risk.") and e.target == "tom-paper"
    ]
    assert audited == [
        ("risk.state_set", "active"),
        ("risk.state_set", "halted"),
        ("risk.state_set", "reducing_only"),
    ]
    second = _placed(await _resting(client, tom, "rest-3", below))

    # Halting with the default cancels what is working.
    halted = await client.put(
        "/api/v1/risk/tom-paper/state", json={"state": "halted", "reason": "again"}, headers=tom
    )
    assert halted.json()["cancelled"] == [second], halted.text
    working = (await client.get("/api/v1/orders?status=working", headers=tom)).json()
    assert working == []


async def test_the_kill_switch_halts_every_account_and_cancels_every_order(
    client: Client,
) -> None:
    tom = await _trader(client)
    tim = await _trader(client, "tim")
    quote = await _quote(client, tom)
    below = quote["bid_price"] - 50 * TICK
    _placed(await _resting(client, tom, "tom-1", below))
    _placed(await _resting(client, tom, "tom-2", below - TICK))
    _placed(await _resting(client, tim, "tim-1", below, account_id="tim-paper"))

    admin = await _admin(client)
    halted = await client.post(
        "/api/v1/risk/halt-all", json={"reason": "exchange outage"}, headers=admin
    )
    assert halted.status_code == 200, halted.text
    assert halted.json() == {"accounts": 2, "cancelled": 3, "failed": []}
    for headers, account in ((tom, "tom-paper"), (tim, "tim-paper")):
        status = await _status(client, headers, account)
        assert (status["state"], status["state_reason"]) == ("halted", "exchange outage")
        assert (await client.get("/api/v1/orders?status=working", headers=headers)).json() == []
    _refused_by(await _resting(client, tom, "tom-3", below), "trading_state")
    services: Services = client.app.state.services
    (entry,) = [e for e in await services.audit.recent() if e.action.startswith("risk.")]
    assert (entry.action, entry.target, entry.detail["cancelled"]) == ("risk.halt_all", "*", 3)


async def test_limits_and_states_survive_a_restart(settings: Settings) -> None:
    async with AsyncTestClient(app=_app(settings)) as client:
        await _trader(client)
        admin = await _admin(client)
        for path, body in (
            ("/api/v1/risk/tom-paper/limits", {"max_order_volume": 3, "max_daily_loss": 5e4}),
            ("/api/v1/risk/tom-paper/limits?strategy_id=s1", {"max_daily_orders": 7}),
        ):
            response = await client.put(path, json=body, headers=admin)
            assert response.status_code == 200, response.text
        halted = await client.put(
            "/api/v1/risk/tom-paper/state",
            json={"state": "halted", "reason": "audit"},
            headers=admin,
        )
        assert halted.status_code == 200, halted.text
        before = await _status(client, admin, "tom-paper")

    async with AsyncTestClient(app=_app(settings)) as client:
        tom = await _login(client, "tom")
        after = await _status(client, tom, "tom-paper")
        assert after == before
        assert after["limits"] == {**DEFAULTS, "max_order_volume": 3, "max_daily_loss": 5e4}
        assert after["strategy_limits"] == {"s1": {**DEFAULTS, "max_daily_orders": 7}}
        assert (after["state"], after["state_reason"]) == ("halted", "audit")


async def test_bad_requests_name_the_field(client: Client) -> None:
    await _trader(client)
    admin = await _admin(client)
    limits = "/api/v1/risk/tom-paper/limits"
    cases: list[tuple[str, str, dict[str, Any] | list[Any], int, str]] = [
        ("put", limits, {"max_order_volume": 0}, 422, "max_order_volume"),
        ("put", limits, {"max_order_volume": "ten"}, 422, "max_order_volume"),
        ("put", limits, {"max_order_volume": 1.5}, 422, "max_order_volume"),
        ("put", limits, {"warn_at": 1.5}, 422, "warn_at"),
        ("put", limits, {"max_ordr_volume": 1}, 422, "max_ordr_volume"),
        ("put", f"{limits}?strategy_id=bad%20id", {}, 422, "strategy_id"),
        ("put", "/api/v1/risk/nope/limits", {}, 404, "account_id"),
        ("delete", limits, {}, 422, "strategy_id"),
        ("put", "/api/v1/risk/tom-paper/state", {"state": "paused", "reason": "x"}, 422, "state"),
        ("put", "/api/v1/risk/tom-paper/state", {"state": "halted"}, 422, "reason"),
        ("put", "/api/v1/risk/tom-paper/state", {"state": "halted", "reason": ""}, 422, "reason"),
        ("put", "/api/v1/risk/nope/state", {"state": "halted", "reason": "x"}, 404, "account_id"),
        ("post", "/api/v1/risk/halt-all", {}, 422, "reason"),
        ("post", "/api/v1/risk/halt-all", {"reason": "x", "all": True}, 422, "all"),
    ]
    for method, path, body, status, field in cases:
        if method == "delete":
            response = await client.delete(path, headers=admin)
        else:
            response = await client.request(method.upper(), path, json=body, headers=admin)
        assert response.status_code == status, (method, path, body, response.text)
        assert field in response.json()["fields"], (method, path, body, response.text)
    zero = await client.put(limits, json={"max_order_volume": 0}, headers=admin)
    assert zero.json()["detail"] == "max_order_volume: must be positive or null, got 0"
    # Nothing of it was applied.
    status = await _status(client, admin, "tom-paper")
    assert (status["limits"], status["state"]) == (DEFAULTS, "active")
