"""Every TA-Lib function as a catalogue entry, with the parameter bounds TA-Lib enforces.

TA-Lib's Python wrapper tells each parameter's type and default but not its range, which the
C library checks on every call (TA_BAD_PARAM). The ranges are therefore asked of the library
itself, once: each parameter is tried at a few candidate values on a short synthetic series,
the others at their defaults. The C library's ranges are simple (integers from 1 or 2 to
100000, MA types 0 to 8, reals between a handful of limits), so the candidates find them
exactly, and the catalogue states what a call will accept.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import talib

from shared.indicators._catalog import (
    IndicatorInfo,
    InputInfo,
    OutputInfo,
    ParamInfo,
    ParamType,
)

FloatArray = npt.NDArray[np.float64]
# The wrapper's metadata side is untyped (and half private): reached through `Any`.
_LIB: Any = importlib.import_module("talib._ta_lib")
_ABSTRACT: Any = importlib.import_module("talib.abstract")
_TALIB: Any = talib
# The moving-average kinds this build of TA-Lib takes, by number (0 = simple ...).
MA_TYPES: tuple[str, ...] = tuple(str(name) for _, name in sorted(_TALIB.MA_Type._lookup.items()))

_PARAM_TYPES: Final[dict[int, ParamType]] = {0: "float", 1: "float", 2: "int", 3: "ma_type"}
_INT_FLOORS: Final = (-1, 0, 1, 2, 3, 4, 5)
_INT_CEILING: Final = 100_000
_REAL_CANDIDATES: Final = (
    -3e37,
    -1e6,
    -100.0,
    -1.0,
    0.0,
    0.01,
    0.5,
    0.99,
    1.0,
    2.0,
    100.0,
    1e3,
    1e6,
    3e37,
)
_STYLES: Final = {
    "Line": "line",
    "Dashed Line": "dashed",
    "Dotted Line": "dotted",
    "Histogram": "histogram",
    "Values represent an upper limit": "upper",
    "Values represent a lower limit": "lower",
}
_PROBE_LENGTH: Final = 400


@dataclass(frozen=True, slots=True)
class TalibIndicator:
    info: IndicatorInfo
    function: Callable[..., Any]  # talib.<NAME>, called with the inputs in `info.inputs` order

    def lookback(self, params: Mapping[str, float]) -> int:
        """How many leading values are undefined with ``params`` (TA-Lib's own count)."""
        function = _ABSTRACT.Function(self.info.name.upper())
        function.parameters = dict(params)
        return int(function.lookback)


def _probe_bars() -> dict[str, FloatArray]:
    steps = np.arange(_PROBE_LENGTH, dtype=np.float64)
    close = 100.0 + 5.0 * np.sin(steps / 7.0) + steps * 0.01
    return {
        "open": close - 0.3,
        "high": close + 1.0,
        "low": close - 1.0,
        "close": close,
        "volume": 1000.0 + 100.0 * np.cos(steps / 5.0),
        "open_interest": 5000.0 + steps,
        "periods": np.full(_PROBE_LENGTH, 10.0),
    }


def _accepts(
    function: Callable[..., Any], inputs: list[FloatArray], params: Mapping[str, float]
) -> bool:
    try:
        function(*inputs, **params)
    except Exception:  # noqa: BLE001 - TA-Lib raises a bare Exception for TA_BAD_PARAM
        return False
    return True


def _bounds(  # noqa: PLR0917 - what one probe needs
    function: Callable[..., Any],
    inputs: list[FloatArray],
    defaults: Mapping[str, float],
    name: str,
    kind: ParamType,
    periods: Mapping[str, float],
) -> tuple[float, float]:
    """``periods``: every integer parameter at the ceiling, tried together for the ceiling
    (MAVP's minperiod may reach 100000 only with maxperiod there too)."""

    def ok(value: float) -> bool:
        return _accepts(function, inputs, {**defaults, name: value})

    if kind == "ma_type":
        accepted = [v for v in range(len(MA_TYPES)) if ok(v)]
        return (min(accepted), max(accepted)) if accepted else (0, 0)
    if kind == "int":
        low = next((v for v in _INT_FLOORS if ok(v)), int(defaults[name]))
        high = _INT_CEILING if _accepts(function, inputs, {**defaults, **periods}) else None
        return low, high if high is not None else int(defaults[name])
    valid = [v for v in _REAL_CANDIDATES if ok(v)] + [float(defaults[name])]
    return min(valid), max(valid)


def _inputs(input_names: Mapping[str, Any]) -> tuple[InputInfo, ...]:
    slots: list[InputInfo] = []
    for slot, columns in input_names.items():
        if isinstance(columns, list | tuple):
            slots.extend(InputInfo(name=column, default=column) for column in columns)
        else:
            slots.append(InputInfo(name=slot, default=str(columns)))
    return tuple(slots)


def _indicator(name: str, bars: Mapping[str, FloatArray]) -> TalibIndicator:
    described = _ABSTRACT.Function(name).info
    function: Callable[..., Any] = getattr(_TALIB, name)
    inputs = _inputs(described["input_names"])
    arrays = [bars[slot.default] for slot in inputs]
    defaults: dict[str, float] = dict(described["parameters"])
    raws = [
        _LIB._ta_getOptInputParameterInfo(name.encode(), index) for index in range(len(defaults))
    ]
    kinds = [_PARAM_TYPES.get(int(raw["type"]), "float") for raw in raws]
    periods = {p: _INT_CEILING for p, kind in zip(defaults, kinds, strict=True) if kind == "int"}
    params: list[ParamInfo] = []
    for (param, default), raw, kind in zip(defaults.items(), raws, kinds, strict=True):
        low, high = _bounds(function, arrays, defaults, param, kind, periods)
        params.append(
            ParamInfo(
                name=param,
                title=str(raw["display_name"]),
                type=kind,
                default=default,
                min=low,
                max=high,
                help=str(raw["help"]),
                choices=MA_TYPES if kind == "ma_type" else (),
            )
        )
    flags = described["function_flags"] or []
    candlestick = "Output is a candlestick" in flags
    outputs = tuple(
        OutputInfo(
            name=output,
            style="pattern"
            if candlestick
            else next((_STYLES[f] for f in styles if f in _STYLES), "line"),
        )
        for output, styles in described["output_flags"].items()
    )
    info = IndicatorInfo(
        name=name.lower(),
        title=str(described["display_name"]),
        group=str(described["group"]),
        source="ta-lib",
        inputs=inputs,
        params=tuple(params),
        outputs=outputs,
        overlay="Output scale same as input" in flags,
    )
    return TalibIndicator(info=info, function=function)


@cache
def talib_indicators() -> dict[str, TalibIndicator]:
    """Every TA-Lib function by its lower-case name (built once, in a few tens of ms)."""
    bars = _probe_bars()
    return {name.lower(): _indicator(name, bars) for name in _TALIB.get_functions()}
