"""Streaming indicators against TA-Lib's batch functions: every bar, random and real series."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from talib import abstract as talib_abstract

from shared.indicators._streaming import (
    BBANDS,
    EMA,
    KDJ,
    MACD,
    SMA,
    STREAMING,
    SUPERTREND,
    WMA,
    streaming,
)

if TYPE_CHECKING:
    from pathlib import Path

TA: Any = talib
abstract: Any = talib_abstract
HLC = {"atr", "kdj", "supertrend"}
NATIVE_STREAMS = {"session_vwap", "donchian_channel"}
REAL_FILES = ("cn_futures/bar_1m/SHFE_rb2002_1m.csv", "cn_futures/bar_1m/DCE_m2005_1m.csv")

# Small random parameter ranges per indicator (TA-Lib's minimums included).
PARAMS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "sma": st.fixed_dictionaries({"timeperiod": st.integers(1, 40)}),
    "ema": st.fixed_dictionaries({"timeperiod": st.integers(1, 40)}),
    "wma": st.fixed_dictionaries({"timeperiod": st.integers(1, 40)}),
    "rsi": st.fixed_dictionaries({"timeperiod": st.integers(2, 30)}),
    "macd": st.fixed_dictionaries(
        {
            "fastperiod": st.integers(2, 20),
            "slowperiod": st.integers(2, 40),
            "signalperiod": st.integers(1, 12),
        }
    ),
    "atr": st.fixed_dictionaries({"timeperiod": st.integers(1, 30)}),
    "bbands": st.fixed_dictionaries(
        {
            "timeperiod": st.integers(2, 40),
            "nbdevup": st.floats(0.5, 3.0),
            "nbdevdn": st.floats(0.5, 3.0),
        }
    ),
    "kdj": st.fixed_dictionaries(
        {
            "fastk_period": st.integers(1, 20),
            "slowk_period": st.integers(1, 6),
            "slowd_period": st.integers(1, 6),
        }
    ),
    "supertrend": st.fixed_dictionaries(
        {"timeperiod": st.integers(2, 30), "multiplier": st.floats(0.5, 4.0)}
    ),
}

# One non-default parameter set per indicator for the real-data comparison.
NON_DEFAULT: dict[str, dict[str, Any]] = {
    "sma": {"timeperiod": 7},
    "ema": {"timeperiod": 5},
    "wma": {"timeperiod": 12},
    "rsi": {"timeperiod": 6},
    "macd": {"fastperiod": 26, "slowperiod": 5, "signalperiod": 4},
    "atr": {"timeperiod": 1},
    "bbands": {"timeperiod": 5, "nbdevup": 1.5, "nbdevdn": 2.5},
    "kdj": {"fastk_period": 14, "slowk_period": 1, "slowd_period": 5},
    "supertrend": {"timeperiod": 7, "multiplier": 1.5},
}


@st.composite
def bar_series(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """1-400 bars on a price tick grid: high >= max(open, close), low <= min(open, close).

    Hypothesis picks the shape (tick, length, level, volatility, flat stretches) and a seed;
    numpy draws the bars from the seed, which keeps 200 examples per indicator fast.
    """
    tick = draw(st.sampled_from([0.01, 0.2, 0.5, 1.0, 5.0]))
    n = draw(st.integers(1, 400))
    start = draw(st.integers(round(1 / tick) + 100, round(10_000 / tick)))
    max_step = draw(st.integers(0, 15))
    flat_share = draw(st.sampled_from([0.0, 0.3, 0.9]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    steps = rng.integers(-max_step, max_step + 1, n) * (rng.random(n) >= flat_share)
    floor = round(1 / tick) + 20
    close_ticks = np.maximum(np.cumsum(steps) + start, floor)
    open_ticks = np.maximum(close_ticks + rng.integers(-max_step, max_step + 1, n), floor)
    high_ticks = np.maximum(open_ticks, close_ticks) + rng.integers(0, max_step + 1, n)
    low_ticks = np.minimum(open_ticks, close_ticks) - rng.integers(0, max_step + 1, n)
    return {
        "open": open_ticks * tick,
        "high": high_ticks * tick,
        "low": np.maximum(low_ticks, 1) * tick,
        "close": close_ticks * tick,
    }


def _inputs(name: str, bars: dict[str, np.ndarray]) -> list[np.ndarray]:
    if name in HLC:
        return [bars["high"], bars["low"], bars["close"]]
    return [bars["close"]]


def _batch(name: str, bars: dict[str, np.ndarray], params: dict[str, Any]) -> list[np.ndarray]:
    out = getattr(TA, name.upper())(*_inputs(name, bars), **params)
    return list(out) if isinstance(out, tuple) else [out]


def _stream(name: str, bars: dict[str, np.ndarray], params: dict[str, Any]) -> list[list[Any]]:
    indicator = streaming(name, **params)
    columns = zip(*(column.tolist() for column in _inputs(name, bars)), strict=True)
    outputs = [indicator.update(*bar) for bar in columns]
    return [list(o) if isinstance(o, tuple) else [o] for o in outputs]


def _assert_matches(name: str, bars: dict[str, np.ndarray], params: dict[str, Any]) -> None:
    expected = _batch(name, bars, params)
    got = _stream(name, bars, params)
    assert len(got) == len(expected[0])
    for bar, values in enumerate(got):
        assert len(values) == len(expected)
        for output, value in enumerate(values):
            want = float(expected[output][bar])
            where = f"{name}{params} output {output} bar {bar}: {value} vs {want}"
            if math.isnan(want):
                assert value is None, where
            else:
                assert value is not None, where
                assert math.isclose(value, want, rel_tol=1e-9, abs_tol=1e-9), where


def _lookback(name: str, params: dict[str, Any]) -> int:
    function = abstract.Function(name.upper())
    function.parameters = params
    return int(function.lookback)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_stream_equals_batch_on_random_bars(name: str) -> None:
    @settings(max_examples=200, deadline=None)
    @given(bars=bar_series(), params=PARAMS[name])
    def check(bars: dict[str, np.ndarray], params: dict[str, Any]) -> None:
        _assert_matches(name, bars, params)

    check()


@pytest.fixture(scope="module")
def real_bars(shared_data: Path) -> list[dict[str, np.ndarray]]:
    series = []
    for relative in REAL_FILES:
        frame = pl.read_csv(shared_data / relative)
        series.append(
            {
                col: frame[col].cast(pl.Float64).to_numpy()
                for col in ("open", "high", "low", "close")
            }
        )
    return series


@pytest.mark.parametrize("name", sorted(PARAMS))
@pytest.mark.parametrize("non_default", [False, True], ids=["default", "non-default"])
def test_stream_equals_batch_on_real_bars(
    real_bars: list[dict[str, np.ndarray]], name: str, non_default: bool
) -> None:
    params = NON_DEFAULT[name] if non_default else {}
    for bars in real_bars:
        assert len(bars["close"]) > 10_000
        _assert_matches(name, bars, params)


@pytest.mark.parametrize("name", sorted(PARAMS))
@pytest.mark.parametrize("non_default", [False, True], ids=["default", "non-default"])
def test_warm_up_is_exactly_the_lookback(name: str, non_default: bool) -> None:
    params = NON_DEFAULT[name] if non_default else {}
    indicator = streaming(name, **params)
    lookback = _lookback(name, params)
    assert indicator.lookback == lookback
    rng = np.random.default_rng(7)
    close = 3000 + np.cumsum(rng.normal(0, 2, lookback + 50))
    bars = {"high": close + 1.5, "low": close - 1.5, "close": close}
    outputs = _stream(name, bars, params)
    for bar, values in enumerate(outputs):
        # SUPERTREND's trend output is 0.0 during the warm-up in TA-Lib, not NaN.
        checked = values[:1] if name == "supertrend" else values
        assert all((v is None) == (bar < lookback) for v in checked), (bar, values)
    if name == "supertrend":
        assert all(v[1] == 0.0 for v in outputs[:lookback])
        assert all(v[1] in (1.0, -1.0) for v in outputs[lookback:])


def test_default_parameters_are_talibs() -> None:
    for name, cls in STREAMING.items():
        if name in NATIVE_STREAMS:
            continue  # native: tested against their batch versions in their own module
        defaults = dict(abstract.Function(name.upper()).info["parameters"])
        assert cls().lookback == _lookback(name, defaults), name


def test_hand_checkable_values() -> None:
    sma = SMA(3)
    assert [sma.update(x) for x in (1.0, 2.0, 3.0, 4.0)] == [None, None, 2.0, 3.0]
    ema = EMA(3)  # seed = mean(1, 2, 3) = 2, then 2 + (4 - 2) * 0.5
    assert [ema.update(x) for x in (1.0, 2.0, 3.0, 4.0)] == [None, None, 2.0, 3.0]
    wma = WMA(2)  # (1 * 1 + 2 * 3) / 3, (1 * 3 + 2 * 5) / 3
    assert [wma.update(x) for x in (1.0, 3.0, 5.0)] == [None, 7 / 3, 13 / 3]
    bb = BBANDS(2, 1.0, 1.0)  # window (1, 3): mean 2, population std 1
    assert [bb.update(x) for x in (1.0, 3.0)] == [(None, None, None), (3.0, 2.0, 1.0)]
    kdj = KDJ(1, 1, 13, 1, 13)  # one-bar range: close at the top is 100
    assert kdj.update(10.0, 8.0, 10.0) == (100.0, 100.0, 100.0)
    assert kdj.update(10.0, 10.0, 10.0) == (0.0, 0.0, 0.0)  # a flat range counts as 0


def test_factory_and_parameter_checks() -> None:
    assert set(STREAMING) == {
        "sma", "ema", "wma", "rsi", "macd", "atr", "bbands", "kdj", "supertrend",
        *NATIVE_STREAMS,
    }  # fmt: skip
    assert isinstance(streaming("macd", fastperiod=3), MACD)
    assert isinstance(streaming("supertrend"), SUPERTREND)
    with pytest.raises(KeyError):
        streaming("adx")
    with pytest.raises(ValueError, match="matype"):
        streaming("bbands", matype=1)
    with pytest.raises(ValueError, match="matype"):
        streaming("kdj", slowk_matype=0)
    with pytest.raises(ValueError, match="timeperiod"):
        streaming("rsi", timeperiod=1)
