"""Parameter optimisation: the pure core (no I/O; a caller supplies how batches are run).

- `SearchSpace.build(definition, ranges)`: a strategy's parameters narrowed by ranges
  (`{"min", "max", "step"}`), lists or fixed values, each checked against the declaration;
  `size()`, a lazy constraint-respecting `grid()` (capped), `sample(n, rng)`.
- `objective(name)` / `objective_value(metrics, name)`: any scalar metric by (dotted) name,
  `OBJECTIVE_NAMES` lists them; drawdown-like names are minimised (`LOWER_IS_BETTER`).
- `grid_search`, `random_search`, `genetic_search(space, evaluate, ...)`: `evaluate(batch)`
  returns one value (or None, or an `Evaluation`) per parameter set; progress and cancellation
  between batches; deterministic per seed; the genetic search never evaluates a point twice.
- `ResultCollector` / `SearchResult`: bounded memory (top K, counts, an optional heatmap over
  two parameters), never equity curves.
- `evaluate_chunk(definition, params_list, series, config, objective)`: what a worker runs for
  one batch: backtests reduced to `Evaluation`s.
- `windows(...)` / `walk_forward(...)`: walk-forward windows on trading-day boundaries,
  in-sample optimisation, out-of-sample runs chained into one curve with its metrics;
  `choice_of` / `stitch_windows(...)` for searches run elsewhere, window by window.
"""

from shared.optimize._chunk import evaluate_chunk, evaluate_one
from shared.optimize._objective import (
    HEADLINE_METRICS,
    LOWER_IS_BETTER,
    OBJECTIVE_NAMES,
    Objective,
    ObjectiveError,
    default_maximize,
    headline,
    objective,
    objective_value,
)
from shared.optimize._results import (
    Evaluation,
    Heatmap,
    HeatmapAxes,
    ResultCollector,
    SearchResult,
)
from shared.optimize._searches import (
    Cancelled,
    EvaluateBatch,
    Outcome,
    Progress,
    genetic_search,
    grid_search,
    random_search,
)
from shared.optimize._space import DEFAULT_MAX_GRID, Axis, ParamSet, SearchSpace
from shared.optimize._walk_forward import (
    WalkForwardResult,
    WalkForwardWindow,
    WindowChoice,
    WindowResult,
    choice_of,
    stitch_windows,
    walk_forward,
    windows,
)

__all__ = [
    "DEFAULT_MAX_GRID",
    "HEADLINE_METRICS",
    "LOWER_IS_BETTER",
    "OBJECTIVE_NAMES",
    "Axis",
    "Cancelled",
    "EvaluateBatch",
    "Evaluation",
    "Heatmap",
    "HeatmapAxes",
    "Objective",
    "ObjectiveError",
    "Outcome",
    "ParamSet",
    "Progress",
    "ResultCollector",
    "SearchResult",
    "SearchSpace",
    "WalkForwardResult",
    "WalkForwardWindow",
    "WindowChoice",
    "WindowResult",
    "choice_of",
    "default_maximize",
    "evaluate_chunk",
    "evaluate_one",
    "genetic_search",
    "grid_search",
    "headline",
    "objective",
    "objective_value",
    "random_search",
    "stitch_windows",
    "walk_forward",
    "windows",
]
