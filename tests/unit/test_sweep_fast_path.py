"""The sweep's fused path (`SeriesSweep`, used by `evaluate_chunk` on one series) against the
full engine: the same `Metrics` as `run_vectorized(..., max_drawdowns=0)` for every built-in
strategy, fill mode, sizing and charges, on real minute bars and on synthetic ones (a bankrupt
run, a run without trades, a run the analytics refuse), and the same evaluations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from shared.analytics import Metrics
from shared.backtest import (
    BacktestConfig,
    BarSeries,
    InstrumentTerms,
    SizeRule,
    run_vectorized,
)
from shared.backtest._summary_kernel import SeriesSweep
from shared.optimize import Evaluation, evaluate_chunk, evaluate_one
from shared.strategy import SignalData, StrategyDefinition, get_strategy, strategies
from tests.support.bars_builder import series as hand_series
from tests.support.market_data import real_bars

RB2002 = "cn_futures/bar_1m/SHFE_rb2002_1m.csv"

# Several parameter sets per built-in, the defaults among them.
PARAMS: dict[str, list[dict[str, Any]]] = {
    "sma_cross": [
        {},
        {"fast": 3, "slow": 40, "mode": "long_short"},
        {"fast": 2, "slow": 5},
    ],
    "donchian_breakout": [
        {},
        {"period": 50, "exit_period": 20, "mode": "long_short"},
        {"period": 5, "exit_period": 5},
    ],
    "rsi_reversion": [
        {},
        {"period": 7, "lower": 25.0, "upper": 75.0, "exit_level": 50.0, "mode": "long_short"},
        {"period": 21, "lower": 45.0, "upper": 55.0, "exit_level": 50.0},
    ],
    "dual_thrust": [
        {},
        {"lookback": 2, "k1": 0.3, "k2": 0.7, "mode": "long_only"},
        {"lookback": 8, "k1": 1.0, "k2": 0.2, "flat_at_day_end": False},
    ],
    "formula": [
        {
            "long_entry": "cross_above(sma(close, 5), sma(close, 20))",
            "long_exit": "cross_below(sma(close, 5), sma(close, 20))",
        },
        {
            "long_entry": "cross_above(ema(close, 12), ema(close, 26))",
            "short_entry": "cross_below(ema(close, 12), ema(close, 26))",
        },
    ],
}

FUTURES = InstrumentTerms(
    multiplier=10.0,
    price_tick=1.0,
    margin_rate=0.1,
    commission_rate=1e-4,
    close_today_rate=3e-4,
    slippage_ticks=1.0,
)
# Fill, sizing and charges in several combinations (rb2002 trades near 3,500 a tonne, 10 a lot).
CONFIGS = {
    "next_open units": BacktestConfig(
        cash=1e6, size=SizeRule(mode="units", value=2), terms=FUTURES
    ),
    "close equity": BacktestConfig(
        cash=1e6,
        fill="close",
        size=SizeRule(mode="equity", value=0.8),
        terms=InstrumentTerms(
            multiplier=10.0,
            price_tick=1.0,
            margin_rate=0.12,
            commission_per_unit=2.0,
            close_today_per_unit=5.0,
            slippage_ticks=2.0,
        ),
        risk_free_rate=0.02,
    ),
    "next_open equity": BacktestConfig(
        cash=5e5, size=SizeRule(mode="equity", value=0.95), terms=FUTURES
    ),
    "close cash instrument": BacktestConfig(
        cash=1e5,
        fill="close",
        size=SizeRule(mode="units", value=1),
        terms=InstrumentTerms(commission_rate=2e-4, close_today_rate=0.0),
        periods_per_year=244,
    ),
}


@pytest.fixture(scope="module")
def rb2002(shared_data: Path) -> BarSeries:
    return BarSeries.from_frame(real_bars(shared_data, RB2002), "rb2002")


def synthetic(
    close: np.ndarray, *, seed: int = 0, per_day: int = 240, symbol: str = "X"
) -> BarSeries:
    """Minute bars around the given closes (open = previous close), `per_day` bars a day."""
    rng = np.random.default_rng(seed)
    count = close.size
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0.0, 0.0005, count)) * close
    start = np.datetime64("2020-01-02T01:00", "ns").astype(np.int64)
    return BarSeries(
        symbol=symbol,
        ts_ns=start + np.arange(count, dtype=np.int64) * 60_000_000_000,
        trading_days=(18_263 + np.arange(count) // per_day).astype(np.int32),
        open=open_,
        high=np.maximum(open_, close) + spread,
        low=np.minimum(open_, close) - spread,
        close=close,
        volume=np.ones(count),
        open_interest=np.zeros(count),
    )


def random_walk(count: int, seed: int, start: float = 3500.0, step: float = 0.002) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asarray(start * np.exp(np.cumsum(rng.normal(0.0, step, count))))


# --- comparison ----------------------------------------------------------------------------


def _assert_equal(fused: object, full: object, path: str = "metrics") -> None:
    """Field by field: floats to 1e-9 relative, everything else (ints, times, None) exactly."""
    if isinstance(full, msgspec.Struct):
        assert type(fused) is type(full), path
        for name in full.__struct_fields__:
            _assert_equal(getattr(fused, name), getattr(full, name), f"{path}.{name}")
    elif isinstance(full, float) and not isinstance(full, bool):
        assert isinstance(fused, float), path
        assert fused == pytest.approx(full, rel=1e-9, abs=1e-12), path
    elif isinstance(full, tuple):
        assert isinstance(fused, tuple), path
        assert len(fused) == len(full), path
        for k, (a, b) in enumerate(zip(fused, full, strict=True)):
            _assert_equal(a, b, f"{path}[{k}]")
    else:
        assert isinstance(full, int | bool | datetime | date | timedelta | None), path
        assert type(fused) is type(full), path
        assert fused == full, path


def fused_metrics(
    definition: StrategyDefinition,
    params: Mapping[str, Any],
    series: BarSeries,
    config: BacktestConfig,
) -> Metrics | None:
    assert definition.signals is not None
    data = SignalData(series.columns(), series.trading_days)
    signals = definition.signals(data, definition.resolve(params))
    return SeriesSweep(series, config).metrics(signals)


def assert_same_metrics(
    definition: StrategyDefinition,
    params: Mapping[str, Any],
    series: BarSeries,
    config: BacktestConfig,
) -> Metrics:
    full = run_vectorized(definition, params, series, config, max_drawdowns=0).metrics
    fused = fused_metrics(definition, params, series, config)
    assert fused is not None
    assert full.drawdowns == ()
    _assert_equal(fused, full)
    return full


def _assert_same_evaluations(fused: list[Evaluation], full: list[Evaluation]) -> None:
    assert len(fused) == len(full)
    for a, b in zip(fused, full, strict=True):
        assert a.params == b.params
        assert a.error == b.error
        assert (a.objective is None) == (b.objective is None)
        if b.objective is not None:
            assert a.objective == pytest.approx(b.objective, rel=1e-9, abs=1e-12)
        assert a.metrics.keys() == b.metrics.keys()
        for name, value in b.metrics.items():
            if value is None:
                assert a.metrics[name] is None, name
            else:
                assert a.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def _full_path(
    definition: StrategyDefinition,
    params_list: list[dict[str, Any]],
    series: BarSeries,
    config: BacktestConfig,
    objective: str,
) -> list[Evaluation]:
    data = [SignalData(series.columns(), series.trading_days)]
    return [
        evaluate_one(definition, params, series, config, objective, signal_data=data)
        for params in params_list
    ]


# --- tests ---------------------------------------------------------------------------------


def test_every_built_in_has_parameter_sets() -> None:
    assert {d.name for d in strategies() if d.signals is not None} <= set(PARAMS)


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("name", list(PARAMS))
def test_fused_metrics_equal_the_engine_on_real_bars(
    rb2002: BarSeries, name: str, config_name: str
) -> None:
    if name not in {d.name for d in strategies()}:
        pytest.skip(f"{name} is not a built-in here")
    definition = get_strategy(name)
    traded = 0
    for params in PARAMS[name]:
        traded += assert_same_metrics(definition, params, rb2002, CONFIGS[config_name]).trades.count
    assert traded > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_fused_metrics_equal_the_engine_on_random_walks(seed: int, config_name: str) -> None:
    # Short days (60 bars) and a few thousand bars: many days, drawdowns across days.
    series = synthetic(random_walk(3_000, seed), seed=seed, per_day=60)
    for definition in strategies():
        if definition.signals is None or definition.name not in PARAMS:
            continue
        for params in PARAMS[definition.name]:
            assert_same_metrics(definition, params, series, CONFIGS[config_name])


def _crash() -> BarSeries:
    """A dip and a rise (the averages cross up), a gap down to a tenth, then a slow drift."""
    dip = np.linspace(110.0, 100.0, 50)
    rise = np.linspace(100.0, 120.0, 150)
    fall = np.full(400, 12.0) + np.sin(np.arange(400) / 7.0)
    return synthetic(np.concatenate((dip, rise, fall)), seed=5, per_day=50)


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_a_bankrupt_run_is_floored_as_the_engine_floors_it(fill: str) -> None:
    series = _crash()
    config = BacktestConfig(
        cash=10_000.0,
        fill="close" if fill == "close" else "next_open",
        size=SizeRule(mode="units", value=50),
        terms=InstrumentTerms(multiplier=10.0, margin_rate=0.1, commission_rate=1e-4),
    )
    sma = get_strategy("sma_cross")
    for params in ({"fast": 2, "slow": 5}, {"fast": 3, "slow": 8, "mode": "long_short"}):
        result = run_vectorized(sma, params, series, config, max_drawdowns=0)
        assert float(result.equity.min()) <= config.cash * 1e-6  # the floor was used
        metrics = assert_same_metrics(sma, params, series, config)
        assert metrics.max_drawdown_pct > 0.99


def test_a_run_without_trades() -> None:
    series = synthetic(random_walk(500, 9), seed=9, per_day=100)
    config = CONFIGS["close equity"]
    sma = get_strategy("sma_cross")
    metrics = assert_same_metrics(sma, {"fast": 10, "slow": 600}, series, config)
    assert metrics.trades.count == 0
    assert metrics.drawdown_count == 0
    assert metrics.exposure == 0.0


def test_a_run_left_open_and_a_one_day_series() -> None:
    # One trading day: every daily ratio is undefined; the last position never closes.
    series = synthetic(random_walk(200, 4), seed=4, per_day=1_000)
    sma = get_strategy("sma_cross")
    for config in CONFIGS.values():
        for params in ({"fast": 2, "slow": 5}, {"fast": 20, "slow": 150, "mode": "long_short"}):
            assert_same_metrics(sma, params, series, config)


def test_a_run_the_analytics_refuse_goes_to_the_full_path() -> None:
    # Prices near 1 with 5 ticks of slippage: a long's exit price is negative.
    series = synthetic(random_walk(400, 6, start=1.5, step=0.01), seed=6, per_day=40)
    config = BacktestConfig(
        cash=1e4,
        fill="close",
        terms=InstrumentTerms(price_tick=1.0, slippage_ticks=5.0),
    )
    sma = get_strategy("sma_cross")
    params = [{"fast": 2, "slow": 5}]
    assert fused_metrics(sma, params[0], series, config) is None
    evaluations = evaluate_chunk(sma, params, series, config, "sharpe")
    assert evaluations[0].error is not None
    _assert_same_evaluations(evaluations, _full_path(sma, params, series, config, "sharpe"))


@pytest.mark.parametrize("config_name", ["next_open units", "close equity"])
def test_evaluate_chunk_equals_the_per_run_path(rb2002: BarSeries, config_name: str) -> None:
    config = CONFIGS[config_name]
    for definition in strategies():
        if definition.signals is None or definition.name not in PARAMS:
            continue
        chunk = [*PARAMS[definition.name], {"no_such_param": 1}]
        for objective in ("sharpe", "max_drawdown_pct", "trades.win_rate"):
            fused = evaluate_chunk(definition, chunk, rb2002, config, objective)
            _assert_same_evaluations(
                fused, _full_path(definition, chunk, rb2002, config, objective)
            )
            assert fused[-1].error is not None


def test_evaluate_chunk_on_invalid_params_and_config() -> None:
    series = synthetic(random_walk(600, 8), seed=8, per_day=60)
    sma = get_strategy("sma_cross")
    chunk: list[dict[str, Any]] = [{"fast": 30, "slow": 10}, {"fast": 5, "slow": 20}]
    good = CONFIGS["next_open units"]
    _assert_same_evaluations(
        evaluate_chunk(sma, chunk, series, good, "sortino"),
        _full_path(sma, chunk, series, good, "sortino"),
    )
    bad = BacktestConfig(cash=-1.0)  # every run is refused, each with the engine's message
    refused = evaluate_chunk(sma, chunk, series, bad, "sortino")
    _assert_same_evaluations(refused, _full_path(sma, chunk, series, bad, "sortino"))
    assert all(e.error is not None for e in refused)


def test_a_portfolio_chunk_prices_each_series_by_its_terms() -> None:
    """A portfolio's chunk takes the full path with the per-series terms: each set equals the
    portfolio backtest, and a contract priced differently changes the figures."""
    first = synthetic(random_walk(2_400, 21), seed=21, per_day=240, symbol="A")
    second = synthetic(random_walk(2_400, 22, start=600.0), seed=22, per_day=240, symbol="B")
    sma = get_strategy("sma_cross")
    config = BacktestConfig(cash=1e6, size=SizeRule(mode="units", value=1))
    terms = [FUTURES, InstrumentTerms(multiplier=100.0, commission_per_unit=5.0)]
    chunk: list[dict[str, Any]] = [{"fast": 3, "slow": 20}, {"fast": 5, "slow": 40}]
    evaluations = evaluate_chunk(sma, chunk, [first, second], config, "total_return", terms=terms)
    for evaluation, params in zip(evaluations, chunk, strict=True):
        run = run_vectorized(sma, params, [first, second], config, terms, max_drawdowns=0)
        assert evaluation.error is None
        assert evaluation.objective == pytest.approx(run.metrics.total_return, rel=1e-12)
        assert evaluation.metrics["trades.count"] == run.metrics.trades.count > 0
    flat = evaluate_chunk(sma, chunk, [first, second], config, "total_return")
    assert flat[0].objective != pytest.approx(evaluations[0].objective)


def test_an_overflowing_curve_goes_to_the_full_path() -> None:
    """Equity past the float range (inf at some bar) is flagged by the pass: the fused path
    returns None and the full path reports the analytics' refusal."""
    closes = [100.0, 98, 96, 94, 96, 98, 100, 150, 200, 250, 260, 270]
    bars = hand_series(closes, closes)
    config = BacktestConfig(
        cash=1e308,
        size=SizeRule(mode="units", value=1.0),
        terms=InstrumentTerms(multiplier=1e306),
    )
    sma = get_strategy("sma_cross")
    params = {"fast": 2, "slow": 3, "mode": "long_only"}
    assert fused_metrics(sma, params, bars, config) is None
    evaluations = evaluate_chunk(sma, [params], bars, config, "sharpe")
    assert evaluations[0].error is not None
    assert "equity" in evaluations[0].error
