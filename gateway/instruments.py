"""Instrument and product catalogue endpoints."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import Parameter

from gateway.auth import guards
from gateway.errors import ApiError
from gateway.services import ServicesDependency
from shared.domain import Exchange, Instrument
from shared.instruments import Product
from shared.store.catalogue import CatalogueRepository

MAX_PAGE = 1000
# Letters and digits only: anything else cannot name a contract (and a NUL byte would not
# even reach PostgreSQL).
_CODE = r"^[A-Za-z]{1,4}$"
_SYMBOL = r"^[A-Za-z0-9]{1,32}$"


class InstrumentPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Instrument]
    total: int  # matching instruments, for paging
    limit: int
    offset: int


class InstrumentsController(Controller):
    path = "/api/v1"
    guards = [guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["instruments"]  # noqa: RUF012

    @get("/products", summary="Futures products: multiplier, tick, margins, fees, daily limit")
    async def products(
        self,
        services: ServicesDependency,
        exchange: Annotated[
            Exchange | None, Parameter(description="only this exchange, e.g. SHFE")
        ] = None,
    ) -> list[Product]:
        return await CatalogueRepository(services.sessions).list_products(exchange)

    @get("/instruments", summary="Contracts, filtered; ordered by exchange and symbol")
    async def instruments(
        self,
        *,
        services: ServicesDependency,
        exchange: Annotated[Exchange | None, Parameter(description="e.g. SHFE")] = None,
        product: Annotated[
            str | None,
            Parameter(description="product code as the exchange writes it, e.g. rb", pattern=_CODE),
        ] = None,
        symbol: Annotated[
            str | None,
            Parameter(description="symbol prefix (any case), e.g. rb24", pattern=_SYMBOL),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> InstrumentPage:
        repository = CatalogueRepository(services.sessions)
        items = await repository.list_instruments(
            exchange=exchange, product=product, symbol_prefix=symbol, limit=limit, offset=offset
        )
        total = await repository.count_instruments(
            exchange=exchange, product=product, symbol_prefix=symbol
        )
        return InstrumentPage(items=items, total=total, limit=limit, offset=offset)

    @get("/instruments/{exchange:str}/{symbol:str}", summary="One contract, e.g. SHFE/rb2401")
    async def instrument(
        self,
        services: ServicesDependency,
        exchange: Annotated[Exchange, Parameter(description="e.g. SHFE")],
        symbol: Annotated[str, Parameter(description="e.g. rb2401", pattern=_SYMBOL)],
    ) -> Instrument:
        found = await CatalogueRepository(services.sessions).get_instrument(exchange, symbol)
        if found is None:
            raise ApiError(
                404, "unknown_instrument", f"no instrument {exchange}.{symbol}", ["symbol"]
            )
        return found
