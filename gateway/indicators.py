"""The indicator catalogue, and indicators computed by the `indicators` function over bars
given in the request or loaded from the database (by symbol, interval and range; those answers
are cached by everything they depend on)."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter

from functions.envelope import FunctionCallError
from functions.indicators import (
    INDICATORS,
    MAX_BARS,
    MAX_INDICATORS,
    BarColumns,
    IndicatorSpec,
    IndicatorsRequest,
    IndicatorsResponse,
)
from gateway.auth import guards
from gateway.auth.identity import AuthUser
from gateway.auth.tokens import TokenClaims
from gateway.bars import parse_interval, parse_symbol
from gateway.errors import ApiError
from gateway.services import Services, ServicesDependency
from shared.indicators import IndicatorInfo, UnknownIndicatorError, catalogue, find
from shared.result_cache import ResultCacheUnavailableError
from shared.store.formulas import FormulaStore

log = logging.getLogger(__name__)

_STATUS_FOR_CODE = {
    "invalid_request": 422,
    "unknown_function": 500,
    "timeout": 504,
    "unavailable": 503,
}
_JSON = "application/json"
# Bumped when the answer's form changes, so older cached answers are never served.
_CACHE_VERSION = 1

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class ComputeRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Indicators over ``bars`` given here, or over the stored bars of ``symbol`` (with
    ``interval`` and, optionally, ``start`` (inclusive), ``end`` (exclusive) and ``limit``,
    the latest bars of the range)."""

    indicators: Annotated[
        list[IndicatorSpec], msgspec.Meta(min_length=1, max_length=MAX_INDICATORS)
    ]
    bars: BarColumns | None = None
    symbol: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    interval: Annotated[str, msgspec.Meta(max_length=8)] = "1m"
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_BARS)] = 5000


class IndicatorsController(Controller):
    path = "/api/v1/indicators"
    guards = [guards.viewer]  # noqa: RUF012
    tags = ["indicators"]  # noqa: RUF012

    @get(
        "",
        summary="Every indicator: inputs, parameters (type, default, bounds), outputs, group",
        description=(
            "What a front end needs to offer an indicator and draw it: `overlay` indicators "
            "go over the price, the others in a pane of their own; each output's `style` says "
            "how to draw it (line, dashed, histogram, upper/lower band, candlestick pattern)."
        ),
    )
    async def indicators(self) -> list[IndicatorInfo]:
        return catalogue()

    @get("/{name:str}", summary="One indicator of the catalogue, e.g. macd")
    async def indicator(
        self, name: Annotated[str, Parameter(pattern=r"^[A-Za-z0-9_]{1,40}$")]
    ) -> IndicatorInfo:
        try:
            return find(name).info
        except UnknownIndicatorError as exc:
            raise _unknown(exc, "name") from None

    @post(
        "/compute",
        summary="Compute indicators over bars given, or over stored bars by symbol and range",
        description=(
            "Either `bars` (columns) or `symbol` (EXCHANGE.symbol) with `interval`, `start`, "
            "`end` and `limit` (the latest bars of the range). Several indicators per call; the "
            "answer is column-oriented (ECharts-ready). Answers over stored bars are cached by "
            "symbol, range, parameters and the stored bars' extent (`X-Cache: hit|miss`). An "
            "unknown name is 404 `unknown_indicator` with the closest names; a bad parameter or "
            "input is 422 naming it (`indicators[0].params.timeperiod`)."
        ),
    )
    async def compute(
        self,
        data: JSONBody[ComputeRequest],
        request: Request[AuthUser, TokenClaims, State],
        services: ServicesDependency,
    ) -> Response[IndicatorsResponse]:
        data = msgspec.structs.replace(
            data, indicators=await _resolved(data.indicators, request.user.id, services)
        )
        if (data.bars is None) == (data.symbol is None):
            raise ApiError(
                422,
                "validation_error",
                "give either `bars` or `symbol` (with `interval` and a range), not both",
                ["bars", "symbol"],
            )
        if data.bars is not None:
            answer = await _call(
                services, IndicatorsRequest(bars=data.bars, indicators=data.indicators)
            )
            return Response(answer, media_type=_JSON)
        return await _over_stored_bars(services, data)


async def _resolved(
    specs: list[IndicatorSpec], user_id: int, services: Services
) -> list[IndicatorSpec]:
    """Unknown names answered here (404 with the closest ones), and the user's saved formulas
    (``"formula": "@name"``) put in: the function knows neither users nor the database."""
    store = FormulaStore(services.sessions)
    resolved: list[IndicatorSpec] = []
    for index, given in enumerate(specs):
        spec = given
        if spec.formula is not None and spec.formula.startswith("@"):
            saved = await store.get(user_id, spec.formula[1:])
            if saved is None:
                raise ApiError(
                    404,
                    "unknown_formula",
                    f"you have no saved formula {spec.formula[1:]!r}",
                    [f"indicators[{index}].formula"],
                )
            spec = msgspec.structs.replace(spec, formula=saved.expression, id=spec.id or saved.name)
        elif spec.name is not None:
            try:
                find(spec.name)
            except UnknownIndicatorError as exc:
                raise _unknown(exc, f"indicators[{index}].name") from None
        resolved.append(spec)
    return resolved


async def _over_stored_bars(
    services: Services, data: ComputeRequest
) -> Response[IndicatorsResponse]:
    exchange, code = parse_symbol(data.symbol)
    interval = parse_interval(data.interval)
    if data.start is not None and data.end is not None and data.start >= data.end:
        raise ApiError(422, "validation_error", "start must be before end", ["start", "end"])
    store = services.bars
    extent = await store.coverage(exchange, code, interval)
    if extent is None:
        raise ApiError(
            404, "unknown_symbol", f"no {interval.value} bars stored for {data.symbol}", ["symbol"]
        )
    # Everything the answer depends on: the request, and how far the stored bars reach (a bar
    # added or corrected later changes the extent, so a stale answer is never served).
    key = hashlib.sha256(
        msgspec.json.encode(
            [_CACHE_VERSION, msgspec.to_builtins(data), msgspec.to_builtins(extent)]
        )
    ).hexdigest()
    cached = await _cached(services, key)
    if cached is not None:
        return Response(cached, media_type=_JSON, headers={"X-Cache": "hit"})  # type: ignore[arg-type]
    frame = await store.load(
        exchange, code, interval, start=data.start, end=data.end, limit=data.limit
    )
    bars = BarColumns(
        ts=frame["start"].to_list(),
        open=frame["open"].to_list(),
        high=frame["high"].to_list(),
        low=frame["low"].to_list(),
        close=frame["close"].to_list(),
        volume=frame["volume"].cast(float).to_list(),
        open_interest=frame["open_interest"].cast(float).to_list(),
        trading_day=frame["trading_day"].to_list(),
    )
    answer = await _call(services, IndicatorsRequest(bars=bars, indicators=data.indicators))
    encoded = msgspec.json.encode(answer)
    try:
        await services.results.put(key, encoded, services.settings.result_cache_ttl_s)
    except ResultCacheUnavailableError as exc:
        log.warning("indicators: answer not cached: %s", exc)
    return Response(encoded, media_type=_JSON, headers={"X-Cache": "miss"})  # type: ignore[arg-type]


async def _cached(services: Services, key: str) -> bytes | None:
    try:
        return await services.results.get(key)
    except ResultCacheUnavailableError as exc:
        # The cache is a shortcut: without it the answer is computed.
        log.warning("indicators: cache unavailable, computing: %s", exc)
        return None


async def _call(services: Services, request: IndicatorsRequest) -> IndicatorsResponse:
    try:
        return await services.dispatcher.call(INDICATORS, request)
    except FunctionCallError as exc:
        status = _STATUS_FOR_CODE.get(exc.error.code, 502)
        raise ApiError(status, exc.error.code, exc.error.detail, exc.error.fields) from None


def _unknown(exc: UnknownIndicatorError, field: str) -> ApiError:
    return ApiError(404, "unknown_indicator", str(exc), [field])
