"""Grid, random and genetic searches through a batch callback; the bounded result collector;
`evaluate_chunk` on the real engine."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from shared.backtest import BacktestConfig, BarSeries, run_vectorized
from shared.optimize import (
    Evaluation,
    ParamSet,
    ResultCollector,
    SearchResult,
    SearchSpace,
    evaluate_chunk,
    genetic_search,
    grid_search,
    objective_value,
    random_search,
)
from shared.strategy import Constraint, StrategyDefinition, get_strategy, int_param

OPTIMUM = (37, 62)


def bowl_definition(*constraints: Constraint) -> StrategyDefinition:
    return StrategyDefinition(
        name="bowl",
        description="",
        params=(int_param("x", 50, 0, 100), int_param("y", 50, 0, 100)),
        constraints=constraints,
        event_class=None,
        signals=None,
    )


def bowl_space(*constraints: Constraint) -> SearchSpace:
    return SearchSpace.build(
        bowl_definition(*constraints), {"x": {"min": 0, "max": 100}, "y": {"min": 0, "max": 100}}
    )


def bowl(params: ParamSet) -> float:
    """Highest (0) at OPTIMUM, falling quadratically away from it."""
    return -float((int(params["x"]) - OPTIMUM[0]) ** 2 + (int(params["y"]) - OPTIMUM[1]) ** 2)


class Recorder:
    """An `evaluate` callback that scores with `score` and remembers every batch."""

    def __init__(self, score: Callable[[ParamSet], float | None] = bowl) -> None:
        self.score = score
        self.batches: list[list[ParamSet]] = []

    def __call__(self, batch: list[ParamSet]) -> list[float | None]:
        self.batches.append([dict(p) for p in batch])
        return [self.score(p) for p in batch]

    @property
    def points(self) -> list[tuple[Any, ...]]:
        return [tuple(sorted(p.items())) for batch in self.batches for p in batch]


# --- grid ------------------------------------------------------------------------------


def test_grid_search_evaluates_every_valid_point_once_in_batches() -> None:
    space = SearchSpace.build(
        bowl_definition(Constraint("x < y", lambda p: int(p["x"]) < int(p["y"]))),
        {"x": {"min": 0, "max": 90, "step": 10}, "y": {"min": 5, "max": 95, "step": 10}},
    )
    recorder = Recorder()
    reports: list[tuple[int, int]] = []
    result = grid_search(
        space, recorder, batch_size=7, progress=lambda d, t: reports.append((d, t))
    )
    valid = [(x, y) for x in range(0, 91, 10) for y in range(5, 96, 10) if x < y]
    assert sorted((p[0][1], p[1][1]) for p in recorder.points) == sorted(valid)
    assert len(set(recorder.points)) == len(recorder.points)
    assert all(len(batch) <= 7 for batch in recorder.batches)
    assert result.evaluated == result.valid == result.total == len(valid)
    assert not result.cancelled
    best = max(valid, key=lambda xy: bowl({"x": xy[0], "y": xy[1]}))
    assert result.best_params == {"x": best[0], "y": best[1]}
    assert reports[-1] == (len(valid), len(valid))
    assert [d for d, _ in reports] == sorted(d for d, _ in reports)


def test_minimising_picks_the_lowest_value() -> None:
    space = SearchSpace.build(bowl_definition(), {"x": [10, 37, 80], "y": [62]})
    result = grid_search(space, Recorder(), maximize=False)
    assert result.best_params == {"x": 80, "y": 62}  # farthest from the optimum: lowest
    assert result.top[-1].params == {"x": 37, "y": 62}


def test_runs_without_a_value_are_counted_but_never_best() -> None:
    def patchy(params: ParamSet) -> float | None:
        x = int(params["x"])
        return None if x % 2 else (math.nan if x == 4 else float(x))

    space = SearchSpace.build(bowl_definition(), {"x": {"min": 0, "max": 9}, "y": [0]})
    result = grid_search(space, Recorder(patchy))
    assert result.evaluated == 10
    assert result.valid == 4  # 0, 2, 6, 8 (odd ones have none, 4 is NaN)
    assert result.best_value == 8.0
    assert all(e.objective is not None for e in result.top)


def test_an_evaluate_returning_the_wrong_number_of_outcomes_is_an_error() -> None:
    space = SearchSpace.build(bowl_definition(), {"x": [1, 2, 3]})
    with pytest.raises(ValueError, match="2 outcomes for 3 points"):
        grid_search(space, lambda batch: [1.0, 2.0])


# --- random ----------------------------------------------------------------------------


def test_random_search_draws_distinct_valid_points_reproducibly() -> None:
    space = bowl_space(Constraint("x + y <= 120", lambda p: int(p["x"]) + int(p["y"]) <= 120))
    first, again, other = Recorder(), Recorder(), Recorder()
    result = random_search(space, first, trials=150, seed=3, batch_size=40)
    random_search(space, again, trials=150, seed=3, batch_size=40)
    random_search(space, other, trials=150, seed=4, batch_size=40)
    assert first.batches == again.batches
    assert first.points != other.points
    assert [len(b) for b in first.batches] == [40, 40, 40, 30]
    assert len(set(first.points)) == 150 == result.evaluated == result.total
    for batch in first.batches:
        for p in batch:
            assert 0 <= int(p["x"]) <= 100
            assert 0 <= int(p["y"]) <= 100
            assert int(p["x"]) + int(p["y"]) <= 120
    assert result.best_value == max(bowl(p) for b in first.batches for p in b)


def test_random_search_stops_when_the_space_runs_out_of_new_points() -> None:
    space = SearchSpace.build(bowl_definition(), {"x": [1, 2, 3], "y": [4, 5]})
    recorder = Recorder()
    reports: list[tuple[int, int]] = []
    result = random_search(
        space, recorder, trials=50, seed=0, progress=lambda d, t: reports.append((d, t))
    )
    assert len(recorder.points) == len(set(recorder.points)) == 6
    assert result.evaluated == 6
    assert reports[-1] == (6, 6)


# --- genetic ---------------------------------------------------------------------------


def run_genetic(seed: int, recorder: Recorder | None = None) -> SearchResult:
    return genetic_search(
        bowl_space(),
        recorder or Recorder(),
        population=20,
        generations=9,
        mutation_rate=0.3,
        crossover_rate=0.8,
        elitism=2,
        seed=seed,
        batch_size=16,
    )


def test_genetic_search_beats_random_search_on_the_same_budget() -> None:
    seeds = range(5)
    budget = 20 * (9 + 1)
    genetic = [run_genetic(seed) for seed in seeds]
    randoms = [random_search(bowl_space(), Recorder(), trials=budget, seed=s) for s in seeds]
    assert all(g.evaluated <= budget for g in genetic)
    genetic_mean = float(np.mean([g.best_value for g in genetic]))
    random_mean = float(np.mean([r.best_value for r in randoms]))
    assert genetic_mean > random_mean
    # Close to the optimum, not merely less bad than random (a 101 x 101 grid).
    assert genetic_mean >= -5.0
    assert any(g.best_params == {"x": OPTIMUM[0], "y": OPTIMUM[1]} for g in genetic)


def test_genetic_search_is_deterministic_per_seed_and_never_repeats_a_point() -> None:
    first, again, other = Recorder(), Recorder(), Recorder()
    result = run_genetic(11, first)
    run_genetic(11, again)
    run_genetic(12, other)
    assert first.batches == again.batches
    assert first.points != other.points
    assert len(first.points) == len(set(first.points)) == result.evaluated


def test_genetic_search_respects_constraints() -> None:
    # The optimum (37, 62) is outside: the best valid points lie on the line x + y = 80.
    space = bowl_space(Constraint("x + y <= 80", lambda p: int(p["x"]) + int(p["y"]) <= 80))
    recorder = Recorder()
    result = genetic_search(space, recorder, population=20, generations=8, seed=1)
    assert all(int(p["x"]) + int(p["y"]) <= 80 for b in recorder.batches for p in b)
    assert result.best_params is not None
    assert int(result.best_params["x"]) + int(result.best_params["y"]) <= 80


def test_genetic_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="elitism"):
        genetic_search(bowl_space(), Recorder(), population=4, elitism=4)
    with pytest.raises(ValueError, match="mutation_rate"):
        genetic_search(bowl_space(), Recorder(), mutation_rate=1.5)


# --- cancellation ----------------------------------------------------------------------


SEARCHES: dict[str, Callable[..., SearchResult]] = {
    "grid": grid_search,
    "random": lambda space, ev, **kw: random_search(space, ev, trials=500, **kw),
    "genetic": lambda space, ev, **kw: genetic_search(space, ev, population=40, **kw),
}


@pytest.mark.parametrize("kind", sorted(SEARCHES))
def test_cancellation_stops_between_batches(kind: str) -> None:
    recorder = Recorder()

    def cancelled() -> bool:
        return len(recorder.batches) >= 2  # let two batches run, then stop

    result = SEARCHES[kind](bowl_space(), recorder, batch_size=10, cancelled=cancelled)
    assert len(recorder.batches) == 2
    assert result.cancelled
    assert result.evaluated == 20
    assert result.best is not None


# --- the bounded collector -------------------------------------------------------------


def test_collector_keeps_the_top_k_and_counts_everything() -> None:
    collector = ResultCollector(top_k=5, heatmap=("x", "y"))
    rng = np.random.default_rng(0)
    values = rng.normal(size=20_000)
    for i, value in enumerate(values):
        collector.add(Evaluation(params={"x": i % 7, "y": i % 3}, objective=float(value)))
    collector.add(Evaluation(params={"x": 0, "y": 0}, objective=None))
    result = collector.result(total=20_001, cancelled=False)
    assert result.evaluated == 20_001
    assert result.valid == 20_000
    assert [e.objective for e in result.top] == sorted(values, reverse=True)[:5]
    assert len(collector._heap) == 5  # the whole state: K entries and the cells
    assert len(collector._cells) == 7 * 3


def test_heatmap_holds_the_best_value_per_cell_and_none_where_missing() -> None:
    collector = ResultCollector(heatmap=("x", "y"), maximize=False)
    for x, y, value in [(1, 10, 5.0), (1, 10, 3.0), (2, 10, 4.0), (2, 20, 9.0), (3, 20, 1.0)]:
        collector.add(Evaluation(params={"x": x, "y": y, "z": 0}, objective=value))
    heatmap = collector.heatmap()
    assert heatmap is not None
    assert heatmap.x == [1, 2, 3]
    assert heatmap.y == [10, 20]
    assert heatmap.z == [[3.0, 4.0, None], [None, 9.0, 1.0]]


def test_heatmap_cells_are_capped() -> None:
    collector = ResultCollector(heatmap=("x", "y"), max_cells=10)
    for i in range(100):
        collector.add(Evaluation(params={"x": i, "y": 0}, objective=float(i)))
    heatmap = collector.heatmap()
    assert heatmap is not None
    assert len(heatmap.x) == 10
    assert heatmap.dropped == 90
    assert collector.result(total=100, cancelled=False).best_value == 99.0


def test_search_results_carry_headline_metrics_from_evaluations() -> None:
    def evaluate(batch: list[ParamSet]) -> Sequence[Evaluation]:
        return [
            Evaluation(params=p, objective=bowl(p), metrics={"sharpe": float(p["x"])})
            for p in batch
        ]

    space = SearchSpace.build(bowl_definition(), {"x": [30, 37, 40], "y": [62]})
    result = grid_search(space, evaluate, heatmap=("x", "y"))
    assert result.best is not None
    assert result.best.metrics == {"sharpe": 37.0}
    assert result.heatmap is not None
    assert result.heatmap.z == [[-49.0, 0.0, -9.0]]


# --- evaluate_chunk on the engine ------------------------------------------------------


def wave_series(bars: int = 3_000) -> BarSeries:
    t = np.arange(bars)
    close = 100.0 + 5.0 * np.sin(t / 40.0) + 0.01 * t
    open_ = np.concatenate([[close[0]], close[:-1]])
    return BarSeries(
        symbol="wave",
        ts_ns=(t * 60 + 1_600_000_000).astype(np.int64) * 1_000_000_000,
        trading_days=(18_000 + t // 240).astype(np.int32),
        open=open_,
        high=np.maximum(open_, close) + 0.1,
        low=np.minimum(open_, close) - 0.1,
        close=close,
        volume=np.ones(bars),
        open_interest=np.zeros(bars),
    )


def test_evaluate_chunk_summarises_runs_and_reports_invalid_ones() -> None:
    sma = get_strategy("sma_cross")
    series = wave_series()
    config = BacktestConfig()
    chunk: list[ParamSet] = [
        {"fast": 5, "slow": 20, "mode": "long_only"},
        {"fast": 30, "slow": 10, "mode": "long_only"},  # breaks fast < slow
        {"fast": 8, "slow": 40, "mode": "long_short"},
    ]
    evaluations = evaluate_chunk(sma, chunk, series, config, "sharpe")
    assert [e.params for e in evaluations] == chunk
    assert evaluations[1].objective is None
    assert evaluations[1].error is not None
    assert "fast < slow" in evaluations[1].error
    for index in (0, 2):
        metrics = run_vectorized(sma, chunk[index], series, config).metrics
        assert evaluations[index].objective == objective_value(metrics, "sharpe")
        assert evaluations[index].metrics["total_return"] == metrics.total_return
        assert evaluations[index].metrics["trades.count"] == metrics.trades.count > 0
        assert evaluations[index].error is None


def test_a_search_over_the_engine_finds_the_best_grid_point() -> None:
    sma = get_strategy("sma_cross")
    series = wave_series()
    config = BacktestConfig()
    space = SearchSpace.build(sma, {"fast": [3, 5, 10], "slow": [20, 40, 80]})

    def evaluate(batch: list[ParamSet]) -> Sequence[Evaluation]:
        return evaluate_chunk(sma, batch, series, config, "total_return")

    result = grid_search(space, evaluate, batch_size=4)
    returns = {
        (p["fast"], p["slow"]): run_vectorized(sma, p, series, config).metrics.total_return
        for p in space.grid()
    }
    best = max(returns, key=lambda k: returns[k])
    assert result.best_params is not None
    assert (result.best_params["fast"], result.best_params["slow"]) == best
    assert result.evaluated == len(returns) == 9
