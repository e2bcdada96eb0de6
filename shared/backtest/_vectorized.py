"""The vectorized engine: signals for every bar in, equity, trades and metrics out.

Several series form a portfolio on the union of their bar times (a series without a bar at
some time keeps its last close and takes no action there). They share one account: equity
sizing divides the account's equity, and margin held by one position limits the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from shared.analytics import EquitySeries, Settings, TradeTable, compute_metrics_arrays
from shared.backtest import _kernel as kernel
from shared.backtest._config import BacktestConfig, BacktestError, InstrumentTerms
from shared.backtest._data import BarSeries
from shared.backtest._grid import Grid
from shared.backtest._result import BacktestResult, FillLog, OpenPosition, TradeLog, in_market
from shared.strategy import SignalData, Signals, StrategyDefinition

Int8Array = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]


def actions_of(signals: Signals, count: int) -> Int8Array:
    """The engine's action code per bar: both entries on one bar cancel out; an entry wins
    over the exits; both exits leave whichever side is held."""
    sides = (signals.long_entry, signals.long_exit, signals.short_entry, signals.short_exit)
    for name, values in zip(
        ("long_entry", "long_exit", "short_entry", "short_exit"), sides, strict=True
    ):
        if values is not None and values.shape != (count,):
            raise BacktestError(
                f"signal `{name}` has shape {values.shape}, expected ({count},)", name
            )
    none = np.zeros(count, dtype=np.uint8)
    long_entry, long_exit, short_entry, short_exit = (
        none if values is None else np.ascontiguousarray(values, dtype=np.bool_).view(np.uint8)
        for values in sides
    )
    actions = np.empty(count, dtype=np.int8)
    kernel.encode_actions(long_entry, long_exit, short_entry, short_exit, actions)
    return actions


def _terms_matrix(terms: Sequence[InstrumentTerms]) -> FloatArray:
    rows = []
    for item in terms:
        item.validate()
        rows.append(
            (
                item.multiplier,
                1.0 if item.margin_rate is None else item.margin_rate,
                item.commission_rate,
                item.commission_per_unit,
                item.commission_rate if item.close_today_rate is None else item.close_today_rate,
                item.commission_per_unit
                if item.close_today_per_unit is None
                else item.close_today_per_unit,
                item.slippage_ticks * item.price_tick,
            )
        )
    return np.ascontiguousarray(np.array(rows, dtype=np.float64))


def run_signals(
    series: Sequence[BarSeries],
    signals: Sequence[Signals],
    config: BacktestConfig,
    terms: Sequence[InstrumentTerms] | None = None,
    *,
    max_drawdowns: int = 10,
) -> BacktestResult:
    """Backtest the given signals (one per series) under `config` (and per-series `terms`,
    default `config.terms` for all)."""
    config.validate()
    if not series or len(series) != len(signals):
        raise BacktestError("give one signal set per series", "signals")
    names = [s.symbol for s in series]
    if len(set(names)) != len(names):
        raise BacktestError("each series needs its own symbol", "symbol")
    grid = Grid(series)
    actions = grid.actions(
        [actions_of(sig, len(s)) for s, sig in zip(series, signals, strict=True)]
    )
    matrix = _terms_matrix(terms if terms is not None else [config.terms] * len(series))
    if matrix.shape[0] != len(series):
        raise BacktestError("give one set of terms per series", "terms")
    bars, symbols = actions.shape
    capacity = int(np.count_nonzero(actions)) + symbols
    equity = np.empty(bars)
    positions = np.empty((bars, symbols))
    state = np.zeros((symbols, len(kernel.STATE_COLUMNS)))
    trades = np.empty((capacity, len(kernel.TRADE_COLUMNS)))
    fills = np.empty((2 * capacity, len(kernel.FILL_COLUMNS)))
    counts = np.zeros(3)
    extremes: tuple[float, float] | None = None
    if symbols == 1:
        extremes = kernel.simulate_one(
            grid.opens[:, 0], grid.closes[:, 0], grid.days, actions[:, 0], matrix, config.cash,
            config.fill == "close", config.size.mode == "equity", config.size.value,
            equity, positions[:, 0], state, trades, fills, counts,
        )  # fmt: skip
    else:
        kernel.simulate(
            grid.opens, grid.closes, grid.days, actions, matrix, config.cash,
            config.fill == "close", config.size.mode == "equity", config.size.value,
            equity, positions, state, trades, fills, counts,
        )  # fmt: skip
    trade_log = _trade_log(trades[: int(counts[0])], grid.ts_ns, matrix)
    fill_log = _fill_log(fills[: int(counts[1])])
    opened = tuple(
        OpenPosition(
            symbol=names[j],
            units=float(state[j, 0]),
            entry_price=float(state[j, 1]),
            entry_bar=int(state[j, 2]),
            mark=float(series[j].close[-1]),
        )
        for j in range(symbols)
        if state[j, 0] != 0.0
    )
    curve, curve_ok = _analysable_checked(equity, config.cash, extremes)
    metrics = compute_metrics_arrays(
        EquitySeries(
            timestamps=grid.ts_ns,
            equity=curve,
            trading_days=grid.days,
            in_market=in_market(positions),
            benchmark=grid.benchmark(),
        ),
        trade_log.table,
        Settings(
            starting_cash=config.cash,
            periods_per_year=config.periods_per_year,
            risk_free_rate=config.risk_free_rate,
        ),
        max_drawdowns=max_drawdowns,
        daily=False,
        # One validated series: its times, days and closes (the benchmark) passed when it was
        # checked; the curve and the trade rows are checked here, for a fraction of the cost.
        values_checked=symbols == 1
        and series[0].checked
        and curve_ok
        and kernel.trades_valid(trades, int(counts[0]), float(matrix[0, 0])),
    )
    return BacktestResult(
        symbols=tuple(names),
        ts_ns=grid.ts_ns,
        trading_days=grid.days,
        equity=equity,
        positions=positions,
        trades=trade_log,
        fills=fill_log,
        open_positions=opened,
        cash=config.cash,
        rejected_orders=int(counts[2]),
        metrics=metrics,
    )


def _analysable(equity: FloatArray, cash: float) -> FloatArray:
    """The analytics need equity > 0: an account run to zero or below is floored at a
    millionth of the starting cash, which the metrics report as a ~100% loss."""
    return _analysable_checked(equity, cash)[0]


def _analysable_checked(
    equity: FloatArray, cash: float, extremes: tuple[float, float] | None = None
) -> tuple[FloatArray, bool]:
    """`_analysable`'s curve, and whether it is known to be finite (so > 0) everywhere.
    `extremes`: `simulate_one`'s lowest equity and non-finite sum, else taken here."""
    floor = cash * 1e-6
    if extremes is not None:
        lowest, nonfinite = extremes
        if nonfinite == 0.0 and lowest > floor:
            return equity, True
        return np.maximum(equity, floor), False
    # min() is NaN when any point is, and NaN > floor is False: such a curve goes through
    # np.maximum (which keeps the NaN) for the analytics to refuse, as before.
    if bool(equity.min() > floor):
        return equity, bool(equity.max() < np.inf)
    return np.maximum(equity, floor), False


def _trade_log(rows: FloatArray, ts_ns: npt.NDArray[np.int64], terms: FloatArray) -> TradeLog:
    symbol = rows[:, 0].astype(np.int32)
    entry_bar = rows[:, 3].astype(np.int64)
    exit_bar = rows[:, 4].astype(np.int64)
    table = TradeTable(
        entry_time=ts_ns[entry_bar],
        exit_time=ts_ns[exit_bar],
        side=rows[:, 1].astype(np.int8),
        size=np.ascontiguousarray(rows[:, 2]),
        entry_price=np.ascontiguousarray(rows[:, 5]),
        exit_price=np.ascontiguousarray(rows[:, 6]),
        pnl=np.ascontiguousarray(rows[:, 7]),
        commission=np.ascontiguousarray(rows[:, 8]),
        multiplier=terms[symbol, 0],
    )
    return TradeLog(table=table, symbol=symbol, entry_bar=entry_bar, exit_bar=exit_bar)


def _fill_log(rows: FloatArray) -> FillLog:
    return FillLog(
        bar=rows[:, 0].astype(np.int64),
        symbol=rows[:, 1].astype(np.int32),
        units=np.ascontiguousarray(rows[:, 2]),
        price=np.ascontiguousarray(rows[:, 3]),
        commission=np.ascontiguousarray(rows[:, 4]),
    )


def run_vectorized(
    definition: StrategyDefinition,
    params: Mapping[str, object],
    series: BarSeries | Sequence[BarSeries],
    config: BacktestConfig,
    terms: Sequence[InstrumentTerms] | None = None,
    *,
    max_drawdowns: int = 10,
    signal_data: Sequence[SignalData] | None = None,
) -> BacktestResult:
    """Run a strategy's vectorized form on one series or a portfolio (the same rules on each).

    `signal_data` (one per series, over the same bars) lets many runs share their indicator
    memo: a sweep computes each moving average once, not once per parameter set."""
    if definition.signals is None:
        raise BacktestError(f"strategy {definition.name!r} has no vectorized form", "strategy")
    values = definition.resolve(params)
    items = [series] if isinstance(series, BarSeries) else list(series)
    if signal_data is None:
        signal_data = [SignalData(item.columns(), item.trading_days) for item in items]
    elif len(signal_data) != len(items):
        raise BacktestError("give one SignalData per series", "signal_data")
    signals = [definition.signals(data, values) for data in signal_data]
    return run_signals(items, signals, config, terms, max_drawdowns=max_drawdowns)
