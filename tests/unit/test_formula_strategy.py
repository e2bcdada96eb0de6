"""The `formula` strategy: entries and exits as indicator formulas, checked when resolved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from functions.backtest_settings import BacktestSettings, prepare
from functions.registry import RequestError
from shared.backtest import BacktestConfig, BarSeries, InstrumentTerms, run_vectorized
from shared.strategy import ParamError, expression_strategy, get_strategy
from tests.support.market_data import real_bars

RB = "cn_futures/bar_1m/SHFE_rb2002_1m.csv"
CONFIG = BacktestConfig(terms=InstrumentTerms(multiplier=10, price_tick=1, commission_rate=1e-4))


@pytest.fixture(scope="module")
def series(shared_data: Path) -> BarSeries:
    return BarSeries.from_frame(real_bars(shared_data, RB), "rb2002")


def test_a_crossover_written_as_formulas_trades_as_the_built_in(series: BarSeries) -> None:
    fast, slow = "sma(close, 7)", "sma(close, 25)"
    written = run_vectorized(
        get_strategy("formula"),
        {
            "long_entry": f"cross_above({fast}, {slow})",
            "short_entry": f"cross_below({fast}, {slow})",
        },
        series,
        CONFIG,
    )
    built_in = run_vectorized(
        get_strategy("sma_cross"), {"fast": 7, "slow": 25, "mode": "long_short"}, series, CONFIG
    )
    assert len(written.trades) == len(built_in.trades) > 50
    np.testing.assert_array_equal(written.trades.entry_bar, built_in.trades.entry_bar)
    np.testing.assert_allclose(written.equity, built_in.equity, rtol=1e-12)


def test_a_threshold_formula_holds_while_true(series: BarSeries) -> None:
    result = run_vectorized(
        get_strategy("formula"),
        {"long_entry": "rsi(close, 14) < 25", "long_exit": "rsi(close, 14) > 55"},
        series,
        CONFIG,
    )
    rsi = get_strategy("rsi_reversion")
    same = run_vectorized(
        rsi, {"period": 14, "lower": 25, "exit_level": 55, "upper": 90}, series, CONFIG
    )
    assert len(result.trades) == len(same.trades) > 5
    assert result.final_equity == pytest.approx(same.final_equity, rel=1e-12)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"long_entry": "sma(close, 0) > close"}, "long_entry"),
        ({"long_entry": "close >", "long_exit": "close < 1"}, "long_entry"),
        ({"long_entry": "close > 1", "short_exit": "import os"}, "short_exit"),
        ({"long_exit": "close > 1"}, "params"),  # no entry at all
        ({"long_entry": "x" * 2_001}, "long_entry"),
        ({"long_entry": 5}, "long_entry"),
    ],
)
def test_bad_formulas_are_refused_naming_the_side(params: dict[str, object], field: str) -> None:
    with pytest.raises(ParamError) as caught:
        get_strategy("formula").resolve(params)
    assert caught.value.field == field


def test_formulas_run_on_the_vectorized_engine_only() -> None:
    settings = BacktestSettings(
        strategy="formula", params={"long_entry": "close > open"}, engine="event"
    )
    with pytest.raises(RequestError) as caught:
        prepare(settings)
    assert caught.value.fields == ["engine"]
    bad = BacktestSettings(strategy="formula", params={"long_entry": "close >> open"})
    with pytest.raises(RequestError) as caught:
        prepare(bad)
    assert caught.value.fields == ["params.long_entry"]


def test_a_strategy_from_polars_expressions_trades_as_the_same_formula(series: BarSeries) -> None:
    fast = pl.col("close").rolling_mean(10)
    slow = pl.col("close").rolling_mean(30)
    from_expressions = expression_strategy("above", long_entry=fast > slow, long_exit=fast < slow)
    result = run_vectorized(from_expressions, {}, series, CONFIG)
    written = run_vectorized(
        get_strategy("formula"),
        {
            "long_entry": "sma(close, 10) > sma(close, 30)",
            "long_exit": "sma(close, 10) < sma(close, 30)",
        },
        series,
        CONFIG,
    )
    assert len(result.trades) == len(written.trades) > 10
    np.testing.assert_array_equal(result.trades.entry_bar, written.trades.entry_bar)
    with pytest.raises(ValueError, match="long_entry or short_entry"):
        expression_strategy("nothing", long_exit=fast < slow)
