"""The `backtest_chunk` function: one chunk of an optimisation's parameter sets, backtested
over the same stored bars and reduced to small `Evaluation`s (no curves travel back).

`data.others` makes it a portfolio's chunk: every set runs on all the symbols on one account,
each priced by its own contract, as a portfolio backtest does.

A worker keeps the bars it loaded for the last few requests: an optimisation sends it many
chunks over the same data. The cache key includes each symbol's stored extent (bar count and
last bar), so bars imported meanwhile are never answered from a stale copy.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from functions.backtest_settings import BacktestSettings, StoredBars, prepare, terms_for
from functions.backtests import DATA_FIELDS, RunId, load_portfolio, split_symbol
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
_CACHED_REQUESTS = 2

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


# The series of a request, in its symbols' order, with their instruments (when listed).
Loaded = list[tuple[BarSeries, Instrument | None]]


class _SeriesCache:
    def __init__(self) -> None:
        self._items: OrderedDict[tuple[Any, ...], Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Loaded | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: Loaded) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > _CACHED_REQUESTS:
                self._items.popitem(last=False)


_cache = _SeriesCache()


async def _extent(deps: Deps, data: StoredBars, symbol: str, field: str) -> tuple[Any, ...]:
    try:
        exchange, code = split_symbol(symbol)
    except RequestError as exc:
        raise RequestError(str(exc), field) from None
    coverage = await BarStore(deps.database_engine()).coverage(exchange, code, data.interval)
    return (symbol, None if coverage is None else (coverage.count, coverage.last))


async def _series(deps: Deps, data: StoredBars) -> Loaded:
    symbols = data.symbols()
    extents = [
        await _extent(deps, data, symbol, data.field_of(i)) for i, symbol in enumerate(symbols)
    ]
    key = (deps.settings.database_url, data.interval, data.start, data.end, *extents)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    items = await load_portfolio(deps, data)
    try:
        loaded = [
            (await asyncio.to_thread(BarSeries.from_frame, frame, code), instrument)
            for code, frame, instrument in items
        ]
    except BacktestError as exc:
        where = f"data.{exc.field}" if exc.field in DATA_FIELDS else "data"
        raise RequestError(str(exc), where) from None
    _cache.put(key, loaded)
    return loaded


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
    loaded = await _series(deps, request.data)
    prepared = prepare(request.settings, loaded[0][1])
    if len(loaded) == 1:
        evaluations = await asyncio.to_thread(
            evaluate_chunk,
            prepared.definition,
            request.params,
            loaded[0][0],
            prepared.config,
            target,
        )
        return ChunkOutcome(evaluations=evaluations)
    terms = [terms_for(request.settings, instrument) for _, instrument in loaded]
    evaluations = await asyncio.to_thread(
        functools.partial(evaluate_chunk, terms=terms),
        prepared.definition,
        request.params,
        [series for series, _ in loaded],
        prepared.config,
        target,
    )
    return ChunkOutcome(evaluations=evaluations)
