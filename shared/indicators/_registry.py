"""The indicator registry: look an indicator up by name, check a call's parameters and input
columns against its catalogue entry, and run it over numpy columns.

Checks name the offending field (``params.timeperiod``, ``inputs.periods``) so an API can
answer with it; an unknown name comes with the closest known ones.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.indicators._catalog import IndicatorInfo, ParamInfo
from shared.indicators._native import NATIVE, NativeIndicator
from shared.indicators._talib import TalibIndicator, talib_indicators

Indicator = TalibIndicator | NativeIndicator

FloatArray = npt.NDArray[np.float64]
ParamValue = int | float


class IndicatorError(ValueError):
    """A call the indicator cannot take; ``field`` names the culprit, relative to the call
    (``params.timeperiod``, ``inputs.price``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownIndicatorError(LookupError):
    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no indicator {name!r}{hint}")
        self.name = name
        self.suggestions = suggestions


@cache
def _entries() -> dict[str, Indicator]:
    # TA-Lib's names and the native ones never overlap (a test holds them apart).
    return {**talib_indicators(), **NATIVE}


def catalogue() -> list[IndicatorInfo]:
    """Every indicator, TA-Lib's and the native ones, by group and name."""
    return sorted(
        (entry.info for entry in _entries().values()), key=lambda info: (info.group, info.name)
    )


def find(name: str) -> Indicator:
    """The indicator called ``name`` (any case); `UnknownIndicatorError` with close matches."""
    entries = _entries()
    found = entries.get(name.lower())
    if found is None:
        close = difflib.get_close_matches(name.lower(), entries, n=3, cutoff=0.6)
        raise UnknownIndicatorError(name, close)
    return found


def checked_params(info: IndicatorInfo, given: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Every parameter of ``info``: those given, checked, and the defaults for the rest."""
    for key in given:
        if info.param(key) is None:
            accepted = ", ".join(p.name for p in info.params) or "none"
            raise IndicatorError(
                f"{info.name} has no parameter {key!r}; it takes {accepted}", f"params.{key}"
            )
    values = {p.name: _checked(info.name, p, given.get(p.name, p.default)) for p in info.params}
    fast, slow = values.get("fastperiod"), values.get("slowperiod")
    if fast is not None and slow is not None and fast >= slow:
        # TA-Lib would swap them silently; a misordered pair is a mistake worth naming.
        raise IndicatorError(
            f"{info.name} `fastperiod` ({fast}) must be below `slowperiod` ({slow})",
            "params.fastperiod",
        )
    return values


def _checked(indicator: str, param: ParamInfo, value: Any) -> ParamValue:
    field = f"params.{param.name}"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IndicatorError(f"{indicator} `{param.name}` must be a number, got {value!r}", field)
    if param.type != "float":
        if value != int(value):
            raise IndicatorError(
                f"{indicator} `{param.name}` must be a whole number, got {value!r}", field
            )
        value = int(value)
    checked: ParamValue = value
    if not param.min <= checked <= param.max:
        raise IndicatorError(
            f"{indicator} `{param.name}` must be in {param.min:g}..{param.max:g}, got {value!r}",
            field,
        )
    return checked


def input_columns(
    info: IndicatorInfo, available: Mapping[str, FloatArray], mapping: Mapping[str, str]
) -> list[FloatArray]:
    """The arrays for ``info``'s inputs in order: each slot's default column unless
    ``mapping`` names another."""
    for mapped in mapping:
        if all(i.name != mapped for i in info.inputs):
            accepted = ", ".join(i.name for i in info.inputs)
            raise IndicatorError(
                f"{info.name} has no input {mapped!r}; its inputs are {accepted}",
                f"inputs.{mapped}",
            )
    arrays: list[FloatArray] = []
    for slot in info.inputs:
        column = mapping.get(slot.name, slot.default)
        values = available.get(column)
        if values is None:
            have = ", ".join(sorted(available))
            raise IndicatorError(
                f"{info.name} input {slot.name!r} needs column {column!r}, which the bars do "
                f"not have (they have {have}); map it to one with `inputs`",
                f"inputs.{slot.name}",
            )
        arrays.append(values)
    return arrays


def compute(
    name: str,
    columns: Mapping[str, FloatArray],
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> dict[str, FloatArray]:
    """Run indicator ``name`` over ``columns`` (float64 arrays of one length); its outputs by
    name, aligned with the input (undefined values, the warm-up, are NaN)."""
    indicator = find(name)
    info = indicator.info
    values = checked_params(info, params or {})
    arrays = input_columns(info, columns, inputs or {})
    try:
        result = indicator.function(*arrays, **values)
    except Exception as exc:  # TA-Lib raises a bare Exception for what it refuses
        raise IndicatorError(f"{info.name} refused the call: {exc}", "params") from exc
    outputs = result if isinstance(result, tuple) else (result,)
    return dict(
        zip((o.name for o in info.outputs), defined(indicator, outputs, values), strict=True)
    )


def defined(
    indicator: Indicator, outputs: tuple[Any, ...], params: Mapping[str, ParamValue]
) -> list[FloatArray]:
    """The outputs as float64 with NaN wherever the indicator is not yet defined. TA-Lib
    marks the warm-up of real outputs with NaN but fills that of integer outputs (candlestick
    patterns, MAXINDEX, HT_TRENDMODE) with 0, which would read as a value."""
    converted: list[FloatArray] = []
    lookback: int | None = None
    for series in outputs:
        if series.dtype == np.float64:
            converted.append(series)
            continue
        if lookback is None:
            lookback = indicator.lookback(params)
        floats = series.astype(np.float64)
        floats[:lookback] = np.nan
        converted.append(floats)
    return converted
