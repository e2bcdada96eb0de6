"""A benchmark result row and the table they are printed as."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """``ours`` and ``peer`` are in ``unit``; ``higher_is_better`` orients the ratio."""

    name: str
    ours: float
    peer_name: str
    peer: float
    unit: str
    higher_is_better: bool

    @property
    def ratio(self) -> float:
        """How many times better ours is than the peer (>1 = ours is better)."""
        if self.higher_is_better:
            return self.ours / self.peer
        return self.peer / self.ours


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """Fastest wall time of ``repeat`` runs, in seconds (the least disturbed run)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def median_of(samples: list[float]) -> float:
    return statistics.median(samples)


def render(rows: list[Row]) -> str:
    header = ("benchmark", "ours", "peer", "peer figure", "unit", "ours vs peer")
    lines = [
        (
            row.name,
            f"{row.ours:,.1f}",
            row.peer_name,
            f"{row.peer:,.1f}",
            row.unit,
            f"{row.ratio:.2f}x {'better' if row.ratio >= 1 else 'worse'}",
        )
        for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    rule = "-+-".join("-" * width for width in widths)
    out = [" | ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)), rule]
    out += [
        " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    return "\n".join(out)
