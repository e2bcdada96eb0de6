"""A validated `BarSeries` spares each run the analytics' passes over values it already
passed; the metrics must be the very ones the checking path computes, and anything the
engine cannot vouch for must still be checked."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from shared.analytics import (
    AnalyticsError,
    EquitySeries,
    Settings,
    TradeTable,
    compute_metrics_arrays,
)
from shared.backtest import BacktestConfig, BarSeries, InstrumentTerms, SizeRule, run_vectorized
from shared.strategy import get_strategy
from tests.support.bars_builder import series

SMA_CROSS = get_strategy("sma_cross")
CONFIG = BacktestConfig(
    cash=1_000_000.0,
    size=SizeRule(mode="equity", value=1.0),
    terms=InstrumentTerms(multiplier=10.0, margin_rate=0.1, commission_rate=0.0001),
)


def _walk(count: int = 20_000, seed: int = 5) -> BarSeries:
    rng = np.random.default_rng(seed)
    close = 4_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, count)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    return BarSeries(
        symbol="rb",
        ts_ns=1_700_000_000_000_000_000 + np.arange(count, dtype=np.int64) * 60_000_000_000,
        trading_days=(19_700 + np.arange(count) // 225).astype(np.int32),
        open=open_,
        high=np.maximum(open_, close) * 1.0005,
        low=np.minimum(open_, close) * 0.9995,
        close=close,
        volume=np.ones(count),
        open_interest=np.zeros(count),
    )


def _copy(series: BarSeries) -> BarSeries:
    """The same bars in a series that was never validated."""
    fields = {f.name: getattr(series, f.name) for f in dataclasses.fields(series) if f.init}
    return BarSeries(**fields)


def test_validate_marks_a_series_checked_and_its_slices_inherit_it() -> None:
    series = _walk(1_000)
    assert not series.checked
    assert not series.slice(0, 10).checked
    series.validate()
    assert series.checked
    assert series.slice(100, 200).checked
    assert not _copy(series).checked


def test_a_series_that_fails_validation_stays_unchecked() -> None:
    series = _walk(1_000)
    series.close[500] = -1.0
    with pytest.raises(ValueError, match="close"):
        series.validate()
    assert not series.checked


@pytest.mark.parametrize("params", [
    {"fast": 10, "slow": 30, "mode": "long_only"},
    {"fast": 5, "slow": 60, "mode": "long_short"},
])  # fmt: skip
def test_checked_and_unchecked_series_give_the_same_metrics(params: dict[str, object]) -> None:
    checked = _walk()
    checked.validate()
    fast = run_vectorized(SMA_CROSS, params, checked, CONFIG)
    slow = run_vectorized(SMA_CROSS, params, _copy(checked), CONFIG)
    assert fast.metrics.trades.count > 50
    assert fast.metrics == slow.metrics
    np.testing.assert_array_equal(fast.equity, slow.equity)


def test_a_blown_account_is_checked_in_full_and_reported_alike() -> None:
    """Equity at or below the floor goes down the checking path, validated or not: a long at
    ten times leverage through a 60% fall."""
    closes = [110.0, 108, 106, 104, 102, 100, 102, 104, 106, 108, 110, 44, 43, 42, 41, 40, 40]
    checked = series(closes, closes)
    reckless = BacktestConfig(
        cash=50_000.0,
        size=SizeRule(mode="equity", value=1.0),
        terms=InstrumentTerms(multiplier=10.0, margin_rate=0.1),
    )
    params = {"fast": 2, "slow": 3, "mode": "long_only"}
    fast = run_vectorized(SMA_CROSS, params, checked, reckless)
    slow = run_vectorized(SMA_CROSS, params, _copy(checked), reckless)
    assert checked.checked
    assert float(np.min(fast.equity)) <= reckless.cash * 1e-6
    assert fast.metrics == slow.metrics
    assert fast.metrics.max_drawdown is not None


def test_unvalidated_bars_are_still_refused_by_the_analytics() -> None:
    """Bars never validated (built by hand, out of order) still meet the analytics' checks."""
    series = _walk(2_000)
    series.ts_ns[1_000] = series.ts_ns[999]
    with pytest.raises(AnalyticsError, match="timestamps"):
        run_vectorized(SMA_CROSS, {"fast": 10, "slow": 30, "mode": "long_only"}, series, CONFIG)


def test_vouched_values_still_have_their_shapes_checked() -> None:
    curve = EquitySeries(
        timestamps=np.arange(3, dtype=np.int64),
        equity=np.ones(2),
        trading_days=np.zeros(3, dtype=np.int32),
    )
    with pytest.raises(AnalyticsError, match="equity"):
        compute_metrics_arrays(
            curve, TradeTable.from_trades([]), Settings(starting_cash=1.0), values_checked=True
        )


def test_an_overflowing_curve_is_refused_as_before() -> None:
    """Equity past the float range on validated bars: the run's own check of its curve sends
    it to the analytics, which refuse it naming the equity."""
    closes = [100.0, 98, 96, 94, 96, 98, 100, 150, 200, 250, 260, 270]
    checked = series(closes, closes)
    huge = BacktestConfig(
        cash=1e308,
        size=SizeRule(mode="units", value=1.0),
        terms=InstrumentTerms(multiplier=1e306),
    )
    params = {"fast": 2, "slow": 3, "mode": "long_only"}
    for bars in (checked, _copy(checked)):
        with pytest.raises(AnalyticsError, match="`equity` must be finite and > 0"):
            run_vectorized(SMA_CROSS, params, bars, huge)
