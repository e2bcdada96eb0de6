"""Backtests and optimisations through a real gateway (`quant serve`, embedded default:
SQLite, inline functions): HTTP to start, follow, read and cancel; the `backtests` WebSocket
channel for progress; results equal to the engine run directly on the same stored bars."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from websockets.asyncio.client import connect

from functions.backtest_settings import BacktestSettings, prepare, terms_for
from functions.backtests import run_frame, run_portfolio, summarize
from shared.backtest import BarSeries
from shared.config import Settings
from shared.optimize import SearchSpace, evaluate_chunk, walk_forward
from shared.store import Role, create_engine, session_factory
from shared.store.catalogue import instrument_table
from shared.store.market_data import BarStore
from tests.support.gateway import TEST_SECRET, add_user
from tests.support.market_data import real_bars
from tests.support.server import Server
from tests.support.ws_client import next_message, ws_url

PASSWORD = "backtest-viewer-pass"
BU = "cn_futures/bar_1m/SHFE_bu1912_1m.csv"
START = datetime(2019, 7, 1, 1, 0, tzinfo=UTC)
END = datetime(2019, 8, 1, tzinfo=UTC)
DATA = {
    "symbol": "SHFE.au1912",
    "interval": "1m",
    "start": START.isoformat(),
    "end": END.isoformat(),
}
SETTINGS = {"strategy": "sma_cross", "params": {"fast": 8, "slow": 30, "mode": "long_short"},
            "size": "units:2", "commission_per_unit": 10.0}  # fmt: skip


@pytest.fixture
def server(tmp_path: Path, shared_data: Path) -> Iterator[Server]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/quant.db")
    asyncio.run(add_user(settings, "vera", PASSWORD, Role.VIEWER))

    async def store() -> None:
        engine = create_engine(settings.database_url)
        try:
            await BarStore(engine).ingest(real_bars(shared_data))
            await BarStore(engine).ingest(real_bars(shared_data, BU))
        finally:
            await engine.dispose()

    asyncio.run(store())
    running = Server(tmp_path, QUANT_JWT_SECRET=TEST_SECRET, QUANT_BOOTSTRAP_ADMIN="false")
    yield running
    output = running.stop()
    assert "Traceback" not in output, output


async def _login(http: httpx.AsyncClient) -> dict[str, str]:
    answer = await http.post("/auth/token", json={"username": "vera", "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _stored(server: Server) -> tuple[pl.DataFrame, Any]:
    """The bars the gateway reads, and the instrument it prices them with."""
    engine = create_engine(server.env["QUANT_DATABASE_URL"])
    try:
        frame = await BarStore(engine).load("SHFE", "au1912", "1m", start=START, end=END)
        instruments = await instrument_table(session_factory(engine))
    finally:
        await engine.dispose()
    return frame, instruments.get("SHFE.au1912")


async def _until_ended(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    async with asyncio.timeout(120):
        while True:
            run = (await http.get(path, headers=headers)).json()
            if run["status"] not in ("queued", "running"):
                return run
            await asyncio.sleep(0.2)


async def test_a_backtest_runs_in_the_background_and_equals_the_engine(server: Server) -> None:
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as http:
        auth = await _login(http)
        listed = (await http.get("/strategies", headers=auth)).json()
        assert {"sma_cross", "donchian_breakout", "rsi_reversion", "dual_thrust"} <= {
            s["name"] for s in listed
        }
        ws = await connect(ws_url(server, token=auth["Authorization"].removeprefix("Bearer ")))
        async with ws:
            assert (await next_message(ws))["type"] == "welcome"
            await ws.send(json.dumps({"type": "subscribe", "channel": "backtests"}))
            assert (await next_message(ws))["type"] == "subscribed"
            started = await http.post("/backtests", json={**SETTINGS, "data": DATA}, headers=auth)
            assert started.status_code == 202, started.text
            run_id = started.json()["id"]
            assert started.json()["status"] == "queued"
            states = []
            while "finished" not in states and "failed" not in states:
                update = await next_message(ws, "update", within=60)
                states += [e["state"] for e in update["data"] if e["run_id"] == run_id]
            assert states[0] == "queued", states
            assert states[-1] == "finished", states

        run = (await http.get(f"/backtests/{run_id}", headers=auth)).json()
        assert run["status"] == "finished"
        assert run["progress"] == 1.0
        frame, instrument = await _stored(server)
        local = summarize(
            run_frame(prepare(BacktestSettings(**SETTINGS), instrument), frame, "au1912")
        )
        assert run["summary"]["trades"] == local["trades"] > 10
        assert run["summary"]["final_equity"] == pytest.approx(local["final_equity"], rel=1e-12)
        assert run["summary"]["metrics"]["sharpe"] == pytest.approx(local["metrics"]["sharpe"])

        report = await http.get(f"/backtests/{run_id}/report?max_points=500", headers=auth)
        assert report.status_code == 200, report.text
        body = report.json()
        assert len(body["equity"]["equity"]) <= 500
        assert body["equity"]["equity"][-1] == pytest.approx(local["final_equity"])
        assert body["trade_count"] == local["trades"]
        assert body["monthly_returns"]["years"] == [2019]

        listing = (await http.get("/backtests", headers=auth)).json()
        assert [r["id"] for r in listing] == [run_id]
        ended = await http.delete(f"/backtests/{run_id}", headers=auth)
        assert ended.status_code == 409, ended.text


async def test_an_optimisation_finds_the_grid_best_and_can_be_cancelled(server: Server) -> None:
    ranges = {"fast": {"min": 5, "max": 15, "step": 5}, "slow": [20, 40, 60]}
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as http:
        auth = await _login(http)
        body = {**SETTINGS, "data": DATA, "ranges": ranges, "objective": "total_return",
                "heatmap": ["fast", "slow"], "chunk_size": 2}  # fmt: skip
        started = await http.post("/optimizations", json=body, headers=auth)
        assert started.status_code == 202, started.text
        run = await _until_ended(http, f"/optimizations/{started.json()['id']}", auth)
        assert run["status"] == "finished", run
        frame, instrument = await _stored(server)
        prepared = prepare(BacktestSettings(**SETTINGS), instrument)
        space = SearchSpace.build(prepared.definition, {**prepared.params, **ranges})
        points = list(space.grid())
        direct = evaluate_chunk(
            prepared.definition, points, BarSeries.from_frame(frame, "au1912"), prepared.config,
            "total_return",
        )  # fmt: skip
        best = max(direct, key=lambda e: e.objective if e.objective is not None else -1e9)
        assert run["summary"]["evaluated"] == len(points) == 9
        assert run["summary"]["best_params"] == best.params
        assert run["summary"]["best_value"] == pytest.approx(best.objective)
        heatmap = run["result"]["heatmap"]
        assert heatmap["x"] == [5, 10, 15]
        assert heatmap["y"] == [20, 40, 60]

        # A large grid, cancelled at once: it stops, and says so.
        big = {**body, "ranges": {"fast": {"min": 2, "max": 60, "step": 1},
                                   "slow": {"min": 61, "max": 300, "step": 1}}}  # fmt: skip
        started = await http.post("/optimizations", json=big, headers=auth)
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        cancelled = await http.delete(f"/optimizations/{run_id}", headers=auth)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        run = await _until_ended(http, f"/optimizations/{run_id}", auth)
        assert run["status"] == "cancelled"
        assert (await http.delete(f"/optimizations/{run_id}", headers=auth)).status_code == 409


BAD_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"strategy": "sma_crossing"}, "strategy"),
    ({"params": {"fast": 0}}, "params.fast"),
    ({"params": {"fast": 40, "slow": 30}}, "params"),
    ({"size": "lots:3"}, "size"),
    ({"margin": 1.5}, "margin"),
    ({"data": {**DATA, "symbol": "SHFE.rb9999"}}, "data.symbol"),
    ({"data": {**DATA, "symbol": "rb2002"}}, "data.symbol"),
    ({"data": {**DATA, "start": "2030-01-01T00:00:00Z", "end": "2030-02-01T00:00:00Z"}},
     "data.start"),
    ({"data": {**DATA, "end": "2019-06-01T00:00:00Z"}}, "data.end"),
    ({"surprise": 1}, "surprise"),
    ({"strategy": "formula", "params": {"long_entry": "close >"}}, "params.long_entry"),
    ({"data": {**DATA, "others": ["SHFE.bu1999"]}}, "data.others[0]"),
    ({"data": {**DATA, "others": ["SHFE.au1912"]}}, "data.others"),
    ({"strategy": "formula", "params": {"long_entry": "@nothing"}}, "params.long_entry"),
    ({"strategy": "formula", "params": {"long_entry": "close > 1"}, "engine": "event"},
     "engine"),
]  # fmt: skip


async def test_bad_requests_are_refused_naming_the_field(server: Server) -> None:
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as http:
        auth = await _login(http)
        for change, field in BAD_REQUESTS:
            body = {**SETTINGS, "data": DATA, **change}
            answer = await http.post("/backtests", json=body, headers=auth)
            assert answer.status_code in (400, 422), answer.text
            assert field in answer.text, (change, answer.text)
            bad_range = await http.post(
                "/optimizations", json={**body, "ranges": {"fast": [5, 10]}}, headers=auth
            )
            assert bad_range.status_code in (400, 422), bad_range.text
        unknown = await http.post(
            "/optimizations",
            json={**SETTINGS, "data": DATA, "ranges": {"fast": {"min": 5, "max": 0}}},
            headers=auth,
        )
        assert unknown.status_code == 422, unknown.text
        assert "ranges.fast" in unknown.text
        objective = await http.post(
            "/optimizations",
            json={**SETTINGS, "data": DATA, "ranges": {"fast": [5]}, "objective": "luck"},
            headers=auth,
        )
        assert objective.status_code == 422, objective.text
        assert "objective" in objective.text
        assert (await http.get("/backtests", headers=auth)).json() == []  # nothing stored
        assert (await http.get("/optimizations", headers=auth)).json() == []
        missing = await http.get("/backtests/nope", headers=auth)
        assert missing.status_code == 404

        # A saved formula is used by name.
        saved = await http.put(
            "/indicators/formulas/golden",
            json={"expression": "cross_above(sma(close, 5), sma(close, 20))"},
            headers=auth,
        )
        assert saved.status_code == 200, saved.text
        params = {"long_entry": "@golden", "long_exit": "close < sma(close, 20)"}
        body = {"strategy": "formula", "data": DATA, "params": params}
        started = await http.post("/backtests", json=body, headers=auth)
        assert started.status_code == 202, started.text
        run = await _until_ended(http, f"/backtests/{started.json()['id']}", auth)
        assert run["status"] == "finished", run
        assert run["summary"]["trades"] > 0


async def test_walk_forward_analysis_through_the_api(server: Server) -> None:
    ranges = {"fast": [5, 10], "slow": [20, 40]}
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as http:
        auth = await _login(http)
        body = {**SETTINGS, "data": DATA, "ranges": ranges, "method": "walk_forward",
                "objective": "total_return", "train_days": 3, "test_days": 1}  # fmt: skip
        ws = await connect(ws_url(server, token=auth["Authorization"].removeprefix("Bearer ")))
        async with ws:
            assert (await next_message(ws))["type"] == "welcome"
            await ws.send(json.dumps({"type": "subscribe", "channel": "backtests"}))
            assert (await next_message(ws))["type"] == "subscribed"
            started = await http.post("/optimizations", json=body, headers=auth)
            assert started.status_code == 202, started.text
            run_id = started.json()["id"]
            events: list[dict[str, Any]] = []
            while not any(e["state"] in ("finished", "failed") for e in events):
                update = await next_message(ws, "update", within=60)
                events += [e for e in update["data"] if e["run_id"] == run_id]
        run = await _until_ended(http, f"/optimizations/{run_id}", auth)
        assert run["status"] == "finished", run["error"]
    # Each training window's search reports itself, as a share of the whole analysis.
    count = len(run["summary"]["windows"])
    running = [e for e in events if e["state"] == "running" and e["detail"]]
    assert {e["detail"].split(":")[0] for e in running} >= {f"window 1/{count}"}
    last = next(e for e in running if e["detail"].startswith(f"window {count}/{count}:"))
    assert last["progress"] > (count - 1) / count - 1e-9
    frame, instrument = await _stored(server)
    prepared = prepare(BacktestSettings(**SETTINGS), instrument)
    space = SearchSpace.build(prepared.definition, {**prepared.params, **ranges})
    local = walk_forward(
        BarSeries.from_frame(frame, "au1912"), prepared.definition, space, prepared.config,
        "total_return", train_days=3, test_days=1,
    )  # fmt: skip
    windows = run["summary"]["windows"]
    assert len(windows) == len(local.windows) >= 4
    assert [w["best_params"] for w in windows] == [w.best_params for w in local.windows]
    assert run["summary"]["final_equity"] == pytest.approx(float(local.equity[-1]))


async def test_walk_forward_with_random_search_anchored_and_cancelled(server: Server) -> None:
    """Each window's random search gets seed + k, as in one process; a cancelled analysis
    stops between windows' batches and stays cancelled."""
    ranges = {"fast": {"min": 3, "max": 15}, "slow": {"min": 20, "max": 60}}
    body = {**SETTINGS, "data": DATA, "ranges": ranges, "method": "walk_forward",
            "search": "random", "trials": 6, "seed": 11, "anchored": True,
            "objective": "sharpe", "train_days": 2, "test_days": 1}  # fmt: skip
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as http:
        auth = await _login(http)
        started = await http.post("/optimizations", json=body, headers=auth)
        assert started.status_code == 202, started.text
        run = await _until_ended(http, f"/optimizations/{started.json()['id']}", auth)
        assert run["status"] == "finished", run["error"]

        big = {**body, "trials": 5_000, "ranges": {"fast": {"min": 2, "max": 200},
                                                   "slow": {"min": 201, "max": 900}}}  # fmt: skip
        started = await http.post("/optimizations", json=big, headers=auth)
        assert started.status_code == 202, started.text
        cancelled = await http.delete(f"/optimizations/{started.json()['id']}", headers=auth)
        assert cancelled.status_code == 200, cancelled.text
        ended = await _until_ended(http, f"/optimizations/{started.json()['id']}", auth)
        assert ended["status"] == "cancelled"
        await asyncio.sleep(1.0)  # a window's search in flight must not revive it
        again = (await http.get(f"/optimizations/{started.json()['id']}", headers=auth)).json()
        assert again["status"] == "cancelled"
    frame, instrument = await _stored(server)
    prepared = prepare(BacktestSettings(**SETTINGS), instrument)
    space = SearchSpace.build(prepared.definition, {**prepared.params, **ranges})
    local = walk_forward(
        BarSeries.from_frame(frame, "au1912"), prepared.definition, space, prepared.config,
        "sharpe", train_days=2, test_days=1, anchored=True, search="random", trials=6, seed=11,
    )  # fmt: skip
    windows = run["summary"]["windows"]
    assert len(windows) == len(local.windows) >= 4
    assert [w["best_params"] for w in windows] == [w.best_params for w in local.windows]
    assert [w["evaluated"] for w in windows] == [6] * len(windows)
    assert run["summary"]["final_equity"] == pytest.approx(float(local.equity[-1]))


async def test_a_portfolio_of_two_contracts_shares_one_account(server: Server) -> None:
    data = {**DATA, "others": ["SHFE.bu1912"], "start": "2019-06-01T00:00:00Z",
            "end": "2019-07-01T00:00:00Z"}  # fmt: skip
    body = {**SETTINGS, "size": "equity:0.2", "data": data}
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as http:
        auth = await _login(http)
        started = await http.post("/backtests", json=body, headers=auth)
        assert started.status_code == 202, started.text
        run = await _until_ended(http, f"/backtests/{started.json()['id']}", auth)
        assert run["status"] == "finished", run["error"]
        ranges = {"fast": [5, 10], "slow": [20, 40]}
        search = {**body, "ranges": ranges, "objective": "total_return", "chunk_size": 3}
        optimising = await http.post("/optimizations", json=search, headers=auth)
        assert optimising.status_code == 202, optimising.text
        optimised = await _until_ended(http, f"/optimizations/{optimising.json()['id']}", auth)
        assert optimised["status"] == "finished", optimised["error"]
        walking = {**search, "method": "walk_forward", "train_days": 3, "test_days": 1}
        refused = await http.post("/optimizations", json=walking, headers=auth)
        assert refused.status_code == 422, refused.text
        assert "data.others" in refused.text
    engine = create_engine(server.env["QUANT_DATABASE_URL"])
    start, end = datetime(2019, 6, 1, tzinfo=UTC), datetime(2019, 7, 1, tzinfo=UTC)
    try:
        items = [
            (code, await BarStore(engine).load("SHFE", code, "1m", start=start, end=end),
             (await instrument_table(session_factory(engine))).get(f"SHFE.{code}"))
            for code in ("au1912", "bu1912")
        ]  # fmt: skip
    finally:
        await engine.dispose()
    settings = BacktestSettings(**{**SETTINGS, "size": "equity:0.2"})
    local = summarize(run_portfolio(prepare(settings, items[0][2]), settings, items))
    assert run["summary"]["symbols"] == local["symbols"]
    assert min(local["symbols"].values()) > 0  # both contracts traded
    assert run["summary"]["final_equity"] == pytest.approx(local["final_equity"], rel=1e-12)

    # The optimisation ran every set on the portfolio, each contract priced by its own terms.
    prepared = prepare(settings, items[0][2])
    space = SearchSpace.build(prepared.definition, {**prepared.params, **ranges})
    points = list(space.grid())
    direct = evaluate_chunk(
        prepared.definition, points, [BarSeries.from_frame(f, code) for code, f, _ in items],
        prepared.config, "total_return", terms=[terms_for(settings, i) for _, _, i in items],
    )  # fmt: skip
    best = max(direct, key=lambda e: e.objective if e.objective is not None else -1e9)
    assert optimised["summary"]["evaluated"] == len(points) == 4
    assert optimised["summary"]["best_params"] == best.params
    assert optimised["summary"]["best_value"] == pytest.approx(best.objective, rel=1e-12)
    # Not the first contract's figures alone: the portfolio's differ from them.
    alone = evaluate_chunk(
        prepared.definition, [best.params], BarSeries.from_frame(items[0][1], "au1912"),
        prepared.config, "total_return",
    )[0]  # fmt: skip
    assert alone.objective != pytest.approx(best.objective)
