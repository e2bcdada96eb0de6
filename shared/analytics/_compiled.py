"""Single-pass loops over an equity curve, compiled with numba: the checks and the drawdown
episodes each read a million points once, where numpy needs several temporary arrays."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

CURVE_OK, BAD_TIMESTAMPS, BAD_DAYS, BAD_EQUITY = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def scan_curve(timestamps: np.ndarray, days: np.ndarray, equity: np.ndarray) -> int:
    """The first problem found (a code above), or CURVE_OK."""
    for i in range(equity.shape[0]):
        value = equity[i]
        if not (math.isfinite(value) and value > 0.0):
            return BAD_EQUITY
        if i > 0:
            if timestamps[i] <= timestamps[i - 1]:
                return BAD_TIMESTAMPS
            if days[i] < days[i - 1]:
                return BAD_DAYS
    return CURVE_OK


@njit(cache=True, nogil=True)
def drawdown_episodes(
    equity: np.ndarray, peaks: np.ndarray, troughs: np.ndarray, ends: np.ndarray
) -> tuple[int, bool]:
    """Fill peak, trough (first lowest point) and end (recovery, or the last point) indices of
    every episode in order; return their count and whether the last one is unrecovered."""
    count = 0
    peak = 0
    trough = -1
    # The values at the mark and at the trough, kept beside their indices (not read back).
    high = equity[0] if equity.shape[0] else 0.0
    low = high
    for i in range(1, equity.shape[0]):
        value = equity[i]
        if value >= high:
            if trough >= 0:
                peaks[count] = peak
                troughs[count] = trough
                ends[count] = i
                count += 1
                trough = -1
            peak, high = i, value
        elif trough < 0 or value < low:
            trough, low = i, value
    if trough >= 0:
        peaks[count] = peak
        troughs[count] = trough
        ends[count] = equity.shape[0] - 1
        return count + 1, True
    return count, False
