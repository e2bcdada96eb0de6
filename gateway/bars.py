"""Historical bars: ``GET /api/v1/bars``, column-oriented JSON (ECharts) or Parquet.

A symbol with no stored bars at all is ``404 unknown_symbol``; a known symbol with no bars in
the requested interval or range is ``200`` with empty columns, so a chart can tell "no such
contract" from "nothing in this window".
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import polars as pl
from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from gateway.auth import guards
from gateway.errors import ApiError
from gateway.services import ServicesDependency
from shared.domain import Exchange, Interval

JSON = "application/json"
PARQUET = "application/vnd.apache.parquet"
DEFAULT_LIMIT = 5_000
MAX_LIMIT = 100_000
_SYMBOL = re.compile(r"([A-Z]{3,5})\.([A-Za-z0-9][A-Za-z0-9_\-]{0,31})")
# An unescaped "+" in a query string arrives as a space: "...T09:00:00 08:00" means +08:00.
_SPACE_FOR_PLUS = re.compile(r" (\d{2}(?::?\d{2})?)$")
_ISO_UTC = "%Y-%m-%dT%H:%M:%S%.fZ"
_EXCHANGES = ", ".join(member.value for member in Exchange)
_INTERVALS = ", ".join(member.value for member in Interval)


class BarColumns(msgspec.Struct, frozen=True):
    """One list per field, index-aligned; ``start`` is the bar's UTC start (ISO 8601)."""

    start: list[str]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[int]
    turnover: list[float]
    open_interest: list[float]
    trading_day: list[str]


class BarsTable(msgspec.Struct, frozen=True):
    symbol: str
    exchange: str
    interval: str
    columns: BarColumns


def _invalid(field: str, detail: str) -> ApiError:
    return ApiError(422, "validation_error", f"{field}: {detail}", [field])


def parse_symbol(value: str | None) -> tuple[Exchange, str]:
    if value is None:
        raise _invalid("symbol", "is required (EXCHANGE.symbol, e.g. SHFE.au1912)")
    match = _SYMBOL.fullmatch(value)
    if match is None or match.group(1) not in Exchange.__members__:
        raise _invalid(
            "symbol", f"must be EXCHANGE.symbol (e.g. SHFE.au1912), EXCHANGE one of {_EXCHANGES}"
        )
    return Exchange(match.group(1)), match.group(2)


def parse_interval(value: str) -> Interval:
    try:
        return Interval(value)
    except ValueError:
        raise _invalid("interval", f"must be one of {_INTERVALS}") from None


def parse_time(field: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(_SPACE_FOR_PLUS.sub(r"+\1", value.strip()))
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise _invalid(field, "needs a UTC offset (e.g. 2019-07-01T09:00:00+08:00 or ...Z)")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _invalid(field, "must be an ISO 8601 date-time with an offset") from None


def _wants_parquet(request: Request[Any, Any, Any]) -> bool:
    try:
        return request.accept.best_match([JSON, PARQUET], default=JSON) == PARQUET
    except ValueError:  # a malformed Accept header (e.g. q=abc) gets the default
        return False


def _as_json(frame: pl.DataFrame, exchange: Exchange, symbol: str, interval: Interval) -> BarsTable:
    text = frame.with_columns(
        pl.col("start").dt.strftime(_ISO_UTC), pl.col("trading_day").dt.strftime("%Y-%m-%d")
    )
    columns = BarColumns(**{name: text[name].to_list() for name in BarColumns.__struct_fields__})
    return BarsTable(
        symbol=symbol, exchange=exchange.value, interval=interval.value, columns=columns
    )


def _as_parquet(frame: pl.DataFrame, exchange: Exchange, symbol: str, interval: Interval) -> bytes:
    buffer = io.BytesIO()
    frame.select(BarColumns.__struct_fields__).write_parquet(
        buffer,
        metadata={"exchange": exchange.value, "symbol": symbol, "interval": interval.value},
    )
    return buffer.getvalue()


class BarsController(Controller):
    path = "/api/v1/bars"
    guards = [guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["market data"]  # noqa: RUF012

    @get(
        "",
        summary="Bars of one symbol as columns (JSON for charts) or Parquet",
        description=(
            "The latest `limit` bars with `start <= bar start < end`, oldest first. "
            f"`Accept: {PARQUET}` returns the same table as Parquet. A symbol without any "
            "stored bar is 404 `unknown_symbol`."
        ),
    )
    async def bars(
        self,
        *,
        request: Request[Any, Any, Any],
        services: ServicesDependency,
        # Optional in the signature only so that a missing one is a 422 naming it, like the rest.
        symbol: Annotated[
            str | None,
            Parameter(description="EXCHANGE.symbol, e.g. SHFE.au1912 (required)", max_length=64),
        ] = None,
        interval: Annotated[str, Parameter(description=_INTERVALS, max_length=8)] = "1m",
        start: Annotated[
            str | None,
            Parameter(description="ISO 8601 with offset, inclusive", max_length=64),
        ] = None,
        end: Annotated[
            str | None,
            Parameter(description="ISO 8601 with offset, exclusive", max_length=64),
        ] = None,
        limit: Annotated[
            int, Parameter(description="at most this many (the latest)", ge=1, le=MAX_LIMIT)
        ] = DEFAULT_LIMIT,
    ) -> Response[BarsTable | bytes]:
        exchange, code = parse_symbol(symbol)
        bar_interval = parse_interval(interval)
        first, until = parse_time("start", start), parse_time("end", end)
        if first is not None and until is not None and first >= until:
            raise ApiError(422, "validation_error", "start must be before end", ["start", "end"])
        store = services.bars
        frame = await store.load(exchange, code, bar_interval, start=first, end=until, limit=limit)
        if frame.is_empty() and not await store.has_symbol(exchange, code):
            raise ApiError(404, "unknown_symbol", f"no bars stored for {symbol}", ["symbol"])
        if _wants_parquet(request):
            filename = f"{exchange.value}.{code}_{bar_interval.value}.parquet"
            return Response(
                _as_parquet(frame, exchange, code, bar_interval),
                media_type=PARQUET,
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return Response(_as_json(frame, exchange, code, bar_interval), media_type=JSON)
