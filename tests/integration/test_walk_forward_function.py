"""The `walk_forward` function's three ways on stored bars: whole in one worker, or planned,
searched window by window elsewhere and stitched; both record the same result on the row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from functions.backtest_settings import BacktestSettings, StoredBars, prepare
from functions.backtest_walk_forward import WALK_FORWARD, WalkForwardJob, WindowChoiceSpec
from functions.deps import Deps
from functions.registry import RequestError, get_function
from shared.backtest import BarSeries
from shared.config import Settings
from shared.objects import LocalObjectStore
from shared.optimize import SearchSpace, choice_of, evaluate_chunk, grid_search, windows
from shared.store import Role, UserRepository
from shared.store.backtest_runs import BacktestRunStore
from shared.store.market_data import BarStore
from shared.store.tables import BacktestStatus
from tests.support.market_data import real_bars

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

SETTINGS = BacktestSettings(strategy="sma_cross", params={"mode": "long_short"})
RANGES: dict[str, Any] = {"fast": [4, 8], "slow": [20, 40]}
DATA = StoredBars(
    symbol="SHFE.au1912",
    start=datetime(2019, 7, 1, 1, 0, tzinfo=UTC),
    end=datetime(2019, 8, 1, tzinfo=UTC),
)
NOW = datetime(2026, 11, 24, tzinfo=UTC)


async def _setup(engine: AsyncEngine, tmp_path: Path, shared_data: Path) -> tuple[Deps, int]:
    await BarStore(engine).ingest(real_bars(shared_data))
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, objects_dir=str(tmp_path / "objects"))
    deps = Deps(settings=settings, objects=LocalObjectStore(settings.objects_dir))
    user = await UserRepository(deps.database()).create("vera", "hash", Role.VIEWER)
    return deps, user.id


async def _job(deps: Deps, user: int, run_id: str, **changes: Any) -> WalkForwardJob:
    await BacktestRunStore(deps.database()).create(
        run_id, user, kind="optimization", strategy="sma_cross", params={}, request={}, now=NOW
    )
    job = WalkForwardJob(
        run_id=run_id, settings=SETTINGS, data=DATA, ranges=RANGES, objective="sharpe",
        train_days=3, test_days=1,
    )  # fmt: skip
    return msgspec.structs.replace(job, **changes)


async def test_planned_and_stitched_equals_the_whole_analysis(
    store_engine: AsyncEngine, tmp_path: Path, shared_data: Path
) -> None:
    deps, user = await _setup(store_engine, tmp_path, shared_data)
    handle = get_function(WALK_FORWARD).handler
    runs = BacktestRunStore(deps.database())
    try:
        whole = await handle(await _job(deps, user, "whole"), deps)
        assert whole.status == "finished"

        job = await _job(deps, user, "phased")
        planned = await handle(msgspec.structs.replace(job, plan_only=True), deps)
        assert planned.status == "planned"
        frame = await BarStore(store_engine).load("SHFE", "au1912", "1m", start=DATA.start,
                                                  end=DATA.end)  # fmt: skip
        series = BarSeries.from_frame(frame, "au1912")
        plan = windows(series.trading_days, 3, 1)
        assert len(planned.windows) == len(plan) >= 4
        prepared = prepare(SETTINGS)
        space = SearchSpace.build(prepared.definition, {**prepared.params, **RANGES})
        choices = []
        for span, (train, _) in zip(planned.windows, plan, strict=True):
            # The span loads exactly the window's training bars from the store.
            bars = await BarStore(store_engine).load(
                "SHFE", "au1912", "1m", start=span.train_start, end=span.train_end
            )
            assert bars.height == train.stop - train.start
            window = BarSeries.from_frame(bars, "au1912")
            found = grid_search(
                space,
                lambda batch, window=window: evaluate_chunk(
                    prepared.definition, batch, window, prepared.config, "sharpe"
                ),
            )
            choice = choice_of(found)
            choices.append(WindowChoiceSpec(best_params=choice.best_params,
                                            in_sample=choice.in_sample,
                                            evaluated=choice.evaluated))  # fmt: skip
        assert await runs.start("phased", now=NOW)  # the gateway starts a fanned-out run
        stitched = await handle(msgspec.structs.replace(job, choices=choices), deps)
        assert stitched.status == "finished"
        first, second = await runs.get("whole", user), await runs.get("phased", user)
        assert first is not None
        assert second is not None
        assert second.status is BacktestStatus.FINISHED
        assert second.summary == first.summary
        assert first.summary is not None
        assert len(first.summary["windows"]) == len(plan)

        # Bars that no longer give the searched windows: the run fails, saying why.
        stale = await _job(deps, user, "stale")
        assert await runs.start("stale", now=NOW)
        with pytest.raises(RequestError, match="stored bars changed"):
            await handle(msgspec.structs.replace(stale, choices=choices[:-1]), deps)
        failed = await runs.get("stale", user)
        assert failed is not None
        assert failed.status is BacktestStatus.FAILED

        # A run cancelled while its windows were searched is not revived by the stitching.
        late = await _job(deps, user, "late")
        assert await runs.start("late", now=NOW)
        assert await runs.cancel("late", now=NOW)
        answer = await handle(msgspec.structs.replace(late, choices=choices), deps)
        assert answer.status == "cancelled"
        cancelled = await runs.get("late", user)
        assert cancelled is not None
        assert cancelled.status is BacktestStatus.CANCELLED
    finally:
        await deps.close_database()
