"""The `backtest_chunk` function: one chunk of an optimisation's parameter sets, backtested
over the same stored bars and reduced to small `Evaluation`s (no curves travel back).

A worker keeps the bars of the last few series it loaded: an optimisation sends it many
chunks over the same data. The cache key includes the stored extent (bar count and last bar),
so bars imported meanwhile are never answered from a stale copy.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from functions.backtest_settings import BacktestSettings, StoredBars, prepare
from functions.backtests import RunId, load_bars, split_symbol
from functions.registry import RequestError, function
from shared.backtest import BacktestError, BarSeries
from shared.domain import Instrument
from shared.optimize import Evaluation, ObjectiveError, evaluate_chunk, objective
from shared.store.backtest_runs import BacktestRunStore
from shared.store.market_data import BarStore

if TYPE_CHECKING:
    from functions.deps import Deps

log = logging.getLogger(__name__)

BACKTEST_CHUNK = "backtest_chunk"
MAX_CHUNK = 1_000
_CACHED_SERIES = 2

ParamsList = Annotated[
    list[dict[str, int | float | str | bool]], msgspec.Meta(min_length=1, max_length=MAX_CHUNK)
]


class ChunkJob(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    run_id: RunId
    settings: BacktestSettings
    data: StoredBars
    params: ParamsList
    objective: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "sharpe"
    maximize: bool | None = None


class ChunkOutcome(msgspec.Struct, frozen=True, kw_only=True):
    evaluations: list[Evaluation]
    cancelled: bool = False


class _SeriesCache:
    def __init__(self) -> None:
        self._items: OrderedDict[tuple[Any, ...], tuple[BarSeries, Instrument | None]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> tuple[BarSeries, Instrument | None] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: tuple[BarSeries, Instrument | None]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > _CACHED_SERIES:
                self._items.popitem(last=False)


_cache = _SeriesCache()


async def _series(deps: Deps, data: StoredBars) -> tuple[BarSeries, Instrument | None]:
    exchange, code = split_symbol(data.symbol)
    coverage = await BarStore(deps.database_engine()).coverage(exchange, code, data.interval)
    extent = None if coverage is None else (coverage.count, coverage.last)
    key = (deps.settings.database_url, data.symbol, data.interval, data.start, data.end, extent)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    frame, instrument = await load_bars(deps, data)
    try:
        series = await asyncio.to_thread(BarSeries.from_frame, frame, code)
    except BacktestError as exc:
        raise RequestError(str(exc), "data") from None
    _cache.put(key, (series, instrument))
    return series, instrument


@function(BACKTEST_CHUNK, request=ChunkJob, response=ChunkOutcome, max_retries=2)
async def handle(request: ChunkJob, deps: Deps) -> ChunkOutcome:
    """Backtest a chunk of an optimisation's parameter sets (idempotent: safe to retry)."""
    if await BacktestRunStore(deps.database()).is_cancelled(request.run_id):
        return ChunkOutcome(evaluations=[], cancelled=True)
    try:
        target = objective(request.objective, request.maximize)
    except ObjectiveError as exc:
        raise RequestError(str(exc), "objective") from None
    log.info("run %s: a chunk of %d parameter sets", request.run_id, len(request.params))
    series, instrument = await _series(deps, request.data)
    prepared = prepare(request.settings, instrument)
    evaluations = await asyncio.to_thread(
        evaluate_chunk,
        prepared.definition,
        request.params,
        series,
        prepared.config,
        target,
    )
    return ChunkOutcome(evaluations=evaluations)
