"""Backtests and optimisations over stored bars: start, follow, read, cancel.

A run answers at once with its id (202); progress and completion then arrive on the
`backtests` WebSocket channel, and `GET .../{id}` shows the row at any time.
"""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from typing import Annotated, Any

import msgspec
import polars as pl
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter

from functions.backtests import ARTIFACTS
from gateway.auth import guards
from gateway.auth.identity import AuthUser
from gateway.auth.tokens import TokenClaims
from gateway.backtests.requests import BacktestRequest, OptimizationRequest
from gateway.backtests.runner import RunRefusedError, RunStateError
from gateway.errors import ApiError
from gateway.services import Services, ServicesDependency
from shared.backtest import BacktestReport, build_report
from shared.objects import ObjectNotFoundError
from shared.store.backtest_runs import RunKind, RunRecord
from shared.store.tables import BacktestStatus
from shared.strategy import ParamSpec, strategies

RequestT = Request[AuthUser, TokenClaims, State]
RunIdParam = Annotated[str, Parameter(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Limit = Annotated[int, Parameter(ge=1, le=500)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000)]


class StrategyInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    params: list[ParamSpec]
    constraints: list[str]
    vectorized: bool
    event_driven: bool


class RunView(msgspec.Struct, frozen=True, kw_only=True):
    """A run as the API shows it: `summary` holds the metrics once finished (for an
    optimisation, the best parameters and value); `result` an optimisation's top runs and
    heatmap."""

    id: str
    kind: RunKind
    status: BacktestStatus
    strategy: str
    params: dict[str, Any]
    progress: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    summary: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    request: dict[str, Any] | None


def _view(record: RunRecord) -> RunView:
    return RunView(
        id=record.id,
        kind=record.kind,
        status=record.status,
        strategy=record.strategy,
        params=record.params,
        progress=record.progress,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        summary=record.summary,
        result=record.result,
        error=record.error,
        request=record.request,
    )


def _refused(exc: RunRefusedError) -> ApiError:
    return ApiError(422, "invalid_request", str(exc), exc.fields)


async def _record(services: Services, user_id: int, run_id: str, kind: RunKind) -> RunRecord:
    record = await services.backtests.runs.get(run_id, user_id)
    if record is None or record.kind != kind:
        raise ApiError(404, f"unknown_{kind}", f"no {kind} {run_id!r}", ["id"])
    return record


async def _cancel(services: Services, user_id: int, run_id: str, kind: RunKind) -> RunView:
    await _record(services, user_id, run_id, kind)
    try:
        record = await services.backtests.cancel(user_id, run_id)
    except RunStateError as exc:
        raise ApiError(409, "run_ended", str(exc), ["id"]) from None
    if record is None:
        raise ApiError(404, f"unknown_{kind}", f"no {kind} {run_id!r}", ["id"])
    return _view(record)


class StrategiesController(Controller):
    path = "/api/v1/strategies"
    guards = [guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["backtests"]  # noqa: RUF012

    @get("", summary="Built-in strategies with their parameters (type, default, bounds)")
    async def strategies(self) -> list[StrategyInfo]:
        return [
            StrategyInfo(
                name=d.name,
                description=d.description,
                params=list(d.params),
                constraints=[c.text for c in d.constraints],
                vectorized=d.signals is not None,
                event_driven=d.event_class is not None,
            )
            for d in strategies()
        ]


class BacktestsController(Controller):
    path = "/api/v1/backtests"
    guards = [guards.viewer]  # noqa: RUF012
    tags = ["backtests"]  # noqa: RUF012

    @post(
        "",
        summary="Start a backtest over stored bars",
        status_code=202,
        description=(
            "Checked before anything runs: an unknown strategy, a parameter out of bounds, a "
            "bad convention or a range without bars is 422 naming the field. The run then "
            "goes on in the background: follow it on the `backtests` WebSocket channel or "
            "with `GET /api/v1/backtests/{id}`."
        ),
    )
    async def start(
        self, data: JSONBody[BacktestRequest], request: RequestT, services: ServicesDependency
    ) -> RunView:
        try:
            record = await services.backtests.submit_backtest(request.user.id, data)
        except RunRefusedError as exc:
            raise _refused(exc) from None
        return _view(record)

    @get("", summary="Your backtests, newest first")
    async def list_runs(
        self,
        request: RequestT,
        services: ServicesDependency,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> list[RunView]:
        records = await services.backtests.runs.list(
            request.user.id, kind="backtest", limit=limit, offset=offset
        )
        return [_view(r) for r in records]

    @get("/{run_id:str}", summary="A backtest: status, progress, metrics")
    async def run(
        self, run_id: RunIdParam, request: RequestT, services: ServicesDependency
    ) -> RunView:
        return _view(await _record(services, request.user.id, run_id, "backtest"))

    @get(
        "/{run_id:str}/report",
        summary="ECharts-ready equity, drawdown, trades, monthly returns and daily P&L",
    )
    async def report(
        self,
        run_id: RunIdParam,
        request: RequestT,
        services: ServicesDependency,
        max_points: Annotated[int, Parameter(ge=10, le=100_000)] = 2000,
    ) -> BacktestReport:
        record = await _record(services, request.user.id, run_id, "backtest")
        if record.status is not BacktestStatus.FINISHED or record.artifacts_prefix is None:
            raise ApiError(409, "run_not_finished", f"backtest {run_id} is {record.status}", ["id"])
        frames = await _artifacts(services, record.artifacts_prefix)
        cash = float((record.request or {}).get("cash", 1_000_000.0))
        return await asyncio.to_thread(
            build_report,
            frames["equity"],
            frames["trades"],
            frames["daily"],
            starting_cash=cash,
            max_points=max_points,
        )

    @delete(
        "/{run_id:str}",
        summary="Cancel a queued or running backtest",
        status_code=200,
        description="409 when the run has already ended.",
    )
    async def cancel(
        self, run_id: RunIdParam, request: RequestT, services: ServicesDependency
    ) -> RunView:
        return await _cancel(services, request.user.id, run_id, "backtest")


class OptimizationsController(Controller):
    path = "/api/v1/optimizations"
    guards = [guards.viewer]  # noqa: RUF012
    tags = ["backtests"]  # noqa: RUF012

    @post(
        "",
        summary="Start a parameter search (grid, random or genetic) over stored bars",
        status_code=202,
        description=(
            "`ranges` maps each searched parameter to `{min, max, step}`, a list, or a fixed "
            "value; `params` fixes others. The objective is any metric (`sharpe`, "
            "`max_drawdown_pct`, `trades.win_rate`...). Chunks of parameter sets fan out to "
            "the function workers; the result keeps the `top` runs and, with `heatmap: [x, "
            "y]`, the best objective per cell."
        ),
    )
    async def start(
        self,
        data: JSONBody[OptimizationRequest],
        request: RequestT,
        services: ServicesDependency,
    ) -> RunView:
        try:
            record = await services.backtests.submit_optimization(request.user.id, data)
        except RunRefusedError as exc:
            raise _refused(exc) from None
        return _view(record)

    @get("", summary="Your optimisations, newest first")
    async def list_runs(
        self,
        request: RequestT,
        services: ServicesDependency,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> list[RunView]:
        records = await services.backtests.runs.list(
            request.user.id, kind="optimization", limit=limit, offset=offset
        )
        return [_view(r) for r in records]

    @get("/{run_id:str}", summary="An optimisation: status, progress, best, top runs, heatmap")
    async def run(
        self, run_id: RunIdParam, request: RequestT, services: ServicesDependency
    ) -> RunView:
        return _view(await _record(services, request.user.id, run_id, "optimization"))

    @delete("/{run_id:str}", summary="Cancel a running optimisation", status_code=200)
    async def cancel(
        self, run_id: RunIdParam, request: RequestT, services: ServicesDependency
    ) -> RunView:
        return await _cancel(services, request.user.id, run_id, "optimization")


async def _artifacts(services: Services, prefix: str) -> dict[str, pl.DataFrame]:
    frames: dict[str, pl.DataFrame] = {}
    for name in ARTIFACTS:
        if name == "fills":
            continue  # the report shows trades; fills stay in the store for download
        try:
            body = await services.deps.objects.get(f"{prefix}{name}.parquet")
        except ObjectNotFoundError:
            raise ApiError(
                410, "artifacts_missing", f"the run's {name} were removed from the store", ["id"]
            ) from None
        frames[name] = await asyncio.to_thread(pl.read_parquet, io.BytesIO(body))
    return frames
