"""The indicator catalogue and registry against TA-Lib itself, on real SHFE gold bars.

Every TA-Lib function is in the catalogue; run through the registry with its defaults it gives
what TA-Lib's own abstract interface gives (which maps inputs by name, independently of the
registry's ordering); its warm-up is exactly TA-Lib's lookback, as NaN; and the parameter
bounds the catalogue states are the ones TA-Lib enforces.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import talib

from shared.indicators import (
    MA_TYPES,
    IndicatorError,
    UnknownIndicatorError,
    catalogue,
    checked_params,
    compute,
    find,
)
from tests.support.market_data import load_bars

ABSTRACT: Any = importlib.import_module("talib.abstract")
# Math transforms defined on [-1, 1] only: prices give NaN throughout, as they should.
OUT_OF_DOMAIN = {"acos", "asin"}
TALIB: Any = talib


@pytest.fixture(scope="module")
def columns(shared_data: Path) -> dict[str, np.ndarray]:
    bars = load_bars(shared_data, rows=3000)
    arrays = {
        name: np.asarray(getattr(bars, name), dtype=np.float64)
        for name in ("open", "high", "low", "close", "volume")
    }
    arrays["periods"] = np.full(len(bars.ts), 12.0)  # MAVP's per-bar periods
    return arrays


def test_every_talib_function_is_in_the_catalogue() -> None:
    entries = catalogue()
    names = [info.name for info in entries if info.source == "ta-lib"]
    assert sorted(names) == sorted(name.lower() for name in TALIB.get_functions())
    assert len(names) == len(set(names)) >= 200
    for info in entries:
        assert info.inputs, info.name
        assert info.outputs, info.name
        for param in info.params:
            assert param.min <= param.default <= param.max, (info.name, param)


@pytest.mark.parametrize("name", sorted(n.lower() for n in TALIB.get_functions()))
def test_each_runs_as_talib_runs_it_with_nan_for_exactly_its_warm_up(
    name: str, columns: dict[str, np.ndarray]
) -> None:
    info = find(name).info
    mapping = {"periods": "periods"} if any(i.name == "periods" for i in info.inputs) else {}
    ours = compute(name, columns, inputs=mapping)
    function = ABSTRACT.Function(name.upper())
    theirs = function(columns)
    theirs = theirs if isinstance(theirs, list) else [theirs]
    assert list(ours) == [o.name for o in info.outputs]
    lookback = function.lookback
    for (output, values), expected in zip(ours.items(), theirs, strict=True):
        assert len(values) == len(columns["close"])
        # Undefined is NaN (TA-Lib fills the warm-up of integer outputs with 0), and after
        # it the values are TA-Lib's, bit for bit.
        assert np.isnan(values[:lookback]).all(), (output, lookback)
        np.testing.assert_array_equal(
            values[lookback:], np.asarray(expected, dtype=np.float64)[lookback:], output
        )
        may_be_nan = "Output can be NaN or infinite" in function.info["function_flags"]
        if name not in OUT_OF_DOMAIN and not may_be_nan:
            assert not np.isnan(values[lookback:]).any(), (output, lookback)


def test_stated_integer_bounds_are_what_talib_enforces(columns: dict[str, np.ndarray]) -> None:
    checked = 0
    for info in catalogue():
        if info.source != "ta-lib":
            continue
        indicator = find(info.name)
        arrays = [columns[i.default] for i in info.inputs]
        defaults = {p.name: p.default for p in info.params}
        for param in info.params:
            if param.type != "int" or param.min <= 0:
                continue
            at_floor = {**defaults, param.name: int(param.min)}
            below = {**defaults, param.name: int(param.min) - 1}
            if "fastperiod" in defaults and "slowperiod" in defaults:
                continue  # checked below: their order is the registry's rule
            indicator.function(*arrays, **at_floor)  # accepted
            with pytest.raises(Exception, match="TA_BAD_PARAM"):
                indicator.function(*arrays, **below)
            with pytest.raises(IndicatorError) as caught:
                checked_params(info, {param.name: int(param.min) - 1})
            assert caught.value.field == f"params.{param.name}"
            checked += 1
    assert checked > 100


def test_parameters_are_checked_and_named() -> None:
    macd = find("MACD").info
    assert checked_params(macd, {"signalperiod": 5.0}) == {
        "fastperiod": 12,
        "slowperiod": 26,
        "signalperiod": 5,
    }
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        ("macd", {"fastperiod": 30}, "params.fastperiod", "below `slowperiod`"),
        ("macd", {"window": 3}, "params.window", "it takes fastperiod, slowperiod"),
        ("sma", {"timeperiod": 2.5}, "params.timeperiod", "whole number"),
        ("sma", {"timeperiod": True}, "params.timeperiod", "must be a number"),
        ("bbands", {"matype": len(MA_TYPES)}, "params.matype", f"0..{len(MA_TYPES) - 1}"),
        ("t3", {"vfactor": 1.5}, "params.vfactor", "0..1"),
        ("obv", {"timeperiod": 5}, "params.timeperiod", "it takes none"),
    ]
    for name, given, field, message in cases:
        with pytest.raises(IndicatorError, match=message) as caught:
            checked_params(find(name).info, given)
        assert caught.value.field == field
    assert find("bbands").info.param("matype").choices == MA_TYPES  # type: ignore[union-attr]


def test_inputs_can_be_remapped_and_missing_ones_are_named(
    columns: dict[str, np.ndarray],
) -> None:
    on_high = compute("sma", columns, {"timeperiod": 5}, {"price": "high"})
    np.testing.assert_array_equal(on_high["real"], talib.SMA(columns["high"], 5))
    with pytest.raises(IndicatorError, match="needs column 'periods'") as caught:
        compute("mavp", {k: v for k, v in columns.items() if k != "periods"})
    assert caught.value.field == "inputs.periods"


def test_unknown_names_come_with_the_closest_ones() -> None:
    with pytest.raises(UnknownIndicatorError, match="did you mean") as caught:
        find("bbnads")
    assert "bbands" in caught.value.suggestions
    assert find("Bbands") is find("BBANDS")  # any case
