"""Venues: where ticks come from and orders go (simulated replay now; CTP later)."""

from __future__ import annotations

from gateway.venues._port import TickSink, Venue
from gateway.venues.simulated import SimulatedVenue
from shared.config import Settings


class VenueNotAvailableError(RuntimeError):
    pass


def open_venue(settings: Settings) -> Venue:
    if settings.venue == "ctp":
        # The CTP adapter is its own piece of work; refuse rather than pretend.
        raise VenueNotAvailableError(
            "QUANT_VENUE=ctp: the CTP venue is not implemented yet; use QUANT_VENUE=simulated"
        )
    return SimulatedVenue(speed=settings.replay_speed)


__all__ = ["SimulatedVenue", "TickSink", "Venue", "VenueNotAvailableError", "open_venue"]
