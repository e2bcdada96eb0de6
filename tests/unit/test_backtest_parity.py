"""Both forms of every built-in strategy take the same decisions on real bars: the vectorized
engine and the event-driven engine (fills through the paper exchange) agree on every trade and
on the equity at every bar, under each fill, sizing and charging convention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.backtest import (
    BacktestConfig,
    BacktestResult,
    BarSeries,
    InstrumentTerms,
    SizeRule,
    run_event_driven,
    run_vectorized,
)
from shared.strategy import get_strategy, strategies
from tests.support.market_data import real_bars

RB = "cn_futures/bar_1m/SHFE_rb2002_1m.csv"
CU = "cn_futures/bar_1m/SHFE_cu1905_1m.csv"
# rb: 10 t per lot, tick 1 CNY; turnover commission with a dearer close-today rate.
RB_TERMS = InstrumentTerms(
    multiplier=10,
    price_tick=1,
    margin_rate=0.1,
    commission_rate=1e-4,
    close_today_rate=2e-4,
    slippage_ticks=1,
)
# cu: 5 t per lot, tick 10 CNY; per-lot commission.
CU_TERMS = InstrumentTerms(
    multiplier=5, price_tick=10, margin_rate=0.12, commission_per_unit=3.0, slippage_ticks=0
)

CASES = [
    ("sma_cross", {"fast": 10, "slow": 30, "mode": "long_only"}),
    ("sma_cross", {"fast": 5, "slow": 60, "mode": "long_short"}),
    ("donchian_breakout", {"period": 30, "exit_period": 10, "mode": "long_short"}),
    ("rsi_reversion", {"period": 14, "mode": "long_short"}),
    ("dual_thrust", {"lookback": 3, "k1": 0.4, "k2": 0.6}),
    ("dual_thrust", {"mode": "long_only", "flat_at_day_end": False}),
]


@pytest.fixture(scope="module")
def series(shared_data: Path) -> dict[str, BarSeries]:
    return {
        "rb": BarSeries.from_frame(real_bars(shared_data, RB), "rb2002"),
        "cu": BarSeries.from_frame(real_bars(shared_data, CU), "cu1905"),
    }


def assert_same(vectorized: BacktestResult, event: BacktestResult) -> None:
    assert len(vectorized.trades) == len(event.trades)
    v, e = vectorized.trades, event.trades
    np.testing.assert_array_equal(v.entry_bar, e.entry_bar)
    np.testing.assert_array_equal(v.exit_bar, e.exit_bar)
    np.testing.assert_array_equal(v.table.side, e.table.side)
    np.testing.assert_array_equal(v.table.size, e.table.size)
    np.testing.assert_allclose(v.table.entry_price, e.table.entry_price, rtol=1e-12)
    np.testing.assert_allclose(v.table.exit_price, e.table.exit_price, rtol=1e-12)
    np.testing.assert_allclose(v.table.pnl, e.table.pnl, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(vectorized.equity, event.equity, rtol=1e-10)
    np.testing.assert_array_equal(vectorized.positions, event.positions)
    assert vectorized.metrics.sharpe == pytest.approx(event.metrics.sharpe, rel=1e-9)


def test_every_built_in_has_both_forms() -> None:
    for definition in strategies():
        assert definition.signals is not None
        # `formula` alone is vectorized only: formulas have no bar-by-bar form.
        assert (definition.event_class is None) == (definition.name == "formula")


@pytest.mark.parametrize(("name", "params"), CASES)
@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("size", ["units:2", "equity:0.5"])
@pytest.mark.parametrize("symbol", ["rb", "cu"])
def test_vectorized_and_event_driven_agree(
    series: dict[str, BarSeries],
    name: str,
    params: dict[str, object],
    fill: str,
    size: str,
    symbol: str,
) -> None:
    config = BacktestConfig(
        cash=1_000_000.0,
        fill="close" if fill == "close" else "next_open",
        size=SizeRule.parse(size),
        terms=RB_TERMS if symbol == "rb" else CU_TERMS,
    )
    definition = get_strategy(name)
    assert definition.event_class is not None
    vectorized = run_vectorized(definition, params, series[symbol], config)
    event = run_event_driven(definition.event_class(params), series[symbol], config)
    assert len(vectorized.trades) > 0  # the case exercises trading, not an idle account
    assert_same(vectorized, event)


def test_portfolio_of_two_series_agrees(series: dict[str, BarSeries]) -> None:
    """Two symbols sharing one account (equity sizing splits the same equity)."""
    config = BacktestConfig(cash=2_000_000.0, size=SizeRule(mode="equity", value=0.3))
    definition = get_strategy("sma_cross")
    assert definition.event_class is not None
    params = {"fast": 8, "slow": 40, "mode": "long_short"}
    items = [series["rb"], series["cu"]]
    terms = [RB_TERMS, CU_TERMS]
    vectorized = run_vectorized(definition, params, items, config, terms)
    event_class = definition.event_class
    event = run_event_driven(lambda: event_class(params), items, config, terms)
    assert set(vectorized.trades.symbol.tolist()) == {0, 1}
    assert_same(vectorized, event)


@pytest.mark.parametrize("slippage", [0, 2])
def test_bars_off_the_instruments_tick_grid_fill_at_prices_that_traded(
    shared_data: Path, slippage: int
) -> None:
    """au1912 traded in 0.05 steps in 2019; today's contract tick is 0.02. Both engines fill at
    the bar's price (slipped by the contract's ticks), never at a grid point nobody traded."""
    au = BarSeries.from_frame(real_bars(shared_data), "au1912")
    assert not np.allclose(au.open / 0.02, np.round(au.open / 0.02))  # the case is real
    terms = InstrumentTerms(
        multiplier=1000, price_tick=0.02, margin_rate=0.09, commission_per_unit=10.0,
        slippage_ticks=slippage,
    )  # fmt: skip
    config = BacktestConfig(cash=1_000_000.0, terms=terms)
    definition = get_strategy("sma_cross")
    assert definition.event_class is not None
    params = {"fast": 10, "slow": 30, "mode": "long_short"}
    vectorized = run_vectorized(definition, params, au, config)
    event = run_event_driven(definition.event_class(params), au, config)
    assert len(vectorized.trades) > 10
    assert_same(vectorized, event)
    entries = vectorized.trades.table.entry_price
    sides = vectorized.trades.table.side
    fills = au.open[vectorized.trades.entry_bar] + sides * slippage * 0.02
    np.testing.assert_allclose(entries, fills, rtol=1e-12)
