"""`reuse_freed_memory`: arrays freed and allocated again reuse mapped pages.

Measured in fresh interpreters (the setting is process-wide) by the minor page faults of a
loop that allocates, frees and reallocates 100k- and 1M-element arrays, the sizes a sweep
churns through.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.memory_reuse import _mallopt, reuse_freed_memory

_CHURN = """
import resource, sys
import numpy as np
from shared.memory_reuse import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
total = 0
for length in (100_000, 1_000_000):
    np.ones(length)
    before = faults()
    for _ in range(50):
        first = np.ones(length)
        second = np.ones(length)
        del first
        third = np.ones(length)
        del second, third
    total += faults() - before
print(total)
"""


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


pytestmark = pytest.mark.skipif(_mallopt() is None, reason="no glibc mallopt in this libc")


def test_reallocated_arrays_no_longer_fault_their_pages_in() -> None:
    default, reused = _faults("default"), _faults("reuse")
    # 150 arrays of 1M float64 are 2,000 pages each; by default glibc hands a good part of
    # them back and faults them in again (about 58,000 faults here).
    assert default > 20_000
    assert reused < default // 20


def test_refuses_thresholds_in_the_wrong_order() -> None:
    with pytest.raises(ValueError, match="mmap_threshold"):
        reuse_freed_memory(mmap_threshold=64, trim_threshold=32)
    with pytest.raises(ValueError, match="mmap_threshold"):
        reuse_freed_memory(mmap_threshold=0)
