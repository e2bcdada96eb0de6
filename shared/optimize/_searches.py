"""Grid, random and genetic searches over a `SearchSpace`, evaluating batches through a callback.

The searches never run a backtest themselves: `evaluate(batch)` gets a list of parameter sets
and returns one outcome per set, in order: the objective value, `None` (no valid value), or an
`Evaluation` (value plus headline metrics, what `evaluate_chunk` produces). A caller can run a
batch in-process or fan it out to workers; the search only waits for the answers.

Between batches the searches report `progress(done, total)` and poll `cancelled()`; a cancelled
search returns what it has with `cancelled=True`. The last report of a search that ran to its
end has done == total (a random or genetic search that runs out of new points ends early).

Memory: results go to a bounded `ResultCollector`; the random and genetic searches also keep
one small key (a tuple of indices) per evaluated point to avoid repeats, bounded by their budget.

Determinism: every random choice comes from `random.Random(seed)`, and nothing iterates a set
or a dict whose order could vary, so a seed replays the same batches.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Container, Iterable, Iterator, Sequence

from shared.optimize._results import (
    DEFAULT_TOP_K,
    Evaluation,
    HeatmapAxes,
    ResultCollector,
    SearchResult,
)
from shared.optimize._space import Axis, Gene, Genes, ParamSet, SearchSpace

Outcome = float | None | Evaluation
EvaluateBatch = Callable[[list[ParamSet]], Sequence[Outcome]]
Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]

DEFAULT_BATCH_SIZE = 32
_TOURNAMENT = 3


class _Runner:
    """Evaluates batches, records them, reports progress and polls for cancellation."""

    def __init__(
        self,
        evaluate: EvaluateBatch,
        collector: ResultCollector,
        batch_size: int,
        progress: Progress | None,
        cancelled: Cancelled | None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.evaluate = evaluate
        self.collector = collector
        self.batch_size = batch_size
        self.progress = progress
        self.cancelled_check = cancelled
        self.cancelled = False
        self.done = 0
        self.total = 0

    def stop(self) -> bool:
        if not self.cancelled and self.cancelled_check is not None and self.cancelled_check():
            self.cancelled = True
        return self.cancelled

    def run(self, points: Sequence[ParamSet]) -> list[float | None]:
        """Values of `points` in batches; stops early (shorter list) when cancelled."""
        values: list[float | None] = []
        for start in range(0, len(points), self.batch_size):
            if self.stop():
                break
            values.extend(self._batch(list(points[start : start + self.batch_size])))
        return values

    def run_stream(self, points: Iterable[ParamSet]) -> None:
        iterator = iter(points)
        while not self.stop():
            batch = list(itertools.islice(iterator, self.batch_size))
            if not batch:
                break
            self._batch(batch)

    def _batch(self, batch: list[ParamSet]) -> list[float | None]:
        outcomes = self.evaluate(batch)
        if len(outcomes) != len(batch):
            raise ValueError(f"evaluate returned {len(outcomes)} outcomes for {len(batch)} points")
        values: list[float | None] = []
        for params, outcome in zip(batch, outcomes, strict=True):
            evaluation = _as_evaluation(params, outcome)
            self.collector.add(evaluation)
            values.append(evaluation.objective)
        self.done += len(batch)
        self._report(self.done, self.total)
        return values

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def finish(self) -> SearchResult:
        if not self.cancelled and self.done != self.total:
            self._report(self.done, self.done)
        return self.collector.result(total=self.total, cancelled=self.cancelled)


def _as_evaluation(params: ParamSet, outcome: Outcome) -> Evaluation:
    if isinstance(outcome, Evaluation):
        value = outcome.objective
        if value is not None and not math.isfinite(value):
            return Evaluation(
                params=params, objective=None, metrics=outcome.metrics, error=outcome.error
            )
        return Evaluation(
            params=params, objective=value, metrics=outcome.metrics, error=outcome.error
        )
    if outcome is None or not math.isfinite(outcome):
        return Evaluation(params=params, objective=None)
    return Evaluation(params=params, objective=float(outcome))


def _collector(
    maximize: bool, top_k: int, heatmap: HeatmapAxes | tuple[str, str] | None
) -> ResultCollector:
    return ResultCollector(maximize=maximize, top_k=top_k, heatmap=heatmap)


def grid_search(
    space: SearchSpace,
    evaluate: EvaluateBatch,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    maximize: bool = True,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    top_k: int = DEFAULT_TOP_K,
    heatmap: HeatmapAxes | tuple[str, str] | None = None,
) -> SearchResult:
    """Every grid point satisfying the constraints, in grid order."""
    runner = _Runner(
        evaluate, _collector(maximize, top_k, heatmap), batch_size, progress, cancelled
    )
    # Counting first walks the grid twice, but constraint checks cost nothing next to runs and
    # the progress total is then exact.
    runner.total = space.grid_count()
    runner.run_stream(space.grid())
    return runner.finish()


def _distinct_points(
    space: SearchSpace, rng: random.Random, wanted: int, seen: set[Genes]
) -> Iterator[Genes]:
    """Up to `wanted` valid points not in `seen` (added to it); stops early once new points
    become rare, which means the valid space is (nearly) exhausted."""
    found = 0
    misses = 0
    patience = 1_000 + 20 * wanted
    while found < wanted and misses < patience:
        genes = space.random_genes(rng)
        if genes in seen:
            misses += 1
            continue
        seen.add(genes)
        found += 1
        yield genes


def random_search(
    space: SearchSpace,
    evaluate: EvaluateBatch,
    *,
    trials: int,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    maximize: bool = True,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    top_k: int = DEFAULT_TOP_K,
    heatmap: HeatmapAxes | tuple[str, str] | None = None,
) -> SearchResult:
    """`trials` distinct points drawn uniformly among those satisfying the constraints (fewer
    when the space holds fewer). Distinct, because a repeat would spend a run on nothing."""
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    runner = _Runner(
        evaluate, _collector(maximize, top_k, heatmap), batch_size, progress, cancelled
    )
    runner.total = trials
    rng = random.Random(seed)  # noqa: S311 - a reproducible search, not a secret
    seen: set[Genes] = set()
    points = (space.params_of(g) for g in _distinct_points(space, rng, trials, seen))
    runner.run_stream(points)
    return runner.finish()


class _Breeder:
    """Selection, crossover and mutation on genes (indices on discrete axes)."""

    def __init__(
        self, space: SearchSpace, rng: random.Random, mutation_rate: float, crossover_rate: float
    ) -> None:
        self.space = space
        self.rng = rng
        self.mutation_rate = mutation_rate
        self.crossover_rate = crossover_rate

    def pick(self, ranked: Sequence[Genes]) -> Genes:
        """Tournament selection: the best of a few drawn at random (`ranked` is best first,
        so the lowest position wins)."""
        return ranked[min(self.rng.randrange(len(ranked)) for _ in range(_TOURNAMENT))]

    def child(self, first: Genes, second: Genes) -> Genes:
        if self.rng.random() < self.crossover_rate:
            genes = tuple(
                a if self.rng.random() < 0.5 else b for a, b in zip(first, second, strict=True)
            )
        else:
            genes = first
        return tuple(
            self._mutate(axis, gene) if self.rng.random() < self.mutation_rate else gene
            for axis, gene in zip(self.space.axes, genes, strict=True)
        )

    def _mutate(self, axis: Axis, gene: Gene) -> Gene:
        # Half the mutations creep to a nearby value (refining around a good point), half jump
        # anywhere (escaping a local optimum).
        if self.rng.random() < 0.5:
            return axis.random_gene(self.rng)
        if not axis.discrete:
            width = axis.high - axis.low
            return min(axis.high, max(axis.low, float(gene) + self.rng.gauss(0.0, width / 10)))
        spread = max(1.0, axis.count / 10)
        shift = round(self.rng.gauss(0.0, spread)) or self.rng.choice((-1, 1))
        return min(axis.count - 1, max(0, int(gene) + shift))


def genetic_search(
    space: SearchSpace,
    evaluate: EvaluateBatch,
    *,
    population: int = 30,
    generations: int = 10,
    mutation_rate: float = 0.2,
    crossover_rate: float = 0.8,
    elitism: int = 2,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    maximize: bool = True,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    top_k: int = DEFAULT_TOP_K,
    heatmap: HeatmapAxes | tuple[str, str] | None = None,
) -> SearchResult:
    """An initial random population, then `generations` rounds of: keep the `elitism` best,
    breed the rest by tournament selection, uniform crossover (probability `crossover_rate`)
    and per-parameter mutation (`mutation_rate`). A point is evaluated at most once (cached);
    a generation of already-seen children costs no run. At most
    `population * (generations + 1)` evaluations."""
    _check_genetic(population, generations, mutation_rate, crossover_rate, elitism)
    runner = _Runner(
        evaluate, _collector(maximize, top_k, heatmap), batch_size, progress, cancelled
    )
    runner.total = population * (generations + 1)
    rng = random.Random(seed)  # noqa: S311 - a reproducible search, not a secret
    breeder = _Breeder(space, rng, mutation_rate, crossover_rate)
    scores: dict[Genes, float] = {}  # every point seen; -inf for a run without a value

    def score_all(members: list[Genes]) -> None:
        fresh = [g for g in members if g not in scores]
        values = runner.run([space.params_of(g) for g in fresh])
        for genes, value in zip(fresh, values, strict=False):
            scores[genes] = -math.inf if value is None else runner.collector.score(value)

    seen: set[Genes] = set()
    members = list(_distinct_points(space, rng, population, seen))
    score_all(members)
    for _ in range(generations):
        if runner.cancelled or not members:
            break
        # sorted() is stable: among equal scores the older member keeps its place.
        ranked = sorted(members, key=lambda g: scores[g], reverse=True)
        members = _next_generation(
            breeder, ranked, population=population, elitism=elitism, scored=scores
        )
        score_all(members)
    return runner.finish()


def _next_generation(
    breeder: _Breeder,
    ranked: list[Genes],
    *,
    population: int,
    elitism: int,
    scored: Container[Genes],
) -> list[Genes]:
    space = breeder.space
    members = ranked[:elitism]
    chosen = set(members)
    # Children that break a constraint or duplicate a member are bred again. For the first
    # attempts a child already evaluated is bred again too, so the budget goes to new points;
    # after that it is taken (it costs no run). The cap keeps a space with few valid points
    # from looping forever.
    novelty_attempts = population * 10
    for attempt in range(population * 20):
        if len(members) >= population:
            break
        child = breeder.child(breeder.pick(ranked), breeder.pick(ranked))
        if child in chosen or (attempt < novelty_attempts and child in scored):
            continue
        if not space.admits(space.params_of(child)):
            continue
        chosen.add(child)
        members.append(child)
    return members


def _check_genetic(
    population: int, generations: int, mutation_rate: float, crossover_rate: float, elitism: int
) -> None:
    if population < 2:
        raise ValueError(f"population must be >= 2, got {population}")
    if generations < 0:
        raise ValueError(f"generations must be >= 0, got {generations}")
    for name, rate in (("mutation_rate", mutation_rate), ("crossover_rate", crossover_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {rate}")
    if not 0 <= elitism < population:
        raise ValueError(f"elitism must be in [0, population), got {elitism}")
