"""`evaluate_chunk`: what a worker runs for one batch of a search.

Each parameter set is backtested with `run_vectorized` and reduced to an `Evaluation` (params,
objective value, headline metrics); the result and its equity curve are dropped at once, so a
chunk's memory does not grow with its length.

On a single series the chunk takes a fused path (`SeriesSweep`): the signals go straight to a
compiled pass that reduces the run to what the metrics need as it fills, instead of writing
the equity and positions of every bar and analysing them afterwards. Its metrics equal
`run_vectorized(..., max_drawdowns=0)`'s; a run it cannot vouch for (see `_summary_kernel`),
and a chunk whose configuration the engine refuses, take the full path, so the evaluations
(errors included) are the same either way. A portfolio (or a run given per-series `terms`)
always takes the full path.

Only the errors a single run is expected to raise are caught (invalid parameters, a run the
engine refuses, metrics that cannot be computed); they become an evaluation without a value
and with the message. Anything else is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.analytics import AnalyticsError
from shared.backtest import (
    BacktestConfig,
    BacktestError,
    BarSeries,
    InstrumentTerms,
    run_vectorized,
)
from shared.backtest._summary_kernel import SeriesSweep
from shared.optimize._objective import Objective, as_objective, headline
from shared.optimize._results import Evaluation
from shared.strategy import ParamError, ParamValue, SignalData, StrategyDefinition

_EXPECTED_ERRORS = (ParamError, BacktestError, AnalyticsError)


def evaluate_one(
    definition: StrategyDefinition,
    params: Mapping[str, ParamValue],
    series: BarSeries | Sequence[BarSeries],
    config: BacktestConfig,
    objective: str | Objective,
    *,
    terms: Sequence[InstrumentTerms] | None = None,
    signal_data: Sequence[SignalData] | None = None,
) -> Evaluation:
    target = as_objective(objective)
    given = dict(params)
    try:
        # Only the deepest drawdown matters to a summary: no list of episodes is built.
        metrics = run_vectorized(
            definition, given, series, config, terms, max_drawdowns=0, signal_data=signal_data
        ).metrics
    except _EXPECTED_ERRORS as error:
        return Evaluation(params=given, objective=None, error=str(error))
    return Evaluation(params=given, objective=target.value(metrics), metrics=headline(metrics))


def evaluate_chunk(
    definition: StrategyDefinition,
    params_list: Sequence[Mapping[str, ParamValue]],
    series: BarSeries | Sequence[BarSeries],
    config: BacktestConfig,
    objective: str | Objective,
    *,
    terms: Sequence[InstrumentTerms] | None = None,
) -> list[Evaluation]:
    """One `Evaluation` per parameter set, in order. `terms` (one per series) price a
    portfolio's series each by its own contract, as in `run_vectorized`."""
    target = as_objective(objective)  # an unknown name fails once, before any run
    items = [series] if isinstance(series, BarSeries) else list(series)
    # One indicator memo for the chunk: the parameter sets share most of their averages.
    shared_data = [SignalData(item.columns(), item.trading_days) for item in items]
    sweep = None if terms is not None else _series_sweep(definition, items, config)
    if sweep is None:
        return [
            evaluate_one(
                definition, params, items, config, target, terms=terms, signal_data=shared_data
            )
            for params in params_list
        ]
    return [
        _evaluate_fused(
            sweep, definition, params, items, config, target=target, shared_data=shared_data
        )
        for params in params_list
    ]


def _series_sweep(
    definition: StrategyDefinition, items: Sequence[BarSeries], config: BacktestConfig
) -> SeriesSweep | None:
    """The fused path's preparation, or None where the full path reports every run's error
    (or runs a portfolio)."""
    if len(items) != 1 or definition.signals is None:
        return None
    try:
        return SeriesSweep(items[0], config)
    except (BacktestError, AnalyticsError):
        return None


def _evaluate_fused(
    sweep: SeriesSweep,
    definition: StrategyDefinition,
    params: Mapping[str, ParamValue],
    items: Sequence[BarSeries],
    config: BacktestConfig,
    *,
    target: Objective,
    shared_data: Sequence[SignalData],
) -> Evaluation:
    """`evaluate_one` on the fused path (same steps, same errors, same result)."""
    signals = definition.signals
    assert signals is not None  # checked by `_series_sweep`
    given = dict(params)
    try:
        metrics = sweep.metrics(signals(shared_data[0], definition.resolve(given)))
    except _EXPECTED_ERRORS as error:
        return Evaluation(params=given, objective=None, error=str(error))
    if metrics is None:
        return evaluate_one(definition, given, items, config, target, signal_data=shared_data)
    return Evaluation(params=given, objective=target.value(metrics), metrics=headline(metrics))
