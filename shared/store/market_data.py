"""Ticks and bars in the database, in and out as polars frames, fast on both backends.

``ingest`` checks the whole frame first (a refused frame writes nothing), then upserts it in
one transaction: ingesting the same frame twice leaves the same rows, and a changed value in a
re-ingested row wins. PostgreSQL writes through binary COPY, SQLite through ``executemany``;
``load`` reads a series back sorted by time (PostgreSQL through binary COPY as well).

Frames have the columns of ``shared.domain.Bar`` / ``Tick`` (``BAR_COLUMNS``, ``TICK_COLUMNS``):
text ``exchange``, ``symbol`` (``interval``); the time (``start`` / ``ts``) as a tz-aware
datetime, stored in UTC; ``trading_day`` as ``pl.Date``; numbers for prices, integers for volumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import msgspec
import polars as pl
from sqlalchemy import ColumnElement, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.domain import Bar, Exchange, Interval, Tick, require_aware
from shared.store import _postgres_series, _sqlite_series
from shared.store._frame_checks import FrameError, RowRule, prepare_frame
from shared.store._series_spec import BAR_SPEC, TICK_SPEC, OnRows, SeriesSpec
from shared.store._series_sql import SeriesQuery, distinct_keys
from shared.store.tables import BarRow, TickRow

__all__ = [
    "BAR_COLUMNS",
    "TICK_COLUMNS",
    "BarStore",
    "Coverage",
    "FrameError",
    "OnRows",
    "SeriesKey",
    "TickStore",
    "bar_rows",
    "tick_rows",
]

BAR_COLUMNS = tuple(column.name for column in BAR_SPEC.columns)
TICK_COLUMNS = tuple(column.name for column in TICK_SPEC.columns)


def _rows(items: Sequence[msgspec.Struct], columns: tuple[str, ...]) -> pl.DataFrame:
    schema = {name: _DTYPES.get(name, pl.Float64()) for name in columns}
    rows = [tuple(getattr(item, name) for name in columns) for item in items]
    return pl.DataFrame(rows, schema=schema, orient="row")


def tick_rows(ticks: Sequence[Tick]) -> pl.DataFrame:
    """A frame ``TickStore.ingest`` takes, from domain Ticks (e.g. a live venue's)."""
    return _rows(ticks, TICK_COLUMNS)


def bar_rows(bars: Sequence[Bar]) -> pl.DataFrame:
    """A frame ``BarStore.ingest`` takes, from domain Bars (e.g. the live bars)."""
    return _rows(bars, BAR_COLUMNS)


_DTYPES: dict[str, pl.DataType] = {
    "exchange": pl.String(),
    "symbol": pl.String(),
    "interval": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "start": pl.Datetime("us", "UTC"),
    "trading_day": pl.Date(),
    "volume": pl.Int64(),
    "bid_volume": pl.Int64(),
    "ask_volume": pl.Int64(),
}


class SeriesKey(NamedTuple):
    exchange: Exchange
    symbol: str
    interval: Interval | None  # None for ticks


class Coverage(msgspec.Struct, frozen=True):
    first: datetime  # time of the first stored row (UTC)
    last: datetime  # time of the last stored row (UTC)
    count: int


def _not_negative(*names: str) -> tuple[RowRule, ...]:
    return tuple(RowRule(name, pl.col(name) < 0, "must be >= 0", (name,)) for name in names)


_OHLC = ("open", "high", "low", "close")
_BAR_RULES = (
    RowRule(
        "high",
        pl.col("high") < pl.max_horizontal("open", "close"),
        "high is below open or close",
        _OHLC,
    ),
    RowRule(
        "low",
        pl.col("low") > pl.min_horizontal("open", "close"),
        "low is above open or close",
        _OHLC,
    ),
    *_not_negative("volume", "turnover", "open_interest"),
)
_TICK_RULES = _not_negative("volume", "turnover", "open_interest", "bid_volume", "ask_volume")


class _SeriesStore:
    _spec: SeriesSpec
    _rules: tuple[RowRule, ...]
    _table: Table

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    async def ingest(self, frame: pl.DataFrame, on_rows: OnRows | None = None) -> int:
        """Upsert ``frame`` in one transaction; the number of rows inserted or changed (0 for
        a repeat). ``on_rows`` hears how many rows have been sent so far, batch by batch.

        Raises FrameError (a ValueError naming the column and row) before writing anything.
        """
        prepared = prepare_frame(frame, self._spec, self._rules)
        backend = _postgres_series if self._postgres else _sqlite_series
        written: int = await backend.ingest(self._engine, self._spec, prepared, on_rows)
        return written

    async def _load(
        self,
        key: tuple[str, ...],
        start: datetime | None,
        end: datetime | None,
        limit: int | None,
    ) -> pl.DataFrame:
        for value, name in ((start, "start"), (end, "end")):
            if value is not None:
                require_aware(value, name)
        if limit is not None and limit < 1:
            raise ValueError(f"`limit` must be at least 1, got {limit}")
        query = SeriesQuery(key, start, end, limit)
        backend = _postgres_series if self._postgres else _sqlite_series
        rows: pl.DataFrame = await backend.load(self._engine, self._spec, query)
        if limit is not None:
            rows = rows.reverse()
        constants = [
            pl.lit(value, dtype=pl.String).alias(column.name)
            for column, value in zip(self._spec.key, key, strict=True)
        ]
        return rows.select(*constants, pl.all())

    def _key_filter(self, key: tuple[str, ...]) -> list[ColumnElement[bool]]:
        return [
            self._table.c[column.name] == value
            for column, value in zip(self._spec.key, key, strict=True)
        ]

    async def _coverage(self, key: tuple[str, ...]) -> Coverage | None:
        time = self._table.c[self._spec.time.name]
        statement = select(func.min(time), func.max(time), func.count()).where(
            *self._key_filter(key)
        )
        async with self._engine.connect() as connection:
            first, last, count = (await connection.execute(statement)).one()
        return None if not count else Coverage(first, last, count)

    async def has_symbol(self, exchange: Exchange | str, symbol: str) -> bool:
        """Whether any row of ``symbol`` is stored (in any interval, for bars)."""
        statement = (
            select(self._table.c.symbol)
            .where(self._table.c.exchange == Exchange(exchange), self._table.c.symbol == symbol)
            .limit(1)
        )
        async with self._engine.connect() as connection:
            return (await connection.execute(statement)).first() is not None

    async def _keys(self) -> list[tuple[str, ...]]:
        statement = text(distinct_keys(self._spec, loose_index_scan=self._postgres))
        async with self._engine.connect() as connection:
            return [tuple(row) for row in (await connection.execute(statement)).all()]


class BarStore(_SeriesStore):
    """Bars of every symbol and interval; unique on (exchange, symbol, interval, start)."""

    _spec = BAR_SPEC
    _rules = _BAR_RULES
    _table = BarRow.__table__  # type: ignore[assignment]

    async def load(
        self,
        exchange: Exchange | str,
        symbol: str,
        interval: Interval | str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Bars with ``start <= bar start < end``, sorted by start; with ``limit``, the last
        ``limit`` of them. Columns as ``BAR_COLUMNS``; ``start`` in UTC."""
        key = (Exchange(exchange).value, symbol, Interval(interval).value)
        return await self._load(key, start, end, limit)

    async def coverage(
        self, exchange: Exchange | str, symbol: str, interval: Interval | str
    ) -> Coverage | None:
        """First and last bar start and the bar count; None when there is no such bar."""
        return await self._coverage((Exchange(exchange).value, symbol, Interval(interval).value))

    async def symbols(self) -> list[SeriesKey]:
        """Every stored (exchange, symbol, interval), sorted."""
        return [SeriesKey(Exchange(e), s, Interval(i)) for e, s, i in await self._keys()]


class TickStore(_SeriesStore):
    """Ticks of every symbol; unique on (exchange, symbol, ts)."""

    _spec = TICK_SPEC
    _rules = _TICK_RULES
    _table = TickRow.__table__  # type: ignore[assignment]

    async def load(
        self,
        exchange: Exchange | str,
        symbol: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Ticks with ``start <= ts < end``, sorted by ts; with ``limit``, the last ones."""
        return await self._load((Exchange(exchange).value, symbol), start, end, limit)

    async def coverage(self, exchange: Exchange | str, symbol: str) -> Coverage | None:
        return await self._coverage((Exchange(exchange).value, symbol))

    async def symbols(self) -> list[SeriesKey]:
        """Every stored (exchange, symbol), sorted; ``interval`` is None."""
        return [SeriesKey(Exchange(e), s, None) for e, s in await self._keys()]
