"""Session-anchored native indicators: VWAP and the volume profile, both restarting at each
trading day and causal (a bar sees only its session so far).

A session is a run of bars with the same ``trading_day`` value; a change of value starts the
next one. Night bars belong to the following trading day, so the caller supplies the day
(the bar timestamp alone cannot tell it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Cells (bars x buckets) of one dense block of the profile computation: ~32 MB of float64.
_BLOCK_CELLS: Final = 1 << 22
# A session wider than this many buckets would need an unreasonable dense block; the bucket
# size is then certainly a mistake (e.g. 1e-9 on a price of thousands).
MAX_SESSION_BUCKETS: Final = 1 << 20
# Quotients this close to an integer are that integer: 2800.2 / 0.2 is 14000.999...98 in
# binary, yet belongs to bucket 14001.
_KEY_DECIMALS: Final = 6


def session_bounds(trading_day: FloatArray) -> IntArray:
    """Start indices of the sessions, followed by the length (so ``bounds[i]:bounds[i + 1]``
    is session ``i``)."""
    days = np.asarray(trading_day, dtype=np.float64)
    if days.size == 0:
        return np.zeros(1, dtype=np.int64)
    starts = np.flatnonzero(days[1:] != days[:-1]) + 1
    return np.concatenate(([0], starts, [days.size])).astype(np.int64)


def session_vwap(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    trading_day: FloatArray,
) -> FloatArray:
    """Volume-weighted typical price (high + low + close) / 3, cumulative within each
    session; NaN while the session has traded nothing."""
    typical = (
        np.asarray(high, dtype=np.float64)
        + np.asarray(low, dtype=np.float64)
        + np.asarray(close, dtype=np.float64)
    ) / 3.0
    vol = np.asarray(volume, dtype=np.float64)
    weighted = typical * vol
    out = np.full(typical.shape, np.nan)
    bounds = session_bounds(trading_day)
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        # Per-session sums rather than one global cumsum minus offsets: the offsets would grow
        # over the series and eat the precision of late sessions.
        cum_volume = np.cumsum(vol[start:stop])
        cum_weighted = np.cumsum(weighted[start:stop])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start:stop] = np.where(cum_volume > 0.0, cum_weighted / cum_volume, np.nan)
    return out


def bucket_keys(close: FloatArray, bucket: float) -> FloatArray:
    """The bucket number of each price: floor(price / bucket), after snapping quotients
    within 1e-6 of an integer onto it."""
    return np.floor(np.round(np.asarray(close, dtype=np.float64) / bucket, _KEY_DECIMALS))


def volume_profile(
    close: FloatArray,
    volume: FloatArray,
    trading_day: FloatArray,
    *,
    bucket: float = 1.0,
    value_area: float = 0.7,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per bar, from its session so far: the point of control (the bucket with the most
    volume, ties to the higher price) and the value area's high and low.

    Each bar's whole volume goes to the bucket of its close. Prices are bucket lower edges
    (``key * bucket``), so with the bucket equal to the tick they are the traded prices. The
    value area grows from the POC one bucket at a time, toward the neighbour with more
    volume (ties upward, empty buckets count as zero), within the session's traded range, until
    it holds ``value_area`` of the session's volume. Bars with a NaN close or a NaN or
    non-positive volume add nothing; while a session has no volume the outputs are NaN.
    """
    price = np.asarray(close, dtype=np.float64)
    raw = np.asarray(volume, dtype=np.float64)
    counted = np.isfinite(price) & np.isfinite(raw) & (raw > 0.0)
    vol = np.where(counted, raw, 0.0)
    keys = np.where(counted, bucket_keys(np.where(counted, price, 0.0), bucket), 0.0)
    bars = _SessionBars(
        vol=vol,
        traded=counted,
        column=np.zeros(price.shape, dtype=np.int64),
        lowest=np.zeros(price.shape),
        total=np.zeros(price.shape),
        range_lo=np.full(price.shape, -1, dtype=np.int64),
        range_hi=np.full(price.shape, -1, dtype=np.int64),
    )
    pieces: list[_Piece] = []
    bounds = session_bounds(trading_day)
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        traded = counted[start:stop]
        if not traded.any():
            continue
        session_keys = keys[start:stop]
        lowest = float(session_keys[traded].min())
        width = int(float(session_keys[traded].max()) - lowest) + 1
        if width > MAX_SESSION_BUCKETS:
            raise ValueError(
                f"volume_profile: a session spans {width} buckets (more than "
                f"{MAX_SESSION_BUCKETS}); the bucket size {bucket} is too small for the prices"
            )
        columns = np.where(traded, session_keys - lowest, 0.0).astype(np.int64)
        bars.column[start:stop] = columns
        bars.lowest[start:stop] = lowest
        # Sequential sums, the same order a bar-by-bar reader would add them in.
        bars.total[start:stop] = np.cumsum(vol[start:stop])
        # Before the first trade the range is empty (lo = width > hi = -1).
        bars.range_lo[start:stop] = np.minimum.accumulate(np.where(traded, columns, width))
        bars.range_hi[start:stop] = np.maximum.accumulate(np.where(traded, columns, -1))
        # A long session is cut into runs of rows so a dense block stays within budget.
        step = max(1, _BLOCK_CELLS // width)
        pieces.extend(
            _Piece(first, min(first + step, stop), width, fresh=first == start)
            for first in range(start, stop, step)
        )
    outputs = (np.full(price.shape, np.nan), np.full(price.shape, np.nan))
    poc = np.full(price.shape, np.nan)
    carry = np.zeros(0)
    block: list[_Piece] = []
    rows = widest = 0
    for piece in [*pieces, None]:
        if piece is not None:
            grown_rows, grown_widest = rows + piece.stop - piece.start, max(widest, piece.width)
            if not block or grown_rows * grown_widest <= _BLOCK_CELLS:
                block.append(piece)
                rows, widest = grown_rows, grown_widest
                continue
        if block:
            carry = _profile_block(
                block,
                widest,
                bars,
                carry,
                value_area=value_area,
                bucket=bucket,
                poc=poc,
                area=outputs,
            )
        if piece is not None:
            block, rows, widest = [piece], piece.stop - piece.start, piece.width
    vah, val = outputs
    return poc, vah, val


@dataclass(frozen=True, slots=True)
class _SessionBars:
    """Per-bar facts about each bar's session so far, computed once for the whole series."""

    vol: FloatArray  # the bar's counted volume (0 when it adds nothing)
    traded: npt.NDArray[np.bool_]
    column: IntArray  # bucket number relative to the session's lowest traded bucket
    lowest: FloatArray  # the session's lowest traded bucket number
    total: FloatArray  # the session's volume so far
    range_lo: IntArray  # the traded columns so far: [range_lo, range_hi], empty if hi < 0
    range_hi: IntArray


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    stop: int
    width: int  # buckets in the whole session
    fresh: bool  # starts its session (otherwise continues the previous piece's histogram)


def _profile_block(
    block: list[_Piece],
    widest: int,
    bars: _SessionBars,
    carry: FloatArray,
    *,
    value_area: float,
    bucket: float,
    poc: FloatArray,
    area: tuple[FloatArray, FloatArray],
) -> FloatArray:
    """Fill the outputs for the pieces of ``block`` at once: a dense row per bar holding its
    session's histogram so far, and the value-area growth run on all rows together.

    ``carry`` is the histogram at the end of the previous piece; the one at the end of this
    block's last piece is returned for a piece continuing its session in the next block."""
    rows = sum(piece.stop - piece.start for piece in block)
    histogram = np.zeros((rows, widest))
    row = 0
    for piece in block:
        here = slice(piece.start, piece.stop)
        n = piece.stop - piece.start
        part = histogram[row : row + n]
        traded = bars.traded[here]
        part[np.flatnonzero(traded), bars.column[here][traded]] = bars.vol[here][traded]
        if not piece.fresh:
            # Added before the cumulative sum, so each bucket is still summed bar by bar.
            part[0, : piece.width] += carry
        np.cumsum(part, axis=0, out=part)
        carry = part[-1, : piece.width].copy()
        row += n
    bar_index = np.concatenate([np.arange(piece.start, piece.stop) for piece in block])
    live = np.flatnonzero(bars.range_hi[bar_index] >= 0)
    bar_index = bar_index[live]
    # argmax takes the first maximum; reversed columns make that the highest-priced one.
    centre = widest - 1 - np.argmax(histogram[live, ::-1], axis=1)
    lo, hi = centre.copy(), centre.copy()
    held = histogram[live, centre]
    target = value_area * bars.total[bar_index]
    floor, ceiling = bars.range_lo[bar_index], bars.range_hi[bar_index]
    growing = np.flatnonzero((held < target) & ((lo > floor) | (hi < ceiling)))
    while growing.size:
        r = live[growing]
        g_lo, g_hi = lo[growing], hi[growing]
        can_up, can_down = g_hi < ceiling[growing], g_lo > floor[growing]
        above = np.where(can_up, histogram[r, np.minimum(g_hi + 1, widest - 1)], -np.inf)
        below = np.where(can_down, histogram[r, np.maximum(g_lo - 1, 0)], -np.inf)
        up = above >= below
        step_up = up.astype(np.int64)
        hi[growing] = g_hi + step_up
        lo[growing] = g_lo - (1 - step_up)
        held[growing] += np.where(up, above, below)
        still = (held[growing] < target[growing]) & (
            (lo[growing] > floor[growing]) | (hi[growing] < ceiling[growing])
        )
        growing = growing[still]
    base = bars.lowest[bar_index]
    vah, val = area
    poc[bar_index] = (base + centre) * bucket
    vah[bar_index] = (base + hi) * bucket
    val[bar_index] = (base + lo) * bucket
    return carry
