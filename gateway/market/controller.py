"""Latest quotes from the venue (the WebSocket hub streams them; this is the snapshot)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from gateway.auth import guards
from gateway.errors import ApiError
from gateway.services import ServicesDependency
from shared.domain import Tick


class MarketController(Controller):
    path = "/api/v1/market"
    guards = [guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["market"]  # noqa: RUF012

    @get("/quotes", summary="Latest tick of every symbol the venue has sent")
    async def quotes(self, services: ServicesDependency) -> list[Tick]:
        return services.feed.all_latest()

    @get("/quotes/{key:str}", summary="Latest tick of one symbol, e.g. CFFEX.IF2101")
    async def quote(
        self,
        services: ServicesDependency,
        key: Annotated[str, Parameter(description="EXCHANGE.symbol", max_length=64)],
    ) -> Tick:
        tick = services.feed.latest(key)
        if tick is None:
            raise ApiError(404, "unknown_symbol", f"no quote for {key!r}", ["key"])
        return tick
