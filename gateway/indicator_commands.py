"""`quant indicators`: compute catalogue indicators over an OHLCV file, and list the catalogue.

The file is read like `quant data import` reads bars (CSV or Parquet, header names matched
case-insensitively against common aliases: date/datetime, open, high, low, close, volume,
openinterest...), and the computation is the `indicators` function's own, so the command line
gives what the API gives.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import msgspec
import polars as pl

from functions.indicators import (
    BarColumns,
    IndicatorSpec,
    IndicatorsRequest,
    IndicatorsResponse,
    compute_indicators,
)
from functions.registry import RequestError
from gateway.data_commands import DataCommandError, parse_mapping, read_table
from shared.domain import EXCHANGE_TZ, Exchange
from shared.indicators import catalogue
from shared.marketdata.bar_files import FileColumnError, map_file, split_symbol
from shared.sessions import (
    CalendarRangeError,
    UnknownProductError,
    assign_sessions,
    load_calendar,
    load_sessions,
)

# map_file names every row's series; a file of one series without a symbol gets this one,
# which nothing here reads.
_ANY_SERIES = f"{Exchange.SHFE.value}.file"


def parse_indicator(text: str) -> IndicatorSpec:
    """``NAME[:param=value,...]``; ``id=...`` among the parameters names the output."""
    name, _, rest = text.partition(":")
    params: dict[str, int | float] = {}
    series_id: str | None = None
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, equals, value = item.partition("=")
        if not equals or not key or not value:
            raise DataCommandError(f"--indicator {text!r}: write NAME:param=value,...")
        if key == "id":
            series_id = value
            continue
        try:
            number = float(value)
        except ValueError:
            raise DataCommandError(f"--indicator {text!r}: {key} must be a number") from None
        params[key] = int(number) if number.is_integer() and "." not in value else number
    try:
        return msgspec.convert(
            {"name": name.strip(), "params": params, "id": series_id}, IndicatorSpec
        )
    except msgspec.ValidationError as exc:
        raise DataCommandError(f"--indicator {text!r}: {exc}") from None


def parse_formula(text: str) -> IndicatorSpec:
    """``ID=EXPRESSION``: the column's name, then the formula."""
    series_id, equals, expression = text.partition("=")
    if not equals or not series_id.strip() or not expression.strip():
        raise DataCommandError(f"--formula {text!r}: write ID=EXPRESSION")
    try:
        return msgspec.convert(
            {"formula": expression.strip(), "id": series_id.strip()}, IndicatorSpec
        )
    except msgspec.ValidationError as exc:
        raise DataCommandError(f"--formula {text!r}: {exc}") from None


def _trading_days(frame: pl.DataFrame, symbol: str | None) -> pl.Series | None:
    if "trading_day" in frame.columns and frame["trading_day"].null_count() == 0:
        return frame["trading_day"]
    if symbol is None:
        return None  # session-anchored indicators will say they need it
    exchange, code = split_symbol(symbol)
    if exchange is None:
        raise DataCommandError(f"--symbol {symbol!r}: write EXCHANGE.code, e.g. SHFE.rb2401")
    try:
        sessions = load_sessions().for_symbol(code, exchange)
        assigned = assign_sessions(sessions, load_calendar(), frame["start"]).to_polars()
    except (UnknownProductError, CalendarRangeError) as exc:
        raise DataCommandError(f"{symbol}: {exc}") from None
    days = assigned["trading_day"]
    if days.null_count():
        row = int(days.is_null().arg_max() or 0)
        raise DataCommandError(f"row {row}: {frame['start'][row]} is outside {symbol}'s sessions")
    return days


def load_bars(
    path: Path,
    *,
    symbol: str | None = None,
    timezone: str = str(EXCHANGE_TZ),
    mapping: Sequence[str] = (),
) -> BarColumns:
    raw = read_table(path)
    try:
        mapped = map_file(
            raw,
            kind="bars",
            symbol=symbol or _ANY_SERIES,
            timezone=timezone,
            mapping=parse_mapping(list(mapping)),
        )
    except (FileColumnError, ValueError) as exc:
        raise DataCommandError(f"{path}: {exc}") from None
    frame = mapped.frame
    days = _trading_days(frame, symbol)
    return BarColumns(
        ts=frame["start"].to_list(),
        open=frame["open"].to_list(),
        high=frame["high"].to_list(),
        low=frame["low"].to_list(),
        close=frame["close"].to_list(),
        volume=(
            frame["volume"].cast(pl.Float64).to_list()
            if "volume" in frame.columns
            else [0.0] * frame.height
        ),
        open_interest=(
            frame["open_interest"].to_list() if "open_interest" in frame.columns else None
        ),
        trading_day=days.to_list() if days is not None else None,
    )


def compute_file(bars: BarColumns, specs: list[IndicatorSpec]) -> IndicatorsResponse:
    try:
        return compute_indicators(IndicatorsRequest(bars=bars, indicators=specs))
    except RequestError as exc:
        fields = f" ({', '.join(exc.fields)})" if exc.fields else ""
        raise DataCommandError(f"{exc}{fields}") from None


def render(answer: IndicatorsResponse, output_format: str) -> bytes:
    if output_format == "json":
        return msgspec.json.encode(answer) + b"\n"
    frame = pl.DataFrame(
        {
            "ts": [ts.isoformat().replace("+00:00", "Z") for ts in answer.ts],
            **{
                name: [None if v is None or math.isnan(v) else v for v in values]
                for name, values in answer.columns.items()
            },
        }
    )
    buffer = io.BytesIO()
    frame.write_csv(buffer, null_value="")
    return buffer.getvalue()


def catalogue_lines(group: str | None = None) -> list[str]:
    lines = []
    for info in catalogue():
        if group is not None and info.group.lower() != group.lower():
            continue
        params = ",".join(f"{p.name}={p.default:g}" for p in info.params)
        outputs = ",".join(o.name for o in info.outputs)
        lines.append(f"{info.name}\t{info.group}\t{params}\t{outputs}\t{info.title}")
    return lines
