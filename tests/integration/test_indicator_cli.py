"""`quant indicators compute` on real bar files, as a user runs it: CSV or Parquet in, JSON or
CSV out, header names in any case, and errors as one line naming what to fix."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib

from tests.support.server import QUANT

RB2002 = "cn_futures/bar_1m/SHFE_rb2002_1m.csv"


def _quant(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QUANT, "indicators", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _values(column: list[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in column], dtype=np.float64)


def test_json_from_a_tq_csv_equals_talib(shared_data: Path) -> None:
    path = shared_data / RB2002
    done = _quant(
        "compute", "--data", str(path), "--indicator", "rsi:timeperiod=9",
        "--indicator", "macd:fastperiod=5,slowperiod=35,id=slow",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    close = pl.read_csv(path)["close"].cast(pl.Float64).to_numpy()
    assert len(answer["ts"]) == len(close)
    np.testing.assert_array_equal(_values(answer["columns"]["rsi_9"]), talib.RSI(close, 9))
    _, signal, _ = talib.MACD(close, 5, 35, 9)
    np.testing.assert_array_equal(_values(answer["columns"]["slow.macdsignal"]), signal)
    # File times are Shanghai wall clock; the answer is in UTC.
    assert answer["ts"][0] == "2019-10-24T13:06:00Z"


def test_csv_out_of_a_parquet_file_with_other_header_names(
    shared_data: Path, tmp_path: Path
) -> None:
    raw = pl.read_csv(shared_data / RB2002).head(500)
    renamed = raw.select(
        pl.col("datetime").alias("Date"),
        pl.col("open").alias("Open"),
        pl.col("high").alias("HIGH"),
        pl.col("low").alias("Low"),
        pl.col("close").alias("Close"),
        pl.col("volume").alias("Volume"),
        pl.col("close_oi").alias("OpenInterest"),
    )
    path = tmp_path / "bars.parquet"
    renamed.write_parquet(path)
    out = tmp_path / "out.csv"
    done = _quant(
        "compute", "--data", str(path), "--indicator", "atr:timeperiod=14",
        "--indicator", "obv", "--format", "csv", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pl.read_csv(out)
    assert table.columns == ["ts", "atr_14", "obv"]
    high, low, close = (renamed[c].cast(pl.Float64).to_numpy() for c in ("HIGH", "Low", "Close"))
    expected = talib.ATR(high, low, close, 14)
    np.testing.assert_allclose(table["atr_14"].to_numpy(), expected, rtol=1e-12, equal_nan=True)
    assert table["atr_14"].null_count() == 14  # the warm-up is empty cells, not numbers


@pytest.mark.parametrize(
    ("indicator", "message"),
    [
        ("smaa", "no indicator 'smaa'; did you mean sma"),
        ("sma:timeperiod=0", "must be in 1..100000, got 0 (indicators[0].params.timeperiod)"),
        ("sma:period=5", "sma has no parameter 'period'"),
        ("sma:timeperiod", "write NAME:param=value"),
        ("sma:timeperiod=five", "timeperiod must be a number"),
    ],
)
def test_a_bad_indicator_is_one_line_naming_it(
    shared_data: Path, indicator: str, message: str
) -> None:
    done = _quant("compute", "--data", str(shared_data / RB2002), "--indicator", indicator)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_without_prices_is_refused_by_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("datetime,price\n2024-01-02 09:00:00,1\n")
    done = _quant("compute", "--data", str(path), "--indicator", "sma")
    assert done.returncode == 1
    assert "column `open`: missing from the file" in done.stderr


def test_the_catalogue_lists_every_indicator() -> None:
    done = _quant("list", "--group", "Overlap Studies")
    assert done.returncode == 0, done.stderr
    names = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert {"sma", "bbands", "supertrend"} <= set(names)
    assert all(line.split("\t")[1] == "Overlap Studies" for line in done.stdout.splitlines())


def test_a_formula_beside_an_indicator(shared_data: Path) -> None:
    path = shared_data / RB2002
    done = _quant(
        "compute", "--data", str(path), "--indicator", "ema:timeperiod=12",
        "--formula", "spread=ema(close, 12) - ema(close, 26)",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    columns = json.loads(done.stdout)["columns"]
    close = pl.read_csv(path)["close"].cast(pl.Float64).to_numpy()
    np.testing.assert_allclose(
        _values(columns["spread"]),
        talib.EMA(close, 12) - talib.EMA(close, 26),
        rtol=1e-12,
        equal_nan=True,
    )
    wrong = _quant("compute", "--data", str(path), "--formula", "x=close +")
    assert wrong.returncode == 1
    assert "syntax error" in wrong.stderr
    assert "(indicators[0].formula)" in wrong.stderr
