"""POST /api/v1/indicators/compute over stored bars (by symbol, interval and range), and the
answer cache: in memory on the embedded default, on Redis (shared by replicas) with PostgreSQL
and the Redis bus."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl
import pytest
import talib
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from shared.config import Settings
from shared.store import Role, create_engine
from shared.store.market_data import BarStore
from tests.support.gateway import add_user, embedded_settings
from tests.support.market_data import real_bars

PASSWORD = "viewer-password-1"
START = datetime(2019, 7, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
END = datetime(2019, 7, 6, tzinfo=UTC)


@pytest.fixture(params=["embedded", pytest.param("postgres+redis", marks=pytest.mark.postgres)])
async def settings(request: pytest.FixtureRequest, tmp_path: Path, shared_data: Path) -> Settings:
    settings = embedded_settings(tmp_path)
    if request.param == "postgres+redis":
        settings = msgspec.structs.replace(
            settings,
            database_url=request.getfixturevalue("postgres_url"),
            bus="redis",
            redis_url=request.getfixturevalue("redis_server"),
            redis_prefix=request.getfixturevalue("redis_prefix"),
        )
    await add_user(settings, "viewer", PASSWORD, Role.VIEWER)  # migrates the database
    engine = create_engine(settings.database_url)
    try:
        await BarStore(engine).ingest(real_bars(shared_data))
    finally:
        await engine.dispose()
    return settings


def _values(column: list[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in column], dtype=np.float64)


def _request(**changes: Any) -> dict[str, Any]:
    return {
        "symbol": "SHFE.au1912",
        "interval": "1m",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "indicators": [
            {"name": "sma", "params": {"timeperiod": 20}},
            {"name": "macd"},
            {"name": "atr", "params": {"timeperiod": 14}},
        ],
        **changes,
    }


async def test_indicators_over_stored_bars_are_computed_once_then_served_from_the_cache(
    settings: Settings, shared_data: Path
) -> None:
    stored = real_bars(shared_data)
    in_range = stored.filter((pl.col("start") >= START) & (pl.col("start") < END))
    async with AsyncTestClient(app=create_app(settings)) as client:
        login = await client.post(
            "/api/v1/auth/token", json={"username": "viewer", "password": PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

        first = await client.post("/api/v1/indicators/compute", json=_request())
        assert first.status_code == 201, first.text
        assert first.headers["X-Cache"] == "miss"
        body = first.json()
        assert len(body["ts"]) == in_range.height > 1000
        close = in_range["close"].to_numpy()
        high, low = in_range["high"].to_numpy(), in_range["low"].to_numpy()
        np.testing.assert_array_equal(_values(body["columns"]["sma_20"]), talib.SMA(close, 20))
        np.testing.assert_array_equal(
            _values(body["columns"]["atr_14"]), talib.ATR(high, low, close, 14)
        )
        _, signal, _ = talib.MACD(close, 12, 26, 9)
        np.testing.assert_array_equal(_values(body["columns"]["macd_12_26_9.macdsignal"]), signal)

        again = await client.post("/api/v1/indicators/compute", json=_request())
        assert again.headers["X-Cache"] == "hit"
        assert again.content == first.content
        # Another range or other parameters are other answers.
        other = await client.post("/api/v1/indicators/compute", json=_request(limit=500))
        assert other.headers["X-Cache"] == "miss"
        assert len(other.json()["ts"]) == 500

        # A bar stored later (even outside the range) may correct what the range holds:
        # the stored bars' extent is part of the key, so nothing stale is served.
        engine = create_engine(settings.database_url)
        try:
            later = stored.tail(1).with_columns(pl.col("start") + pl.duration(days=30))
            await BarStore(engine).ingest(later)
        finally:
            await engine.dispose()
        after = await client.post("/api/v1/indicators/compute", json=_request())
        assert after.headers["X-Cache"] == "miss"
        assert after.json() == body


async def test_what_a_stored_series_request_must_hold(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(settings)) as client:
        login = await client.post(
            "/api/v1/auth/token", json={"username": "viewer", "password": PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        cases: list[tuple[dict[str, Any], int, str, list[str]]] = [
            (_request(symbol="SHFE.xx9999"), 404, "unknown_symbol", ["symbol"]),
            (_request(interval="1h"), 404, "unknown_symbol", ["symbol"]),
            (_request(symbol="au1912"), 422, "validation_error", ["symbol"]),
            (_request(interval="7m"), 422, "validation_error", ["interval"]),
            (_request(start=END.isoformat(), end=START.isoformat()), 422, "validation_error",
             ["start", "end"]),
            (_request(bars={"ts": [], "open": [], "high": [], "low": [], "close": [],
                            "volume": []}), 422, "validation_error", ["bars", "symbol"]),
            ({"indicators": [{"name": "sma"}]}, 422, "validation_error", ["bars", "symbol"]),
            (_request(indicators=[{"name": "smaa"}]), 404, "unknown_indicator",
             ["indicators[0].name"]),
        ]  # fmt: skip
        for body, status, code, fields in cases:
            answer = await client.post("/api/v1/indicators/compute", json=body)
            assert answer.status_code == status, (body, answer.text)
            assert answer.json()["error"] == code, answer.text
            assert answer.json()["fields"] == fields, answer.text


async def test_session_indicators_reset_on_the_stored_trading_days(
    settings: Settings, shared_data: Path
) -> None:
    """Stored bars carry their trading day: the session VWAP starts again with each one (a
    night session belongs to the next day), and the open-interest change is the stored OI's."""
    stored = real_bars(shared_data)
    in_range = stored.filter((pl.col("start") >= START) & (pl.col("start") < END))
    typical = (pl.col("high") + pl.col("low") + pl.col("close")) / 3
    reference = in_range.with_columns(
        vwap=(typical * pl.col("volume")).cum_sum().over("trading_day")
        / pl.col("volume").cast(pl.Float64).cum_sum().over("trading_day")
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        login = await client.post(
            "/api/v1/auth/token", json={"username": "viewer", "password": PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        answer = await client.post(
            "/api/v1/indicators/compute",
            json=_request(indicators=[{"name": "session_vwap"}, {"name": "oi_change"}]),
        )
        assert answer.status_code == 201, answer.text
        columns = answer.json()["columns"]
    assert in_range["trading_day"].n_unique() >= 4
    expected = reference["vwap"].fill_nan(None).to_numpy()
    np.testing.assert_allclose(_values(columns["session_vwap"]), expected, rtol=1e-9)
    oi = in_range["open_interest"].to_numpy()
    np.testing.assert_array_equal(_values(columns["oi_change"])[1:], np.diff(oi))


async def test_saved_formulas_are_checked_kept_per_user_and_usable_in_compute(
    settings: Settings, shared_data: Path
) -> None:
    await add_user(settings, "other", PASSWORD, Role.VIEWER)
    stored = real_bars(shared_data)
    close = stored.filter((pl.col("start") >= START) & (pl.col("start") < END))["close"]
    async with AsyncTestClient(app=create_app(settings)) as client:
        headers = {}
        for user in ("viewer", "other"):
            login = await client.post(
                "/api/v1/auth/token", json={"username": user, "password": PASSWORD}
            )
            headers[user] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        mine, theirs = headers["viewer"], headers["other"]
        formulas = "/api/v1/indicators/formulas"

        wrong = await client.put(
            f"{formulas}/spread", json={"expression": "ema(close, 12) - emaa(close, 26)"},
            headers=mine,
        )  # fmt: skip
        assert wrong.status_code == 422, wrong.text
        assert wrong.json()["fields"] == ["expression"]
        assert "no indicator 'emaa'" in wrong.json()["detail"]
        assert "at column 18" in wrong.json()["detail"]

        saved = await client.put(
            f"{formulas}/spread",
            json={"expression": "ema(close, 12) - ema(close, 26)", "description": "MACD line"},
            headers=mine,
        )
        assert saved.status_code == 200, saved.text
        assert [f["name"] for f in (await client.get(formulas, headers=mine)).json()] == ["spread"]
        assert (await client.get(formulas, headers=theirs)).json() == []

        body = _request(indicators=[{"formula": "@spread"}, {"formula": "close * 2", "id": "x2"}])
        answer = await client.post("/api/v1/indicators/compute", json=body, headers=mine)
        assert answer.status_code == 201, answer.text
        columns = answer.json()["columns"]
        values = close.to_numpy()
        expected = talib.EMA(values, 12) - talib.EMA(values, 26)
        np.testing.assert_allclose(_values(columns["spread"]), expected, rtol=1e-12)
        np.testing.assert_array_equal(_values(columns["x2"]), values * 2)

        # Another user has no such formula; a deleted one is gone.
        refused = await client.post("/api/v1/indicators/compute", json=body, headers=theirs)
        assert (refused.status_code, refused.json()["error"]) == (404, "unknown_formula")
        assert refused.json()["fields"] == ["indicators[0].formula"]
        posted = await client.post(
            formulas, json={"name": "double", "expression": "close * 2"}, headers=mine
        )
        assert posted.status_code == 201, posted.text
        assert {f["name"] for f in (await client.get(formulas, headers=mine)).json()} == {
            "double",
            "spread",
        }
        bad_name = await client.post(
            formulas, json={"name": "1x", "expression": "close"}, headers=mine
        )
        assert bad_name.status_code == 422
        assert (await client.delete(f"{formulas}/spread", headers=mine)).status_code == 204
        again = await client.delete(f"{formulas}/spread", headers=mine)
        assert (again.status_code, again.json()["error"]) == (404, "unknown_formula")
