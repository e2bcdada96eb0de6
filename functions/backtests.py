"""The `backtests` function: one backtest over stored bars, its outcome written where every
reader finds it (metrics on the run's row, equity, trades, fills and daily results as Parquet
in the object store under `backtests/<run id>/`).

`run_frame` and `summarize` are the same code the CLI runs on a file, so the command line,
the API and a worker give the same figures for the same bars.
"""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import polars as pl

from functions.backtest_settings import (
    BacktestSettings,
    PreparedBacktest,
    StoredBars,
    prepare,
    terms_for,
)
from functions.registry import RequestError, function
from shared.analytics import AnalyticsError, daily_frame
from shared.backtest import (
    BacktestError,
    BacktestResult,
    BarSeries,
    run_event_driven,
    run_vectorized,
)
from shared.domain import Exchange, Instrument
from shared.store.backtest_runs import BacktestRunStore
from shared.store.catalogue import instrument_table
from shared.store.market_data import BarStore

if TYPE_CHECKING:
    from functions.deps import Deps

log = logging.getLogger(__name__)

BACKTESTS = "backtests"
MAX_BARS = 20_000_000
ARTIFACTS = ("equity", "trades", "fills", "daily")
RunId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class BacktestJob(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    run_id: RunId
    settings: BacktestSettings
    data: StoredBars


class BacktestOutcome(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    status: str  # finished, cancelled
    summary: dict[str, Any] | None = None
    artifacts_prefix: str | None = None


def split_symbol(symbol: str) -> tuple[Exchange, str]:
    """`SHFE.rb2401` -> (Exchange.SHFE, "rb2401")."""
    exchange, dot, code = symbol.partition(".")
    if dot and code and exchange.upper() in Exchange.__members__:
        return Exchange(exchange.upper()), code
    exchanges = ", ".join(e.value for e in Exchange)
    raise RequestError(
        f"symbol is EXCHANGE.code with EXCHANGE one of {exchanges}, got {symbol!r}",
        "data.symbol",
    )


def run_frame(prepared: PreparedBacktest, frame: pl.DataFrame, symbol: str) -> BacktestResult:
    """Run the prepared backtest over a bar frame (`start`, `trading_day`, OHLC...)."""
    try:
        series = BarSeries.from_frame(frame, symbol)
        if prepared.engine == "event":
            event_class = prepared.definition.event_class
            if event_class is None:
                raise RequestError(f"{prepared.definition.name} has no event form", "engine")
            return run_event_driven(event_class(prepared.params), series, prepared.config)
        return run_vectorized(prepared.definition, prepared.params, series, prepared.config)
    except (BacktestError, AnalyticsError) as exc:
        field = getattr(exc, "field", "data")
        raise RequestError(str(exc), f"data.{field}" if field in DATA_FIELDS else field) from None


DATA_FIELDS = frozenset({"data", "start", "trading_day", "open", "high", "low", "close"})


def summarize(result: BacktestResult) -> dict[str, Any]:
    """Trades count, final equity and every metric, JSON-ready."""
    metrics: dict[str, Any] = msgspec.to_builtins(result.metrics)
    metrics.pop("daily", None)  # per-day rows are an artifact (daily.parquet), not a summary
    return {
        "bars": len(result.ts_ns),
        "trades": len(result.trades),
        "final_equity": result.final_equity,
        "rejected_orders": result.rejected_orders,
        "open_positions": msgspec.to_builtins(list(result.open_positions)),
        "symbols": {
            symbol: int((result.trades.symbol == j).sum())
            for j, symbol in enumerate(result.symbols)
        },  # trades per symbol
        "metrics": metrics,
    }


def artifact_frames(result: BacktestResult) -> dict[str, pl.DataFrame]:
    return {
        "equity": result.equity_frame(),
        "trades": result.trades_frame(),
        "fills": result.fills_frame(),
        "daily": daily_frame(result.daily_results()),
    }


def artifacts_prefix(run_id: str) -> str:
    return f"backtests/{run_id}/"


async def write_artifacts(deps: Deps, run_id: str, result: BacktestResult) -> str:
    prefix = artifacts_prefix(run_id)
    frames = await asyncio.to_thread(artifact_frames, result)
    for name, frame in frames.items():
        buffer = io.BytesIO()
        await asyncio.to_thread(frame.write_parquet, buffer, compression="zstd")
        await deps.objects.put(
            f"{prefix}{name}.parquet", buffer.getvalue(), "application/vnd.apache.parquet"
        )
    return prefix


async def _load_one(
    deps: Deps, data: StoredBars, symbol: str, field: str
) -> tuple[str, pl.DataFrame, Instrument | None]:
    try:
        exchange, code = split_symbol(symbol)
    except RequestError as exc:
        raise RequestError(str(exc), field) from None
    store = BarStore(deps.database_engine())
    frame = await store.load(exchange, code, data.interval, start=data.start, end=data.end)
    if frame.height == 0:
        span = f"from {data.start or 'the first bar'} to {data.end or 'the last bar'}"
        raise RequestError(f"no {data.interval} bars of {symbol} stored {span}", field)
    if frame.height > MAX_BARS:
        raise RequestError(
            f"{frame.height} bars: a backtest takes at most {MAX_BARS}; narrow the range",
            "data.start",
        )
    instruments = await instrument_table(deps.database())
    return code, frame, instruments.get(f"{exchange.value}.{code}")


async def load_bars(deps: Deps, data: StoredBars) -> tuple[pl.DataFrame, Instrument | None]:
    """The bars of the request's (first) symbol, and its instrument when listed."""
    if data.start is not None and data.end is not None and data.end <= data.start:
        raise RequestError("`end` must be after `start`", "data.end")
    _, frame, instrument = await _load_one(deps, data, data.symbol, "data.symbol")
    return frame, instrument


async def load_portfolio(
    deps: Deps, data: StoredBars
) -> list[tuple[str, pl.DataFrame, Instrument | None]]:
    """Every symbol's bars (code, frame, instrument), in the request's order."""
    if data.start is not None and data.end is not None and data.end <= data.start:
        raise RequestError("`end` must be after `start`", "data.end")
    symbols = data.symbols()
    if len(set(symbols)) != len(symbols):
        raise RequestError("a symbol is given twice", "data.others")
    return [
        await _load_one(deps, data, symbol, data.field_of(i)) for i, symbol in enumerate(symbols)
    ]


def run_portfolio(
    prepared: PreparedBacktest,
    settings: BacktestSettings,
    items: list[tuple[str, pl.DataFrame, Instrument | None]],
) -> BacktestResult:
    """The prepared strategy on several series sharing one account, each with its own terms."""
    try:
        series = [BarSeries.from_frame(frame, code) for code, frame, _ in items]
        terms = [terms_for(settings, instrument) for _, _, instrument in items]
        if prepared.engine == "event":
            event_class = prepared.definition.event_class
            if event_class is None:
                raise RequestError(f"{prepared.definition.name} has no event form", "engine")
            params = prepared.params
            return run_event_driven(lambda: event_class(params), series, prepared.config, terms)
        return run_vectorized(prepared.definition, prepared.params, series, prepared.config, terms)
    except (BacktestError, AnalyticsError) as exc:
        field = getattr(exc, "field", "data")
        raise RequestError(str(exc), f"data.{field}" if field in DATA_FIELDS else field) from None


@function(BACKTESTS, request=BacktestJob, response=BacktestOutcome)
async def handle(request: BacktestJob, deps: Deps) -> BacktestOutcome:
    """Run one backtest over stored bars and record its outcome."""
    runs = BacktestRunStore(deps.database())
    if not await runs.start(request.run_id, now=datetime.now(UTC)):
        return BacktestOutcome(run_id=request.run_id, status="cancelled")
    try:
        if request.data.others:
            items = await load_portfolio(deps, request.data)
            prepared = prepare(request.settings, items[0][2])
            result = await asyncio.to_thread(run_portfolio, prepared, request.settings, items)
        else:
            frame, instrument = await load_bars(deps, request.data)
            prepared = prepare(request.settings, instrument)
            result = await asyncio.to_thread(run_frame, prepared, frame, request.data.symbol)
        summary = summarize(result)
        prefix = await write_artifacts(deps, request.run_id, result)
    except RequestError as exc:
        await runs.fail(request.run_id, str(exc), now=datetime.now(UTC))
        raise
    except Exception as exc:
        log.exception("backtest %s failed", request.run_id)
        await runs.fail(request.run_id, f"internal error: {exc}", now=datetime.now(UTC))
        raise
    finished = await runs.finish(
        request.run_id, summary=summary, artifacts_prefix=prefix, now=datetime.now(UTC)
    )
    return BacktestOutcome(
        run_id=request.run_id,
        status="finished" if finished else "cancelled",
        summary=summary if finished else None,
        artifacts_prefix=prefix if finished else None,
    )
