"""Bar and tick files of many layouts mapped to the store's frames (pure; callers read the files).

A file's header names are matched case-insensitively, ignoring ``_`` and spaces, against common
aliases (TQ's ``close_oi``, ctpbee's ``open_price``, CTP's ``InstrumentID``...); ``mapping``
names the others. Times are exchange-local (naive) unless the column carries a zone. Rows are
numbered from 0 in the file's order, and every refusal names the field, the file's column and
that row, so a bad file can be fixed at its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import polars as pl

from shared.domain import EXCHANGE_TZ, Exchange

Kind = Literal["bars", "ticks"]
ROW = "_row"  # the file's row number, carried through so store refusals can name it

_TIME_ALIASES = ("datetime", "timestamp", "ts", "time", "start", "bob")
_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "actionday"),
    "trading_day": ("tradingday", "tradedate"),
    "symbol": ("symbol", "instrumentid", "localsymbol", "instrument", "contract"),
    "exchange": ("exchange", "exchangeid"),
    "open": ("open", "openprice"),
    "high": ("high", "highprice"),
    "low": ("low", "lowprice"),
    "close": ("close", "closeprice"),
    "last_price": ("lastprice", "last", "price"),
    "volume": ("volume", "vol"),
    "turnover": ("turnover", "amount"),
    "open_interest": ("openinterest", "closeoi", "oi", "hold"),
    "bid_price": ("bidprice", "bidprice1", "bid"),
    "ask_price": ("askprice", "askprice1", "ask"),
    "bid_volume": ("bidvolume", "bidvolume1"),
    "ask_volume": ("askvolume", "askvolume1"),
    "upper_limit": ("upperlimit", "upperlimitprice", "limitup"),
    "lower_limit": ("lowerlimit", "lowerlimitprice", "limitdown"),
}
_CTP_TICK_HEADERS = {"tradingday", "actionday", "updatetime", "updatemillisec"}
_FLOATS = ("open", "high", "low", "close", "last_price", "turnover", "open_interest")
_FLOATS_OPTIONAL = ("bid_price", "ask_price", "upper_limit", "lower_limit")
_INTEGERS = ("volume", "bid_volume", "ask_volume")
_REQUIRED: dict[Kind, tuple[str, ...]] = {
    "bars": ("open", "high", "low", "close"),
    "ticks": ("last_price", "volume", "turnover", "open_interest"),
}
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y%m%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
)
_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d")
# CTP fills absent prices with DBL_MAX; anything this large is "no value".
_ABSENT_PRICE = 1e300


class FileColumnError(ValueError):
    """A file refused while mapping; names the field, the file's column and the row."""

    def __init__(self, field: str, source: str | None, row: int | None, problem: str) -> None:
        column = f"column `{source}`" if source and source != field else f"column `{field}`"
        if source and source != field:
            column += f" (as `{field}`)"
        where = column if row is None else f"{column}, row {row}"
        super().__init__(f"{where}: {problem}")
        self.field = field
        self.row = row


@dataclass(frozen=True)
class Mapped:
    """A file's rows as store columns (plus ``ROW``); times UTC, ``trading_day`` maybe absent."""

    frame: pl.DataFrame
    kind: Kind
    time_column: str  # "start" for bars, "ts" for ticks


def normalized(header: str) -> str:
    return header.strip().lower().replace("_", "").replace(" ", "")


def is_ctp_tick_file(columns: list[str]) -> bool:
    return {normalized(c) for c in columns} >= _CTP_TICK_HEADERS


def header_mapping(
    columns: list[str], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Field name -> the file's column, from the aliases and then ``overrides`` (COLUMN=field)."""
    by_name = {normalized(c): c for c in columns}
    found: dict[str, str] = {}
    for field, aliases in _ALIASES.items():
        hit = next((by_name[a] for a in aliases if a in by_name), None)
        if hit is not None:
            found[field] = hit
    time_hit = next((by_name[a] for a in _TIME_ALIASES if a in by_name), None)
    if time_hit is not None:
        found["datetime"] = time_hit
    for source, field in (overrides or {}).items():
        if source not in columns:
            raise FileColumnError(field, source, None, "no such column in the file (--map)")
        found = {f: c for f, c in found.items() if c != source}
        found[field] = source
    return found


def _first_bad(ok: pl.Series, present: pl.Series) -> int | None:
    bad = (present & ~ok.fill_null(value=False)).fill_null(value=False)
    return int(bad.arg_max() or 0) if bad.any() else None


def _numbers(raw: pl.Series, field: str, source: str, dtype: pl.DataType) -> pl.Series:
    as_float = raw.cast(pl.Float64, strict=False) if raw.dtype != pl.Float64 else raw
    if raw.dtype == pl.String:
        as_float = raw.str.strip_chars().cast(pl.Float64, strict=False)
    row = _first_bad(as_float.is_finite(), raw.is_not_null())
    if row is not None:
        raise FileColumnError(field, source, row, f"{raw[row]!r} is not a number")
    if dtype == pl.Int64:
        row = _first_bad(as_float.round(0) == as_float, as_float.is_not_null())
        if row is not None:
            raise FileColumnError(field, source, row, f"{raw[row]!r} is not a whole number")
        return as_float.cast(pl.Int64).alias(field)
    if field in _FLOATS_OPTIONAL:  # CTP's "no price" markers
        as_float = pl.select(
            pl.when((as_float <= 0) | (as_float >= _ABSENT_PRICE)).then(None).otherwise(as_float)
        ).to_series()
    return as_float.alias(field)


def _parsed(raw: pl.Series, formats: tuple[str, ...], to_date: bool) -> pl.Series:
    text = raw.cast(pl.String).str.strip_chars()
    parsers = [
        text.str.to_date(f, strict=False)
        if to_date
        else text.str.to_datetime(f, strict=False, time_unit="us")
        for f in formats
    ]
    return pl.select(pl.coalesce(parsers)).to_series()


def _utc_times(raw: pl.Series, field: str, source: str, timezone: str) -> pl.Series:
    dtype = raw.dtype
    if isinstance(dtype, pl.Datetime):
        times = raw
    elif dtype == pl.Date:
        times = raw.cast(pl.Datetime("us"))
    else:
        times = _parsed(raw, _DATETIME_FORMATS, to_date=False)
        row = _first_bad(times.is_not_null(), raw.is_not_null())
        if row is not None:
            raise FileColumnError(field, source, row, f"{raw[row]!r} is not a date and time")
    row = _first_bad(pl.Series([False] * len(raw)), raw.is_null())
    if row is not None:
        raise FileColumnError(field, source, row, "missing time")
    time_zone = times.dtype.time_zone if isinstance(times.dtype, pl.Datetime) else None
    if time_zone is None:
        times = times.dt.replace_time_zone(timezone, ambiguous="earliest")
    return times.dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _times(raw: pl.DataFrame, found: dict[str, str], timezone: str, ctp: bool) -> pl.Series:
    if ctp:
        columns = {normalized(c): c for c in raw.columns}
        local = (
            raw[columns["actionday"]].cast(pl.String)
            + " "
            + raw[columns["updatetime"]].cast(pl.String)
        )
        times = _utc_times(local, "datetime", "ActionDay+UpdateTime", timezone)
        millis = _numbers(raw[columns["updatemillisec"]], "millisec", "UpdateMillisec", pl.Int64())
        return times + millis.cast(pl.Duration("ms"))
    if "datetime" in found:
        source = found["datetime"]
        if "date" in found and found["date"] != source and raw[source].dtype == pl.String:
            joined = raw[found["date"]].cast(pl.String) + " " + raw[source]
            return _utc_times(joined, "datetime", f"{found['date']}+{source}", timezone)
        return _utc_times(raw[source], "datetime", source, timezone)
    if "date" in found:  # daily bars
        return _utc_times(raw[found["date"]], "datetime", found["date"], timezone)
    raise FileColumnError("datetime", None, None, "no time column (datetime, date+time, ...)")


def _trading_days(raw: pl.Series, source: str) -> pl.Series:
    if raw.dtype == pl.Date:
        return raw.alias("trading_day")
    days = _parsed(raw, _DATE_FORMATS, to_date=True)
    row = _first_bad(days.is_not_null(), raw.is_not_null())
    if row is not None:
        raise FileColumnError("trading_day", source, row, f"{raw[row]!r} is not a date")
    return days.alias("trading_day")


def split_symbol(text: str) -> tuple[Exchange | None, str]:
    """``SHFE.au1912`` and ``rb2401.SHFE`` -> (exchange, symbol); a bare symbol -> (None, it)."""
    first, dot, rest = text.strip().partition(".")
    if not dot:
        return None, first
    if first in Exchange.__members__.values():
        return Exchange(first), rest
    last, _, head = text.strip().rpartition(".")[::-1]
    if last in Exchange.__members__.values():
        return Exchange(last), head
    raise ValueError(f"{text!r}: no exchange in it ({', '.join(Exchange)})")


def _series_keys(raw: pl.DataFrame, found: dict[str, str], symbol: str | None) -> pl.DataFrame:
    if symbol is not None:
        exchange, code = split_symbol(symbol)
        if exchange is None:
            raise FileColumnError("exchange", None, None, f"--symbol {symbol!r}: write EXCH.code")
        return pl.DataFrame(
            {"exchange": [exchange.value] * raw.height, "symbol": [code] * raw.height}
        )
    if "symbol" not in found:
        raise FileColumnError("symbol", None, None, "missing; give --symbol EXCHANGE.code")
    source = found["symbol"]
    texts = raw[source].cast(pl.String)
    pairs: dict[str, tuple[str | None, str]] = {}
    for row, text in enumerate(texts):
        if text is None:
            raise FileColumnError("symbol", source, row, "missing value")
        if text not in pairs:
            try:
                exchange, code = split_symbol(text)
            except ValueError as exc:
                raise FileColumnError("symbol", source, row, str(exc)) from None
            pairs[text] = (exchange.value if exchange else None, code)
    exchanges = texts.replace_strict({k: v[0] for k, v in pairs.items()}, return_dtype=pl.String)
    codes = texts.replace_strict({k: v[1] for k, v in pairs.items()}, return_dtype=pl.String)
    if "exchange" in found:
        exchanges = exchanges.fill_null(raw[found["exchange"]].cast(pl.String).str.to_uppercase())
    unknown = _first_bad(exchanges.is_not_null(), pl.Series([True] * raw.height))
    if unknown is not None:
        raise FileColumnError("exchange", None, unknown, "missing; give --symbol EXCHANGE.code")
    return pl.DataFrame({"exchange": exchanges, "symbol": codes})


def map_file(
    raw: pl.DataFrame,
    *,
    kind: Kind | None = None,
    symbol: str | None = None,
    timezone: str = str(EXCHANGE_TZ),
    mapping: Mapping[str, str] | None = None,
) -> Mapped:
    """A file's rows as store columns; ``kind`` None: ticks for CTP tick files, else bars."""
    ctp = is_ctp_tick_file(raw.columns)
    kind = kind or ("ticks" if ctp else "bars")
    found = header_mapping(raw.columns, mapping)
    missing = [field for field in _REQUIRED[kind] if field not in found]
    if missing:
        expected = ", ".join(_ALIASES[missing[0]])
        raise FileColumnError(
            missing[0], None, None, f"missing from the file (aliases: {expected})"
        )
    time_column = "start" if kind == "bars" else "ts"
    columns = [
        pl.Series(ROW, range(raw.height), dtype=pl.Int64),
        _times(raw, found, timezone, ctp).alias(time_column),
        *_series_keys(raw, found, symbol).get_columns(),
    ]
    numeric = _FLOATS + _FLOATS_OPTIONAL + _INTEGERS
    fields = _REQUIRED[kind] + tuple(
        f
        for f in numeric
        if f in found
        and f not in _REQUIRED[kind]
        and (kind == "ticks" or f in ("volume", "turnover", "open_interest"))
    )
    for field in fields:
        dtype = pl.Int64() if field in _INTEGERS else pl.Float64()
        columns.append(_numbers(raw[found[field]], field, found[field], dtype))
    if "trading_day" in found:
        columns.append(_trading_days(raw[found["trading_day"]], found["trading_day"]))
    return Mapped(pl.DataFrame(columns), kind, time_column)


def shift_to_start(mapped: Mapped, duration: timedelta) -> Mapped:
    """Bars labelled by their end (ctpbee, many vendors) relabelled by their start."""
    if mapped.kind != "bars":
        raise ValueError("only bars have a time label to shift")
    frame = mapped.frame.with_columns(pl.col("start") - duration)
    return Mapped(frame, mapped.kind, mapped.time_column)
