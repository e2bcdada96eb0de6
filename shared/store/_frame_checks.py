"""Checking a polars frame before any of it is written, and bringing it to the stored form.

Every refusal is a ``FrameError`` naming the column and the first offending row (0-based, in
the caller's order), so a bad import can be fixed at the source rather than guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from polars.exceptions import InvalidOperationError

from shared.domain import Exchange, Interval
from shared.store._series_spec import Column, Kinds, SeriesSpec

_INT4_MAX = 2**31 - 1
_INT8_MAX = 2**63 - 1
# Exchange contract codes (rb2401, SR401, m2005-C-2800): ASCII, at most the column's 32 chars.
_SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$"
_ALLOWED_VALUES = {
    "exchange": sorted(member.value for member in Exchange),
    "interval": sorted(member.value for member in Interval),
}


class FrameError(ValueError):
    """A frame refused before anything was written; names the column and, if any, the row."""

    def __init__(self, column: str, row: int | None, problem: str) -> None:
        where = f"column `{column}`" if row is None else f"column `{column}`, row {row}"
        super().__init__(f"{where}: {problem}")
        self.column = column
        self.row = row


@dataclass(frozen=True)
class RowRule:
    """A condition no row may meet; ``shown`` columns are quoted in the error."""

    column: str
    violated: pl.Expr
    problem: str
    shown: tuple[str, ...]


def _first_row(mask: pl.Series) -> int | None:
    hits = mask.fill_null(value=False)
    return int(hits.arg_max() or 0) if hits.any() else None


def _coerce(series: pl.Series, column: Column) -> pl.Series:
    dtype = series.dtype
    kind = column.kind
    if kind is Kinds.TEXT:
        if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
            return series.cast(pl.String)
        raise FrameError(column.name, None, f"must hold text, got {dtype}")
    if kind is Kinds.TIMESTAMP:
        if not isinstance(dtype, pl.Datetime):
            raise FrameError(column.name, None, f"must hold timestamps, got {dtype}")
        if dtype.time_zone is None:
            raise FrameError(
                column.name,
                0,
                "naive timestamps are refused: their zone is ambiguous; give the column one "
                "(e.g. .dt.replace_time_zone('Asia/Shanghai')); storage is UTC",
            )
        # The database keeps microseconds: finer digits are cut here, before the duplicate check.
        return series.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if kind is Kinds.DATE:
        if not isinstance(dtype, pl.Date):
            raise FrameError(column.name, None, f"must hold dates (pl.Date), got {dtype}")
        return series
    if kind is Kinds.FLOAT:
        if not dtype.is_numeric():
            raise FrameError(column.name, None, f"must hold numbers, got {dtype}")
        return series.cast(pl.Float64)
    if not dtype.is_integer():
        raise FrameError(column.name, None, f"must hold integers, got {dtype}")
    try:
        return series.cast(pl.Int64)
    except InvalidOperationError:  # an unsigned 64-bit value beyond Int64
        row = _first_row(series > _INT8_MAX)
        raise FrameError(
            column.name, row, f"{series[row or 0]} does not fit a 64-bit integer"
        ) from None


def _column(frame: pl.DataFrame, column: Column) -> pl.Series:
    if column.name not in frame.columns:
        return pl.repeat(column.default, frame.height, dtype=column.kind.dtype, eager=True).alias(
            column.name
        )
    series = _coerce(frame[column.name], column)
    if not column.nullable and series.null_count():
        raise FrameError(column.name, _first_row(series.is_null()), "missing value (null)")
    if column.kind is Kinds.FLOAT:
        row = _first_row(~series.is_finite())
        if row is not None:
            raise FrameError(column.name, row, f"not a finite number: {series[row]}")
    if column.kind is Kinds.INT and (row := _first_row(series.abs() > _INT4_MAX)) is not None:
        raise FrameError(column.name, row, f"{series[row]} does not fit a 32-bit integer")
    return series


def _check_values(frame: pl.DataFrame) -> None:
    for name, allowed in _ALLOWED_VALUES.items():
        if name in frame.columns:
            row = _first_row(~frame[name].is_in(allowed))
            if row is not None:
                listed = ", ".join(allowed)
                raise FrameError(name, row, f"unknown {name} {frame[name][row]!r} ({listed})")
    row = _first_row(~frame["symbol"].str.contains(_SYMBOL_PATTERN))
    if row is not None:
        raise FrameError(
            "symbol", row, f"{frame['symbol'][row]!r} is not a contract code (ASCII, 1-32 chars)"
        )


def _check_rules(frame: pl.DataFrame, rules: tuple[RowRule, ...]) -> None:
    for rule in rules:
        row = _first_row(frame.select(rule.violated).to_series())
        if row is not None:
            values = ", ".join(f"{name}={frame[name][row]}" for name in rule.shown)
            raise FrameError(rule.column, row, f"{rule.problem} ({values})")


def _check_unique(frame: pl.DataFrame, spec: SeriesSpec) -> None:
    names = [column.name for column in (*spec.key, spec.time)]
    row = _first_row(~frame.select(pl.struct(names).is_first_distinct()).to_series())
    if row is not None:
        raise FrameError(
            spec.time.name, row, f"repeats the {'/'.join(names)} of an earlier row in the frame"
        )


def prepare_frame(
    frame: pl.DataFrame, spec: SeriesSpec, rules: tuple[RowRule, ...] = ()
) -> pl.DataFrame:
    """The frame checked, with exactly the spec's columns and dtypes, sorted by key and time."""
    missing = [c.name for c in spec.columns if not c.optional and c.name not in frame.columns]
    if missing:
        needed = ", ".join(c.name for c in spec.columns if not c.optional)
        raise FrameError(missing[0], None, f"missing from the frame; {spec.table} need {needed}")
    prepared = pl.DataFrame([_column(frame, column) for column in spec.columns])
    _check_values(prepared)
    _check_rules(prepared, rules)
    _check_unique(prepared, spec)
    # Sorted by the primary key: the upsert then walks the index in order.
    return prepared.sort([column.name for column in (*spec.key, spec.time)])
