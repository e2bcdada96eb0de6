"""Backtest and optimisation runs, from the request to the finished row.

`submit_*` checks the request completely (strategy, parameters, conventions, that bars exist
in the range) and answers with a queued run; the work then goes on in the background:
- a backtest is one call of the `backtests` function (inline, a Dramatiq worker or Lambda),
  which records its own outcome on the run's row;
- an optimisation is coordinated here: the search (grid, random, genetic) asks for batches of
  parameter sets, each batch is cut into chunks sent to `backtest_chunk` calls at once, and
  only their small evaluations come back (top K and heatmap kept, never curves);
- a walk-forward analysis too: the `walk_forward` function plans the windows, each training
  window is searched here as an optimisation over its bars (fanned out the same way), and
  the function then trades and stitches the test windows with the winners.
Every state change is published as a `BacktestProgressEvent` for the `backtests` channel.
Cancelling marks the row; a search stops before its next batch, a backtest's late result is
discarded by the row's own state check.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from functions.backtest_chunks import BACKTEST_CHUNK, ChunkJob, ChunkOutcome
from functions.backtest_settings import BacktestSettings, PreparedBacktest, StoredBars, prepare
from functions.backtest_walk_forward import (
    WALK_FORWARD,
    WalkForwardJob,
    WalkForwardOutcome,
    WindowChoiceSpec,
)
from functions.backtests import BACKTESTS, BacktestJob, BacktestOutcome, split_symbol
from functions.envelope import FunctionCallError
from functions.registry import RequestError, get_function
from gateway.backtests.requests import BacktestRequest, OptimizationRequest
from gateway.tasks import BackgroundTasks
from shared.domain import BacktestProgressEvent, Instrument
from shared.optimize import (
    Evaluation,
    ObjectiveError,
    SearchResult,
    SearchSpace,
    choice_of,
    genetic_search,
    grid_search,
    objective,
    random_search,
)
from shared.store.backtest_runs import BacktestRunStore, RunKind, RunRecord
from shared.store.catalogue import instrument_table
from shared.store.formulas import FormulaStore
from shared.store.market_data import BarStore
from shared.strategy import ParamError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from functions.dispatch import Dispatcher
    from shared.bus import EventBus

log = logging.getLogger(__name__)

# Chunks of one batch in flight at once: enough to keep a pool of workers busy.
FAN_OUT = 8
_PROGRESS_EVERY_S = 0.5


class RunRefusedError(ValueError):
    """The request cannot run (`fields` name the culprits); nothing was stored."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


class RunStateError(ValueError):
    """The run is not in a state that allows the action (e.g. cancelling a finished run)."""


class BacktestRunner:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        engine: AsyncEngine,
        dispatcher: Dispatcher,
        bus: EventBus,
        clock: Callable[[], datetime],
    ) -> None:
        self.runs = BacktestRunStore(sessions)
        self._sessions = sessions
        self._bars = BarStore(engine)
        self._dispatcher = dispatcher
        self._bus = bus
        self._clock = clock
        self._tasks = BackgroundTasks()
        self._stops: dict[str, threading.Event] = {}

    async def stop(self) -> None:
        for flag in self._stops.values():
            flag.set()
        await self._tasks.wait(timeout_s=10.0)

    # Checks ------------------------------------------------------------------------------------

    async def _prepare(self, settings: BacktestSettings, data: StoredBars) -> PreparedBacktest:
        try:
            exchange, code = split_symbol(data.symbol)
            instruments: dict[str, Instrument] = await instrument_table(self._sessions)
            prepared = prepare(settings, instruments.get(f"{exchange.value}.{code}"))
        except RequestError as exc:
            raise RunRefusedError(str(exc), exc.fields) from None
        await self._require_bars(data)
        return prepared

    async def _require_bars(self, data: StoredBars) -> None:
        if data.start is not None and data.end is not None and data.end <= data.start:
            raise RunRefusedError("`end` must be after `start`", ["data.end"])
        symbols = data.symbols()
        if len(set(symbols)) != len(symbols):
            raise RunRefusedError("a symbol is given twice", ["data.others"])
        for index, symbol in enumerate(symbols):
            await self._require_series(data, symbol, data.field_of(index))

    async def _require_series(self, data: StoredBars, symbol: str, field: str) -> None:
        try:
            exchange, code = split_symbol(symbol)
        except RequestError as exc:
            raise RunRefusedError(str(exc), [field]) from None
        coverage = await self._bars.coverage(exchange, code, data.interval)
        if coverage is None:
            raise RunRefusedError(f"no {data.interval} bars of {symbol} are stored", [field])
        after_start = data.start is None or coverage.last >= data.start
        before_end = data.end is None or coverage.first < data.end
        if not (after_start and before_end):
            raise RunRefusedError(
                f"no {data.interval} bars of {symbol} in the range: stored bars run from "
                f"{coverage.first.isoformat()} to {coverage.last.isoformat()}",
                ["data.start", "data.end"],
            )

    # Backtests ---------------------------------------------------------------------------------

    async def _expand_formulas(self, user_id: int, settings: BacktestSettings) -> BacktestSettings:
        """`@name` in a text parameter becomes the user's saved formula of that name."""
        params = dict(settings.params)
        for name, value in settings.params.items():
            if isinstance(value, str) and value.startswith("@"):
                saved = await FormulaStore(self._sessions).get(user_id, value[1:])
                if saved is None:
                    raise RunRefusedError(f"no saved formula {value!r}", [f"params.{name}"])
                params[name] = saved.expression
        return msgspec.structs.replace(settings, params=params)

    async def submit_backtest(self, user_id: int, request: BacktestRequest) -> RunRecord:
        settings = await self._expand_formulas(user_id, request.settings())
        prepared = await self._prepare(settings, request.data)
        record = await self._create(user_id, "backtest", prepared, request)
        job = BacktestJob(run_id=record.id, settings=settings, data=request.data)
        self._tasks.spawn(self._run_backtest(user_id, job), f"backtest {record.id}")
        return record

    async def _run_backtest(self, user_id: int, job: BacktestJob) -> None:
        await self._publish(user_id, job.run_id, "running", 0.0)
        try:
            outcome: BacktestOutcome = await self._dispatcher.call(get_function(BACKTESTS), job)
        except FunctionCallError as exc:
            await self.runs.fail(job.run_id, exc.error.detail, now=self._clock())
            await self._publish(user_id, job.run_id, "failed", 0.0, exc.error.detail)
            return
        if outcome.status == "finished":
            await self._publish(user_id, job.run_id, "finished", 1.0)

    async def _run_walk_forward(
        self,
        user_id: int,
        job: WalkForwardJob,
        *,
        request: OptimizationRequest,
        space: SearchSpace,
        maximize: bool,
        stop: threading.Event,
    ) -> None:
        """The function plans; each training window is searched here, fanned out like any
        optimisation; the function trades and stitches the test windows and records them."""
        run_id = job.run_id
        spec = get_function(WALK_FORWARD)
        try:
            if not await self.runs.start(run_id, now=self._clock()):
                return
            await self._publish(user_id, run_id, "running", 0.0)
            planned: WalkForwardOutcome = await self._dispatcher.call(
                spec, msgspec.structs.replace(job, plan_only=True)
            )
            choices: list[WindowChoiceSpec] = []
            for k, span in enumerate(planned.windows):
                data = msgspec.structs.replace(job.data, start=span.train_start, end=span.train_end)
                window = msgspec.structs.replace(
                    request, data=data, method=job.search, seed=job.seed + k, heatmap=None
                )
                found = await self._search(
                    user_id, run_id, request=window, space=space, maximize=maximize, stop=stop,
                    share=(k, len(planned.windows)),
                )  # fmt: skip
                if found.cancelled or stop.is_set():
                    return
                choice = choice_of(found)
                choices.append(
                    WindowChoiceSpec(
                        best_params=choice.best_params,
                        in_sample=choice.in_sample,
                        evaluated=choice.evaluated,
                    )
                )
            outcome: WalkForwardOutcome = await self._dispatcher.call(
                spec, msgspec.structs.replace(job, choices=choices)
            )
            if outcome.status == "finished":
                await self._publish(user_id, run_id, "finished", 1.0)
        except (FunctionCallError, RequestError, ValueError) as exc:
            detail = exc.error.detail if isinstance(exc, FunctionCallError) else str(exc)
            if await self.runs.fail(run_id, detail, now=self._clock()):
                await self._publish(user_id, run_id, "failed", 0.0, detail)
        finally:
            self._stops.pop(run_id, None)

    # Optimisations -----------------------------------------------------------------------------

    async def submit_optimization(self, user_id: int, request: OptimizationRequest) -> RunRecord:
        settings = await self._expand_formulas(user_id, request.settings())
        request = msgspec.structs.replace(request, params=settings.params)
        prepared = await self._prepare(settings, request.data)
        try:
            ranges = {**prepared.params, **request.range_spec()}
            space = SearchSpace.build(prepared.definition, ranges)
            search = request.search if request.method == "walk_forward" else request.method
            if search == "grid":
                space.size()  # refuses a grid over the cap, or over a continuous range
            target = objective(request.objective, request.maximize)
        except ParamError as exc:
            raise RunRefusedError(str(exc), [f"ranges.{exc.field}"]) from None
        except ObjectiveError as exc:
            raise RunRefusedError(str(exc), ["objective"]) from None
        except ValueError as exc:
            raise RunRefusedError(str(exc), ["ranges"]) from None
        if request.heatmap is not None:
            searched = {axis.name for axis in space.axes}
            missing = [name for name in request.heatmap if name not in searched]
            if missing:
                raise RunRefusedError(
                    f"heatmap axes must be searched parameters: {', '.join(missing)}",
                    ["heatmap"],
                )
        if request.engine != "vectorized":
            raise RunRefusedError("optimisations run on the vectorized engine", ["engine"])
        if request.data.others and request.method == "walk_forward":
            raise RunRefusedError("walk-forward runs on one series", ["data.others"])
        record = await self._create(user_id, "optimization", prepared, request)
        if request.method == "walk_forward":
            job = WalkForwardJob(
                run_id=record.id, settings=settings, data=request.data,
                ranges=request.range_spec(), objective=request.objective,
                maximize=request.maximize, train_days=request.train_days,
                test_days=request.test_days, anchored=request.anchored,
                step_days=request.step_days, search=request.search, trials=request.trials,
                seed=request.seed,
            )  # fmt: skip
            stop = self._stops[record.id] = threading.Event()
            work = self._run_walk_forward(
                user_id, job, request=request, space=space, maximize=target.maximize, stop=stop
            )
            self._tasks.spawn(work, f"walk-forward {record.id}")
            return record
        stop = self._stops[record.id] = threading.Event()
        work = self._run_optimization(
            user_id, record.id, request=request, space=space, maximize=target.maximize, stop=stop
        )
        self._tasks.spawn(work, f"optimization {record.id}")
        return record

    async def _run_optimization(
        self,
        user_id: int,
        run_id: str,
        *,
        request: OptimizationRequest,
        space: SearchSpace,
        maximize: bool,
        stop: threading.Event,
    ) -> None:
        try:
            if not await self.runs.start(run_id, now=self._clock()):
                return
            await self._publish(user_id, run_id, "running", 0.0)
            result = await self._search(
                user_id, run_id, request=request, space=space, maximize=maximize, stop=stop
            )
            if result.cancelled or stop.is_set():
                return
            summary = _search_summary(request, result)
            done = await self.runs.finish(
                run_id, summary=summary, result=msgspec.to_builtins(result), now=self._clock()
            )
            if done:
                await self._publish(user_id, run_id, "finished", 1.0)
        except (FunctionCallError, RequestError, ValueError) as exc:
            detail = exc.error.detail if isinstance(exc, FunctionCallError) else str(exc)
            if await self.runs.fail(run_id, detail, now=self._clock()):
                await self._publish(user_id, run_id, "failed", 0.0, detail)
        finally:
            self._stops.pop(run_id, None)

    async def _search(
        self,
        user_id: int,
        run_id: str,
        *,
        request: OptimizationRequest,
        space: SearchSpace,
        maximize: bool,
        stop: threading.Event,
        share: tuple[int, int] = (0, 1),
    ) -> SearchResult:
        """The search, its progress reported as the `share[0]`-th of `share[1]` equal parts of
        the run (a walk-forward analysis searches one window after another)."""
        loop = asyncio.get_running_loop()
        part, parts = share
        settings = request.settings()
        last_report = [0.0]

        def evaluate(batch: Sequence[dict[str, Any]]) -> list[Evaluation]:
            chunks = [
                list(batch[i : i + request.chunk_size])
                for i in range(0, len(batch), request.chunk_size)
            ]
            calls = self._evaluate_chunks(run_id, settings, request, chunks)
            return asyncio.run_coroutine_threadsafe(calls, loop).result()

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last_report[0] < _PROGRESS_EVERY_S and done < total:
                return
            last_report[0] = now
            fraction = (part + (done / total if total else 0.0)) / parts
            detail = (
                f"{done}/{total}" if parts == 1 else f"window {part + 1}/{parts}: {done}/{total}"
            )
            asyncio.run_coroutine_threadsafe(
                self._progress(user_id, run_id, fraction, detail), loop
            )

        common: dict[str, Any] = {
            "batch_size": request.chunk_size * FAN_OUT,
            "maximize": maximize,
            "progress": progress,
            "cancelled": stop.is_set,
            "top_k": request.top,
            "heatmap": tuple(request.heatmap) if request.heatmap else None,
        }
        if request.method == "grid":
            return await asyncio.to_thread(grid_search, space, evaluate, **common)
        if request.method == "random":
            return await asyncio.to_thread(
                random_search, space, evaluate, trials=request.trials, seed=request.seed, **common
            )
        return await asyncio.to_thread(
            genetic_search,
            space,
            evaluate,
            population=request.population,
            generations=request.generations,
            seed=request.seed,
            **common,
        )

    async def _evaluate_chunks(
        self,
        run_id: str,
        settings: BacktestSettings,
        request: OptimizationRequest,
        chunks: list[list[dict[str, Any]]],
    ) -> list[Evaluation]:
        spec = get_function(BACKTEST_CHUNK)
        calls = [
            self._dispatcher.call(
                spec,
                ChunkJob(
                    run_id=run_id,
                    settings=settings,
                    data=request.data,
                    params=chunk,
                    objective=request.objective,
                    maximize=request.maximize,
                ),
            )
            for chunk in chunks
        ]
        outcomes: list[ChunkOutcome] = await asyncio.gather(*calls)
        evaluations: list[Evaluation] = []
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if outcome.cancelled:
                evaluations += [Evaluation(params=p, objective=None) for p in chunk]
            else:
                evaluations += outcome.evaluations
        return evaluations

    async def _progress(self, user_id: int, run_id: str, fraction: float, detail: str) -> None:
        if await self.runs.progress(run_id, fraction):
            await self._publish(user_id, run_id, "running", fraction, detail)

    # Both ------------------------------------------------------------------------------------

    async def _create(
        self,
        user_id: int,
        kind: RunKind,
        prepared: PreparedBacktest,
        request: BacktestRequest,
    ) -> RunRecord:
        record = await self.runs.create(
            uuid.uuid4().hex,
            user_id,
            kind=kind,
            strategy=prepared.definition.name,
            params=dict(prepared.params),
            request=msgspec.to_builtins(request),
            now=self._clock(),
        )
        await self._publish(user_id, record.id, "queued", 0.0)
        return record

    async def cancel(self, user_id: int, run_id: str) -> RunRecord | None:
        """Cancel a queued or running run; None when the user has no such run."""
        record = await self.runs.get(run_id, user_id)
        if record is None:
            return None
        if not await self.runs.cancel(run_id, now=self._clock()):
            raise RunStateError(f"run {run_id} already ended ({record.status})")
        if (flag := self._stops.get(run_id)) is not None:
            flag.set()
        await self._publish(user_id, run_id, "cancelled", record.progress)
        return await self.runs.get(run_id, user_id)

    async def _publish(
        self, user_id: int, run_id: str, state: str, progress: float, detail: str = ""
    ) -> None:
        event = BacktestProgressEvent(
            run_id=run_id, user_id=str(user_id), progress=progress, state=state, detail=detail
        )
        try:
            await self._bus.publish(event)
        except Exception:  # the run goes on; a subscriber will see the next event
            log.warning("could not publish progress of run %s", run_id, exc_info=True)


def _search_summary(request: OptimizationRequest, result: SearchResult) -> dict[str, Any]:
    best = result.best
    return {
        "method": request.method,
        "objective": request.objective,
        "best_params": None if best is None else best.params,
        "best_value": None if best is None else best.objective,
        "best_metrics": None if best is None else best.metrics,
        "evaluated": result.evaluated,
        "valid": result.valid,
        "total": result.total,
    }
