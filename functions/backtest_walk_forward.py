"""The `walk_forward` function: walk-forward analysis over stored bars.

Each training window is optimised (grid or random search), its best parameters trade the
test window that follows, and the test windows are chained into one out-of-sample curve with
its metrics. The run's row gets the per-window results and the stitched metrics; the stitched
equity goes to the object store (`backtests/<run id>/equity.parquet`).

Three ways to call it:
- whole (neither `plan_only` nor `choices`): every window in this worker. It starts the row,
  moves its progress window by window, and stops before the next batch once it is cancelled.
- `plan_only`: the windows' bar times, nothing run. The gateway then searches each training
  window as an optimisation over `[train_start, train_end)`, fanned out over the workers by
  `backtest_chunk` calls, and keeps the row's state and progress itself.
- `choices` (one per window, from those searches): trade the test windows, stitch, record.
  The plan is recomputed from the same bars; if the stored bars changed meanwhile (another
  number of windows), the run fails rather than stitch windows that no longer line up.
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

from functions.backtest_settings import BacktestSettings, PreparedBacktest, StoredBars, prepare
from functions.backtests import RunId, artifacts_prefix, load_bars, split_symbol
from functions.registry import RequestError, function
from shared.backtest import BacktestError, BarSeries
from shared.optimize import (
    ObjectiveError,
    SearchSpace,
    WalkForwardResult,
    WalkForwardWindow,
    WindowChoice,
    objective,
    stitch_windows,
    walk_forward,
    windows,
)
from shared.store.backtest_runs import BacktestRunStore
from shared.strategy import ParamError

if TYPE_CHECKING:
    from functions.deps import Deps

WALK_FORWARD = "walk_forward"
Days = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
_EPOCH = date(1970, 1, 1)
_CANCEL_POLL_S = 1.0


ParamValues = dict[str, int | float | str | bool]


class WindowChoiceSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A training window's search result, as `shared.optimize.WindowChoice`."""

    best_params: ParamValues | None
    in_sample: float | None
    evaluated: Annotated[int, msgspec.Meta(ge=0)]


class WindowSpan(msgspec.Struct, frozen=True, kw_only=True):
    """A window's training bars as a stored-bar range: `train_start <= start < train_end`."""

    train_start: datetime
    train_end: datetime


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
    plan_only: bool = False
    choices: Annotated[list[WindowChoiceSpec], msgspec.Meta(max_length=100_000)] | None = None


class WalkForwardOutcome(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    status: str  # finished, cancelled, planned
    windows: list[WindowSpan] = msgspec.field(default_factory=list)


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


def _spans(series: BarSeries, plan: list[WalkForwardWindow]) -> list[WindowSpan]:
    def at(bar: int) -> datetime:
        return datetime.fromtimestamp(0, UTC) + timedelta(
            microseconds=int(series.ts_ns[bar]) // 1000
        )

    # A training window ends where its test window starts, which is always a bar of the series.
    return [WindowSpan(train_start=at(w.train.start), train_end=at(w.test.start)) for w in plan]


async def _series(request: WalkForwardJob, deps: Deps) -> tuple[BarSeries, PreparedBacktest]:
    frame, instrument = await load_bars(deps, request.data)
    prepared = prepare(request.settings, instrument)
    _, code = split_symbol(request.data.symbol)
    try:
        series = await asyncio.to_thread(BarSeries.from_frame, frame, code)
    except BacktestError as exc:
        raise RequestError(str(exc), "data") from None
    return series, prepared


def _plan(request: WalkForwardJob, series: BarSeries) -> list[WalkForwardWindow]:
    try:
        return windows(
            series.trading_days, request.train_days, request.test_days, request.anchored,
            request.step_days,
        )  # fmt: skip
    except ValueError as exc:
        raise RequestError(str(exc), "data") from None


@function(WALK_FORWARD, request=WalkForwardJob, response=WalkForwardOutcome)
async def handle(request: WalkForwardJob, deps: Deps) -> WalkForwardOutcome:
    """Walk-forward analysis over stored bars (see the module docstring for its three ways)."""
    runs = BacktestRunStore(deps.database())
    if request.plan_only:
        series, prepared = await _series(request, deps)
        _checked(request, dict(prepared.params), prepared.definition)
        spans = _spans(series, _plan(request, series))
        return WalkForwardOutcome(run_id=request.run_id, status="planned", windows=spans)
    if request.choices is not None:
        if await runs.is_cancelled(request.run_id):
            return WalkForwardOutcome(run_id=request.run_id, status="cancelled")
        try:
            result, series = await _stitched(request, request.choices, deps)
        except RequestError as exc:
            await runs.fail(request.run_id, str(exc), now=datetime.now(UTC))
            raise
        return await _record(request, result, series, deps)
    if not await runs.start(request.run_id, now=datetime.now(UTC)):
        return WalkForwardOutcome(run_id=request.run_id, status="cancelled")
    try:
        result, series = await _whole(request, runs, deps)
    except RequestError as exc:
        await runs.fail(request.run_id, str(exc), now=datetime.now(UTC))
        raise
    if result.cancelled:
        return WalkForwardOutcome(run_id=request.run_id, status="cancelled")
    return await _record(request, result, series, deps)


async def _stitched(
    request: WalkForwardJob, choices: list[WindowChoiceSpec], deps: Deps
) -> tuple[WalkForwardResult, BarSeries]:
    series, prepared = await _series(request, deps)
    _, target = _checked(request, dict(prepared.params), prepared.definition)
    plan = _plan(request, series)
    if len(plan) != len(choices):
        raise RequestError(
            f"the stored bars changed during the analysis: {len(plan)} windows now, "
            f"{len(choices)} searched",
            "data",
        )
    chosen = [WindowChoice(c.best_params, c.in_sample, c.evaluated) for c in choices]
    try:
        result = await asyncio.to_thread(
            stitch_windows, series, prepared.definition, prepared.config, target,
            plan=plan, choices=chosen,
        )  # fmt: skip
    except (BacktestError, ParamError) as exc:
        raise RequestError(str(exc), "choices") from None
    return result, series


async def _whole(
    request: WalkForwardJob, runs: BacktestRunStore, deps: Deps
) -> tuple[WalkForwardResult, BarSeries]:
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

    series, prepared = await _series(request, deps)
    space, target = _checked(request, dict(prepared.params), prepared.definition)
    try:
        result = await asyncio.to_thread(
            walk_forward, series, prepared.definition, space, prepared.config, target,
            train_days=request.train_days, test_days=request.test_days,
            anchored=request.anchored, step_days=request.step_days, search=request.search,
            trials=request.trials, seed=request.seed, progress=progress,
            cancelled=cancelled,
        )  # fmt: skip
    except (BacktestError, ValueError) as exc:
        raise RequestError(str(exc), "data") from None
    return result, series


async def _record(
    request: WalkForwardJob, result: WalkForwardResult, series: BarSeries, deps: Deps
) -> WalkForwardOutcome:
    runs = BacktestRunStore(deps.database())
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
