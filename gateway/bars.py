"""Historical bars endpoint (filled in by the market-data work)."""

from __future__ import annotations

from litestar import Controller

from gateway.auth import guards


class BarsController(Controller):
    path = "/api/v1/bars"
    guards = [guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["market data"]  # noqa: RUF012
