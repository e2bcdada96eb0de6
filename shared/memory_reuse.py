"""Keep freed array memory in the process for the next array, instead of handing it back.

A backtest or a sweep allocates and frees arrays of the series' length over and over: each
indicator column, each set's actions, each run's curve. glibc serves a block above its mmap
threshold with a fresh mapping and unmaps it on free, and trims the heap's free top above its
trim threshold; either way the next array of that size starts on pages the kernel must fault
in and zero again, one 4 KiB page at a time. On 100k-bar sweeps that was about a fifth of
the time (measured in `tests/bench/bench_backtests.py`).

`reuse_freed_memory` raises both thresholds, so arrays up to `mmap_threshold` come from the
heap and up to `trim_threshold` of free heap stays mapped. glibc would raise the mmap threshold
by itself after the first large free, but only to that block's size and with the trim
threshold at twice it: a 100k-bar column then still comes and goes. Every process that runs
functions calls it at its start (the Dramatiq worker, the Lambda handler, the gateway, the CLI
and its sweep workers). The cost is a process that keeps up to `trim_threshold` it no longer
uses; the peak is unchanged.

Outside glibc (macOS, musl) there is no `mallopt` to call and nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

# mallopt's parameter numbers, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's own ceiling for its dynamic threshold (64-bit)
TRIM_THRESHOLD = 64 * 1024 * 1024


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # no such library here, or not glibc
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int)
    function.restype = ctypes.c_int
    mallopt: Callable[[int, int], int] = function
    return mallopt


def reuse_freed_memory(
    mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD
) -> bool:
    """Set both thresholds for this process; False where the C library has no `mallopt` or
    refuses a value. Safe to call more than once."""
    if not 0 < mmap_threshold <= trim_threshold:
        raise ValueError("need 0 < mmap_threshold <= trim_threshold")
    mallopt = _mallopt()
    if mallopt is None:
        return False
    # mallopt answers 1 on success, 0 on a refused value.
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )
