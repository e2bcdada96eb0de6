"""Venues: where ticks come from and orders go (a simulated replay, a CTP broker, or none, on a
replica that only serves clients)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.venues._port import (
    BrokerLink,
    LiveOrders,
    MarketSink,
    MarketTee,
    OrderRoute,
    OrderSink,
    Venue,
)
from gateway.venues.serving_only import ServingOnlyVenue
from gateway.venues.simulated import SimulatedVenue
from gateway.venues.stored import NoReplayDataError, StoredReplay
from shared.config import Settings
from shared.domain import Instrument
from shared.sessions import SessionCatalog, TradingCalendar
from shared.store.market_data import BarStore, TickStore


class VenueNotAvailableError(RuntimeError):
    pass


def open_venue(
    settings: Settings,
    engine: AsyncEngine,
    *,
    instruments: dict[str, Instrument],
    sessions: SessionCatalog,
    calendar: Callable[[], TradingCalendar],
    on_instruments: Callable[[list[Instrument]], None] | None = None,
    ctp_apis: Callable[[str], Any] | None = None,
) -> Venue:
    """The configured venue; ``engine`` is the database a simulated venue replays from when
    ``replay_symbols`` names symbols (the shipped tick file otherwise). A CTP venue updates
    ``instruments`` from the broker's contract list and hands each update to
    ``on_instruments``; ``ctp_apis`` stands in for the library's APIs (tests)."""
    if settings.venue == "ctp":
        return _open_ctp(
            settings,
            instruments=instruments,
            sessions=sessions,
            calendar=calendar,
            on_instruments=on_instruments,
            apis=ctp_apis,
        )
    if settings.venue == "none":
        return ServingOnlyVenue()
    if not settings.replay_series:
        return SimulatedVenue(speed=settings.replay_speed)
    source = StoredReplay(settings.replay_series, TickStore(engine), BarStore(engine))
    return SimulatedVenue(speed=settings.replay_speed, source=source)


def prepare_ctp(settings: Settings) -> None:
    """Make the CTP library importable in this process (its locale prepared, the import
    proved in a child process), or raise `VenueNotAvailableError` saying how to fix it."""
    # The library aborts the process on import without its locale: prepared (and the import
    # proved in a child process) before this process imports it.
    from gateway.venues.ctp.environment import (  # noqa: PLC0415
        CtpEnvironmentError,
        check_import,
        prepare_locale,
    )

    try:
        prepare_locale(settings.var_path / "locale")
        check_import()
    except CtpEnvironmentError as exc:
        raise VenueNotAvailableError(f"QUANT_VENUE=ctp: {exc}") from exc


def _open_ctp(
    settings: Settings,
    *,
    instruments: dict[str, Instrument],
    sessions: SessionCatalog,
    calendar: Callable[[], TradingCalendar],
    on_instruments: Callable[[list[Instrument]], None] | None,
    apis: Callable[[str], Any] | None,
) -> Venue:
    prepare_ctp(settings)
    from gateway.venues.ctp.venue import CtpVenue  # noqa: PLC0415

    return CtpVenue(
        settings,
        instruments=instruments,
        sessions=sessions,
        calendar=calendar,
        on_instruments=on_instruments,
        apis=apis,
    )


__all__ = [
    "BrokerLink",
    "LiveOrders",
    "MarketSink",
    "MarketTee",
    "NoReplayDataError",
    "OrderRoute",
    "OrderSink",
    "ServingOnlyVenue",
    "SimulatedVenue",
    "StoredReplay",
    "Venue",
    "VenueNotAvailableError",
    "open_venue",
    "prepare_ctp",
]
