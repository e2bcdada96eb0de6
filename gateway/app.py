"""The gateway: one always-on Litestar app (REST, WebSocket, venue session, dispatcher)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from importlib.metadata import version
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from gateway.auth.controller import AuthController
from gateway.auth.middleware import TokenAuthMiddleware
from gateway.auth.step_up import TradingAuthController
from gateway.auth.users_controller import UsersController
from gateway.backtests.api import (
    BacktestsController,
    OptimizationsController,
    StrategiesController,
)
from gateway.bars import BarsController
from gateway.calendar import CalendarController
from gateway.errors import EXCEPTION_HANDLERS
from gateway.formulas import FormulasController
from gateway.health import health, ready
from gateway.indicators import IndicatorsController
from gateway.instruments import InstrumentsController
from gateway.market.quotes import QuotesController
from gateway.orders.controller import OrdersController
from gateway.orders.risk_controller import RiskController
from gateway.orders.venue_controller import VenueController
from gateway.services import Services, running_services, token_issuer
from gateway.ws.endpoint import ws_endpoint
from shared.config import Settings, load_settings


def _services(state: State) -> Services:
    services: Services = state.services
    return services


def create_app(settings: Settings, *, ctp_apis: Callable[[str], Any] | None = None) -> Litestar:
    """The gateway app; ``ctp_apis`` stands in for the CTP library's APIs (tests script a
    front there)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with running_services(settings, ctp_apis=ctp_apis) as services:
            app.state.services = services
            yield

    return Litestar(
        route_handlers=[
            health,
            ready,
            AuthController,
            TradingAuthController,
            UsersController,
            OrdersController,
            RiskController,
            VenueController,
            QuotesController,
            StrategiesController,
            BacktestsController,
            OptimizationsController,
            FormulasController,
            IndicatorsController,
            InstrumentsController,
            BarsController,
            CalendarController,
            ws_endpoint,
        ],
        lifespan=[lifespan],
        dependencies={"services": Provide(_services, sync_to_thread=False)},
        middleware=[DefineMiddleware(TokenAuthMiddleware, issuer=token_issuer(settings))],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="quant-backend",
            version=version("quant-backend"),
            description="Market data, orders, indicators and backtests for Chinese futures.",
            path="/docs",
            render_plugins=[SwaggerRenderPlugin(path="/"), JsonRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
            security=[{"bearer": []}],
        ),
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            log_exceptions="never",  # unexpected_exception_handler logs real failures once
        ),
        debug=False,
    )


def create_app_from_env() -> Litestar:
    """For ASGI servers: ``uvicorn --factory gateway.app:create_app_from_env``."""
    return create_app(load_settings())
