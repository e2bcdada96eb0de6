"""Latest quotes (the WebSocket hub streams ticks; this is the snapshot)."""

from __future__ import annotations

import re
from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from gateway.auth import guards
from gateway.errors import ApiError
from gateway.services import ServicesDependency
from shared.domain import Tick

MAX_SYMBOLS = 500
_KEY = re.compile(r"^[A-Z]{3,5}\.[A-Za-z0-9]{1,32}$")


def _checked_keys(symbols: str) -> list[str]:
    keys = [key.strip() for key in symbols.split(",") if key.strip()]
    if len(keys) > MAX_SYMBOLS:
        raise ApiError(422, "validation_error", f"at most {MAX_SYMBOLS} symbols", ["symbols"])
    bad = [key for key in keys if not _KEY.fullmatch(key)]
    if bad:
        raise ApiError(
            422,
            "validation_error",
            f"symbols must be EXCHANGE.symbol (e.g. SHFE.rb2401); not {', '.join(bad[:5])}",
            ["symbols"],
        )
    return keys


class QuotesController(Controller):
    path = "/api/v1/quotes"
    guards = [guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["market data"]  # noqa: RUF012

    @get("", summary="Latest tick per symbol: all, or those named in `symbols`")
    async def quotes(
        self,
        services: ServicesDependency,
        symbols: Annotated[
            str | None,
            Parameter(description="comma-separated EXCHANGE.symbol keys", max_length=20_000),
        ] = None,
    ) -> list[Tick]:
        if symbols is None:
            return await services.quotes.all()
        keys = _checked_keys(symbols)
        found = await services.quotes.get_many(keys)
        return [found[key] for key in keys if key in found]

    @get("/{key:str}", summary="Latest tick of one symbol, e.g. CFFEX.IF2101")
    async def quote(
        self,
        services: ServicesDependency,
        key: Annotated[str, Parameter(description="EXCHANGE.symbol", max_length=64)],
    ) -> Tick:
        tick = await services.quotes.get(key)
        if tick is None:
            raise ApiError(404, "unknown_symbol", f"no quote for {key!r}", ["key"])
        return tick
