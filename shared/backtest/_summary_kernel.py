"""A sweep's backtest of one series: the fills of `_kernel.simulate_one`, reduced as they go.

A parameter sweep wants each run's metrics, never its curve. `simulate_summary` runs the same
fills as `simulate_one` (the same `_fill_one` and `_target`, the same equity expression, so every
bar's equity is bit-for-bit the one `simulate_one` writes) but keeps, instead of 2n values,
what `shared.analytics.compute_metrics_totals` needs:
- the equity at each trading day's last bar;
- the drawdown totals, walked as `shared.analytics._compiled.drawdown_episodes` walks a curve
  (high-water mark over every bar; deepest episode and the sums behind the averages);
- the number of bars ending with a position (the exposure);
- the trade and fill rows, as `simulate_one` writes them.
Equity is taken as `_vectorized._analysable` gives it to the analytics: at or below the floor,
the floor (pointwise that is what its `np.maximum` does).

Whatever the full path would reject (a non-finite equity, a trade the analytics refuse) is
only flagged here: `SeriesSweep.metrics` then returns `None` and the caller runs the full path,
which reports it in its own words.

The compiled loop (`_kernel.simulate_summary`) sits in `_kernel` beside the `_fill_one` it
inlines, so numba's on-disk cache is invalidated whenever either changes.
"""

# Compiled functions take plain positional arrays (numba has no dataclasses), and the kernel
# is one loop on purpose (one pass over the bars): PLR0917/0915/0912.

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shared.analytics import (
    CurveBasis,
    DrawdownTotals,
    Episode,
    Metrics,
    Settings,
    compute_metrics_totals,
    curve_basis,
)
from shared.backtest._config import BacktestConfig
from shared.backtest._data import BarSeries
from shared.backtest._kernel import (
    AMOUNT_SUM,
    DAYS_SUM,
    DEEP_AMOUNT,
    DEEP_DAYS,
    DEEP_DEPTH,
    DEEP_END,
    DEEP_PEAK,
    DEEP_PEAK_EQUITY,
    DEEP_RECOVERED,
    DEEP_TROUGH,
    DEEP_TROUGH_EQUITY,
    DEPTH_SUM,
    DURATION_SUM,
    EPISODES,
    FILL_COLUMNS,
    IN_MARKET,
    INTS,
    REALS,
    STATE_COLUMNS,
    TRADE_COLUMNS,
    VALID,
    simulate_summary,
)
from shared.backtest._vectorized import _analysable, _terms_matrix, _trade_log, actions_of
from shared.strategy import Signals

FloatArray = npt.NDArray[np.float64]


class SeriesSweep:
    """One series and configuration, prepared once for many signal sets: arrays, the
    analytics' shared basis and the kernel's buffers (grown, never shrunk)."""

    def __init__(self, series: BarSeries, config: BacktestConfig) -> None:
        """Raises what `run_signals` would raise for every run (`BacktestError`), or the
        `AnalyticsError` of the benchmark: such a chunk is left to the full path."""
        config.validate()
        self._series = series
        self._config = config
        self._terms = _terms_matrix([config.terms])
        self._basis: CurveBasis = curve_basis(series.ts_ns, series.trading_days, series.close)
        self._settings = Settings(
            starting_cash=config.cash,
            periods_per_year=config.periods_per_year,
            risk_free_rate=config.risk_free_rate,
        )
        # The floor `_analysable` applies to a curve that reaches it.
        self._floor = float(_analysable(np.zeros(1), config.cash)[0])
        self._state = np.zeros((1, len(STATE_COLUMNS)))
        self._counts = np.zeros(3)
        self._day_equity = np.empty(self._basis.last_point.size)
        self._reals = np.zeros(REALS)
        self._ints = np.zeros(INTS, dtype=np.int64)
        self._trades = np.empty((len(TRADE_COLUMNS), 0)).T
        self._fills = np.empty((0, len(FILL_COLUMNS)))

    def metrics(self, signals: Signals) -> Metrics | None:
        """The run's metrics, equal to `run_signals(..., max_drawdowns=0).metrics`; `None`
        when the run is one the full path must report (see the module docstring). Raises
        `BacktestError` for malformed signals and `AnalyticsError` as the analytics do."""
        series, config = self._series, self._config
        actions = actions_of(signals, len(series))
        capacity = int(np.count_nonzero(actions)) + 1
        if capacity > self._trades.shape[0]:
            # Column-major: each column of the trade rows is then a contiguous array, which
            # `_trade_log` takes without a copy.
            self._trades = np.empty((len(TRADE_COLUMNS), 2 * capacity)).T
            self._fills = np.empty((4 * capacity, len(FILL_COLUMNS)))
        self._state[:] = 0.0
        self._counts[:] = 0.0
        reals, ints = self._reals, self._ints
        simulate_summary(
            series.open, series.close, series.trading_days, self._basis.last_point,
            series.ts_ns, actions, self._terms,
            config.cash, config.fill == "close", config.size.mode == "equity", config.size.value,
            self._floor, self._state, self._trades, self._fills, self._counts,
            self._day_equity, reals, ints,
        )  # fmt: skip
        if not ints[VALID]:
            return None
        table = _trade_log(self._trades[: int(self._counts[0])], series.ts_ns, self._terms).table
        episodes = int(ints[EPISODES])
        deepest = None
        if episodes:
            deepest = Episode(
                peak=int(ints[DEEP_PEAK]),
                trough=int(ints[DEEP_TROUGH]),
                end=int(ints[DEEP_END]),
                recovered=bool(ints[DEEP_RECOVERED]),
                peak_equity=float(reals[DEEP_PEAK_EQUITY]),
                trough_equity=float(reals[DEEP_TROUGH_EQUITY]),
                depth=float(reals[DEEP_DEPTH]),
                amount=float(reals[DEEP_AMOUNT]),
                days=int(ints[DEEP_DAYS]),
            )
        totals = DrawdownTotals(
            episodes=episodes,
            deepest=deepest,
            depth_sum=float(reals[DEPTH_SUM]),
            amount_sum=float(reals[AMOUNT_SUM]),
            days_sum=int(ints[DAYS_SUM]),
            duration_ns_sum=int(ints[DURATION_SUM]),
        )
        return compute_metrics_totals(
            self._basis,
            table,
            self._settings,
            close_equity=self._day_equity,
            drawdowns=totals,
            in_market=int(ints[IN_MARKET]),
            trades_checked=True,  # by `_trades_valid`, or this returned None
        )
