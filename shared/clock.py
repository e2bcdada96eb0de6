"""The wall clock, for the edges that read it (storage, the gateway).

Pure domain code never reads the clock: time is passed in. Code that reads it takes a
``Clock`` argument defaulting to ``utc_now`` so that tests can inject their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
