"""Venues: where ticks come from and orders go (simulated replay now; CTP later; or none,
on a replica that only serves clients)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.venues._port import MarketSink, MarketTee, Venue
from gateway.venues.serving_only import ServingOnlyVenue
from gateway.venues.simulated import SimulatedVenue
from gateway.venues.stored import NoReplayDataError, StoredReplay
from shared.config import Settings
from shared.store.market_data import BarStore, TickStore


class VenueNotAvailableError(RuntimeError):
    pass


def open_venue(settings: Settings, engine: AsyncEngine) -> Venue:
    """The configured venue; ``engine`` is the database a simulated venue replays from when
    ``replay_symbols`` names symbols (the shipped tick file otherwise)."""
    if settings.venue == "ctp":
        # The CTP adapter is its own piece of work; refuse rather than pretend.
        raise VenueNotAvailableError(
            "QUANT_VENUE=ctp: the CTP venue is not implemented yet; use QUANT_VENUE=simulated"
        )
    if settings.venue == "none":
        return ServingOnlyVenue()
    if not settings.replay_series:
        return SimulatedVenue(speed=settings.replay_speed)
    source = StoredReplay(settings.replay_series, TickStore(engine), BarStore(engine))
    return SimulatedVenue(speed=settings.replay_speed, source=source)


__all__ = [
    "MarketSink",
    "MarketTee",
    "NoReplayDataError",
    "ServingOnlyVenue",
    "SimulatedVenue",
    "StoredReplay",
    "Venue",
    "VenueNotAvailableError",
    "open_venue",
]
