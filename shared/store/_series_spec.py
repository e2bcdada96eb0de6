"""What a time-series table looks like to the bulk paths: columns, kinds, keys, SQL.

The ``ticks`` and ``bars`` tables are defined in ``tables.py``; these specs describe the same
columns once more in the terms the COPY encoder, the frame checks and the SQL builders need
(wire width, nullability, defaults). ``tests/integration/test_market_data_store.py`` checks
that both descriptions agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Kind:
    """A column's storage kind: its polars dtype and its PostgreSQL binary wire format."""

    name: str
    wire: str  # numpy dtype of the value on the COPY BINARY wire ("text": variable length)
    dtype: pl.DataType


class Kinds:
    TEXT = Kind("text", "text", pl.String())
    TIMESTAMP = Kind("timestamp", ">i8", pl.Datetime("us", "UTC"))  # µs since 2000-01-01 UTC
    DATE = Kind("date", ">i4", pl.Date())  # days since 2000-01-01
    FLOAT = Kind("float", ">f8", pl.Float64())
    BIGINT = Kind("bigint", ">i8", pl.Int64())
    INT = Kind("int", ">i4", pl.Int64())  # an int4 column, read back as Int64 like every integer


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False
    # A column a frame may leave out; it is stored as this value (None = NULL).
    optional: bool = False
    default: float | None = None


# Told how many rows of an ingest have been sent so far (a progress bar).
OnRows = Callable[[int], None]


@dataclass(frozen=True)
class SeriesSpec:
    table: str
    key: tuple[Column, ...]  # which series a row belongs to (text columns)
    time: Column  # the row's time within its series; the key plus this is the primary key
    values: tuple[Column, ...]

    @property
    def columns(self) -> tuple[Column, ...]:
        return (*self.key, self.time, *self.values)

    @property
    def staging(self) -> str:
        return f"_{self.table}_staging"


def quoted(name: str) -> str:
    """Every identifier quoted: ``interval`` and ``start`` are SQL keywords."""
    return f'"{name}"'


def column_list(columns: tuple[Column, ...]) -> str:
    return ", ".join(quoted(column.name) for column in columns)


def conflict_target(spec: SeriesSpec) -> str:
    return column_list((*spec.key, spec.time))


def changed_condition(spec: SeriesSpec, target: str, distinct: str) -> str:
    """Update a conflicting row only when a value differs: a re-ingest rewrites nothing."""
    names = [quoted(column.name) for column in spec.values]
    old = ", ".join(f"{target}.{name}" for name in names)
    new = ", ".join(f"excluded.{name}" for name in names)
    return f"({old}) {distinct} ({new})"


def update_assignments(spec: SeriesSpec) -> str:
    return ", ".join(
        f"{quoted(column.name)} = excluded.{quoted(column.name)}" for column in spec.values
    )


BAR_SPEC = SeriesSpec(
    table="bars",
    key=(
        Column("exchange", Kinds.TEXT),
        Column("symbol", Kinds.TEXT),
        Column("interval", Kinds.TEXT),
    ),
    time=Column("start", Kinds.TIMESTAMP),
    values=(
        Column("trading_day", Kinds.DATE),
        Column("open", Kinds.FLOAT),
        Column("high", Kinds.FLOAT),
        Column("low", Kinds.FLOAT),
        Column("close", Kinds.FLOAT),
        Column("volume", Kinds.BIGINT, optional=True, default=0),
        Column("turnover", Kinds.FLOAT, optional=True, default=0.0),
        Column("open_interest", Kinds.FLOAT, optional=True, default=0.0),
    ),
)

TICK_SPEC = SeriesSpec(
    table="ticks",
    key=(Column("exchange", Kinds.TEXT), Column("symbol", Kinds.TEXT)),
    time=Column("ts", Kinds.TIMESTAMP),
    values=(
        Column("trading_day", Kinds.DATE),
        Column("last_price", Kinds.FLOAT),
        Column("volume", Kinds.BIGINT),
        Column("turnover", Kinds.FLOAT),
        Column("open_interest", Kinds.FLOAT),
        Column("bid_price", Kinds.FLOAT, nullable=True, optional=True),
        Column("bid_volume", Kinds.INT, optional=True, default=0),
        Column("ask_price", Kinds.FLOAT, nullable=True, optional=True),
        Column("ask_volume", Kinds.INT, optional=True, default=0),
        Column("upper_limit", Kinds.FLOAT, nullable=True, optional=True),
        Column("lower_limit", Kinds.FLOAT, nullable=True, optional=True),
    ),
)
