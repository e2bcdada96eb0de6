"""Time series on SQLite (the embedded mode): executemany upsert in, cursor rows out.

Timestamps and dates are written as the same text SQLAlchemy's SQLite types write
(``2019-04-08 05:36:00.000000`` UTC, ``2019-04-08``), so the ORM and these bulk paths read each
other's rows, and text order is time order. The statements run on the engine's own aiosqlite
connection, in its thread: the event loop never waits on SQLite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import polars as pl
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.store._series_spec import (
    Kinds,
    OnRows,
    SeriesSpec,
    changed_condition,
    column_list,
    conflict_target,
    update_assignments,
)
from shared.store._series_sql import SeriesQuery, select_clause

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.6f"  # polars (chrono) spelling of SQLAlchemy's format
_DATE_FORMAT = "%Y-%m-%d"
# Rows converted to Python tuples at a time: bounds the memory of a large ingest.
BATCH_ROWS = 50_000


async def _aiosqlite(connection: AsyncConnection) -> Any:
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def _upsert_sql(spec: SeriesSpec) -> str:
    placeholders = ", ".join("?" for _ in spec.columns)
    return (
        f"INSERT INTO {spec.table} ({column_list(spec.columns)}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({conflict_target(spec)}) DO UPDATE SET {update_assignments(spec)} "
        f"WHERE {changed_condition(spec, spec.table, 'IS NOT')}"
    )


def _as_text(frame: pl.DataFrame, spec: SeriesSpec) -> pl.DataFrame:
    texts = []
    for column in spec.columns:
        if column.kind is Kinds.TIMESTAMP:
            texts.append(pl.col(column.name).dt.strftime(TIMESTAMP_FORMAT))
        elif column.kind is Kinds.DATE:
            texts.append(pl.col(column.name).dt.strftime(_DATE_FORMAT))
    return frame.with_columns(texts)


def _rows(frame: pl.DataFrame, spec: SeriesSpec) -> Iterator[tuple[Any, ...]]:
    # Runs in aiosqlite's thread, which consumes it: converted a batch at a time.
    for batch in frame.iter_slices(BATCH_ROWS):
        yield from _as_text(batch, spec).iter_rows()


async def ingest(
    engine: AsyncEngine, spec: SeriesSpec, frame: pl.DataFrame, on_rows: OnRows | None = None
) -> int:
    """Write a checked frame in one transaction; return the rows inserted or changed.
    ``on_rows`` hears how many rows have been sent so far, batch by batch."""
    if frame.height == 0:
        return 0
    written = sent = 0
    async with engine.begin() as connection:
        driver = await _aiosqlite(connection)
        for batch in frame.iter_slices(BATCH_ROWS):
            cursor = await driver.executemany(_upsert_sql(spec), _rows(batch, spec))
            written += int(cursor.rowcount)
            await cursor.close()
            sent += batch.height
            if on_rows is not None:
                on_rows(sent)
    return written


def sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _frame(rows: list[tuple[Any, ...]], spec: SeriesSpec) -> pl.DataFrame:
    columns = (spec.time, *spec.values)
    schema = {
        c.name: pl.String if c.kind in (Kinds.TIMESTAMP, Kinds.DATE) else c.kind.dtype
        for c in columns
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    parsed = []
    for column in columns:
        if column.kind is Kinds.TIMESTAMP:
            parsed.append(
                pl.col(column.name).str.to_datetime(
                    "%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC"
                )
            )
        elif column.kind is Kinds.DATE:
            parsed.append(pl.col(column.name).str.to_date(_DATE_FORMAT))
    return frame.with_columns(parsed)


async def load(engine: AsyncEngine, spec: SeriesSpec, query: SeriesQuery) -> pl.DataFrame:
    fields = column_list((spec.time, *spec.values))
    where, params = query.where_clause(spec, "?", sqlite_time)
    async with engine.connect() as connection:
        driver = await _aiosqlite(connection)
        cursor = await driver.execute(select_clause(spec, query, fields, where), params)
        rows = cast("list[tuple[Any, ...]]", await cursor.fetchall())
        await cursor.close()
        await connection.rollback()
    return await asyncio.to_thread(_frame, rows, spec)
