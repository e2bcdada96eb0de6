"""`quant backtest run | optimize | strategies`: backtests and parameter searches on the command
line, over bar files or over bars stored in the database.

The run is `functions.backtests.run_frame` (`run_portfolio` for several series sharing one
account) and the summary its `summarize`, so a backtest here gives the figures the API gives
for the same bars and settings. A search is `shared.optimize`
with this module supplying how batches are evaluated: in this process, or spread over worker
processes that each read the bars once when they start.

Every refusal is a `DataCommandError` whose message names the culprit the way a request does
(`params.fast: ...`, `size: ...`), which the CLI prints as one line.
"""

from __future__ import annotations

import asyncio
import io
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from multiprocessing import get_context
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import msgspec
import polars as pl

from functions.backtest_settings import (
    BacktestSettings,
    PreparedBacktest,
    prepare,
    strategy_of,
    terms_for,
)
from functions.backtests import MAX_BARS, artifact_frames, run_frame, run_portfolio, summarize
from functions.registry import RequestError
from gateway.data_commands import DataCommandError, parse_mapping, parse_time, read_table
from shared.backtest import BacktestConfig, BacktestResult, BarSeries, InstrumentTerms
from shared.domain import EXCHANGE_TZ, Exchange, Instrument, Interval
from shared.instruments import ProductCatalogue, shipped_products
from shared.marketdata.bar_files import FileColumnError, map_file, split_symbol
from shared.memory_reuse import reuse_freed_memory
from shared.optimize import (
    Evaluation,
    Objective,
    ObjectiveError,
    SearchResult,
    SearchSpace,
    WalkForwardResult,
    evaluate_chunk,
    genetic_search,
    grid_search,
    objective,
    random_search,
    walk_forward,
)
from shared.sessions import (
    CalendarRangeError,
    UnknownProductError,
    assign_sessions,
    load_calendar,
    load_sessions,
)
from shared.store import create_engine, session_factory
from shared.store.catalogue import instrument_table
from shared.store.market_data import BarStore
from shared.strategy import ParamError, ParamValue, StrategyDefinition, strategies

# The columns the engines read; anything else a file or the store carries is left behind.
BAR_COLUMNS = ("start", "trading_day", "open", "high", "low", "close", "volume", "open_interest")
# map_file names every row's series; a file of one series without a symbol gets this one,
# which nothing here reads.
_ANY_SERIES = f"{Exchange.SHFE.value}.file"
# Parameter sets per worker per batch: small enough for a lively progress bar and a prompt
# stop on Ctrl-C, large enough that a batch's round trip costs little next to its runs.
BATCH_PER_WORKER = 16


@dataclass(frozen=True, slots=True)
class Bars:
    """Bars ready for the engines, the name they trade under and the contract's terms."""

    frame: pl.DataFrame
    symbol: str
    instrument: Instrument | None


@dataclass(frozen=True, slots=True)
class BarRequest:
    """Where the bars come from: a file (`path`), else the database (`symbol`, `interval`)."""

    path: Path | None
    symbol: str | None
    interval: Interval = Interval.M1
    start: str | None = None
    end: str | None = None
    timezone: str = str(EXCHANGE_TZ)
    mapping: Sequence[str] = ()


# -- errors ---------------------------------------------------------------------------------


def _refusal(exc: RequestError | ParamError | ObjectiveError) -> DataCommandError:
    """One line naming the culprit as a request would (`params.fast: ...`)."""
    if isinstance(exc, RequestError):
        fields = ", ".join(exc.fields)
    elif isinstance(exc, ParamError):
        fields = "params" if exc.field == "params" else f"params.{exc.field}"
    else:
        fields = exc.field
    return DataCommandError(f"{fields}: {exc}" if fields else str(exc))


# -- bars -----------------------------------------------------------------------------------


def _local_days(frame: pl.DataFrame, timezone: str) -> pl.Series:
    # Without sessions, a bar belongs to its local calendar date: right for daily bars and
    # for markets without night sessions.
    return frame["start"].dt.convert_time_zone(timezone).dt.date().alias("trading_day")


def _session_days(frame: pl.DataFrame, symbol: str) -> pl.Series:
    exchange, code = split_symbol(symbol)
    if exchange is None:
        raise DataCommandError(f"--symbol {symbol!r}: write EXCHANGE.code, e.g. SHFE.rb2401")
    try:
        sessions = load_sessions().for_symbol(code, exchange)
        days = assign_sessions(sessions, load_calendar(), frame["start"]).to_polars()
    except (UnknownProductError, CalendarRangeError) as exc:
        raise DataCommandError(f"{symbol}: {exc}") from None
    trading_days = days["trading_day"]
    if trading_days.null_count():
        row = int(trading_days.is_null().arg_max() or 0)
        raise DataCommandError(f"row {row}: {frame['start'][row]} is outside {symbol}'s sessions")
    return trading_days.alias("trading_day")


def _with_trading_days(frame: pl.DataFrame, symbol: str | None, timezone: str) -> pl.DataFrame:
    if "trading_day" in frame.columns and frame["trading_day"].null_count() == 0:
        return frame
    days = _session_days(frame, symbol) if symbol else _local_days(frame, timezone)
    return frame.with_columns(days)


def _engine_columns(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select([name for name in BAR_COLUMNS if name in frame.columns])


def _dated(raw: pl.DataFrame) -> pl.DataFrame:
    """Daily files: the unnamed first column of a pandas-written index (`,Open,High,...`) is
    the date, and a text date column of bare dates is read as dates (midnight, local)."""
    if raw.width and raw.columns[0] == "":
        raw = raw.rename({"": "date"})
    for name in raw.columns:
        column = raw[name]
        if name.strip().lower() != "date" or column.dtype != pl.String:
            continue
        days = column.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
        if days.null_count() == column.null_count():
            raw = raw.with_columns(days.alias(name))
    return raw


def read_bar_file(
    path: Path,
    *,
    symbol: str | None = None,
    timezone: str = str(EXCHANGE_TZ),
    mapping: Sequence[str] = (),
) -> pl.DataFrame:
    """A CSV or Parquet OHLCV file as engine bars (`start` in UTC, `trading_day`, prices)."""
    raw = _dated(read_table(path))
    try:
        mapped = map_file(
            raw,
            kind="bars",
            symbol=symbol or _ANY_SERIES,
            timezone=timezone,
            mapping=parse_mapping(list(mapping)),
        )
    except (FileColumnError, ValueError) as exc:
        raise DataCommandError(f"{path}: {exc}") from None
    frame = mapped.frame.sort("start", maintain_order=True)
    if frame.height == 0:
        raise DataCommandError(f"{path}: no bars in the file")
    return _engine_columns(_with_trading_days(frame, symbol, timezone))


def shipped_instrument(symbol: str) -> Instrument | None:
    """The contract's terms from the catalogue shipped with the code; None if not listed."""
    try:
        return ProductCatalogue(shipped_products()).contract(symbol)
    except ValueError:
        return None


async def _stored(
    database_url: str, request: BarRequest, symbol: str
) -> tuple[pl.DataFrame, Instrument | None]:
    exchange, code = split_symbol(symbol)
    if exchange is None:
        raise DataCommandError(f"--symbol {symbol!r}: write EXCHANGE.code, e.g. SHFE.rb2401")
    start, end = parse_time(request.start, "start"), parse_time(request.end, "end")
    if start is not None and end is not None and end <= start:
        raise DataCommandError(f"--end {request.end} must be after --start {request.start}")
    engine = create_engine(database_url)
    try:
        frame = await BarStore(engine).load(exchange, code, request.interval, start=start, end=end)
        listed = await instrument_table(session_factory(engine))
    finally:
        await engine.dispose()
    if frame.height == 0:
        span = f"from {request.start or 'the first bar'} to {request.end or 'the last bar'}"
        raise DataCommandError(f"no {request.interval} bars of {symbol} stored {span}")
    if frame.height > MAX_BARS:
        raise DataCommandError(f"{frame.height} bars: at most {MAX_BARS}; narrow the range")
    return frame, listed.get(f"{exchange.value}.{code}")


def load_bars(request: BarRequest, database_url: str) -> Bars:
    """The bars of a file (terms from the shipped catalogue when `symbol` is listed there) or
    of the database (terms from its catalogue, else the shipped one)."""
    if request.path is not None:
        frame = read_bar_file(
            request.path,
            symbol=request.symbol,
            timezone=request.timezone,
            mapping=request.mapping,
        )
        instrument = shipped_instrument(request.symbol) if request.symbol else None
        return Bars(frame, request.symbol or request.path.stem, instrument)
    if request.symbol is None:
        raise DataCommandError("give --data FILE, or --symbol EXCHANGE.code for stored bars")
    frame, listed = asyncio.run(_stored(database_url, request, request.symbol))
    instrument = listed or shipped_instrument(request.symbol)
    return Bars(_engine_columns(frame), request.symbol, instrument)


def _once_each(names: Sequence[str], option: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataCommandError(f"{option} {name} is given twice")
        seen.add(name)


def bar_requests(
    paths: Sequence[Path], symbols: Sequence[str], template: BarRequest
) -> list[BarRequest]:
    """One request per series: file i with symbol i when both are given, else each file (named
    by its stem) or each symbol's stored bars; `template` carries what the series share."""
    if not paths:
        if not symbols:
            raise DataCommandError("give --data FILE, or --symbol EXCHANGE.code for stored bars")
        _once_each(symbols, "--symbol")
        return [replace(template, path=None, symbol=symbol) for symbol in symbols]
    # The same file under two spellings (`a.csv`, `./a.csv`) is still the same series.
    _once_each([str(path.resolve()) for path in paths], "--data")
    if symbols:
        if len(symbols) != len(paths):
            raise DataCommandError(
                f"--symbol: {len(symbols)} given for {len(paths)} --data files; "
                "give one per file, in the files' order, or none"
            )
        _once_each(symbols, "--symbol")
        return [
            replace(template, path=path, symbol=symbol)
            for path, symbol in zip(paths, symbols, strict=True)
        ]
    stems = [path.stem for path in paths]
    if len(set(stems)) != len(stems):
        # The stems name the series, and a portfolio's series need distinct names.
        twice = next(stem for stem in stems if stems.count(stem) > 1)
        raise DataCommandError(
            f"--data: two files are named {twice!r}; give a --symbol per file to tell them apart"
        )
    return [replace(template, path=path, symbol=None) for path in paths]


def load_series(requests: Sequence[BarRequest], database_url: str) -> list[Bars]:
    """`load_bars` of each request, in the order given."""
    return [load_bars(request, database_url) for request in requests]


# -- settings -------------------------------------------------------------------------------


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """`--param k=v` options as text values (the strategy's declaration converts them)."""
    params: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise DataCommandError(f"--param {item!r}: write NAME=VALUE")
        params[name.strip()] = value.strip()
    return params


def backtest_settings(options: dict[str, Any]) -> BacktestSettings:
    """The settings as the API would decode them: same bounds, same field names."""
    given = {name: value for name, value in options.items() if value is not None}
    try:
        return msgspec.convert(given, BacktestSettings)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$.")
        raise DataCommandError(f"{where.rstrip('`')}: {message}" if where else message) from None


def prepared_backtest(
    settings: BacktestSettings, instrument: Instrument | None
) -> PreparedBacktest:
    try:
        return prepare(settings, instrument)
    except RequestError as exc:
        raise _refusal(exc) from None


# -- quant backtest run ---------------------------------------------------------------------


def run_backtest(prepared: PreparedBacktest, bars: Bars, out: Path | None = None) -> dict[str, Any]:
    """`summarize` of the run; with `out`, its equity/trades/fills/daily Parquet files too."""
    try:
        result = run_frame(prepared, bars.frame, bars.symbol)
    except RequestError as exc:
        raise _refusal(exc) from None
    return _summarized(result, out)


def run_portfolio_backtest(
    prepared: PreparedBacktest,
    settings: BacktestSettings,
    series: Sequence[Bars],
    out: Path | None = None,
) -> dict[str, Any]:
    """`run_backtest` for several series sharing one account, each priced by its contract."""
    items = [(bars.symbol, bars.frame, bars.instrument) for bars in series]
    try:
        result = run_portfolio(prepared, settings, items)
    except RequestError as exc:
        raise _refusal(exc) from None
    return _summarized(result, out)


def _summarized(result: BacktestResult, out: Path | None) -> dict[str, Any]:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in artifact_frames(result).items():
            frame.write_parquet(out / f"{name}.parquet")
    return summarize(result)


def _number(value: object, style: str) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return format(value, style)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The headline figures, one per line, label and value aligned."""
    metrics = summary["metrics"]
    trades = metrics["trades"]
    rows = [
        ("bars", _number(summary["bars"], ",d")),
        ("trading days", _number(metrics["trading_day_count"], ",d")),
        ("final equity", _number(summary["final_equity"], ",.2f")),
        ("total return", _number(metrics["total_return"], ".2%")),
        ("CAGR", _number(metrics["cagr"], ".2%")),
        ("volatility", _number(metrics["volatility"], ".2%")),
        ("Sharpe", _number(metrics["sharpe"], ".3f")),
        ("Sortino", _number(metrics["sortino"], ".3f")),
        ("Calmar", _number(metrics["calmar"], ".3f")),
        ("max drawdown", _number(metrics["max_drawdown_pct"], ".2%")),
        ("exposure", _number(metrics["exposure"], ".2%")),
        ("buy and hold", _number(metrics["buy_and_hold_return"], ".2%")),
        ("trades", _number(summary["trades"], ",d")),
        # A portfolio's trades, series by series; one series' table stays as it always was.
        *(
            (f"trades {symbol}", _number(count, ",d"))
            for symbol, count in summary["symbols"].items()
            if len(summary["symbols"]) > 1
        ),
        ("win rate", _number(trades["win_rate"], ".2%")),
        ("profit factor", _number(trades["profit_factor"], ".3f")),
        ("commission", _number(metrics["total_commission"], ",.2f")),
        ("rejected orders", _number(summary["rejected_orders"], ",d")),
        ("open positions", str(len(summary["open_positions"]))),
    ]
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def strategy_lines() -> list[str]:
    """Each built-in, then its parameters (kind, default, bounds or choices) and rules."""
    lines: list[str] = []
    for definition in strategies():
        engines = "vectorized, event" if definition.signals is not None else "event"
        lines.append(f"{definition.name}\t{definition.description} (engines: {engines})")
        for spec in definition.params:
            if spec.kind == "choice":
                allowed = "|".join(spec.choices)
            elif spec.kind == "bool":
                allowed = "true|false"
            else:
                allowed = f"[{_bound(spec.minimum)}, {_bound(spec.maximum)}]"
            lines.append(
                f"  {spec.name}\t{spec.kind}\tdefault {spec.default}\t{allowed}\t{spec.description}"
            )
        lines.extend(f"  rule: {constraint.text}" for constraint in definition.constraints)
    return lines


def _bound(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


# -- search space ---------------------------------------------------------------------------


def _number_text(text: str, option: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise DataCommandError(f"{option}: {text!r} is not a number") from None


def parse_ranges(items: Sequence[str]) -> dict[str, object]:
    """`--range fast=5:50:5` (min:max[:step]), `--range mode=a,b` (a list); a lone value is
    fixed. Values stay text where the declaration converts them (lists, fixed values)."""
    ranges: dict[str, object] = {}
    for item in items:
        name, equals, spec = (part.strip() for part in item.partition("="))
        option = f"--range {item!r}"
        if not equals or not name or not spec:
            raise DataCommandError(f"{option}: write NAME=MIN:MAX[:STEP] or NAME=A,B,...")
        if ":" in spec:
            bounds = spec.split(":")
            if len(bounds) not in (2, 3) or not all(bounds):
                raise DataCommandError(f"{option}: write NAME=MIN:MAX[:STEP]")
            keys = ("min", "max", "step")
            ranges[name] = {
                key: _number_text(v, option)
                for key, v in zip(keys[: len(bounds)], bounds, strict=True)
            }
        elif "," in spec:
            ranges[name] = [value.strip() for value in spec.split(",") if value.strip()]
        else:
            ranges[name] = spec
    return ranges


def search_space(
    definition: StrategyDefinition, ranges: dict[str, object], fixed: dict[str, str]
) -> SearchSpace:
    both = sorted(set(ranges) & set(fixed))
    if both:
        raise DataCommandError(f"`{both[0]}` is given both as --range and as --param")
    try:
        return SearchSpace.build(definition, {**fixed, **ranges})
    except ParamError as exc:
        raise _refusal(exc) from None


def search_objective(name: str, minimize: bool) -> Objective:
    try:
        return objective(name, maximize=False if minimize else None)
    except ObjectiveError as exc:
        raise _refusal(exc) from None


def heatmap_axes(space: SearchSpace, text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if len(names) != 2 or names[0] == names[1]:
        raise DataCommandError(f"--heatmap {text!r}: name two different parameters, X,Y")
    for name in names:
        try:
            space.axis(name)
        except ParamError as exc:
            raise DataCommandError(f"--heatmap: {exc}") from None
    return names[0], names[1]


# -- evaluation: in process or in workers ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvaluationJob:
    """What a batch needs besides its parameter sets (sent once to every worker)."""

    strategy: str
    config: BacktestConfig
    target: Objective
    # A portfolio's terms, one per series; None for one series, priced by `config.terms`.
    terms: tuple[InstrumentTerms, ...] | None = None


EvaluateBatch = Callable[[list[dict[str, ParamValue]]], Sequence[Evaluation]]


def frame_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _engine_series(series: Sequence[BarSeries]) -> BarSeries | list[BarSeries]:
    # One series goes alone: evaluate_chunk then takes its fused single-series path.
    return series[0] if len(series) == 1 else list(series)


def _evaluate(
    definition: StrategyDefinition,
    batch: list[dict[str, ParamValue]],
    series: BarSeries | list[BarSeries],
    job: EvaluationJob,
) -> list[Evaluation]:
    return evaluate_chunk(definition, batch, series, job.config, job.target, terms=job.terms)


@dataclass(slots=True)
class _WorkerState:
    definition: StrategyDefinition
    series: BarSeries | list[BarSeries]
    job: EvaluationJob


_worker: _WorkerState | None = None


def start_worker(parquets: Sequence[bytes], symbols: Sequence[str], job: EvaluationJob) -> None:
    """A worker's initializer: read every series' bars once, for every batch it will run."""
    global _worker  # noqa: PLW0603 - one state per worker process, set once at its start
    # Ctrl-C reaches the whole process group; the parent decides when to stop, between batches.
    # The worker was started with SIGINT blocked: ignoring it drops one that came meanwhile.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    reuse_freed_memory()  # a spawned process starts with glibc's defaults
    from shared.strategy import get_strategy  # noqa: PLC0415

    series = [
        BarSeries.from_frame(pl.read_parquet(io.BytesIO(parquet)), symbol)
        for parquet, symbol in zip(parquets, symbols, strict=True)
    ]
    _worker = _WorkerState(get_strategy(job.strategy), _engine_series(series), job)


def evaluate_in_worker(params_list: list[dict[str, ParamValue]]) -> list[Evaluation]:
    if _worker is None:
        raise RuntimeError("evaluate_in_worker runs in a worker started by start_worker")
    return _evaluate(_worker.definition, params_list, _worker.series, _worker.job)


def _split(batch: list[dict[str, ParamValue]], parts: int) -> list[list[dict[str, ParamValue]]]:
    size = max(1, math.ceil(len(batch) / parts))
    return [batch[i : i + size] for i in range(0, len(batch), size)]


@contextmanager
def batch_evaluator(
    definition: StrategyDefinition,
    bars: Bars | Sequence[Bars],
    job: EvaluationJob,
    workers: int,
) -> Iterator[EvaluateBatch]:
    """`evaluate(batch)`: in this process for one worker, else split over a process pool."""
    given = [bars] if isinstance(bars, Bars) else list(bars)
    if workers <= 1:
        series = _engine_series([BarSeries.from_frame(b.frame, b.symbol) for b in given])

        def in_process(batch: list[dict[str, ParamValue]]) -> Sequence[Evaluation]:
            return _evaluate(definition, batch, series, job)

        yield in_process
        return
    pool: Executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=start_worker,
        initargs=([frame_bytes(b.frame) for b in given], [b.symbol for b in given], job),
    )

    def in_pool(batch: list[dict[str, ParamValue]]) -> Sequence[Evaluation]:
        # Workers are spawned on demand by submit: with SIGINT blocked they start with it
        # blocked, so a Ctrl-C while they import cannot kill them (see `start_worker`).
        with sigint_blocked():
            parts = [pool.submit(evaluate_in_worker, part) for part in _split(batch, workers)]
        return [evaluation for part in parts for evaluation in part.result()]

    try:
        yield in_pool
    finally:
        pool.shutdown(cancel_futures=True)


# -- progress and Ctrl-C --------------------------------------------------------------------


class SearchProgress:
    """Runs done out of planned: a bar on a terminal, a line per second otherwise (stderr)."""

    def __init__(self, unit: str, stream: TextIO | None = None, width: int = 30) -> None:
        self._unit = unit
        # Looked up when made, not when defined: whoever replaced stderr since gets the bar.
        self._stream = sys.stderr if stream is None else stream
        self._width = width
        self._tty = self._stream.isatty()
        self._shown = False
        self._last_line = -math.inf

    def update(self, done: int, total: int) -> None:
        share = min(done / total, 1.0) if total > 0 else 1.0
        if self._tty:
            filled = round(share * self._width)
            bar = "#" * filled + "-" * (self._width - filled)
            self._stream.write(f"\r[{bar}] {share:4.0%} {done}/{total} {self._unit}")
        elif time.monotonic() - self._last_line >= 1.0 or done >= total:
            # Plain lines for logs and pipes, at most one a second: a large grid has many
            # batches.
            self._last_line = time.monotonic()
            self._stream.write(f"{self._unit}: {done}/{total} ({share:.0%})\n")
        self._shown = True
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._shown:
            self._stream.write("\n")
            self._stream.flush()


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT held back (delivered on leaving) in this thread and in processes it starts."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextmanager
def stop_on_interrupt() -> Iterator[Callable[[], bool]]:
    """`stopped()` turns true at the first Ctrl-C (the search ends after its batch); a second
    Ctrl-C interrupts at once."""
    requested: list[bool] = []

    def on_interrupt(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        requested.append(True)
        sys.stderr.write("\nstopping after this batch (Ctrl-C again to abort)\n")
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield lambda: bool(requested)
    finally:
        signal.signal(signal.SIGINT, previous)


# -- quant backtest optimize ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchOptions:
    method: str  # grid | random | genetic
    trials: int
    population: int
    generations: int
    seed: int
    top: int
    heatmap: tuple[str, str] | None
    workers: int


def _positive_options(options: SearchOptions) -> None:
    for name in ("trials", "population", "generations", "top", "workers"):
        least = 0 if name == "generations" else 2 if name == "population" else 1
        if getattr(options, name) < least:
            raise DataCommandError(f"--{name} must be >= {least}, got {getattr(options, name)}")


def optimize(
    prepared: PreparedBacktest,
    space: SearchSpace,
    bars: Bars | Sequence[Bars],
    target: Objective,
    options: SearchOptions,
    *,
    terms: Sequence[InstrumentTerms] | None = None,
) -> SearchResult:
    """The search `options.method` asks for; Ctrl-C ends it early with what it found. Several
    series are searched as one portfolio, series i priced by `terms[i]`."""
    _positive_options(options)
    if prepared.definition.signals is None:
        raise DataCommandError(f"strategy: {prepared.definition.name} has no vectorized form")
    job = EvaluationJob(
        prepared.definition.name,
        prepared.config,
        target,
        None if terms is None else tuple(terms),
    )
    progress = SearchProgress("runs")
    common: dict[str, Any] = {
        "batch_size": BATCH_PER_WORKER * max(1, options.workers),
        "maximize": target.maximize,
        "progress": progress.update,
        "top_k": options.top,
        "heatmap": options.heatmap,
    }
    try:
        with (
            batch_evaluator(prepared.definition, bars, job, options.workers) as evaluate,
            stop_on_interrupt() as stopped,
        ):
            common["cancelled"] = stopped
            if options.method == "grid":
                return grid_search(space, evaluate, **common)
            if options.method == "random":
                return random_search(
                    space, evaluate, trials=options.trials, seed=options.seed, **common
                )
            return genetic_search(
                space,
                evaluate,
                population=options.population,
                generations=options.generations,
                seed=options.seed,
                **common,
            )
    except ParamError as exc:
        raise _refusal(exc) from None
    except ValueError as exc:  # a grid too large, constraints that admit no point
        raise DataCommandError(str(exc)) from None
    except KeyboardInterrupt:  # the second Ctrl-C: no result, and no traceback either
        raise DataCommandError("interrupted") from None
    finally:
        progress.close()


def _evaluation(evaluation: Evaluation | None) -> dict[str, Any] | None:
    return None if evaluation is None else msgspec.to_builtins(evaluation)


def search_report(result: SearchResult, target: Objective, method: str) -> dict[str, Any]:
    return {
        "method": method,
        "objective": target.name,
        "maximize": target.maximize,
        "evaluated": result.evaluated,
        "valid": result.valid,
        "total": result.total,
        "cancelled": result.cancelled,
        "best_params": result.best_params,
        "best_objective": result.best_value,
        "top": [_evaluation(evaluation) for evaluation in result.top],
        "heatmap": None if result.heatmap is None else msgspec.to_builtins(result.heatmap),
    }


def _params_text(params: dict[str, ParamValue] | None) -> str:
    return "-" if params is None else " ".join(f"{k}={v}" for k, v in params.items())


def search_lines(report: dict[str, Any]) -> list[str]:
    """Best first, then the top-N table and, when asked, the heatmap as one JSON line."""
    stopped = " (stopped early)" if report["cancelled"] else ""
    lines = [
        f"{report['method']} search: {report['evaluated']} of {report['total']} runs, "
        f"{report['valid']} with a value{stopped}",
        f"best params: {_params_text(report['best_params'])}",
        f"best {report['objective']}: {_number(report['best_objective'], '.6g')}",
    ]
    if report["top"]:
        lines.append(f"rank\t{report['objective']}\ttotal return\tmax drawdown\ttrades\tparams")
    for rank, entry in enumerate(report["top"], start=1):
        metrics = entry["metrics"]
        lines.append(
            f"{rank}\t{_number(entry['objective'], '.6g')}\t"
            f"{_number(metrics.get('total_return'), '.2%')}\t"
            f"{_number(metrics.get('max_drawdown_pct'), '.2%')}\t"
            f"{_number(metrics.get('trades.count'), '.0f')}\t{_params_text(entry['params'])}"
        )
    if report["heatmap"] is not None:
        lines.append("heatmap: " + msgspec.json.encode(report["heatmap"]).decode())
    return lines


# -- walk-forward ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalkForwardPlan:
    train_days: int
    test_days: int
    anchored: bool


def parse_walk_forward(text: str) -> WalkForwardPlan:
    """`TRAIN_DAYS:TEST_DAYS[:anchored]`."""
    parts = text.split(":")
    usage = f"--walk-forward {text!r}: write TRAIN_DAYS:TEST_DAYS[:anchored]"
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "anchored"):
        raise DataCommandError(usage)
    try:
        train, test = int(parts[0]), int(parts[1])
    except ValueError:
        raise DataCommandError(usage) from None
    if train < 1 or test < 1:
        raise DataCommandError(f"--walk-forward {text!r}: both day counts must be >= 1")
    return WalkForwardPlan(train, test, anchored=len(parts) == 3)


def run_walk_forward(
    prepared: PreparedBacktest,
    space: SearchSpace,
    bars: Bars,
    *,
    target: Objective,
    plan: WalkForwardPlan,
    options: SearchOptions,
) -> WalkForwardResult:
    if options.method == "genetic":
        raise DataCommandError("--walk-forward searches each window by grid or random")
    if options.workers > 1:
        raise DataCommandError("--walk-forward runs in one process: leave out --workers")
    series = BarSeries.from_frame(bars.frame, bars.symbol)
    progress = SearchProgress("windows")
    try:
        with stop_on_interrupt() as stopped:
            return walk_forward(
                series,
                prepared.definition,
                space,
                prepared.config,
                target,
                train_days=plan.train_days,
                test_days=plan.test_days,
                anchored=plan.anchored,
                search="grid" if options.method == "grid" else "random",
                trials=options.trials,
                seed=options.seed,
                progress=progress.update,
                cancelled=stopped,
            )
    except ParamError as exc:
        raise _refusal(exc) from None
    except ValueError as exc:  # too few trading days for one window, a grid too large
        raise DataCommandError(str(exc)) from None
    except KeyboardInterrupt:
        raise DataCommandError("interrupted") from None
    finally:
        progress.close()


def _day(days_since_epoch: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(days_since_epoch))).isoformat()


def walk_forward_report(result: WalkForwardResult, series_days: Sequence[int]) -> dict[str, Any]:
    windows = []
    for window in result.windows:
        train, test = window.window
        windows.append(
            {
                "train": [_day(series_days[train.start]), _day(series_days[train.stop - 1])],
                "test": [_day(series_days[test.start]), _day(series_days[test.stop - 1])],
                "best_params": window.best_params,
                "in_sample": window.in_sample,
                "out_of_sample": window.out_of_sample,
                "evaluated": window.evaluated,
            }
        )
    metrics: dict[str, Any] | None = None
    if result.metrics is not None:
        metrics = msgspec.to_builtins(result.metrics)
        metrics.pop("daily", None)
    return {
        "objective": result.objective.name,
        "maximize": result.objective.maximize,
        "cancelled": result.cancelled,
        "windows": windows,
        "final_equity": float(result.equity[-1]) if len(result.equity) else None,
        "metrics": metrics,
    }


def walk_forward_lines(report: dict[str, Any]) -> list[str]:
    name = report["objective"]
    lines = [f"window\ttrain\ttest\tin-sample {name}\tout-of-sample {name}\tparams"]
    for number, window in enumerate(report["windows"], start=1):
        lines.append(
            f"{number}\t{'..'.join(window['train'])}\t{'..'.join(window['test'])}\t"
            f"{_number(window['in_sample'], '.6g')}\t{_number(window['out_of_sample'], '.6g')}\t"
            f"{_params_text(window['best_params'])}"
        )
    metrics = report["metrics"]
    if metrics is not None:
        lines.append(
            f"out of sample: final equity {_number(report['final_equity'], ',.2f')}, "
            f"total return {_number(metrics['total_return'], '.2%')}, "
            f"Sharpe {_number(metrics['sharpe'], '.3f')}, "
            f"max drawdown {_number(metrics['max_drawdown_pct'], '.2%')}, "
            f"trades {_number(metrics['trades']['count'], 'd')}"
        )
    if report["cancelled"]:
        lines.append("stopped early: the windows above are those finished")
    return lines


def to_json(report: dict[str, Any]) -> bytes:
    # msgspec writes non-finite floats (an infinite profit factor) as null: valid JSON.
    return msgspec.json.encode(report) + b"\n"


# -- the commands, from parsed options ------------------------------------------------------


def requests_of(args: Any) -> list[BarRequest]:
    """`--data`/`--symbol` (each possibly repeated) as one request per series."""
    template = BarRequest(
        path=None,
        symbol=None,
        interval=Interval(args.interval),
        start=args.start,
        end=args.end,
        timezone=args.timezone,
        mapping=args.map,
    )
    return bar_requests(args.data or [], args.symbol or [], template)


def portfolio_terms(settings: BacktestSettings, series: Sequence[Bars]) -> list[InstrumentTerms]:
    """Each series' terms: the options given, else its own contract's, as `run_portfolio`."""
    return [terms_for(settings, bars.instrument) for bars in series]


def _convention_options(args: Any) -> dict[str, Any]:
    names = (
        "cash", "fill", "size", "commission", "commission_per_unit", "close_today_commission",
        "close_today_commission_per_unit", "multiplier", "margin", "price_tick",
        "slippage_ticks", "periods_per_year", "risk_free_rate",
    )  # fmt: skip
    return {name: getattr(args, name) for name in names}


def _checked_settings(args: Any, params: dict[str, str], engine: str) -> BacktestSettings:
    settings = backtest_settings(
        {"strategy": args.strategy, "params": params, "engine": engine, **_convention_options(args)}
    )
    # Checked before any bar is read: a misspelt strategy should not wait for a large file.
    prepared_backtest(settings, None)
    return settings


def run_command(args: Any, database_url: str) -> bytes:
    """`quant backtest run`: the summary as JSON, or the headline figures as text."""
    settings = _checked_settings(args, parse_params(args.param), args.engine)
    series = load_series(requests_of(args), database_url)
    # As the API: the first series' contract gives the defaults the options leave open.
    prepared = prepared_backtest(settings, series[0].instrument)
    if len(series) == 1:
        summary = run_backtest(prepared, series[0], args.out)
    else:
        summary = run_portfolio_backtest(prepared, settings, series, args.out)
    if args.json:
        return to_json(summary)
    return "".join(line + "\n" for line in summary_lines(summary)).encode()


def search_options(args: Any, heatmap: tuple[str, str] | None) -> SearchOptions:
    return SearchOptions(
        method=args.method,
        trials=args.trials,
        population=args.population,
        generations=args.generations,
        seed=args.seed,
        top=args.top,
        heatmap=heatmap,
        workers=args.workers,
    )


def optimize_command(args: Any, database_url: str) -> bytes:
    """`quant backtest optimize`: a search (or a walk-forward analysis) and its report."""
    settings = _checked_settings(args, {}, "vectorized")
    space = search_space(
        get_definition(settings.strategy), parse_ranges(args.range), parse_params(args.param)
    )
    target = search_objective(args.objective, args.minimize)
    options = search_options(args, heatmap_axes(space, args.heatmap))
    plan = parse_walk_forward(args.walk_forward) if args.walk_forward else None
    requests = requests_of(args)
    if plan is not None and len(requests) > 1:
        raise DataCommandError("--walk-forward: walk-forward runs on one series")
    series = load_series(requests, database_url)
    prepared = prepared_backtest(settings, series[0].instrument)
    if plan is not None:
        bars = series[0]
        result = run_walk_forward(prepared, space, bars, target=target, plan=plan, options=options)
        days = bars.frame["trading_day"].cast(pl.Int32).to_list()
        report = walk_forward_report(result, days)
        lines = walk_forward_lines(report)
    else:
        terms = portfolio_terms(settings, series) if len(series) > 1 else None
        found = optimize(prepared, space, series, target, options, terms=terms)
        report = search_report(found, target, args.method)
        lines = search_lines(report)
    if args.json:
        return to_json(report)
    return "".join(line + "\n" for line in lines).encode()


def get_definition(name: str) -> StrategyDefinition:
    try:
        return strategy_of(name)
    except RequestError as exc:
        raise _refusal(exc) from None
