"""The ``indicators`` function: TA-Lib SMA, EMA, RSI and MACD over bars sent in the request.

Bars travel column-oriented (one list per field) because that is how the front end charts them
and how TA-Lib wants them. Warm-up values, which TA-Lib reports as NaN, come back as ``null``.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt
import talib

from functions.registry import RequestError, function

if TYPE_CHECKING:
    from collections.abc import Sequence

    from functions.deps import Deps

MAX_BARS = 1_000_000
MAX_INDICATORS = 64

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Column = Annotated[list[float], msgspec.Meta(max_length=MAX_BARS)]
# Output names are "<id>" or "<id>.<output>", so an id may not contain a dot.
SeriesId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
IndicatorName = Literal["sma", "ema", "rsi", "macd"]

FloatArray = npt.NDArray[np.float64]


class BarColumns(msgspec.Struct, frozen=True, kw_only=True):
    ts: Annotated[list[AwareDatetime], msgspec.Meta(max_length=MAX_BARS)]
    open: Column
    high: Column
    low: Column
    close: Column
    volume: Column


class IndicatorSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: IndicatorName
    params: dict[str, int] = msgspec.field(default_factory=dict)
    id: SeriesId | None = None  # names the output column(s) instead of "sma_20"


class IndicatorsRequest(msgspec.Struct, frozen=True, kw_only=True):
    bars: BarColumns
    indicators: Annotated[
        list[IndicatorSpec], msgspec.Meta(min_length=1, max_length=MAX_INDICATORS)
    ]


class IndicatorsResponse(msgspec.Struct, frozen=True, kw_only=True):
    ts: list[datetime]  # the request's bar times, in UTC
    columns: dict[str, list[float | None]]


class _Param(NamedTuple):
    default: int
    low: int
    high: int


# TA-Lib's own parameter names, in the order they appear in default column names.
PARAMETERS: dict[str, dict[str, _Param]] = {
    "sma": {"timeperiod": _Param(20, 2, 100_000)},
    "ema": {"timeperiod": _Param(20, 2, 100_000)},
    "rsi": {"timeperiod": _Param(14, 2, 100_000)},
    "macd": {
        "fastperiod": _Param(12, 2, 100_000),
        "slowperiod": _Param(26, 2, 100_000),
        "signalperiod": _Param(9, 1, 100_000),
    },
}
OUTPUTS: dict[str, tuple[str, ...]] = {"macd": ("macd", "signal", "hist")}

_PRICE_COLUMNS = ("open", "high", "low", "close")


def compute_indicators(request: IndicatorsRequest) -> IndicatorsResponse:
    """Validate the request beyond its types, then run TA-Lib once per requested indicator."""
    prices = _checked_prices(request.bars)
    _check_times(request.bars.ts)
    columns: dict[str, list[float | None]] = {}
    for index, spec in enumerate(request.indicators):
        params = _checked_params(spec, index)
        names = _column_names(spec, params)
        for name in names:
            if name in columns:
                raise RequestError(
                    f"indicators[{index}] produces column {name!r} twice; give it an `id`",
                    f"indicators[{index}].id",
                )
        for name, values in zip(names, _run(spec.name, prices["close"], params), strict=True):
            columns[name] = _nulls_for_nan(values)
    utc = [ts if ts.tzinfo is UTC else ts.astimezone(UTC) for ts in request.bars.ts]
    return IndicatorsResponse(ts=utc, columns=columns)


async def handle(request: IndicatorsRequest, deps: Deps) -> IndicatorsResponse:
    """Technical indicators (SMA, EMA, RSI, MACD) over bars given in the request."""
    del deps  # the bars come with the request
    return compute_indicators(request)


INDICATORS = function("indicators", request=IndicatorsRequest, response=IndicatorsResponse)(handle)


def _checked_prices(bars: BarColumns) -> dict[str, FloatArray]:
    expected = len(bars.ts)
    mismatched = [
        f"bars.{name}"
        for name in (*_PRICE_COLUMNS, "volume")
        if len(getattr(bars, name)) != expected
    ]
    if mismatched:
        raise RequestError(
            f"every bar column must have {expected} values, as `bars.ts` does: "
            f"{', '.join(mismatched)} differ",
            *mismatched,
        )
    # TA-Lib accepts float64 only (int64 arrays raise), so convert once here.
    arrays = {name: np.asarray(getattr(bars, name), dtype=np.float64) for name in _PRICE_COLUMNS}
    arrays["volume"] = np.asarray(bars.volume, dtype=np.float64)
    for name, values in arrays.items():
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise RequestError(
                f"`bars.{name}[{bad[0]}]` is not a finite number", f"bars.{name}[{bad[0]}]"
            )
    negative = np.flatnonzero(arrays["volume"] < 0)
    if negative.size:
        field = f"bars.volume[{negative[0]}]"
        raise RequestError(f"`{field}` must be >= 0", field)
    return arrays


def _check_times(ts: Sequence[datetime]) -> None:
    if all(map(operator.lt, ts, ts[1:])):
        return  # the common case, checked at C speed; the loop below finds the culprit
    for index in range(1, len(ts)):
        if ts[index] <= ts[index - 1]:
            raise RequestError(
                f"`bars.ts` must be strictly increasing; bars.ts[{index}] = "
                f"{ts[index].isoformat()} is not after {ts[index - 1].isoformat()}",
                f"bars.ts[{index}]",
            )


def _checked_params(spec: IndicatorSpec, index: int) -> dict[str, int]:
    allowed = PARAMETERS[spec.name]
    for key in spec.params:
        if key not in allowed:
            raise RequestError(
                f"{spec.name} has no parameter {key!r}; it takes {', '.join(allowed)}",
                f"indicators[{index}].params.{key}",
            )
    params: dict[str, int] = {}
    for key, bounds in allowed.items():
        value = spec.params.get(key, bounds.default)
        if not bounds.low <= value <= bounds.high:
            raise RequestError(
                f"{spec.name} `{key}` must be in {bounds.low}..{bounds.high}, got {value}",
                f"indicators[{index}].params.{key}",
            )
        params[key] = value
    if spec.name == "macd" and params["fastperiod"] >= params["slowperiod"]:
        raise RequestError(
            f"macd `fastperiod` ({params['fastperiod']}) must be below `slowperiod` "
            f"({params['slowperiod']})",
            f"indicators[{index}].params.fastperiod",
        )
    return params


def _column_names(spec: IndicatorSpec, params: dict[str, int]) -> list[str]:
    base = spec.id or "_".join([spec.name, *(str(value) for value in params.values())])
    outputs = OUTPUTS.get(spec.name)
    if outputs is None:
        return [base]
    return [f"{base}.{output}" for output in outputs]


def _run(name: IndicatorName, close: FloatArray, params: dict[str, int]) -> tuple[FloatArray, ...]:
    match name:
        case "sma":
            return (talib.SMA(close, **params),)
        case "ema":
            return (talib.EMA(close, **params),)
        case "rsi":
            return (talib.RSI(close, **params),)
        case "macd":
            macd, signal, hist = talib.MACD(close, **params)
            return (macd, signal, hist)


def _nulls_for_nan(values: FloatArray) -> list[float | None]:
    # NaNs are few (the warm-up), so patch them into the converted list instead of testing
    # every value in Python.
    out: list[float | None] = values.tolist()
    for index in np.flatnonzero(np.isnan(values)).tolist():
        out[index] = None
    return out
