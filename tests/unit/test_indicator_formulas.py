"""User formulas: parsed, never run as Python; compiled to polars expressions whose values
equal the same arithmetic done on TA-Lib's outputs, on real bars; every refusal says where."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib

from shared.indicators._formula import FormulaError, compile_formula, evaluate


@pytest.fixture(scope="module")
def bars(shared_data: Path) -> pl.DataFrame:
    raw = pl.read_csv(shared_data / "cn_futures/bar_1m/SHFE_rb2002_1m.csv")
    return raw.select(
        pl.col("open", "high", "low", "close", "volume").cast(pl.Float64),
        pl.col("close_oi").cast(pl.Float64).alias("open_interest"),
    )


def _np(bars: pl.DataFrame, name: str) -> np.ndarray:
    return bars[name].to_numpy()


def test_the_issues_examples_equal_the_arithmetic_on_talib(bars: pl.DataFrame) -> None:
    close, high, low = _np(bars, "close"), _np(bars, "high"), _np(bars, "low")
    np.testing.assert_allclose(
        evaluate("ema(close, 12) - ema(close, 26)", bars),
        talib.EMA(close, 12) - talib.EMA(close, 26),
        rtol=1e-12,
        equal_nan=True,
    )
    lowest, highest = talib.MIN(low, 9), talib.MAX(high, 9)
    with np.errstate(invalid="ignore", divide="ignore"):
        stochastic = (close - lowest) / (highest - lowest)
    got = evaluate("(close - lowest(low, 9)) / (highest(high, 9) - lowest(low, 9))", bars)
    defined = np.isfinite(stochastic)
    np.testing.assert_allclose(got[defined], stochastic[defined], rtol=1e-12)
    assert np.isnan(got[:8]).all()  # undefined until 9 bars exist

    sma = talib.SMA(close, 20)
    crosses = evaluate("cross_above(close, sma(close, 20))", bars)
    expected = (close[1:] > sma[1:]) & (close[:-1] <= sma[:-1])
    assert np.isnan(crosses[:20]).all()  # no cross can be told before both sides exist
    np.testing.assert_array_equal(crosses[20:], expected[19:].astype(float))
    assert 50 < np.nansum(crosses) < len(close) / 10  # it crosses, now and then


def test_outputs_keywords_helpers_and_logic(bars: pl.DataFrame) -> None:
    close = _np(bars, "close")
    _, signal, _ = talib.MACD(close, 5, 35, 9)
    np.testing.assert_array_equal(
        evaluate("macd(close, fastperiod=5, slowperiod=35).macdsignal", bars), signal
    )
    rsi = talib.RSI(close, 14)
    flags = evaluate("if_else(rsi(close, 14) > 70 and close > ref(close, 1), 1, -1)", bars)
    previous = np.concatenate([[np.nan], close[:-1]])
    want = np.where((rsi > 70) & (close > previous), 1.0, -1.0)
    np.testing.assert_array_equal(flags[20:], want[20:])
    np.testing.assert_allclose(
        evaluate("sqrt(abs(close - open)) + max(high - low, 0) ** 2 - -1", bars),
        np.sqrt(np.abs(close - _np(bars, "open")))
        + np.maximum(_np(bars, "high") - _np(bars, "low"), 0) ** 2
        + 1,
        rtol=1e-12,
    )
    oi = _np(bars, "open_interest")
    np.testing.assert_array_equal(evaluate("not (open_interest > ref(open_interest, 1))", bars)[1:],
                                  (~(oi[1:] > oi[:-1])).astype(float))  # fmt: skip


@pytest.mark.parametrize(
    ("formula", "column", "message"),
    [
        ("ema(close, 12) - ", 17, "syntax error"),
        ('__import__("os").system("true")', 1, "only named functions can be called"),
        ("open.__class__", 1, "Attribute is not part of the formula language"),
        ("foo(close)", 1, "no indicator 'foo'"),
        ("ema(close, 0)", 1, "`timeperiod` must be in 1..100000"),
        ("close + ema(high, 3, 4)", 9, "takes 1 parameter(s)"),
        ("macd(close)", 1, "pick one with .name"),
        ("macd(close).signal", 1, "no output 'signal'"),
        ("sma()", 1, "needs 1 input series first: price"),
        ("close * x", 9, "unknown name 'x'"),
        ("1 if close else 2", 1, "IfExp is not part of the formula language"),
        ("lambda: 1", 1, "Lambda is not part of the formula language"),
        ("[close]", 1, "List is not part of the formula language"),
        ("close + 'a'", 9, "only numbers may be written as constants"),
        ("highest(close, 2.5)", 16, "whole number of bars"),
        ("ema(close, timeperiod=close)", 23, "parameters must be numbers"),
        ("close\n+ 1", 6, "one line"),
        ("", 1, "empty"),
        ("close" + " + close" * 150, 1, "more than 400 parts"),
    ],
)
def test_refusals_name_the_problem_and_where(formula: str, column: int, message: str) -> None:
    with pytest.raises(FormulaError) as caught:
        compile_formula(formula)
    assert message in caught.value.reason
    assert caught.value.column == column
