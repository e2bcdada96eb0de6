"""Bars into and out of PostgreSQL: BarStore (binary COPY) against psycopg row by row.

The bars are the real one-minute bars of ../shared/data (seven TQ contracts), repeated with
their times shifted by whole weeks until there are enough of them. Everything runs in a
database of its own (``quant_bench_<random>``), dropped at the end.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.store import create_engine
from shared.store.market_data import BAR_COLUMNS, BarStore
from shared.store.migrate import upgrade
from tests.bench._table import Row
from tests.support.services import POSTGRES_ADMIN_URL, sqlalchemy_url

BAR_FILES = Path(__file__).resolve().parents[3] / "shared" / "data" / "cn_futures" / "bar_1m"
TQ_FILES = ("SHFE_au1912", "SHFE_cu1905", "SHFE_rb2002", "SHFE_bu1912", "DCE_m2005",
            "CFFEX_IF2003", "CFFEX_T2003")  # fmt: skip
INGEST_COPIES = 4  # ~600k bars over seven series
LOAD_COPIES = 30  # ~1M bars of au1912
PEER_ROWS = 100_000  # executemany is slow: its rate is measured on fewer rows
_COLUMNS = ", ".join(f'"{name}"' for name in BAR_COLUMNS)
_UPSERT = (
    f"INSERT INTO bars ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(BAR_COLUMNS))}) "
    'ON CONFLICT (exchange, symbol, "interval", start) DO UPDATE SET '
    + ", ".join(f'"{name}" = excluded."{name}"' for name in BAR_COLUMNS[4:])
)


def _bars(name: str) -> pl.DataFrame:
    raw = pl.read_csv(BAR_FILES / f"{name}_1m.csv")
    local = pl.col("datetime").str.to_datetime("%Y-%m-%d %H:%M:%S")
    # A night bar belongs to the trading day of the next day-session bar.
    day_session = pl.when(local.dt.hour().is_between(8, 16)).then(local.dt.date())
    return raw.select(
        pl.col("symbol").str.split(".").list.get(0).alias("exchange"),
        pl.col("symbol").str.split(".").list.get(1).alias("symbol"),
        pl.lit("1m").alias("interval"),
        pl.from_epoch("datetime_ns_utc", time_unit="ns").dt.replace_time_zone("UTC").alias("start"),
        day_session.backward_fill().alias("trading_day"),
        pl.col("open", "high", "low", "close").cast(pl.Float64),
        pl.col("volume").cast(pl.Int64),
        (pl.col("volume") * pl.col("close")).cast(pl.Float64).alias("turnover"),
        pl.col("close_oi").cast(pl.Float64).alias("open_interest"),
    ).drop_nulls("trading_day")


def _repeated(frame: pl.DataFrame, copies: int) -> pl.DataFrame:
    """Earlier copies of the series, each shifted back by more weeks than the series spans."""
    span = frame["start"].max() - frame["start"].min()  # type: ignore[operator]
    step = timedelta(weeks=span.days // 7 + 2)
    shifted = [
        frame.with_columns(pl.col("start") - step * k, pl.col("trading_day") - step * k)
        for k in range(copies)
    ]
    return pl.concat(shifted)


async def _truncate(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        driver: Any = (await connection.get_raw_connection()).driver_connection
        await driver.execute("TRUNCATE bars")


def _executemany(url: str, frame: pl.DataFrame) -> float:
    rows = list(frame.iter_rows())
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.executemany(_UPSERT, rows)
        connection.commit()
        return len(rows) / (time.perf_counter() - started)


def _fetch_rows(url: str) -> pl.DataFrame:
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM bars WHERE exchange = 'SHFE' AND symbol = 'au1912' "
            """AND "interval" = '1m' ORDER BY start"""
        )
        return pl.DataFrame(cursor.fetchall(), schema=list(BAR_COLUMNS), orient="row")


async def _ingest_rate(store: BarStore, frame: pl.DataFrame) -> float:
    started = time.perf_counter()
    written = await store.ingest(frame)
    elapsed = time.perf_counter() - started
    assert written == frame.height, (written, frame.height)
    return frame.height / elapsed


async def _measure(url: str) -> list[Row]:
    libpq_url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    many = pl.concat([_repeated(_bars(name), INGEST_COPIES) for name in TQ_FILES])
    changed = many.with_columns(pl.col("open_interest") + 1)
    engine = create_engine(url, pool_size=2)
    store = BarStore(engine)
    try:
        new_rate = await _ingest_rate(store, many)
        upsert_rate = await _ingest_rate(store, changed)
        await _truncate(engine)
        peer_sample = many.sample(PEER_ROWS, seed=1).sort("exchange", "symbol", "start")
        peer_new = await asyncio.to_thread(_executemany, libpq_url, peer_sample)
        peer_upsert = await asyncio.to_thread(
            _executemany, libpq_url, peer_sample.with_columns(pl.col("open_interest") + 1)
        )
        await _truncate(engine)
        history = _repeated(_bars("SHFE_au1912"), LOAD_COPIES)
        await store.ingest(history)
        loads = []
        for _ in range(3):
            started = time.perf_counter()
            loaded = await store.load("SHFE", "au1912", "1m")
            loads.append(time.perf_counter() - started)
        assert loaded.height == history.height
        started = time.perf_counter()
        await asyncio.to_thread(_fetch_rows, libpq_url)
        peer_load = time.perf_counter() - started
    finally:
        await engine.dispose()
    return [
        Row(
            f"bar ingest, {many.height / 1e3:.0f}k new bars (COPY)",
            new_rate,
            "psycopg executemany upsert",
            peer_new,
            "rows/s",
            higher_is_better=True,
        ),
        Row(
            f"bar re-ingest, {many.height / 1e3:.0f}k changed bars (COPY+upsert)",
            upsert_rate,
            "psycopg executemany upsert",
            peer_upsert,
            "rows/s",
            higher_is_better=True,
        ),
        Row(
            f"load {history.height / 1e6:.2f}M bars of one symbol into polars",
            min(loads),
            "psycopg fetchall + DataFrame",
            peer_load,
            "s",
            higher_is_better=False,
        ),
    ]


def run() -> list[Row]:
    if not BAR_FILES.is_dir():
        sys.stderr.write(f"bench_storage: skipped, no bar files at {BAR_FILES}\n")
        return []
    name = f"quant_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        sys.stderr.write(f"bench_storage: skipped, PostgreSQL is not reachable: {exc}\n")
        return []
    url = sqlalchemy_url(POSTGRES_ADMIN_URL, name)
    try:
        upgrade(url)
        return asyncio.run(_measure(url))
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
