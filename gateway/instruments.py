"""Instrument and product catalogue endpoints (filled in by the market-data work)."""

from __future__ import annotations

from litestar import Controller

from gateway.auth import guards


class InstrumentsController(Controller):
    path = "/api/v1"
    guards = [guards.viewer]  # noqa: RUF012  (Litestar reads class attributes)
    tags = ["instruments"]  # noqa: RUF012
