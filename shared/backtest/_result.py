"""What a backtest produces: the equity curve, positions, trades, fills and metrics.

Arrays stay arrays (a ten-million-bar run must not build ten million objects); `*_frame()`
turns them into polars frames for Parquet and reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from shared.analytics import (
    DailyResult,
    EquitySeries,
    Metrics,
    Settings,
    TradeTable,
    daily_results_of,
)

FloatArray = npt.NDArray[np.float64]
_UTC_NS = pl.Datetime("ns", "UTC")


def in_market(positions: FloatArray) -> npt.NDArray[np.bool_]:
    """Per bar, whether any series holds a position. Column by column: numpy's reduction
    along a short second axis (`np.any(..., axis=1)`) is ten times slower on a long curve."""
    held: npt.NDArray[np.bool_] = positions[:, 0] != 0.0
    for j in range(1, positions.shape[1]):
        held |= positions[:, j] != 0.0
    return held


@dataclass(frozen=True, slots=True)
class TradeLog:
    """Closed round trips: `table` for the analytics, plus where each one happened."""

    table: TradeTable
    symbol: npt.NDArray[np.int32]  # index into BacktestResult.symbols
    entry_bar: npt.NDArray[np.int64]
    exit_bar: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.symbol.size)


@dataclass(frozen=True, slots=True)
class FillLog:
    bar: npt.NDArray[np.int64]
    symbol: npt.NDArray[np.int32]
    units: FloatArray  # signed: > 0 bought, < 0 sold
    price: FloatArray
    commission: FloatArray

    def __len__(self) -> int:
        return int(self.bar.size)


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """A position still open after the last bar (not a closed trade, so not in the trade
    statistics; its P&L is in the final equity)."""

    symbol: str
    units: float
    entry_price: float
    entry_bar: int
    mark: float


@dataclass(frozen=True, slots=True)
class BacktestResult:
    symbols: tuple[str, ...]
    ts_ns: npt.NDArray[np.int64]
    trading_days: npt.NDArray[np.int32]
    equity: FloatArray
    positions: FloatArray  # (bars, symbols)
    trades: TradeLog
    fills: FillLog
    open_positions: tuple[OpenPosition, ...]
    cash: float  # starting cash
    rejected_orders: int
    metrics: Metrics  # `daily` left empty: see `daily_results`

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])

    def daily_results(self) -> tuple[DailyResult, ...]:
        """Equity, return and P&L per trading day (built on demand: one object per day)."""
        floor = self.cash * 1e-6  # as the metrics saw an account run to zero
        series = EquitySeries(
            timestamps=self.ts_ns,
            equity=np.maximum(self.equity, floor),
            trading_days=self.trading_days,
        )
        return daily_results_of(series, Settings(starting_cash=self.cash))

    def equity_frame(self) -> pl.DataFrame:
        frame = pl.DataFrame(
            {
                "ts": pl.Series(self.ts_ns).cast(_UTC_NS),
                "trading_day": pl.Series(self.trading_days).cast(pl.Date),
                "equity": self.equity,
            }
        )
        peak = np.maximum.accumulate(self.equity)
        return frame.with_columns(drawdown=pl.Series(self.equity / peak - 1.0))

    def trades_frame(self) -> pl.DataFrame:
        table = self.trades.table
        names = np.array(self.symbols, dtype=object)
        return pl.DataFrame(
            {
                "symbol": pl.Series(names[self.trades.symbol], dtype=pl.String),
                "side": pl.Series(np.where(table.side > 0, "long", "short"), dtype=pl.String),
                "size": table.size,
                "entry_time": pl.Series(table.entry_time).cast(_UTC_NS),
                "exit_time": pl.Series(table.exit_time).cast(_UTC_NS),
                "entry_price": table.entry_price,
                "exit_price": table.exit_price,
                "pnl": table.pnl,
                "commission": table.commission,
                "entry_bar": self.trades.entry_bar,
                "exit_bar": self.trades.exit_bar,
            }
        )

    def fills_frame(self) -> pl.DataFrame:
        names = np.array(self.symbols, dtype=object)
        return pl.DataFrame(
            {
                "ts": pl.Series(self.ts_ns[self.fills.bar]).cast(_UTC_NS),
                "symbol": pl.Series(names[self.fills.symbol], dtype=pl.String),
                "units": self.fills.units,
                "price": self.fills.price,
                "commission": self.fills.commission,
                "bar": self.fills.bar,
            }
        )
