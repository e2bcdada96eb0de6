"""``quant data import`` / ``quant data export``: market-data files in and out of the store.

Import maps the file (``shared.marketdata.bar_files``), assigns trading days from the session
calendar, then hands the whole frame to the store in one ``ingest``: the store checks every row
before writing any, and its upsert makes a repeated import change nothing.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import polars as pl

from shared.domain import EXCHANGE_TZ, Exchange, Interval
from shared.marketdata.bar_files import ROW, FileColumnError, Kind, Mapped, map_file, shift_to_start
from shared.marketdata.bar_files import split_symbol as split_exchange_symbol
from shared.sessions import (
    CalendarRangeError,
    TradingCalendar,
    UnknownProductError,
    assign_sessions,
    load_calendar,
    load_sessions,
)
from shared.store import create_engine, session_factory
from shared.store.holidays import HolidayRepository
from shared.store.market_data import BarStore, FrameError, OnRows, TickStore


class DataCommandError(Exception):
    """An import or export refused; the message is shown as is."""


class Progress:
    """A one-line bar on a terminal, plain lines otherwise (logs, pipes): both on stderr."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._width = width
        self._tty = stream.isatty()
        self._last_line = 0.0

    def update(self, done: int, stage: str) -> None:
        share = min(done / self._total, 1.0)
        if self._tty:
            filled = round(share * self._width)
            bar = "#" * filled + "-" * (self._width - filled)
            self._stream.write(f"\r[{bar}] {share:4.0%} {stage:<12}")
        elif time.monotonic() - self._last_line >= 1.0 or share >= 1.0:
            self._last_line = time.monotonic()
            self._stream.write(f"{stage}: {done}/{self._total} rows ({share:.0%})\n")
        self._stream.flush()

    def resized(self, total: int) -> Progress:
        """The same bar with a new total (once it is known how many rows will be written)."""
        self._total = max(total, 1)
        return self

    def close(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


@dataclass(frozen=True)
class ImportOptions:
    kind: Kind | None
    symbol: str | None
    interval: Interval
    timezone: str
    mapping: dict[str, str]
    time_label: str  # "start" | "end"


@dataclass(frozen=True)
class ImportSummary:
    kind: Kind
    read: int
    written: int
    merged: int  # auction bars folded into their session's first bar
    outside: int  # rows outside every session of their product
    duplicates: int

    @property
    def skipped(self) -> int:
        return self.merged + self.outside + self.duplicates

    def line(self) -> str:
        reasons = f"{self.merged} merged, {self.outside} outside sessions, "
        reasons += f"{self.duplicates} duplicate times"
        return (
            f"{self.kind}: read {self.read}, written {self.written} (new or changed), "
            f"skipped {self.skipped} ({reasons})"
        )


def parse_mapping(items: list[str]) -> dict[str, str]:
    """``--map COLUMN=field`` options as {file column: field}."""
    mapping: dict[str, str] = {}
    for item in items:
        column, equals, field = item.partition("=")
        if not equals or not column or not field:
            raise DataCommandError(f"--map {item!r}: write COLUMN=field")
        mapping[column] = field
    return mapping


def read_table(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in {".csv", ".txt"}:
            # All text: a garbage value is then reported by row instead of failing the reader.
            return pl.read_csv(path, infer_schema_length=0)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataCommandError(f"cannot read {path}: {exc}") from None
    raise DataCommandError(f"{path}: expected a .csv or .parquet file")


def _assign(
    group: pl.DataFrame, time_column: str, one_minute: bool, calendar: TradingCalendar
) -> pl.DataFrame:
    exchange, symbol = group["exchange"][0], group["symbol"][0]
    try:
        sessions = load_sessions().for_symbol(symbol, Exchange(exchange))
        assigned = assign_sessions(sessions, calendar, group[time_column]).to_polars()
    except (UnknownProductError, CalendarRangeError) as exc:
        raise DataCommandError(f"{exchange}.{symbol}: {exc}") from None
    group = group.with_columns(assigned_day=assigned["trading_day"])
    if one_minute:  # the auction bar's start moves to the session's first minute
        minute = assigned["minute_start"].dt.cast_time_unit("us")
        group = group.with_columns(pl.coalesce(minute, pl.col(time_column)).alias(time_column))
    if "trading_day" in group.columns:
        return group.with_columns(pl.col("trading_day").fill_null(pl.col("assigned_day")))
    return group.with_columns(trading_day=pl.col("assigned_day"))


def _merge_bars(frame: pl.DataFrame) -> pl.DataFrame:
    rules = {
        ROW: pl.col(ROW).first(),
        "trading_day": pl.col("trading_day").first(),
        "open": pl.col("open").first(),
        "high": pl.col("high").max(),
        "low": pl.col("low").min(),
        "close": pl.col("close").last(),
        "volume": pl.col("volume").sum(),
        "turnover": pl.col("turnover").sum(),
        "open_interest": pl.col("open_interest").last(),
    }
    present = [rule.alias(name) for name, rule in rules.items() if name in frame.columns]
    return frame.group_by(["exchange", "symbol", "start"], maintain_order=True).agg(present)


def prepare(
    mapped: Mapped, options: ImportOptions, calendar: TradingCalendar
) -> tuple[pl.DataFrame, ImportSummary]:
    """The store frame of a mapped file (with ``ROW``) and what was skipped on the way."""
    if options.time_label == "end" and mapped.kind == "bars":
        mapped = shift_to_start(mapped, options.interval.duration)
    time_column = mapped.time_column
    one_minute = mapped.kind == "bars" and options.interval is Interval.M1
    frame = mapped.frame.sort(time_column, maintain_order=True)
    groups = frame.partition_by(["exchange", "symbol"], maintain_order=True)
    frame = pl.concat(
        [_assign(g, time_column, one_minute, calendar) for g in groups], how="vertical"
    )
    inside = frame.filter(pl.col("trading_day").is_not_null()).drop("assigned_day")
    outside = frame.height - inside.height
    merged = 0
    if one_minute:
        before = inside.height
        inside = _merge_bars(inside)
        merged = before - inside.height
    before = inside.height
    inside = inside.unique(["exchange", "symbol", time_column], keep="last", maintain_order=True)
    if mapped.kind == "bars":
        inside = inside.with_columns(interval=pl.lit(options.interval.value))
    summary = ImportSummary(
        mapped.kind, mapped.frame.height, 0, merged, outside, before - inside.height
    )
    return inside, summary


async def _stored_calendar(database_url: str) -> TradingCalendar:
    """The calendar the gateway uses: the database's, with an admin's changes."""
    engine = create_engine(database_url)
    try:
        holidays = HolidayRepository(session_factory(engine))
        await holidays.seed_if_empty(load_calendar())
        return await holidays.calendar()
    finally:
        await engine.dispose()


async def _ingest(
    database_url: str, kind: Kind, frame: pl.DataFrame, on_rows: OnRows | None = None
) -> int:
    engine = create_engine(database_url)
    try:
        store = BarStore(engine) if kind == "bars" else TickStore(engine)
        return await store.ingest(frame, on_rows)
    finally:
        await engine.dispose()


def import_file(database_url: str, path: Path, options: ImportOptions) -> ImportSummary:
    raw = read_table(path)
    # Reading and mapping count a file's length each; writing, the rows left to write.
    progress = Progress(raw.height * 3)
    try:
        progress.update(raw.height, "read")
        try:
            mapped = map_file(
                raw,
                kind=options.kind,
                symbol=options.symbol,
                timezone=options.timezone,
                mapping=options.mapping,
            )
        except (FileColumnError, ValueError) as exc:
            raise DataCommandError(f"{path.name}: {exc}") from None
        frame, summary = prepare(mapped, options, asyncio.run(_stored_calendar(database_url)))
        progress = progress.resized(raw.height * 2 + frame.height)
        progress.update(raw.height * 2, "mapped")
        rows = frame[ROW]

        def writing(sent: int) -> None:
            progress.update(raw.height * 2 + sent, "writing")

        try:
            written = asyncio.run(_ingest(database_url, mapped.kind, frame.drop(ROW), writing))
        except FrameError as exc:
            where = f"column `{exc.column}`"
            if exc.row is not None:
                where += f", row {rows[exc.row]} of the file"
            problem = str(exc).split(": ", 1)[-1]
            raise DataCommandError(f"{path.name}: {where}: {problem}; nothing written") from None
        progress.update(raw.height * 2 + frame.height, "written")
    finally:
        progress.close()
    return ImportSummary(
        summary.kind, summary.read, written, summary.merged, summary.outside, summary.duplicates
    )


def parse_time(text: str | None, name: str) -> datetime | None:
    """An ISO time; naive ones are exchange-local (Asia/Shanghai)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DataCommandError(f"--{name} {text!r}: expected an ISO date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=EXCHANGE_TZ)


async def _load(
    database_url: str,
    kind: Kind,
    symbol: str,
    interval: Interval,
    span: tuple[datetime | None, ...],
) -> pl.DataFrame:
    exchange, code = split_exchange_symbol(symbol)
    if exchange is None:
        raise DataCommandError(f"--symbol {symbol!r}: write EXCHANGE.code (e.g. SHFE.au1912)")
    start, end = span
    engine = create_engine(database_url)
    try:
        if kind == "bars":
            return await BarStore(engine).load(exchange, code, interval, start=start, end=end)
        return await TickStore(engine).load(exchange, code, start=start, end=end)
    finally:
        await engine.dispose()


def export_file(  # noqa: PLR0917 - one per command-line option
    database_url: str,
    kind: Kind,
    symbol: str,
    interval: Interval,
    start: str | None,
    end: str | None,
    out: Path,
) -> int:
    """Write the stored rows to ``out`` (Parquet); the row count."""
    span = (parse_time(start, "start"), parse_time(end, "end"))
    try:
        frame = asyncio.run(_load(database_url, kind, symbol, interval, span))
    except ValueError as exc:
        raise DataCommandError(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out)
    return frame.height
