"""PostgreSQL ``COPY ... (FORMAT BINARY)`` streams built and read with numpy, whole columns at once.

A binary COPY row is: field count (int16), then per field a length (int32, -1 = NULL) and the
value in network byte order. When every field of a run of rows has the same width, that run is
a numpy structured array: one broadcast and a few column assignments write it, one
``frombuffer`` reads it, instead of a Python call per value. Widths vary only with the text
values (exchange, symbol, interval) and with which nullable fields are NULL, so rows are
encoded in groups sharing both.
"""

from __future__ import annotations

import struct

import numpy as np
import polars as pl

from shared.store._series_spec import Column, Kinds

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = SIGNATURE + struct.pack(">ii", 0, 0)  # no flags, no header extension
_TRAILER = struct.pack(">h", -1)
# PostgreSQL counts timestamps and dates from 2000-01-01 UTC, not from 1970.
_PG_EPOCH_US = 946_684_800_000_000
_PG_EPOCH_DAYS = 10_957
_NULL_LENGTH = -1
# The reader asks for NULL floats as NaN (COALESCE) to keep every row the same width, and turns
# NaN back into null: ingest refuses NaN, so a stored NaN cannot be mistaken for one.
NULL_FLOAT = "NaN"


class CopyFormatError(ValueError):
    """The server sent a COPY stream this reader does not understand."""


def _values(series: pl.Series, column: Column) -> np.ndarray:
    kind = column.kind
    if kind is Kinds.TIMESTAMP:
        return series.dt.epoch("us").to_numpy() - _PG_EPOCH_US
    if kind is Kinds.DATE:
        return series.cast(pl.Int32).to_numpy() - _PG_EPOCH_DAYS
    return series.to_numpy()


def _encode_group(rows: pl.DataFrame, columns: tuple[Column, ...]) -> memoryview:
    """Rows sharing their text values and their NULL fields, hence one width."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    constants: dict[str, int | bytes] = {"count": len(columns)}
    variable: list[Column] = []
    for index, column in enumerate(columns):
        length = f"length{index}"
        fields.append((length, ">i4"))
        first = rows[column.name][0]
        if first is None:  # NULL here in every row of the group: a length and no value
            constants[length] = _NULL_LENGTH
        elif column.kind is Kinds.TEXT:
            text = str(first).encode()
            fields.append((column.name, f"S{len(text)}"))
            constants |= {length: len(text), column.name: text}
        else:
            fields.append((column.name, column.kind.wire))
            constants[length] = np.dtype(column.kind.wire).itemsize
            variable.append(column)
    layout = np.dtype(fields)
    template = np.zeros(1, dtype=layout)
    for name, value in constants.items():
        template[name] = value
    # Every row starts as the template (one broadcast copy); then the values, column by column.
    raw = np.empty((rows.height, layout.itemsize), dtype=np.uint8)
    raw[:] = template.view(np.uint8)
    packed = raw.view(layout).reshape(rows.height)
    for column in variable:
        packed[column.name] = _values(rows[column.name], column)
    return raw.data.cast("B")


def _groups(frame: pl.DataFrame, columns: tuple[Column, ...]) -> list[pl.DataFrame]:
    texts = [column.name for column in columns if column.kind is Kinds.TEXT]
    nullable = [column.name for column in columns if column.nullable]
    if not nullable:  # the frame is sorted by its text columns: groups are runs
        return frame.partition_by(texts, maintain_order=True) if texts else [frame]
    flags = [pl.col(name).is_null().alias(f"_null_{name}") for name in nullable]
    flagged = frame.with_columns(flags)
    by = texts + [f"_null_{name}" for name in nullable]
    return [group.drop(by[len(texts) :]) for group in flagged.partition_by(by, maintain_order=True)]


def encode_rows(frame: pl.DataFrame, columns: tuple[Column, ...]) -> list[bytes | memoryview]:
    """A complete binary COPY stream of ``frame``, in pieces (rows in groups of one width)."""
    parts: list[bytes | memoryview] = [_HEADER]
    if frame.height:
        parts += [_encode_group(rows, columns) for rows in _groups(frame, columns)]
    parts.append(_TRAILER)
    return parts


def decode_rows(stream: bytes | bytearray, columns: tuple[Column, ...]) -> pl.DataFrame:
    """The rows of a binary COPY stream whose fields are all fixed-width and never NULL."""
    if not stream.startswith(SIGNATURE):
        raise CopyFormatError("not a binary COPY stream")
    (extension,) = struct.unpack_from(">i", stream, len(SIGNATURE) + 4)
    start = len(SIGNATURE) + 8 + extension
    if stream[-2:] != _TRAILER:
        raise CopyFormatError("binary COPY stream without its trailer")
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for index, column in enumerate(columns):
        fields += [(f"length{index}", ">i4"), (column.name, column.kind.wire)]
    layout = np.dtype(fields)
    body = len(stream) - start - len(_TRAILER)
    if body % layout.itemsize:
        raise CopyFormatError("binary COPY rows are not of the expected fixed width")
    rows = np.frombuffer(stream, dtype=layout, count=body // layout.itemsize, offset=start)
    widths = [np.dtype(column.kind.wire).itemsize for column in columns]
    if rows.size and any((rows[f"length{i}"] != width).any() for i, width in enumerate(widths)):
        raise CopyFormatError("a binary COPY field has an unexpected width (NULL?)")
    return pl.DataFrame([_column(rows[column.name], column) for column in columns])


def _column(values: np.ndarray, column: Column) -> pl.Series:
    native = values.astype(values.dtype.newbyteorder("="))
    kind = column.kind
    if kind is Kinds.TIMESTAMP:
        epoch_us = pl.Series(column.name, native + _PG_EPOCH_US, dtype=pl.Int64)
        return epoch_us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if kind is Kinds.DATE:
        days = pl.Series(column.name, native + _PG_EPOCH_DAYS, dtype=pl.Int32)
        return days.cast(pl.Date)
    series = pl.Series(column.name, native).cast(kind.dtype)
    return series.fill_nan(None) if column.nullable else series
