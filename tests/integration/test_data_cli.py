"""`quant data import` / `export` as a user runs them: the real CLI process on a real database."""

from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from shared.store import create_engine
from shared.store.market_data import BarStore, TickStore
from tests.support.server import QUANT

pytestmark = pytest.mark.slow
SHANGHAI = timedelta(hours=8)


def _env(database_url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_")}
    env.update(QUANT_VAR_DIR=str(var_dir), QUANT_DATABASE_URL=database_url)
    return env


def _quant(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QUANT, *map(str, args)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _bars(url: str, exchange: str, symbol: str) -> pl.DataFrame:
    async def load() -> pl.DataFrame:
        engine = create_engine(url)
        try:
            return await BarStore(engine).load(exchange, symbol, "1m")
        finally:
            await engine.dispose()

    return asyncio.run(load())


@pytest.fixture
def sqlite_env(tmp_path: Path) -> tuple[str, dict[str, str]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/quant.db"
    return url, _env(url, tmp_path)


def _au1912_import_twice(url: str, env: dict[str, str], csv: Path, out: Path) -> None:
    expected = pl.read_csv(csv).height
    first = _quant(env, "data", "import", csv)
    assert first.returncode == 0, first.stderr
    assert f"read {expected}, written {expected}" in first.stdout
    # Not a terminal: the progress comes as plain lines on stderr, up to every row written.
    assert f"writing: {3 * expected}/{3 * expected} rows (100%)" in first.stderr
    again = _quant(env, "data", "import", csv)
    assert again.returncode == 0, again.stderr
    assert "written 0" in again.stdout
    stored = _bars(url, "SHFE", "au1912")
    assert stored.height == expected

    exported = _quant(env, "data", "export", "--symbol", "SHFE.au1912", "--out", out)
    assert exported.returncode == 0, exported.stderr
    assert pl.read_parquet(out).equals(stored)


def test_tq_bars_import_idempotently_and_round_trip(
    sqlite_env: tuple[str, dict[str, str]], shared_data: Path, tmp_path: Path
) -> None:
    url, env = sqlite_env
    csv = shared_data / "cn_futures/bar_1m/SHFE_au1912_1m.csv"
    _au1912_import_twice(url, env, csv, tmp_path / "au.parquet")
    # The file's first bar, its local start as the store's UTC start.
    first = pl.read_csv(csv).row(0, named=True)
    stored = _bars(url, "SHFE", "au1912").row(0, named=True)
    local = datetime.fromisoformat(first["datetime"])
    assert stored["start"] == local.replace(tzinfo=UTC) - SHANGHAI
    assert stored["volume"] == first["volume"]
    assert stored["open_interest"] == first["close_oi"]


def test_tq_bars_on_postgresql(postgres_url: str, shared_data: Path, tmp_path: Path) -> None:
    env = _env(postgres_url, tmp_path)
    csv = shared_data / "cn_futures/bar_1m/SHFE_au1912_1m.csv"
    _au1912_import_twice(postgres_url, env, csv, tmp_path / "au.parquet")


def test_ctpbee_end_labels_become_starts(
    sqlite_env: tuple[str, dict[str, str]], shared_data: Path
) -> None:
    url, env = sqlite_env
    csv = shared_data / "cn_futures/bar_1m/SHFE_rb2401_1m_ctpbee.csv"
    done = _quant(env, "data", "import", csv, "--time-label", "end")
    assert done.returncode == 0, done.stderr
    stored = _bars(url, "SHFE", "rb2401")
    raw = pl.read_csv(csv)
    # The session's last bar (labelled 15:00) starts at 14:59 local, with its own high and low.
    last = raw.filter(pl.col("datetime") == "2023-10-10 15:00:00").row(0, named=True)
    bar = stored.filter(pl.col("start") == datetime(2023, 10, 10, 6, 59, tzinfo=UTC))
    assert bar["high"].item() == last["high_price"]
    assert bar["low"].item() == last["low_price"]
    assert bar["trading_day"].item().isoformat() == "2023-10-10"
    # The 21:00 auction bar folds into the night's first bar, which belongs to the next day.
    auction, first = (
        raw.filter(pl.col("datetime") == f"2023-09-25 21:0{m}:00").row(0, named=True)
        for m in (0, 1)
    )
    night = stored.filter(pl.col("start") == datetime(2023, 9, 25, 13, 0, tzinfo=UTC))
    assert night["volume"].item() == auction["volume"] + first["volume"]
    assert night["trading_day"].item().isoformat() == "2023-09-26"
    assert stored.height + 5 == raw.height  # SOURCES.md: five auction bars (4 nights, 10-09)


def test_ctp_tick_file_imports_as_ticks(
    sqlite_env: tuple[str, dict[str, str]], shared_data: Path, tmp_path: Path
) -> None:
    url, env = sqlite_env
    csv = shared_data / "cn_futures/tick/CFFEX_IF2101_tick_20210104.csv"
    done = _quant(env, "data", "import", csv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ticks: ")
    out = tmp_path / "ticks.parquet"
    exported = _quant(
        env, "data", "export", "--kind", "ticks", "--symbol", "CFFEX.IF2101", "--out", out
    )
    assert exported.returncode == 0, exported.stderr
    ticks = pl.read_parquet(out)
    raw = pl.read_csv(csv, infer_schema_length=None)
    assert ticks.height == raw.unique(["UpdateTime", "UpdateMillisec"]).height
    assert ticks["ts"][0] == datetime(2021, 1, 4, 1, 29, 0, 400_000, tzinfo=UTC)
    assert ticks["last_price"][0] == raw["LastPrice"][0]

    async def count() -> int:
        engine = create_engine(url)
        try:
            coverage = await TickStore(engine).coverage("CFFEX", "IF2101")
        finally:
            await engine.dispose()
        return coverage.count if coverage else 0

    assert asyncio.run(count()) == ticks.height


@pytest.mark.parametrize(
    ("edit", "column"),
    [
        (lambda frame: frame.drop("low"), "`low`"),
        (
            lambda frame: frame.with_columns(
                pl.when(pl.int_range(pl.len()) == 7)
                .then(pl.lit("n/a"))
                .otherwise(pl.col("close"))
                .alias("close")
            ),
            "`close`",
        ),
        (  # refused by the store's checks, still named by the file's row
            lambda frame: frame.with_columns(
                pl.when(pl.int_range(pl.len()) == 7)
                .then(pl.lit("1"))
                .otherwise(pl.col("high"))
                .alias("high")
            ),
            "`high`, row 7",
        ),
    ],
)
def test_bad_files_are_refused_whole(
    sqlite_env: tuple[str, dict[str, str]],
    shared_data: Path,
    tmp_path: Path,
    edit: object,
    column: str,
) -> None:
    url, env = sqlite_env
    raw = pl.read_csv(shared_data / "cn_futures/bar_1m/SHFE_au1912_1m.csv", infer_schema_length=0)
    bad = tmp_path / "bad.csv"
    edit(raw.head(50)).write_csv(bad)  # type: ignore[operator]
    done = _quant(env, "data", "import", bad)
    assert done.returncode != 0
    assert column in done.stderr
    assert _bars(url, "SHFE", "au1912").height == 0
