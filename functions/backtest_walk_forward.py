"""The `walk_forward` function: walk-forward analysis over stored bars, in one worker.

Each training window is optimised (grid or random search), its best parameters trade the
test window that follows, and the test windows are chained into one out-of-sample curve with
its metrics. The run's row gets the per-window results and the stitched metrics; the stitched
equity goes to the object store (`backtests/<run id>/equity.parquet`). The row's progress
moves window by window, and a cancelled row stops the analysis before its next batch.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
import polars as pl

from functions.backtest_settings import BacktestSettings, StoredBars, prepare
from functions.backtests import RunId, artifacts_prefix, load_bars, split_symbol
from functions.registry import RequestError, function
from shared.backtest import BacktestError, BarSeries
from shared.optimize import (
    ObjectiveError,
    SearchSpace,
    WalkForwardResult,
    objective,
    walk_forward,
)
from shared.store.backtest_runs import BacktestRunStore
from shared.strategy import ParamError

if TYPE_CHECKING:
    from functions.deps import Deps

WALK_FORWARD = "walk_forward"
Days = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
_EPOCH = date(1970, 1, 1)
_CANCEL_POLL_S = 1.0


class WalkForwardJob(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    run_id: RunId
    settings: BacktestSettings
    data: StoredBars
    ranges: dict[str, Any]
    objective: str = "sharpe"
    maximize: bool | None = None
    train_days: Days
    test_days: Days
    anchored: bool = False
    step_days: Days | None = None
    search: Literal["grid", "random"] = "grid"
    trials: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100
    seed: int = 0


class WalkForwardOutcome(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    status: str  # finished, cancelled


def _day(value: int) -> str:
    return (_EPOCH + timedelta(days=value)).isoformat()


def summary_of(result: WalkForwardResult, series: BarSeries) -> dict[str, Any]:
    days = series.trading_days
    windows = [
        {
            "train": [
                _day(int(days[w.window.train.start])),
                _day(int(days[w.window.train.stop - 1])),
            ],
            "test": [_day(int(days[w.window.test.start])), _day(int(days[w.window.test.stop - 1]))],
            "best_params": w.best_params,
            "in_sample": w.in_sample,
            "out_of_sample": w.out_of_sample,
            "evaluated": w.evaluated,
        }
        for w in result.windows
    ]
    metrics = None
    if result.metrics is not None:
        metrics = msgspec.to_builtins(result.metrics)
        metrics.pop("daily", None)
    return {
        "method": "walk_forward",
        "objective": result.objective.name,
        "windows": windows,
        "final_equity": float(result.equity[-1]) if result.equity.size else None,
        "metrics": metrics,
    }


def _checked(request: WalkForwardJob, prepared_params: dict[str, Any], definition: Any) -> Any:
    try:
        space = SearchSpace.build(definition, {**prepared_params, **request.ranges})
        target = objective(request.objective, request.maximize)
    except ParamError as exc:
        raise RequestError(str(exc), f"ranges.{exc.field}") from None
    except ObjectiveError as exc:
        raise RequestError(str(exc), "objective") from None
    return space, target


@function(WALK_FORWARD, request=WalkForwardJob, response=WalkForwardOutcome)
async def handle(request: WalkForwardJob, deps: Deps) -> WalkForwardOutcome:
    """Walk-forward analysis over stored bars; the outcome is written on the run's row."""
    runs = BacktestRunStore(deps.database())
    if not await runs.start(request.run_id, now=datetime.now(UTC)):
        return WalkForwardOutcome(run_id=request.run_id, status="cancelled")
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    polled = [0.0]

    def cancelled() -> bool:
        now = time.monotonic()
        if now - polled[0] >= _CANCEL_POLL_S:
            polled[0] = now
            check = asyncio.run_coroutine_threadsafe(runs.is_cancelled(request.run_id), loop)
            if check.result():
                stop.set()
        return stop.is_set()

    def progress(done: int, total: int) -> None:
        fraction = done / total if total else 0.0
        asyncio.run_coroutine_threadsafe(runs.progress(request.run_id, fraction), loop)

    try:
        frame, instrument = await load_bars(deps, request.data)
        prepared = prepare(request.settings, instrument)
        space, target = _checked(request, dict(prepared.params), prepared.definition)
        _, code = split_symbol(request.data.symbol)
        try:
            series = await asyncio.to_thread(BarSeries.from_frame, frame, code)
            result = await asyncio.to_thread(
                walk_forward, series, prepared.definition, space, prepared.config, target,
                train_days=request.train_days, test_days=request.test_days,
                anchored=request.anchored, step_days=request.step_days, search=request.search,
                trials=request.trials, seed=request.seed, progress=progress,
                cancelled=cancelled,
            )  # fmt: skip
        except (BacktestError, ValueError) as exc:
            raise RequestError(str(exc), "data") from None
    except RequestError as exc:
        await runs.fail(request.run_id, str(exc), now=datetime.now(UTC))
        raise
    if result.cancelled:
        return WalkForwardOutcome(run_id=request.run_id, status="cancelled")
    prefix = artifacts_prefix(request.run_id)
    equity = pl.DataFrame(
        {
            "ts": pl.Series(result.ts_ns).cast(pl.Datetime("ns", "UTC")),
            "trading_day": pl.Series(result.trading_days).cast(pl.Date),
            "equity": result.equity,
        }
    )
    buffer = io.BytesIO()
    await asyncio.to_thread(equity.write_parquet, buffer, compression="zstd")
    await deps.objects.put(
        f"{prefix}equity.parquet", buffer.getvalue(), "application/vnd.apache.parquet"
    )
    finished = await runs.finish(
        request.run_id,
        summary=summary_of(result, series),
        artifacts_prefix=prefix,
        now=datetime.now(UTC),
    )
    return WalkForwardOutcome(run_id=request.run_id, status="finished" if finished else "cancelled")
