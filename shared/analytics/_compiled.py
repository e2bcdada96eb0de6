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


# Slots of `trade_sums`' answer.
(
    WINS, LOSSES, GROSS_PROFIT, LOSS_SUM, PNL_SUM, PNL_MAX, PNL_MIN, PCT_SUM, PCT_MAX, PCT_MIN,
    COMMISSION_SUM, NOTIONAL_SUM, PNL_SQUARED_DEVIATIONS,
) = range(13)  # fmt: skip
TRADE_SUMS = 13


@njit(cache=True, nogil=True)
def trade_sums(  # noqa: PLR0917 - compiled functions take plain positional arrays
    pnl: np.ndarray, entry_price: np.ndarray, exit_price: np.ndarray, size: np.ndarray,
    multiplier: np.ndarray, commission: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    """Every reduction `_trades.trade_stats` takes of n >= 1 trades, in two passes (the second
    for the squared deviations from the mean P&L): one call where numpy made twenty, which on
    a sweep's few thousand trades was mostly call overhead."""
    wins = losses = 0
    gross_profit = loss_sum = pnl_sum = pct_sum = commission_sum = notional_sum = 0.0
    pnl_max = pnl_min = pnl[0]
    pct_max = pct_min = pnl[0] / (entry_price[0] * size[0] * multiplier[0])
    for i in range(pnl.shape[0]):
        value = pnl[i]
        entry_notional = entry_price[i] * size[i] * multiplier[i]
        exit_notional = exit_price[i] * size[i] * multiplier[i]
        pct = value / entry_notional
        if value > 0.0:
            wins += 1
            gross_profit += value
        elif value < 0.0:
            losses += 1
            loss_sum += value
        pnl_sum += value
        pnl_max = max(pnl_max, value)
        pnl_min = min(pnl_min, value)
        pct_sum += pct
        pct_max = max(pct_max, pct)
        pct_min = min(pct_min, pct)
        commission_sum += commission[i]
        notional_sum += entry_notional + exit_notional
    mean = pnl_sum / pnl.shape[0]
    squared = 0.0
    for i in range(pnl.shape[0]):
        deviation = pnl[i] - mean
        squared += deviation * deviation
    out[WINS], out[LOSSES], out[GROSS_PROFIT], out[LOSS_SUM] = wins, losses, gross_profit, loss_sum
    out[PNL_SUM], out[PNL_MAX], out[PNL_MIN] = pnl_sum, pnl_max, pnl_min
    out[PCT_SUM], out[PCT_MAX], out[PCT_MIN] = pct_sum, pct_max, pct_min
    out[COMMISSION_SUM], out[NOTIONAL_SUM] = commission_sum, notional_sum
    out[PNL_SQUARED_DEVIATIONS] = squared
