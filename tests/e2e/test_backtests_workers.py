"""Backtests, an optimisation and a walk-forward analysis on real Dramatiq workers: a gateway
process on PostgreSQL and Redis dispatches the `backtests` function and fans the searches'
chunks out to two worker processes; the results equal the engine run directly on the same
stored bars."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.backtest_settings import BacktestSettings, prepare
from functions.backtests import run_frame, summarize
from shared.backtest import BarSeries
from shared.config import Settings
from shared.optimize import SearchSpace, evaluate_chunk, walk_forward
from shared.store import Role, create_engine, session_factory
from shared.store.catalogue import instrument_table
from shared.store.market_data import BarStore
from tests.support.gateway import TEST_SECRET, add_user
from tests.support.market_data import real_bars
from tests.support.server import Server
from tests.support.workers import DramatiqWorker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

PASSWORD = "backtest-worker-pass"
START = datetime(2019, 7, 1, 1, 0, tzinfo=UTC)
END = datetime(2019, 8, 1, tzinfo=UTC)
DATA = {"symbol": "SHFE.au1912", "interval": "1m", "start": START.isoformat(),
        "end": END.isoformat()}  # fmt: skip
SETTINGS: dict[str, Any] = {"strategy": "sma_cross",
                            "params": {"fast": 8, "slow": 30, "mode": "long_short"}}  # fmt: skip
RANGES = {"fast": {"min": 4, "max": 12, "step": 4}, "slow": [20, 30, 45, 60]}
WALK_RANGES = {"fast": [4, 8], "slow": [20, 40]}


async def _prepare(url: str, shared_data: Path) -> None:
    engine = create_engine(url)
    try:
        await BarStore(engine).ingest(real_bars(shared_data))
    finally:
        await engine.dispose()


async def _stored(url: str) -> tuple[Any, Any]:
    engine = create_engine(url)
    try:
        frame = await BarStore(engine).load("SHFE", "au1912", "1m", start=START, end=END)
        instruments = await instrument_table(session_factory(engine))
    finally:
        await engine.dispose()
    return frame, instruments.get("SHFE.au1912")


def _until_ended(http: httpx.Client, path: str) -> Any:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = http.get(path).json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.25)
    raise AssertionError(f"{path} did not end in 180 s")


def test_runs_fan_out_to_dramatiq_workers(
    postgres_url: str, redis_server: str, redis_prefix: str, tmp_path: Path, shared_data: Path
) -> None:
    settings = Settings(database_url=postgres_url, jwt_secret=TEST_SECRET)
    asyncio.run(add_user(settings, "vera", PASSWORD, Role.VIEWER))
    asyncio.run(_prepare(postgres_url, shared_data))
    workers = [
        DramatiqWorker(
            redis_url=redis_server,
            redis_prefix=redis_prefix,
            objects_dir=tmp_path / "objects",
            log_path=tmp_path / f"worker-{n}.log",
            threads=2,
            extra_settings={"QUANT_DATABASE_URL": postgres_url},
        )
        for n in (1, 2)
    ]
    for worker in workers:
        worker.spawn()
    for worker in workers:
        worker.wait_ready(60)
    server = Server(
        tmp_path / "gateway",
        QUANT_DATABASE_URL=postgres_url,
        QUANT_BUS="redis",
        QUANT_REDIS_URL=redis_server,
        QUANT_REDIS_PREFIX=redis_prefix,
        QUANT_DISPATCHER="dramatiq",
        QUANT_JWT_SECRET=TEST_SECRET,
        QUANT_BOOTSTRAP_ADMIN="false",
        QUANT_OBJECTS_DIR=str(tmp_path / "objects"),
    )
    try:
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as http:
            login = http.post("/auth/token", json={"username": "vera", "password": PASSWORD})
            http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            frame, instrument = asyncio.run(_stored(postgres_url))
            prepared = prepare(BacktestSettings(**SETTINGS), instrument)

            started = http.post("/backtests", json={**SETTINGS, "data": DATA})
            assert started.status_code == 202, started.text
            run = _until_ended(http, f"/backtests/{started.json()['id']}")
            assert run["status"] == "finished", run["error"]
            local = summarize(run_frame(prepared, frame, "au1912"))
            assert run["summary"]["trades"] == local["trades"]
            assert run["summary"]["final_equity"] == pytest.approx(local["final_equity"])
            report = http.get(f"/backtests/{run['id']}/report")
            assert report.status_code == 200, report.text

            body = {**SETTINGS, "data": DATA, "ranges": RANGES, "objective": "sharpe",
                    "chunk_size": 1}  # fmt: skip
            started = http.post("/optimizations", json=body)
            assert started.status_code == 202, started.text
            run = _until_ended(http, f"/optimizations/{started.json()['id']}")
            assert run["status"] == "finished", run["error"]

            walking = {**SETTINGS, "data": DATA, "ranges": WALK_RANGES, "objective": "sharpe",
                       "method": "walk_forward", "train_days": 3, "test_days": 1,
                       "chunk_size": 1}  # fmt: skip
            started = http.post("/optimizations", json=walking)
            assert started.status_code == 202, started.text
            walked = _until_ended(http, f"/optimizations/{started.json()['id']}")
            assert walked["status"] == "finished", walked["error"]
    finally:
        for worker in workers:
            worker.stop()
        output = server.stop()
    assert "Traceback" not in output, output
    space = SearchSpace.build(prepared.definition, {**prepared.params, **RANGES})
    points = list(space.grid())
    direct = evaluate_chunk(
        prepared.definition, points, BarSeries.from_frame(frame, "au1912"), prepared.config,
        "sharpe",
    )  # fmt: skip
    best = max(direct, key=lambda e: e.objective if e.objective is not None else -1e9)
    assert run["summary"]["evaluated"] == len(points) == 12
    assert run["summary"]["best_params"] == best.params
    assert run["summary"]["best_value"] == pytest.approx(best.objective)
    series = BarSeries.from_frame(frame, "au1912")
    local = walk_forward(
        series, prepared.definition,
        SearchSpace.build(prepared.definition, {**prepared.params, **WALK_RANGES}),
        prepared.config, "sharpe", train_days=3, test_days=1,
    )  # fmt: skip
    windows = walked["summary"]["windows"]
    assert len(windows) == len(local.windows) >= 3
    assert [w["best_params"] for w in windows] == [w.best_params for w in local.windows]
    assert walked["summary"]["final_equity"] == pytest.approx(float(local.equity[-1]))
    # Each worker took part of the chunks: the optimisation's, and every training window's.
    chunks = [w.log_path.read_text().count("a chunk of 1 parameter sets") for w in workers]
    assert sum(chunks) == len(points) + 4 * len(windows), chunks
    assert all(count > 0 for count in chunks), chunks
