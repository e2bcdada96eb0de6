"""Indicators over bars given in the request, computed by the `indicators` function."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody

from functions.envelope import FunctionCallError
from functions.indicators import INDICATORS, IndicatorsRequest, IndicatorsResponse
from gateway.auth import guards
from gateway.errors import ApiError
from gateway.services import ServicesDependency

_STATUS_FOR_CODE = {
    "invalid_request": 422,
    "unknown_function": 500,
    "timeout": 504,
    "unavailable": 503,
}


class IndicatorsController(Controller):
    path = "/api/v1/indicators"
    guards = [guards.viewer]  # noqa: RUF012
    tags = ["indicators"]  # noqa: RUF012

    @post("/compute", summary="Compute SMA/EMA/RSI/MACD over the bars in the request")
    async def compute(
        self, data: JSONBody[IndicatorsRequest], services: ServicesDependency
    ) -> IndicatorsResponse:
        try:
            return await services.dispatcher.call(INDICATORS, data)
        except FunctionCallError as exc:
            status = _STATUS_FOR_CODE.get(exc.error.code, 502)
            raise ApiError(status, exc.error.code, exc.error.detail, exc.error.fields) from None
