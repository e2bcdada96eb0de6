"""Liveness (/health) and readiness (/ready) probes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import msgspec
from litestar import Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from gateway.services import ServicesDependency
from shared.domain import ComponentState
from shared.store import ping as ping_database

_PROBE_TIMEOUT_S = 2.0


class Health(msgspec.Struct, frozen=True):
    status: str
    started_at: datetime


class ComponentStatus(msgspec.Struct, frozen=True):
    status: ComponentState
    detail: str = ""


class Readiness(msgspec.Struct, frozen=True):
    status: str  # ready | not_ready
    components: dict[str, ComponentStatus]


@get("/health", tags=["probes"], summary="The process is alive", sync_to_thread=False)
def health(services: ServicesDependency) -> Health:
    return Health(status="ok", started_at=services.started_at)


async def _probe(check: Callable[[], Awaitable[None]], detail: str) -> ComponentStatus:
    try:
        await asyncio.wait_for(check(), timeout=_PROBE_TIMEOUT_S)
    except TimeoutError:
        return ComponentStatus(ComponentState.DOWN, f"no answer within {_PROBE_TIMEOUT_S:.0f}s")
    except (ConnectionError, OSError) as exc:
        return ComponentStatus(ComponentState.DOWN, str(exc) or type(exc).__name__)
    return ComponentStatus(ComponentState.UP, detail)


@get(
    "/ready",
    tags=["probes"],
    summary="Database, bus, quote cache, dispatcher, objects and venue all usable",
    description=(
        "`websocket` reports the hub's clients, how many are behind (not reading as fast as "
        "their ticks come) and how many were closed as too slow; it never makes the gateway "
        "not ready."
    ),
)
async def ready(services: ServicesDependency) -> Response[Readiness]:
    settings = services.settings
    database, bus, quotes, dispatcher, objects = await asyncio.gather(
        _probe(lambda: ping_database(services.engine), services.engine.dialect.name),
        _probe(services.bus.ping, settings.bus),
        _probe(services.quotes.ping, "redis" if settings.bus == "redis" else "memory"),
        _probe(services.dispatcher.ping, settings.dispatcher),
        _probe(services.deps.objects.ping, settings.objects),
    )
    components = {
        "database": database,
        "bus": bus,
        "quotes": quotes,
        "dispatcher": dispatcher,
        "objects": objects,
        "venue": ComponentStatus(services.venue.state, services.venue.detail),
        "websocket": ComponentStatus(ComponentState.UP, services.hub.describe()),
    }
    ok = all(c.status == ComponentState.UP for c in components.values())
    return Response(
        Readiness(status="ready" if ok else "not_ready", components=components),
        status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE,
    )
