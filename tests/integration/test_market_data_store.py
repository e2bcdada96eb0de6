"""BarStore on SQLite and PostgreSQL with real SHFE au1912 one-minute bars (TQ, Apache-2.0)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import func, select, text

from shared.domain import Exchange, Interval
from shared.store import _postgres_series, _sqlite_series, create_engine, session_factory
from shared.store._series_spec import BAR_SPEC, TICK_SPEC, SeriesSpec
from shared.store.market_data import BAR_COLUMNS, BarStore, Coverage, SeriesKey
from shared.store.tables import BarRow, Base, TickRow
from tests.support.market_data import AU1912, real_bars

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

CU1905_1M = "cn_futures/bar_1m/SHFE_cu1905_1m.csv"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def au1912(shared_data: Path) -> pl.DataFrame:
    return real_bars(shared_data)


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(BarRow))).one()[0])


def test_the_frame_agrees_with_the_files_local_times(shared_data: Path) -> None:
    raw = pl.read_csv(shared_data / AU1912, try_parse_dates=True)
    local_as_utc = raw["datetime"].dt.replace_time_zone("Asia/Shanghai").dt.convert_time_zone("UTC")
    frame = real_bars(shared_data)
    assert frame["start"].to_list() == local_as_utc.head(frame.height).to_list()
    # Friday 2019-04-12 21:00 Shanghai (a night bar) belongs to Monday 2019-04-15.
    friday_night = datetime(2019, 4, 12, 21, 0, tzinfo=SHANGHAI)
    row = frame.filter(pl.col("start") == friday_night.astimezone(UTC))
    assert row["trading_day"].to_list() == [date(2019, 4, 15)]


@pytest.mark.parametrize(("spec", "row"), [(BAR_SPEC, BarRow), (TICK_SPEC, TickRow)])
def test_the_bulk_specs_match_the_tables(spec: SeriesSpec, row: type[Base]) -> None:
    table = row.__table__
    assert [c.name for c in spec.columns] == [c.name for c in table.columns]
    assert [c.nullable for c in spec.columns] == [c.nullable for c in table.columns]
    assert [c.name for c in (*spec.key, spec.time)] == [c.name for c in table.primary_key]


async def test_real_bars_round_trip(store_engine: AsyncEngine, au1912: pl.DataFrame) -> None:
    store = BarStore(store_engine)
    assert await store.ingest(au1912.drop("turnover")) == au1912.height  # turnover defaults to 0
    loaded = await store.load(Exchange.SHFE, "au1912", Interval.M1)
    assert_frame_equal(loaded, au1912)
    assert await store.coverage("SHFE", "au1912", "1m") == Coverage(
        au1912["start"].min(), au1912["start"].max(), au1912.height
    )
    assert await store.symbols() == [SeriesKey(Exchange.SHFE, "au1912", Interval.M1)]
    assert await store.coverage("SHFE", "au1912", "5m") is None
    assert await store.has_symbol("SHFE", "au1912")
    assert not await store.has_symbol("SHFE", "au2012")


async def test_reingest_is_idempotent_and_changed_values_win(
    store_engine: AsyncEngine, au1912: pl.DataFrame
) -> None:
    store = BarStore(store_engine)
    await store.ingest(au1912)
    assert await store.ingest(au1912) == 0
    assert await _count(store_engine) == au1912.height
    every_seventh = pl.int_range(pl.len()) % 7 == 0
    changed = au1912.with_columns(
        turnover=pl.when(every_seventh)
        .then(pl.col("volume") * pl.col("close") * 1000)
        .otherwise(pl.col("turnover")),
        open_interest=pl.when(every_seventh)
        .then(pl.col("open_interest") + 1)
        .otherwise(pl.col("open_interest")),
    )
    expected_changes = au1912.height - changed.join(au1912, on=list(BAR_COLUMNS)).height
    assert await store.ingest(changed) == expected_changes
    assert await _count(store_engine) == au1912.height
    assert_frame_equal(await store.load("SHFE", "au1912", "1m"), changed)


@pytest.mark.parametrize("first_part", ["older half", "newer half"])
async def test_overlapping_and_backfilled_ingests(
    store_engine: AsyncEngine, au1912: pl.DataFrame, first_part: str
) -> None:
    # PostgreSQL appends rows after a series' last stored bar and upserts the others: first the
    # older half then all (append), or the newer half then all (backfill through the upsert).
    store = BarStore(store_engine)
    half = au1912.height // 2
    part = au1912.head(half) if first_part == "older half" else au1912.tail(au1912.height - half)
    assert await store.ingest(part) == part.height
    assert await store.ingest(au1912) == au1912.height - part.height
    assert_frame_equal(await store.load("SHFE", "au1912", "1m"), au1912)


async def test_small_batches_and_two_symbols_in_one_frame(
    store_engine: AsyncEngine,
    au1912: pl.DataFrame,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_postgres_series, "BATCH_ROWS", 4_000)
    monkeypatch.setattr(_sqlite_series, "BATCH_ROWS", 4_000)
    cu1905 = real_bars(shared_data, CU1905_1M)
    both = pl.concat([cu1905, au1912]).sample(fraction=1.0, shuffle=True, seed=7)
    store = BarStore(store_engine)
    assert await store.ingest(both) == both.height
    assert await store.symbols() == [
        SeriesKey(Exchange.SHFE, "au1912", Interval.M1),
        SeriesKey(Exchange.SHFE, "cu1905", Interval.M1),
    ]
    assert_frame_equal(await store.load("SHFE", "cu1905", "1m"), cu1905)
    assert_frame_equal(await store.load("SHFE", "au1912", "1m"), au1912)


async def test_progress_is_reported_batch_by_batch_and_the_write_stays_whole(
    store_engine: AsyncEngine, au1912: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_postgres_series, "BATCH_ROWS", 5_000)
    monkeypatch.setattr(_sqlite_series, "BATCH_ROWS", 5_000)
    store = BarStore(store_engine)
    half = au1912.height // 2
    await store.ingest(au1912.head(half))  # later rows are appended, earlier ones upserted
    sent: list[int] = []
    await store.ingest(au1912, sent.append)
    assert sent == sorted(sent)
    assert sent[-1] == au1912.height
    assert len(sent) >= au1912.height // 5_000  # several batches, each reported
    # A bad row anywhere is refused before the first batch goes out: nothing is sent.
    renamed = au1912.with_columns(pl.lit("au2001").alias("symbol"))
    broken = pl.concat(
        [
            renamed,
            renamed.tail(1).with_columns(pl.lit(-1, dtype=au1912["volume"].dtype).alias("volume")),
        ]
    )
    reported = len(sent)
    with pytest.raises(ValueError, match="volume"):
        await store.ingest(broken, sent.append)
    assert len(sent) == reported
    assert not await store.has_symbol("SHFE", "au2001")


async def test_range_and_limit(store_engine: AsyncEngine, au1912: pl.DataFrame) -> None:
    store = BarStore(store_engine)
    await store.ingest(au1912)
    # Bounds given in exchange time: the first night session of May, start inclusive, end not.
    start = datetime(2019, 5, 6, 21, 0, tzinfo=SHANGHAI)
    end = datetime(2019, 5, 7, 2, 30, tzinfo=SHANGHAI)
    in_range = au1912.filter(
        (pl.col("start") >= start.astimezone(UTC)) & (pl.col("start") < end.astimezone(UTC))
    )
    assert in_range.height == 330  # 21:00-02:30, every minute bar, ending before 02:30
    loaded = await store.load("SHFE", "au1912", "1m", start=start, end=end)
    assert_frame_equal(loaded, in_range)
    assert_frame_equal(
        await store.load("SHFE", "au1912", "1m", start=start.astimezone(UTC), end=end),
        in_range,
    )
    # A limit keeps the latest bars of the range (pooled reads below the threshold on
    # PostgreSQL, a dedicated connection above it).
    last_ten = await store.load("SHFE", "au1912", "1m", start=start, end=end, limit=10)
    assert_frame_equal(last_ten, in_range.tail(10))
    big_limit = _postgres_series.POOLED_READ_MAX_ROWS + 1
    assert_frame_equal(
        await store.load("SHFE", "au1912", "1m", limit=big_limit), au1912.tail(big_limit)
    )
    last_minute = (end - timedelta(minutes=1)).astimezone(UTC)
    only_start = await store.load("SHFE", "au1912", "1m", start=last_minute)
    assert_frame_equal(only_start, au1912.filter(pl.col("start") >= last_minute))
    empty = await store.load("SHFE", "au1912", "1m", start=end, end=end)
    assert empty.height == 0
    assert empty.schema == au1912.schema


async def test_load_refuses_naive_bounds_and_bad_limits(store_engine: AsyncEngine) -> None:
    store = BarStore(store_engine)
    with pytest.raises(ValueError, match="start"):
        await store.load("SHFE", "au1912", "1m", start=datetime(2019, 5, 6))  # noqa: DTZ001
    with pytest.raises(ValueError, match="limit"):
        await store.load("SHFE", "au1912", "1m", limit=0)
    with pytest.raises(ValueError, match="7m"):
        await store.load("SHFE", "au1912", "7m")


async def test_rows_are_shared_with_the_orm(
    store_engine: AsyncEngine, au1912: pl.DataFrame
) -> None:
    store = BarStore(store_engine)
    await store.ingest(au1912.head(3))
    async with session_factory(store_engine)() as session:
        rows = (await session.scalars(select(BarRow).order_by(BarRow.start))).all()
        assert [row.start for row in rows] == au1912.head(3)["start"].to_list()
        assert rows[0].start.tzinfo is not None
        assert [row.close for row in rows] == au1912.head(3)["close"].to_list()
        written_by_orm = BarRow(**{**au1912.row(3, named=True), "exchange": Exchange.SHFE})
        session.add(written_by_orm)
        await session.commit()
    assert_frame_equal(await store.load("SHFE", "au1912", "1m"), au1912.head(4))


@pytest.fixture
async def postgres_engine(store_postgres_database: str) -> AsyncIterator[AsyncEngine]:
    """PostgreSQL only: SQLite has one writer at a time by design."""
    engine = create_engine(store_postgres_database, pool_size=2)
    yield engine
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE bars"))
    await engine.dispose()


@pytest.mark.postgres
async def test_concurrent_overlapping_ingests_of_one_series(
    postgres_engine: AsyncEngine, au1912: pl.DataFrame
) -> None:
    store = BarStore(postgres_engine)
    cut = au1912.height * 2 // 5
    older, newer = au1912.head(au1912.height - cut), au1912.tail(au1912.height - cut)
    written = await asyncio.gather(store.ingest(older), store.ingest(newer))
    # Whichever went second found the overlap stored and rewrote none of it.
    assert sum(written) == au1912.height
    assert_frame_equal(await store.load("SHFE", "au1912", "1m"), au1912)
