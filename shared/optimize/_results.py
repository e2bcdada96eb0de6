"""What a search remembers: a bounded summary, never the runs themselves.

`ResultCollector` counts every evaluation but keeps only
- the `top_k` best (params, objective value, a few headline metrics),
- for two parameters the caller names, the best objective value per (x, y) cell, at most
  `max_cells` cells (a continuous float axis would otherwise grow one cell per evaluation;
  cells past the cap are counted in `Heatmap.dropped` instead).
Memory is O(top_k + cells) whatever the number of evaluations; no equity curve is ever kept.

`Evaluation` is a msgspec Struct so a worker can send it over a queue as is.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from shared.strategy import ParamValue

DEFAULT_TOP_K = 20
DEFAULT_MAX_CELLS = 10_000


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """One run's summary: `objective` is None when the run has no valid value (`error` then
    says why when the run failed)."""

    params: dict[str, ParamValue]
    objective: float | None
    metrics: dict[str, float | None] = msgspec.field(default_factory=dict)
    error: str | None = None


class Heatmap(msgspec.Struct, frozen=True, kw_only=True):
    """`z[i][j]` is the best objective value seen at (x[j], y[i]); None where nothing ran or
    nothing had a value. Other parameters are free: a cell holds the best over all of them."""

    x_name: str
    y_name: str
    x: list[ParamValue]
    y: list[ParamValue]
    z: list[list[float | None]]
    dropped: int = 0


class SearchResult(msgspec.Struct, frozen=True, kw_only=True):
    """`evaluated` counts runs (with or without a value), `valid` those with a value; `total`
    is the planned number; `top` is best first."""

    best: Evaluation | None
    top: list[Evaluation]
    evaluated: int
    valid: int
    total: int
    cancelled: bool
    heatmap: Heatmap | None = None

    @property
    def best_params(self) -> dict[str, ParamValue] | None:
        return None if self.best is None else self.best.params

    @property
    def best_value(self) -> float | None:
        return None if self.best is None else self.best.objective


@dataclass(frozen=True, slots=True)
class HeatmapAxes:
    x: str
    y: str


def _sortable(value: ParamValue) -> tuple[int, float, str]:
    # Numbers by value, text by text; one parameter has one kind, the tag only keeps
    # comparisons between kinds from raising.
    if isinstance(value, str):
        return (1, 0.0, value)
    return (0, float(value), "")


class ResultCollector:
    def __init__(
        self,
        *,
        maximize: bool = True,
        top_k: int = DEFAULT_TOP_K,
        heatmap: HeatmapAxes | tuple[str, str] | None = None,
        max_cells: int = DEFAULT_MAX_CELLS,
    ) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if max_cells < 1:
            raise ValueError(f"max_cells must be >= 1, got {max_cells}")
        self.maximize = maximize
        self.top_k = top_k
        self.axes = HeatmapAxes(*heatmap) if isinstance(heatmap, tuple) else heatmap
        if self.axes is not None and self.axes.x == self.axes.y:
            raise ValueError(f"the heatmap needs two different parameters, got {self.axes.x!r}")
        self.max_cells = max_cells
        self.evaluated = 0
        self.valid = 0
        # Min-heap of (score, -arrival, evaluation): the root is the worst kept; on equal
        # scores the earlier arrival ranks higher, so results do not depend on heap order.
        self._heap: list[tuple[float, int, Evaluation]] = []
        self._arrivals = itertools.count()
        self._cells: dict[tuple[ParamValue, ParamValue], float] = {}
        self._dropped = 0

    def score(self, value: float) -> float:
        return value if self.maximize else -value

    def add(self, evaluation: Evaluation) -> None:
        self.evaluated += 1
        arrival = next(self._arrivals)
        value = evaluation.objective
        if value is None:
            return
        self.valid += 1
        score = self.score(value)
        entry = (score, -arrival, evaluation)
        if len(self._heap) < self.top_k:
            heapq.heappush(self._heap, entry)
        elif entry[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, entry)
        self._add_cell(evaluation.params, score)

    def add_all(self, evaluations: Sequence[Evaluation]) -> None:
        for evaluation in evaluations:
            self.add(evaluation)

    def _add_cell(self, params: dict[str, ParamValue], score: float) -> None:
        if self.axes is None or self.axes.x not in params or self.axes.y not in params:
            return
        key = (params[self.axes.x], params[self.axes.y])
        known = self._cells.get(key)
        if known is None:
            if len(self._cells) >= self.max_cells:
                self._dropped += 1
                return
            self._cells[key] = score
        elif score > known:
            self._cells[key] = score

    def top(self) -> list[Evaluation]:
        ranked = sorted(self._heap, key=lambda entry: entry[:2], reverse=True)
        return [evaluation for _, _, evaluation in ranked]

    def heatmap(self) -> Heatmap | None:
        if self.axes is None:
            return None
        xs = sorted({x for x, _ in self._cells}, key=_sortable)
        ys = sorted({y for _, y in self._cells}, key=_sortable)
        column = {x: j for j, x in enumerate(xs)}
        row = {y: i for i, y in enumerate(ys)}
        z: list[list[float | None]] = [[None] * len(xs) for _ in ys]
        for (x, y), score in self._cells.items():
            z[row[y]][column[x]] = self.score(score)  # the score is its own inverse
        return Heatmap(
            x_name=self.axes.x, y_name=self.axes.y, x=xs, y=ys, z=z, dropped=self._dropped
        )

    def result(self, *, total: int, cancelled: bool) -> SearchResult:
        top = self.top()
        return SearchResult(
            best=top[0] if top else None,
            top=top,
            evaluated=self.evaluated,
            valid=self.valid,
            total=total,
            cancelled=cancelled,
            heatmap=self.heatmap(),
        )
