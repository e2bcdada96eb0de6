"""The ``indicators`` function: any indicator of the catalogue (`shared.indicators`: every
TA-Lib function) over bars sent in the request, several per call.

Bars travel column-oriented (one list per field) because that is how the front end charts them
and how TA-Lib wants them. Warm-up values, which TA-Lib reports as NaN, come back as ``null``.
Each indicator's output columns are named ``<id>`` (one output) or ``<id>.<output>``; the id
defaults to the name and the parameter values, e.g. ``sma_20`` or ``macd_12_26_9.macdsignal``.
"""

from __future__ import annotations

import operator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import msgspec
import numpy as np
import numpy.typing as npt
import polars as pl

from functions.registry import RequestError, function
from shared.indicators import (
    FormulaError,
    IndicatorError,
    UnknownIndicatorError,
    checked_params,
    column_names,
    evaluate,
    find,
    input_columns,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from functions.deps import Deps

MAX_BARS = 1_000_000
MAX_INDICATORS = 64
MAX_FORMULA = 2_000

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Column = Annotated[list[float], msgspec.Meta(max_length=MAX_BARS)]
# Output names are "<id>" or "<id>.<output>", so an id may not contain a dot.
SeriesId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
IndicatorName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_]{1,40}$")]
ParamValue = int | float
BarColumn = Annotated[str, msgspec.Meta(pattern=r"^[a-z_]{1,20}$")]

FloatArray = npt.NDArray[np.float64]


class BarColumns(msgspec.Struct, frozen=True, kw_only=True):
    ts: Annotated[list[AwareDatetime], msgspec.Meta(max_length=MAX_BARS)]
    open: Column
    high: Column
    low: Column
    close: Column
    volume: Column
    open_interest: Column | None = None
    # The session each bar belongs to (a night bar: the next trading day); what session-
    # anchored indicators (VWAP, volume profile) reset on.
    trading_day: Annotated[list[date], msgspec.Meta(max_length=MAX_BARS)] | None = None


class IndicatorSpec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A catalogue indicator by ``name``, or a user ``formula`` (then ``id`` names its
    column; ``@name`` is a formula the user saved, which the gateway puts in before calling)."""

    name: IndicatorName | None = None  # any catalogue name, any case: "sma", "MACD", "cdldoji"
    params: dict[str, ParamValue] = msgspec.field(default_factory=dict)
    id: SeriesId | None = None  # names the output column(s) instead of "sma_20"
    # An input slot -> the bar column it reads, where not the default ("price": "high").
    inputs: dict[str, BarColumn] = msgspec.field(default_factory=dict)
    formula: Annotated[str, msgspec.Meta(max_length=MAX_FORMULA)] | None = None


class IndicatorsRequest(msgspec.Struct, frozen=True, kw_only=True):
    bars: BarColumns
    indicators: Annotated[
        list[IndicatorSpec], msgspec.Meta(min_length=1, max_length=MAX_INDICATORS)
    ]


class IndicatorsResponse(msgspec.Struct, frozen=True, kw_only=True):
    ts: list[datetime]  # the request's bar times, in UTC
    columns: dict[str, list[float | None]]


_PRICE_COLUMNS = ("open", "high", "low", "close")


def compute_indicators(request: IndicatorsRequest) -> IndicatorsResponse:
    """Validate the request beyond its types, then run each requested indicator once."""
    available = _checked_columns(request.bars)
    _check_times(request.bars.ts)
    columns: dict[str, list[float | None]] = {}
    frame: pl.DataFrame | None = None
    for index, spec in enumerate(request.indicators):
        where = f"indicators[{index}]"
        if (spec.name is None) == (spec.formula is None):
            raise RequestError(f"{where} needs a `name` or a `formula` (one of them)", where)
        if spec.formula is not None:
            if frame is None:
                frame = pl.DataFrame(available)
            name = _formula_column(spec, where, columns)
            columns[name] = _nulls_for_nan(_formula_values(spec.formula, frame, where))
            continue
        assert spec.name is not None
        try:
            indicator = find(spec.name)
            info = indicator.info
            params = checked_params(info, spec.params)
            arrays = input_columns(info, available, spec.inputs)
        except UnknownIndicatorError as exc:
            raise RequestError(str(exc), f"{where}.name") from None
        except IndicatorError as exc:
            raise RequestError(str(exc), f"{where}.{exc.field}") from None
        names = column_names(info.name, params, [o.name for o in info.outputs], spec.id)
        for name in names:
            if name in columns:
                raise RequestError(
                    f"{where} produces column {name!r} twice; give it an `id`", f"{where}.id"
                )
        try:
            result = indicator.function(*arrays, **params)
        except Exception as exc:  # noqa: BLE001 - TA-Lib raises a bare Exception
            raise RequestError(f"{info.name} refused the call: {exc}", where) from None
        outputs = result if isinstance(result, tuple) else (result,)
        for name, values in zip(names, outputs, strict=True):
            columns[name] = _nulls_for_nan(np.asarray(values, dtype=np.float64))
    utc = [ts if ts.tzinfo is UTC else ts.astimezone(UTC) for ts in request.bars.ts]
    return IndicatorsResponse(ts=utc, columns=columns)


def _formula_column(spec: IndicatorSpec, where: str, columns: Mapping[str, object]) -> str:
    if spec.id is None:
        raise RequestError(f"{where}: a formula needs an `id` to name its column", f"{where}.id")
    if spec.params or spec.inputs:
        raise RequestError(f"{where}: a formula takes no `params` or `inputs`", f"{where}.params")
    if spec.id in columns:
        raise RequestError(f"{where} produces column {spec.id!r} twice", f"{where}.id")
    return spec.id


def _formula_values(formula: str, frame: pl.DataFrame, where: str) -> FloatArray:
    if formula.startswith("@"):
        raise RequestError(
            f"{where}: saved formula {formula!r} was not put in (only the gateway knows them)",
            f"{where}.formula",
        )
    try:
        return evaluate(formula, frame)
    except FormulaError as exc:
        raise RequestError(str(exc), f"{where}.formula") from None
    except pl.exceptions.PolarsError as exc:
        raise RequestError(
            f"the formula could not be computed: {exc}", f"{where}.formula"
        ) from None


async def handle(request: IndicatorsRequest, deps: Deps) -> IndicatorsResponse:
    """Technical indicators (every TA-Lib function) over bars given in the request."""
    del deps  # the bars come with the request
    return compute_indicators(request)


INDICATORS = function("indicators", request=IndicatorsRequest, response=IndicatorsResponse)(handle)


def _checked_columns(bars: BarColumns) -> dict[str, FloatArray]:
    expected = len(bars.ts)
    given = {
        name: values
        for name in (*_PRICE_COLUMNS, "volume", "open_interest")
        if (values := getattr(bars, name)) is not None
    }
    mismatched = [f"bars.{name}" for name, values in given.items() if len(values) != expected]
    if mismatched:
        raise RequestError(
            f"every bar column must have {expected} values, as `bars.ts` does: "
            f"{', '.join(mismatched)} differ",
            *mismatched,
        )
    if bars.trading_day is not None and len(bars.trading_day) != expected:
        raise RequestError(
            f"`bars.trading_day` must have {expected} values, as `bars.ts` does",
            "bars.trading_day",
        )
    # TA-Lib accepts float64 only (int64 arrays raise), so convert once here.
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in given.items()}
    if bars.trading_day is not None:
        # Day numbers: what a session-anchored indicator compares to find a new session.
        days = [day.toordinal() for day in bars.trading_day]
        arrays["trading_day"] = np.asarray(days, dtype=np.float64)
    for name, values in arrays.items():
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise RequestError(
                f"`bars.{name}[{bad[0]}]` is not a finite number", f"bars.{name}[{bad[0]}]"
            )
    for name in ("volume", "open_interest"):
        if name in arrays and (negative := np.flatnonzero(arrays[name] < 0)).size:
            field = f"bars.{name}[{negative[0]}]"
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


def _nulls_for_nan(values: FloatArray) -> list[float | None]:
    # NaNs are few (the warm-up), so patch them into the converted list instead of testing
    # every value in Python.
    out: list[float | None] = values.tolist()
    for index in np.flatnonzero(np.isnan(values)).tolist():
        out[index] = None
    return out
