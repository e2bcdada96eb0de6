"""Time series on PostgreSQL: binary COPY in (append or staged upsert) and binary COPY out.

Writes run on the async engine's own psycopg connection (``driver_connection``), inside the
SQLAlchemy transaction: it comes from the pool, commits or rolls back with the whole ingest,
and a few large ``write`` calls per batch cost the event loop nothing.

Every series of the frame is first locked (a transaction-scoped advisory lock, taken in key
order so that two ingests cannot deadlock), then its rows are split at its last stored time.
Rows after it (the recorder's and a new import's case) are COPYed straight into the table; the
rest go through a temporary staging table and ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``,
which PostgreSQL runs at half the speed of a plain insert (speculative insertion). The lock is
what makes the straight COPY safe: no other ingest can add rows to the series in between.

Reads are the opposite case: the server sends one COPY message per row, and psycopg's async
reader costs several times more per message than its sync one (measured: 1M bars in ~5 s
against ~2.5 s). A read that may be large therefore runs on a sync connection of its own, in a
worker thread; one bounded by a small ``limit`` (a chart) stays on the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import polars as pl
import psycopg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.store._copy import NULL_FLOAT, decode_rows, encode_rows
from shared.store._series_spec import (
    Column,
    OnRows,
    SeriesSpec,
    changed_condition,
    column_list,
    conflict_target,
    quoted,
    update_assignments,
)
from shared.store._series_sql import SeriesQuery, select_clause

# Rows per COPY: ~13 MB of bars on the wire; two batches are in memory at a time.
BATCH_ROWS = 100_000
# Reads of at most this many rows use the pool; larger ones a connection of their own.
POOLED_READ_MAX_ROWS = 20_000
CONNECT_TIMEOUT_S = 5

Payload = list[bytes | memoryview]


async def _psycopg(connection: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    raw = await connection.get_raw_connection()
    return cast("psycopg.AsyncConnection[Any]", raw.driver_connection)


def _staging_sql(spec: SeriesSpec) -> tuple[str, str]:
    create = (
        f"CREATE TEMP TABLE IF NOT EXISTS {spec.staging} (LIKE {spec.table}) ON COMMIT DELETE ROWS"
    )
    names = column_list(spec.columns)
    upsert = (
        f"INSERT INTO {spec.table} AS target ({names}) "  # noqa: S608  (names from the spec)
        f"SELECT {names} FROM pg_temp.{spec.staging} "
        f"ON CONFLICT ({conflict_target(spec)}) DO UPDATE SET {update_assignments(spec)} "
        f"WHERE {changed_condition(spec, 'target', 'IS DISTINCT FROM')}"
    )
    return create, upsert


def _key_arrays(keys: pl.DataFrame) -> list[list[str]]:
    return [keys[name].to_list() for name in keys.columns]


def _unnest(spec: SeriesSpec) -> str:
    arrays = ", ".join("%s::text[]" for _ in spec.key)
    names = column_list(spec.key)
    return f"unnest({arrays}) WITH ORDINALITY AS k({names}, position)"


async def _lock_series(
    cursor: psycopg.AsyncCursor[Any], spec: SeriesSpec, keys: pl.DataFrame
) -> None:
    # The keys arrive sorted and unnest keeps their order: every ingest locks in one order.
    joined = " || '.' || ".join(f"k.{quoted(c.name)}" for c in spec.key)
    await cursor.execute(
        f"SELECT pg_advisory_xact_lock(hashtextextended('{spec.table}.' || {joined}, 0)) "  # noqa: S608
        f"FROM {_unnest(spec)} ORDER BY k.position",
        _key_arrays(keys),
    )


async def _last_times(
    cursor: psycopg.AsyncCursor[Any], spec: SeriesSpec, keys: pl.DataFrame
) -> pl.DataFrame:
    """Per series: the last stored time, null for a series with no rows yet."""
    time = quoted(spec.time.name)
    match = " AND ".join(f"t.{quoted(c.name)} = k.{quoted(c.name)}" for c in spec.key)
    await cursor.execute(
        f"SELECT (SELECT max(t.{time}) FROM {spec.table} t WHERE {match}) "  # noqa: S608
        f"FROM {_unnest(spec)} ORDER BY k.position",
        _key_arrays(keys),
    )
    last = [row[0] for row in await cursor.fetchall()]
    return keys.with_columns(pl.Series("_last", last, dtype=pl.Datetime("us", "UTC"), strict=False))


def _split_at_last(
    frame: pl.DataFrame, spec: SeriesSpec, last: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows after their series' last stored time, the others): appended vs upserted."""
    keyed = frame.join(last, on=[c.name for c in spec.key], how="left", maintain_order="left")
    time = pl.col(spec.time.name)
    is_new = pl.col("_last").is_null() | (time > pl.col("_last"))
    return (
        keyed.filter(is_new).drop("_last"),
        keyed.filter(~is_new).drop("_last"),
    )


def _encode_soon(rows: pl.DataFrame, columns: tuple[Column, ...]) -> asyncio.Future[Payload]:
    return asyncio.ensure_future(asyncio.to_thread(encode_rows, rows, columns))


async def _send_batches(
    frame: pl.DataFrame,
    columns: tuple[Column, ...],
    send: Callable[[Payload], Awaitable[int]],
    progress: Callable[[int], None],
) -> int:
    """``send`` each BATCH_ROWS rows as a COPY payload, encoding the next batch (in a thread)
    while one is sent; the sum of what ``send`` returns. ``progress`` hears each batch's rows."""
    batches = list(frame.iter_slices(BATCH_ROWS))
    upcoming = _encode_soon(batches[0], columns)
    total = 0
    try:
        for index in range(len(batches)):
            payload = await upcoming
            if index + 1 < len(batches):
                upcoming = _encode_soon(batches[index + 1], columns)
            total += await send(payload)
            progress(batches[index].height)
    finally:
        upcoming.cancel()  # a failed send leaves no encoding behind
    return total


async def _copy_in(
    cursor: psycopg.AsyncCursor[Any],
    table: str,
    spec: SeriesSpec,
    payload: Payload,
) -> None:
    statement = f"COPY {table} ({column_list(spec.columns)}) FROM STDIN (FORMAT BINARY)"
    async with cursor.copy(statement) as copy:
        for part in payload:
            await copy.write(part)


async def ingest(
    engine: AsyncEngine, spec: SeriesSpec, frame: pl.DataFrame, on_rows: OnRows | None = None
) -> int:
    """Write a checked, key-sorted frame in one transaction; return the rows inserted or
    changed. ``on_rows`` hears how many rows have been sent so far, batch by batch."""
    if frame.height == 0:
        return 0
    sent = 0

    def progress(rows: int) -> None:
        nonlocal sent
        sent += rows
        if on_rows is not None:
            on_rows(sent)

    keys = frame.select([c.name for c in spec.key]).unique(maintain_order=True)
    written = 0
    async with engine.begin() as connection:
        driver = await _psycopg(connection)
        async with driver.cursor() as cursor:

            async def upsert(payload: Payload) -> int:
                await _copy_in(cursor, f"pg_temp.{spec.staging}", spec, payload)
                await cursor.execute(upsert_statement)
                changed = cursor.rowcount
                await cursor.execute(f"TRUNCATE pg_temp.{spec.staging}")
                return changed

            async def append(payload: Payload) -> int:
                await _copy_in(cursor, spec.table, spec, payload)
                return 0  # every row is new: counted below

            await _lock_series(cursor, spec, keys)
            fresh, known = _split_at_last(frame, spec, await _last_times(cursor, spec, keys))
            if known.height:
                create_staging, upsert_statement = _staging_sql(spec)
                await cursor.execute(create_staging)
                written += await _send_batches(known, spec.columns, upsert, progress)
            if fresh.height:
                await _send_batches(fresh, spec.columns, append, progress)
                written += fresh.height
    return written


def _read_statement(spec: SeriesSpec, query: SeriesQuery) -> tuple[str, list[object]]:
    fields = ", ".join(
        f"COALESCE({quoted(c.name)}, '{NULL_FLOAT}'::float8)" if c.nullable else quoted(c.name)
        for c in _read_columns(spec)
    )
    where, params = query.where_clause(spec, "%s")
    return f"COPY ({select_clause(spec, query, fields, where)}) TO STDOUT (FORMAT BINARY)", params


def _read_columns(spec: SeriesSpec) -> tuple[Column, ...]:
    return (spec.time, *spec.values)


async def _read_pooled(engine: AsyncEngine, statement: str, params: list[object]) -> bytearray:
    stream = bytearray()
    async with engine.connect() as connection:
        driver = await _psycopg(connection)
        async with driver.cursor() as cursor, cursor.copy(statement, params) as copy:
            async for row in copy:
                stream += row
        await connection.rollback()  # read only: end the transaction COPY opened
    return stream


def _read_dedicated(url: str, statement: str, params: list[object]) -> bytearray:
    stream = bytearray()
    with (
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as connection,
        connection.cursor() as cursor,
        cursor.copy(statement, params) as copy,
    ):
        for row in copy:
            stream += row
    return stream


async def load(engine: AsyncEngine, spec: SeriesSpec, query: SeriesQuery) -> pl.DataFrame:
    """The series' rows as fixed-width binary COPY, read straight into numpy and polars."""
    statement, params = _read_statement(spec, query)
    if query.limit is not None and query.limit <= POOLED_READ_MAX_ROWS:
        stream = await _read_pooled(engine, statement, params)
    else:
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        stream = await asyncio.to_thread(_read_dedicated, url, statement, params)
    return await asyncio.to_thread(decode_rows, stream, _read_columns(spec))
