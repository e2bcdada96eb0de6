"""Price arithmetic on the instrument's tick grid: floats are never compared for equality."""

from __future__ import annotations

import math

# A price is on the grid when it is within this fraction of a tick of a grid point;
# large enough to absorb binary floating-point error, far smaller than any real tick.
_GRID_TOLERANCE = 1e-6


def price_to_ticks(price: float, tick: float) -> int:
    """The nearest whole number of ticks for ``price``."""
    if not tick > 0:
        raise ValueError(f"price tick must be positive, got {tick!r}")
    return round(price / tick)


def is_on_tick(price: float, tick: float) -> bool:
    if not math.isfinite(price):
        return False
    ticks = price / tick
    return abs(ticks - round(ticks)) <= _GRID_TOLERANCE


def round_to_tick(price: float, tick: float) -> float:
    """Snap ``price`` to the nearest grid point, with the float noise removed."""
    decimals = max(0, -math.floor(math.log10(tick)) + 2)
    return round(price_to_ticks(price, tick) * tick, decimals)


def prices_equal(a: float, b: float, tick: float) -> bool:
    return price_to_ticks(a, tick) == price_to_ticks(b, tick)
