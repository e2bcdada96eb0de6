"""Starting the gateway in production mode, and reporting a dead dependency on /ready."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
import talib
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.bootstrap import SchemaOutOfDateError
from gateway.services import running_services
from shared.store import Role
from shared.store.migrate import head_revision, upgrade
from tests.support.gateway import TEST_SECRET, add_user, embedded_settings
from tests.support.market_data import load_bars


async def test_production_mode_refuses_an_unmigrated_database(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = embedded_settings(tmp_path, mode="production", database_url=postgres_url)
    with pytest.raises(SchemaOutOfDateError, match="run `uv run just migrate`"):
        async with running_services(settings):
            pass


async def test_production_mode_starts_on_a_migrated_database_without_a_first_admin(
    postgres_url: str, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    settings = embedded_settings(
        tmp_path, mode="production", database_url=postgres_url, bootstrap_admin=True
    )
    async with running_services(settings) as services:
        assert await services.users.count() == 0
    assert head_revision()


async def test_ready_is_503_naming_the_bus_when_redis_is_unreachable(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path, bus="redis", redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready"
        assert body["components"]["bus"]["status"] == "down"
        assert "127.0.0.1:1" in body["components"]["bus"]["detail"]
        assert body["components"]["database"]["status"] == "up"


async def test_indicators_through_the_api_match_talib_on_real_bars(
    tmp_path: Path, shared_data: Path
) -> None:
    settings = embedded_settings(tmp_path)
    await add_user(settings, "ann", "ann-password-1", Role.VIEWER)
    bars = load_bars(shared_data, rows=3000)
    request = {
        "bars": msgspec.to_builtins(bars),
        "indicators": [{"name": "rsi", "params": {"timeperiod": 14}}, {"name": "macd"}],
    }
    async with AsyncTestClient(app=create_app(settings)) as client:
        login = await client.post(
            "/api/v1/auth/token", json={"username": "ann", "password": "ann-password-1"}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        response = await client.post("/api/v1/indicators/compute", json=request, headers=headers)
        assert response.status_code == 201, response.text
        columns = response.json()["columns"]
        close = np.asarray(bars.close, dtype=np.float64)
        expected_rsi = talib.RSI(close, 14)
        got_rsi = np.array([np.nan if v is None else v for v in columns["rsi_14"]])
        np.testing.assert_allclose(got_rsi, expected_rsi, rtol=0, atol=1e-9, equal_nan=True)
        assert columns["rsi_14"][:14] == [None] * 14
        _, signal, _ = talib.MACD(close, 12, 26, 9)
        got_signal = np.array(
            [np.nan if v is None else v for v in columns["macd_12_26_9.macdsignal"]]
        )
        np.testing.assert_allclose(got_signal, signal, rtol=0, atol=1e-9, equal_nan=True)

        request["indicators"] = [{"name": "sma", "params": {"timeperiod": 0}}]
        bad = await client.post("/api/v1/indicators/compute", json=request, headers=headers)
        assert bad.status_code == 422
        assert bad.json()["fields"] == ["indicators[0].params.timeperiod"]
        assert "1..100000" in bad.json()["detail"]

        request["indicators"] = [{"name": "rsi"}, {"name": "macdd"}]
        unknown = await client.post("/api/v1/indicators/compute", json=request, headers=headers)
        assert unknown.status_code == 404
        assert unknown.json()["error"] == "unknown_indicator"
        assert unknown.json()["fields"] == ["indicators[1].name"]
        assert "did you mean macd" in unknown.json()["detail"]
        assert TEST_SECRET not in unknown.text

        # The catalogue: every TA-Lib function, with what a form and a chart need.
        listed = (await client.get("/api/v1/indicators", headers=headers)).json()
        assert len(listed) >= 200
        bbands = (await client.get("/api/v1/indicators/BBANDS", headers=headers)).json()
        assert bbands["overlay"] is True
        assert [(p["name"], p["type"], p["default"]) for p in bbands["params"]] == [
            ("timeperiod", "int", 20),
            ("nbdevup", "float", 2.0),
            ("nbdevdn", "float", 2.0),
            ("matype", "ma_type", 0),
        ]
        assert [o["style"] for o in bbands["outputs"]] == ["upper", "line", "lower"]
        missing = await client.get("/api/v1/indicators/bolinger", headers=headers)
        assert (missing.status_code, missing.json()["error"]) == (404, "unknown_indicator")
