"""Compiled loops for signal rules that numpy can only express in several passes."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def crossings(a: np.ndarray, b: np.ndarray, up: np.ndarray, down: np.ndarray) -> None:
    """up[i] / down[i]: `a` crosses above / below `b` at bar i (the rule in `_signals`)."""
    # Crossings are rare: clear both columns at memset speed, then store only where one is.
    up[:] = False
    down[:] = False
    last = 0  # sign of a - b at the last bar where both were defined and differed
    for i in range(a.shape[0]):
        diff = a[i] - b[i]
        if diff > 0.0:
            if last < 0:
                up[i] = True
            last = 1
        elif diff < 0.0:
            if last > 0:
                down[i] = True
            last = -1
        # equal, or undefined (NaN compares false both ways): no information
