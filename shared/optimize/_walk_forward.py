"""Walk-forward optimisation: optimise on a training window, trade the next test window with the
winner, move on, and judge the strategy by the out-of-sample windows alone.

Windows are counted in trading days and cut at the first bar of a trading day, so a day (its
night session included) is never split between training and testing. With `s = step_days`
(default `test_days`), window k (from 0):
- tests on days [train_days + k*s, train_days + k*s + test_days);
- trains on days [k*s, k*s + train_days) (rolling), or [0, k*s + train_days) (anchored: the
  training start stays at the first day and the training window grows).
Only complete windows are made: trailing days too few for a whole test window are left out,
and the first `train_days` days are never tested. `step_days < test_days` is refused because
out-of-sample windows must not overlap to be stitched; `step_days > test_days` leaves gaps.

Out of sample, each test window runs on its own bars from the starting cash, so indicators
warm up inside it (the first `warmup` bars of a window cannot trade). The test equity curves
are chained: window k's curve is scaled by (equity at the end of window k-1) / cash, i.e. its
returns are compounded onto the previous windows' result; its closed trades are scaled alike
(size, P&L and commission) so the stitched trade statistics match the stitched curve. A
window whose search found no valid value stays flat (no params, no trades).

`walk_forward` does it all in one process. The searches can also run elsewhere, window by
window (the gateway fans each one out over its workers): `windows` gives the plan,
`choice_of` turns each window's `SearchResult` into a `WindowChoice`, and `stitch_windows`
trades the test windows with those choices. Both ways give the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from shared.analytics import EquitySeries, Metrics, Settings, TradeTable, compute_metrics_arrays
from shared.backtest import BacktestConfig, BarSeries, in_market, run_vectorized
from shared.optimize._chunk import evaluate_chunk
from shared.optimize._objective import Objective, as_objective
from shared.optimize._results import SearchResult
from shared.optimize._searches import (
    DEFAULT_BATCH_SIZE,
    Cancelled,
    Outcome,
    Progress,
    grid_search,
    random_search,
)
from shared.optimize._space import ParamSet, SearchSpace
from shared.strategy import StrategyDefinition

SearchKind = Literal["grid", "random"]
FloatArray = npt.NDArray[np.float64]


class WalkForwardWindow(NamedTuple):
    """Bar ranges [start, stop) of one window's training and test parts (unpacks as
    `train, test`)."""

    train: slice
    test: slice


def windows(
    trading_days: npt.NDArray[np.int32],
    train_days: int,
    test_days: int,
    anchored: bool = False,
    step_days: int | None = None,
) -> list[WalkForwardWindow]:
    """The walk-forward windows over bars labelled with `trading_days` (non-decreasing)."""
    step = test_days if step_days is None else step_days
    if train_days < 1 or test_days < 1:
        raise ValueError(f"train_days and test_days must be >= 1, got {train_days}, {test_days}")
    if step < test_days:
        raise ValueError(
            f"step_days ({step}) must be >= test_days ({test_days}): "
            "out-of-sample windows must not overlap"
        )
    days = np.asarray(trading_days)
    if days.ndim != 1 or days.size == 0:
        raise ValueError("trading_days must be a non-empty 1-D array")
    if bool(np.any(days[1:] < days[:-1])):
        raise ValueError("trading_days must be non-decreasing")
    # bounds[i] is the first bar of the i-th trading day; bounds[-1] is one past the last bar.
    firsts = np.flatnonzero(days[1:] != days[:-1]) + 1
    bounds = [0, *firsts.tolist(), int(days.size)]
    day_count = len(bounds) - 1
    if day_count < train_days + test_days:
        raise ValueError(
            f"{day_count} trading days are too few for {train_days} training and "
            f"{test_days} test days"
        )
    result: list[WalkForwardWindow] = []
    k = 0
    while train_days + k * step + test_days <= day_count:
        test_first = train_days + k * step
        train_first = 0 if anchored else k * step
        result.append(
            WalkForwardWindow(
                train=slice(bounds[train_first], bounds[test_first]),
                test=slice(bounds[test_first], bounds[test_first + test_days]),
            )
        )
        k += 1
    return result


@dataclass(frozen=True, slots=True)
class WindowChoice:
    """What a training window's search chose: its best params and their in-sample value
    (None when no set was valid), and how many sets it evaluated."""

    best_params: ParamSet | None
    in_sample: float | None
    evaluated: int


def choice_of(found: SearchResult) -> WindowChoice:
    best = found.best
    if best is None:
        return WindowChoice(None, None, found.evaluated)
    return WindowChoice(best.params, best.objective, found.evaluated)


@dataclass(frozen=True, slots=True)
class WindowResult:
    window: WalkForwardWindow
    best_params: ParamSet | None
    in_sample: float | None
    out_of_sample: float | None
    evaluated: int


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """Per-window results and the stitched out-of-sample curve (`metrics` is None when no
    window finished, e.g. cancelled during the first)."""

    windows: tuple[WindowResult, ...]
    ts_ns: npt.NDArray[np.int64]
    trading_days: npt.NDArray[np.int32]
    equity: FloatArray
    metrics: Metrics | None
    cancelled: bool
    objective: Objective


@dataclass(slots=True)
class _Stitch:
    """The chained out-of-sample parts, concatenated once at the end."""

    cash: float
    level: float
    parts: list[dict[str, npt.NDArray[np.generic]]] = field(default_factory=list)
    trades: list[TradeTable] = field(default_factory=list)

    def add(
        self,
        test: BarSeries,
        equity: FloatArray,
        in_market: npt.NDArray[np.bool_],
        trades: TradeTable,
    ) -> None:
        factor = self.level / self.cash
        scaled = equity * factor
        self.parts.append(
            {
                "ts": test.ts_ns,
                "days": test.trading_days,
                "equity": scaled,
                "in_market": in_market,
                "close": test.close,
            }
        )
        self.trades.append(_scaled_trades(trades, factor))
        self.level = float(scaled[-1])

    def column(self, name: str) -> npt.NDArray[np.generic]:
        return np.concatenate([part[name] for part in self.parts])

    def metrics(self, config: BacktestConfig) -> Metrics | None:
        if not self.parts:
            return None
        series = EquitySeries(
            timestamps=self.column("ts").astype(np.int64),
            equity=self.column("equity").astype(np.float64),
            trading_days=self.column("days").astype(np.int32),
            in_market=self.column("in_market").astype(np.bool_),
            benchmark=self.column("close").astype(np.float64),
        )
        settings = Settings(
            starting_cash=config.cash,
            periods_per_year=config.periods_per_year,
            risk_free_rate=config.risk_free_rate,
        )
        return compute_metrics_arrays(series, _concat_trades(self.trades), settings)


def _scaled_trades(trades: TradeTable, factor: float) -> TradeTable:
    return TradeTable(
        entry_time=trades.entry_time,
        exit_time=trades.exit_time,
        side=trades.side,
        size=trades.size * factor,
        entry_price=trades.entry_price,
        exit_price=trades.exit_price,
        pnl=trades.pnl * factor,
        commission=trades.commission * factor,
        multiplier=trades.multiplier,
    )


def _concat_trades(tables: Sequence[TradeTable]) -> TradeTable:
    if not tables:
        return TradeTable.empty()
    return TradeTable(
        entry_time=np.concatenate([t.entry_time for t in tables]),
        exit_time=np.concatenate([t.exit_time for t in tables]),
        side=np.concatenate([t.side for t in tables]),
        size=np.concatenate([t.size for t in tables]),
        entry_price=np.concatenate([t.entry_price for t in tables]),
        exit_price=np.concatenate([t.exit_price for t in tables]),
        pnl=np.concatenate([t.pnl for t in tables]),
        commission=np.concatenate([t.commission for t in tables]),
        multiplier=np.concatenate([t.multiplier for t in tables]),
    )


def walk_forward(
    series: BarSeries,
    definition: StrategyDefinition,
    space: SearchSpace,
    config: BacktestConfig,
    objective: str | Objective,
    *,
    train_days: int,
    test_days: int,
    anchored: bool = False,
    step_days: int | None = None,
    search: SearchKind = "grid",
    trials: int = 100,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> WalkForwardResult:
    """Optimise each training window with `search` (random: `trials` points, seed `seed + k`
    in window k), trade its best params on the test window, stitch the test windows.
    `progress(windows done, windows total)` is reported after each window; `cancelled` is
    polled between batches, and a cancelled run returns the windows finished before."""
    if space.definition.name != definition.name:
        raise ValueError(
            f"the search space is for {space.definition.name!r}, not {definition.name!r}"
        )
    if search not in ("grid", "random"):
        raise ValueError(f"search is grid or random, got {search!r}")
    target = as_objective(objective)
    config.validate()
    plan = windows(series.trading_days, train_days, test_days, anchored, step_days)
    choices: list[WindowChoice] = []
    was_cancelled = False
    for k, window in enumerate(plan):
        found = _optimise(
            space,
            definition=definition,
            train=series.slice(window.train.start, window.train.stop),
            config=config,
            target=target,
            search=search,
            trials=trials,
            seed=seed + k,
            batch_size=batch_size,
            cancelled=cancelled,
        )
        if found.cancelled:
            was_cancelled = True
            break
        choices.append(choice_of(found))
        if progress is not None:
            progress(k + 1, len(plan))
    result = stitch_windows(
        series, definition, config, target, plan=plan[: len(choices)], choices=choices
    )
    return replace(result, cancelled=was_cancelled)


def stitch_windows(
    series: BarSeries,
    definition: StrategyDefinition,
    config: BacktestConfig,
    objective: str | Objective,
    *,
    plan: Sequence[WalkForwardWindow],
    choices: Sequence[WindowChoice],
) -> WalkForwardResult:
    """Trade each test window of `plan` with its window's choice, and chain the test curves."""
    if len(plan) != len(choices):
        raise ValueError(f"{len(choices)} choices for {len(plan)} windows")
    target = as_objective(objective)
    config.validate()
    stitch = _Stitch(cash=config.cash, level=config.cash)
    done = [
        _trade_test_window(
            definition,
            window=window,
            choice=choice,
            test=series.slice(window.test.start, window.test.stop),
            config=config,
            target=target,
            stitch=stitch,
        )
        for window, choice in zip(plan, choices, strict=True)
    ]
    empty = np.empty(0)
    return WalkForwardResult(
        windows=tuple(done),
        ts_ns=stitch.column("ts").astype(np.int64) if done else empty.astype(np.int64),
        trading_days=stitch.column("days").astype(np.int32) if done else empty.astype(np.int32),
        equity=stitch.column("equity").astype(np.float64) if done else empty,
        metrics=stitch.metrics(config),
        cancelled=False,
        objective=target,
    )


def _optimise(
    space: SearchSpace,
    *,
    definition: StrategyDefinition,
    train: BarSeries,
    config: BacktestConfig,
    target: Objective,
    search: SearchKind,
    trials: int,
    seed: int,
    batch_size: int,
    cancelled: Cancelled | None,
) -> SearchResult:
    def evaluate(batch: list[ParamSet]) -> Sequence[Outcome]:
        return evaluate_chunk(definition, batch, train, config, target)

    if search == "grid":
        return grid_search(
            space, evaluate, batch_size=batch_size, maximize=target.maximize, cancelled=cancelled
        )
    return random_search(
        space,
        evaluate,
        trials=trials,
        seed=seed,
        batch_size=batch_size,
        maximize=target.maximize,
        cancelled=cancelled,
    )


def _trade_test_window(
    definition: StrategyDefinition,
    *,
    window: WalkForwardWindow,
    choice: WindowChoice,
    test: BarSeries,
    config: BacktestConfig,
    target: Objective,
    stitch: _Stitch,
) -> WindowResult:
    if choice.best_params is None:
        # Nothing valid in sample: stand aside out of sample rather than guess.
        flat = np.full(len(test), config.cash)
        stitch.add(test, flat, np.zeros(len(test), dtype=np.bool_), TradeTable.empty())
        return WindowResult(window, None, None, None, choice.evaluated)
    result = run_vectorized(definition, choice.best_params, test, config)
    stitch.add(test, result.equity, in_market(result.positions), result.trades.table)
    return WindowResult(
        window=window,
        best_params=choice.best_params,
        in_sample=choice.in_sample,
        out_of_sample=target.value(result.metrics),
        evaluated=choice.evaluated,
    )
