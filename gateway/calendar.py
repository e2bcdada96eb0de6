"""The exchange calendar: holidays, trading days, and the admin's yearly holiday update.

``PUT /api/v1/calendar/holidays/{year}`` replaces one year in the database and, at once, the
calendar the running gateway uses (``services.calendar``); the rows outlive restarts.
"""

from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, put
from litestar.datastructures import State
from litestar.params import Parameter

from gateway.auth import guards as role_guards
from gateway.auth.identity import AuthUser
from gateway.auth.tokens import TokenClaims
from gateway.bars import parse_time
from gateway.errors import ApiError
from gateway.services import ServicesDependency
from shared.domain import Exchange
from shared.sessions import (
    CalendarRangeError,
    Holiday,
    TradingCalendar,
    UnknownProductError,
    load_sessions,
    trading_day_of,
)
from shared.store.holidays import (
    NAME_MAX_LENGTH,
    HolidayRepository,
    HolidayTableError,
    check_year_table,
)
from shared.store.tables import HolidayKind

MAX_RANGE = timedelta(days=3 * 366)
FIRST_YEAR, LAST_YEAR = 1990, 2200
_CSV_COLUMNS = {"date", "name", "kind"}
_MSGSPEC_PATH = re.compile(r" - at `\$\.?([^`]*)`")
_MSGSPEC_NAMED = re.compile(r"(?:missing required field|contains unknown field) `([^`]+)`")
_LIST_ITEM = re.compile(r"^(holidays|night_suspensions)\[(\d+)\]")


class HolidayIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    date: date
    name: Annotated[str, msgspec.Meta(max_length=NAME_MAX_LENGTH)] = ""


class YearTableIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    holidays: list[HolidayIn]
    night_suspensions: list[date] = msgspec.field(default_factory=list)


class CalendarView(msgspec.Struct, frozen=True, kw_only=True):
    first_year: int
    last_year: int
    holidays: list[Holiday]
    night_suspensions: list[date]  # weekday evenings with no night session


class TradingDays(msgspec.Struct, frozen=True, kw_only=True):
    start: date
    end: date
    count: int
    trading_days: list[date]


class TradingDayOf(msgspec.Struct, frozen=True, kw_only=True):
    ts: datetime
    product: str
    exchange: Exchange
    trading_day: date | None  # None: outside every session of the product


class _ParsedTable(msgspec.Struct, frozen=True):
    holidays: list[Holiday]
    night_suspensions: list[date]
    lines: dict[str, list[int]]  # CSV line of each list item, to name it in errors


def _invalid(field: str, detail: str) -> ApiError:
    return ApiError(422, "validation_error", f"{field}: {detail}", [field])


def _view(calendar: TradingCalendar, year: int | None) -> CalendarView:
    def wanted(day: date) -> bool:
        return year is None or day.year == year

    return CalendarView(
        first_year=year or calendar.first_day.year,
        last_year=year or calendar.last_day.year,
        holidays=[h for h in calendar.holidays if wanted(h.date)],
        night_suspensions=sorted(d for d in calendar.night_suspensions if wanted(d)),
    )


def _parse_json(body: bytes) -> _ParsedTable:
    try:
        table = msgspec.json.decode(body, type=YearTableIn)
    except msgspec.ValidationError as error:
        message = str(error)
        path, named = _MSGSPEC_PATH.search(message), _MSGSPEC_NAMED.search(message)
        field = ".".join(p for p in (path and path.group(1), named and named.group(1)) if p)
        raise _invalid(field or "body", message) from None
    except msgspec.DecodeError as error:
        raise ApiError(400, "malformed_body", f"JSON is malformed: {error}", ["body"]) from None
    holidays = [Holiday(h.date, h.name.strip()) for h in table.holidays]
    return _ParsedTable(holidays, list(table.night_suspensions), {})


def _parse_csv(text: str) -> _ParsedTable:
    """The shipped `holidays.csv` layout (`date,name`), optionally with a `kind` column."""
    header: list[str] | None = None
    parsed = _ParsedTable([], [], {"holidays": [], "night_suspensions": []})
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = [cell.strip() for cell in next(csv.reader([line]))]
        if header is None:
            if "date" not in cells or not set(cells) <= _CSV_COLUMNS:
                raise _invalid(f"line {number}", "the header must be date,name[,kind]")
            header = cells
            continue
        if len(cells) > len(header):
            raise _invalid(f"line {number}", f"{len(cells)} cells, the header has {len(header)}")
        row = dict(zip(header, cells, strict=False))
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            raise _invalid(
                f"line {number}", f"bad date {row['date']!r} (want YYYY-MM-DD)"
            ) from None
        kind = row.get("kind") or HolidayKind.HOLIDAY.value
        if kind == HolidayKind.HOLIDAY:
            parsed.holidays.append(Holiday(day, row.get("name", "")))
            parsed.lines["holidays"].append(number)
        elif kind == HolidayKind.NIGHT_SUSPENSION:
            parsed.night_suspensions.append(day)
            parsed.lines["night_suspensions"].append(number)
        else:
            raise _invalid(f"line {number}", f"kind {kind!r} is not holiday or night_suspension")
    if header is None:
        raise _invalid("body", "the CSV has no header line (date,name[,kind])")
    return parsed


async def _read_table(request: Request[Any, Any, Any]) -> tuple[_ParsedTable, str]:
    media_type = request.content_type[0]
    body = await request.body()
    if not body.strip():
        raise ApiError(400, "missing_body", "a request body is required", ["body"])
    if media_type == "application/json":
        return _parse_json(body), "json"
    if media_type in {"text/csv", "application/csv"}:
        try:
            return _parse_csv(body.decode("utf-8-sig")), "csv"
        except UnicodeDecodeError:
            raise _invalid("body", "the CSV is not UTF-8") from None
    raise ApiError(
        415, "unsupported_media_type", "send application/json or text/csv", ["content-type"]
    )


def _field_for_input(error: HolidayTableError, table: _ParsedTable) -> str:
    """A CSV's items are named by line number; a JSON body's by their path."""
    item = _LIST_ITEM.match(error.field)
    if item is None or not table.lines:
        return error.field
    return f"line {table.lines[item.group(1)][int(item.group(2))]}"


class CalendarController(Controller):
    path = "/api/v1/calendar"
    guards = [role_guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["calendar"]  # noqa: RUF012

    @get("/holidays", summary="Exchange holidays and night suspensions in force")
    async def holidays(
        self,
        services: ServicesDependency,
        year: Annotated[int | None, Parameter(description="only this year")] = None,
    ) -> CalendarView:
        calendar = services.calendar
        if year is not None and not calendar.covers(date(max(1, min(year, 9999)), 1, 1)):
            first, last = calendar.first_day.year, calendar.last_day.year
            raise ApiError(404, "unknown_year", f"the calendar covers {first}..{last}", ["year"])
        return _view(calendar, year)

    @get("/trading-days", summary="Trading days from start to end (inclusive, <= 3 years)")
    async def trading_days(
        self,
        services: ServicesDependency,
        start: Annotated[date, Parameter(description="first date, e.g. 2024-01-01")],
        end: Annotated[date, Parameter(description="last date (inclusive)")],
    ) -> TradingDays:
        if start > end:
            raise ApiError(422, "validation_error", "start is after end", ["start", "end"])
        if end - start > MAX_RANGE:
            raise _invalid("end", f"at most {MAX_RANGE.days} days after start")
        calendar = services.calendar
        for field, day in (("start", start), ("end", end)):
            if not calendar.covers(day):
                raise _invalid(
                    field,
                    f"{day} is outside the calendar ({calendar.first_day} .. {calendar.last_day})",
                )
        days = calendar.trading_days(start, end)
        return TradingDays(start=start, end=end, count=len(days), trading_days=days)

    @get("/trading-day", summary="The trading day a timestamp belongs to, for one product")
    async def trading_day(
        self,
        services: ServicesDependency,
        ts: Annotated[str, Parameter(description="ISO 8601 with offset", max_length=64)],
        product: Annotated[str, Parameter(description="e.g. rb, IF", pattern=r"^[A-Za-z]{1,4}$")],
        exchange: Annotated[Exchange | None, Parameter(description="for unlisted products")] = None,
    ) -> TradingDayOf:
        moment = parse_time("ts", ts)
        assert moment is not None  # parse_time returns None only for a missing value
        try:
            sessions = load_sessions().for_product(product, exchange)
        except UnknownProductError as error:
            raise _invalid("product", str(error)) from None
        try:
            day = trading_day_of(sessions, services.calendar, moment)
        except CalendarRangeError as error:
            raise _invalid("ts", str(error)) from None
        return TradingDayOf(
            ts=moment, product=sessions.product, exchange=sessions.exchange, trading_day=day
        )

    @put(
        "/holidays/{year:int}",
        guards=[role_guards.admin],
        summary="Replace one year's holidays (JSON or CSV); takes effect at once",
        description=(
            'JSON: `{"holidays": [{"date": "2027-01-01", "name": "New Year"}], '
            '"night_suspensions": ["2027-09-24"]}`. CSV: the shipped holidays.csv layout, '
            "`date,name`, optionally a `kind` column (`holiday` or `night_suspension`)."
        ),
    )
    async def replace_year(
        self,
        request: Request[AuthUser, TokenClaims, State],
        services: ServicesDependency,
        year: Annotated[int, Parameter(ge=FIRST_YEAR, le=LAST_YEAR)],
    ) -> CalendarView:
        table, body_format = await _read_table(request)
        try:
            check_year_table(year, table.holidays, table.night_suspensions)
        except HolidayTableError as error:
            raise _invalid(_field_for_input(error, table), error.message) from None
        async with services.calendar_updates:
            before = services.calendar
            try:
                calendar = await HolidayRepository(services.sessions).replace_years(
                    year,
                    year,
                    table.holidays,
                    table.night_suspensions,
                    updated_by=request.user.username,
                )
            except HolidayTableError as error:
                raise _invalid("year", error.message) from None
            services.calendar = calendar
        old = (
            {h.date for h in _view(before, year).holidays}
            if before.covers(date(year, 1, 1))
            else set()
        )
        new = {h.date for h in table.holidays}
        await services.audit.record(
            "calendar.update",
            user_id=request.user.id,
            target=f"holidays/{year}",
            detail={
                "format": body_format,
                "holidays": len(new),
                "night_suspensions": len(table.night_suspensions),
                "added": sorted(d.isoformat() for d in new - old),
                "removed": sorted(d.isoformat() for d in old - new),
            },
            client_ip=request.client.host if request.client else None,
        )
        return _view(calendar, year)
