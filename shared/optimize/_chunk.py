"""`evaluate_chunk`: what a worker runs for one batch of a search.

Each parameter set is backtested with `run_vectorized` and reduced to an `Evaluation` (params,
objective value, headline metrics); the result and its equity curve are dropped at once, so a
chunk's memory does not grow with its length.

Only the errors a single run is expected to raise are caught (invalid parameters, a run the
engine refuses, metrics that cannot be computed); they become an evaluation without a value
and with the message. Anything else is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.analytics import AnalyticsError
from shared.backtest import BacktestConfig, BacktestError, BarSeries, run_vectorized
from shared.optimize._objective import Objective, as_objective, headline
from shared.optimize._results import Evaluation
from shared.strategy import ParamError, ParamValue, StrategyDefinition

_EXPECTED_ERRORS = (ParamError, BacktestError, AnalyticsError)


def evaluate_one(
    definition: StrategyDefinition,
    params: Mapping[str, ParamValue],
    series: BarSeries | Sequence[BarSeries],
    config: BacktestConfig,
    objective: str | Objective,
) -> Evaluation:
    target = as_objective(objective)
    given = dict(params)
    try:
        metrics = run_vectorized(definition, given, series, config).metrics
    except _EXPECTED_ERRORS as error:
        return Evaluation(params=given, objective=None, error=str(error))
    return Evaluation(params=given, objective=target.value(metrics), metrics=headline(metrics))


def evaluate_chunk(
    definition: StrategyDefinition,
    params_list: Sequence[Mapping[str, ParamValue]],
    series: BarSeries | Sequence[BarSeries],
    config: BacktestConfig,
    objective: str | Objective,
) -> list[Evaluation]:
    """One `Evaluation` per parameter set, in order."""
    target = as_objective(objective)  # an unknown name fails once, before any run
    return [evaluate_one(definition, params, series, config, target) for params in params_list]
