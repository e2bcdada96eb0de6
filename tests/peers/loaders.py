"""Real files as bar frames for our engine and as pandas frames for the peers, plus our side of
each comparison (what our engine traded, as plain records) and the checks both sides share.

The peers are test-only dependencies (backtesting.py is AGPL, backtrader GPL): only the tests
import them; nothing here does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from shared.backtest import BacktestConfig, BacktestResult, BarSeries, run_vectorized
from shared.indicators import compute
from shared.strategy import get_strategy
from tests.support.market_data import real_bars

# Relative tolerance on money: both sides add the same numbers in a different order (our P&L
# is (exit - entry) * size * multiplier - both commissions in one expression; the peers
# accumulate cash fill by fill), so only the last bits may differ, over a few hundred trades.
REL = 1e-9


def daily_frame(path: Path) -> pl.DataFrame:
    """A backtesting.py or backtrader sample file (first column the date or datetime, then
    Open, High, Low, Close, ...) as a bar frame: `start` is the file's time read as UTC, the
    trading day its date. The files state no time zone; both sides get the same instants."""
    raw = pl.read_csv(path, try_parse_dates=True)
    stamp = pl.col(raw.columns[0])
    if raw.schema[raw.columns[0]] == pl.Date:
        stamp = stamp.cast(pl.Datetime("us"))
    return raw.select(
        stamp.dt.replace_time_zone("UTC").alias("start"),
        stamp.dt.date().alias("trading_day"),
        pl.col("Open").cast(pl.Float64).alias("open"),
        pl.col("High").cast(pl.Float64).alias("high"),
        pl.col("Low").cast(pl.Float64).alias("low"),
        pl.col("Close").cast(pl.Float64).alias("close"),
        pl.col("Volume").cast(pl.Float64).alias("volume"),
    )


def futures_frame(shared_data: Path, relative: str) -> pl.DataFrame:
    """A TQ one-minute futures file as a bar frame (see `tests.support.market_data`)."""
    return real_bars(shared_data, relative)


def pandas_ohlc(frame: pl.DataFrame) -> pd.DataFrame:
    """The peers' input: Open/High/Low/Close/Volume on a naive DatetimeIndex of the bar starts
    in UTC (neither peer wants a time zone)."""
    index = pd.DatetimeIndex(
        frame["start"].dt.replace_time_zone(None).dt.cast_time_unit("ns").to_numpy(),
        name="datetime",
    )
    return pd.DataFrame(
        {
            "Open": frame["open"].to_numpy(),
            "High": frame["high"].to_numpy(),
            "Low": frame["low"].to_numpy(),
            "Close": frame["close"].to_numpy(),
            "Volume": frame["volume"].cast(pl.Float64).to_numpy(),
        },
        index=index,
    )


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed round trip, the fields every engine reports."""

    side: int  # 1 long, -1 short
    size: float  # units, > 0
    entry_bar: int
    exit_bar: int
    entry_price: float
    exit_price: float
    pnl: float  # net of both legs' commission
    commission: float  # both legs


@dataclass(frozen=True, slots=True)
class Open:
    """The position still open after the last bar."""

    side: int
    size: float
    entry_bar: int
    entry_price: float


@dataclass(frozen=True, slots=True)
class Outcome:
    trades: list[Trade]
    open: list[Open]
    final_equity: float


def run_ours(frame: pl.DataFrame, params: dict[str, object], config: BacktestConfig) -> Outcome:
    """Run `sma_cross` in our vectorized engine and read its trades back as records."""
    result = run_vectorized(
        get_strategy("sma_cross"), params, BarSeries.from_frame(frame, "X"), config
    )
    return outcome_of(result)


def outcome_of(result: BacktestResult) -> Outcome:
    table = result.trades.table
    trades = [
        Trade(
            side=int(table.side[i]),
            size=float(table.size[i]),
            entry_bar=int(result.trades.entry_bar[i]),
            exit_bar=int(result.trades.exit_bar[i]),
            entry_price=float(table.entry_price[i]),
            exit_price=float(table.exit_price[i]),
            pnl=float(table.pnl[i]),
            commission=float(table.commission[i]),
        )
        for i in range(len(result.trades))
    ]
    assert result.rejected_orders == 0, "a comparison run must not depend on rejected orders"
    opened = [
        Open(
            side=1 if p.units > 0 else -1,
            size=abs(p.units),
            entry_bar=p.entry_bar,
            entry_price=p.entry_price,
        )
        for p in result.open_positions
    ]
    return Outcome(trades=trades, open=opened, final_equity=result.final_equity)


def sma_difference(frame: pl.DataFrame, fast: int, slow: int) -> np.ndarray:
    """fast SMA - slow SMA over the closes (our indicator), NaN in the warm-up."""
    columns = {"close": frame["close"].to_numpy()}
    fast_sma = compute("sma", columns, {"timeperiod": fast})["real"]
    slow_sma = compute("sma", columns, {"timeperiod": slow})["real"]
    return fast_sma - slow_sma


def count_ties(frame: pl.DataFrame, fast: int, slow: int, *, rel: float = 1e-9) -> tuple[int, int]:
    """(exact ties, near ties): bars where fast == slow, and where they differ by at most `rel`
    of the price without being equal.

    Each engine computes the averages itself (TA-Lib's running sum, pandas' rolling mean,
    backtrader's fsum), so they may differ in the last bits; at a near tie the sign of the
    difference, hence a crossing, could differ for a reason that is not the convention under
    test, so a comparison needs data without near ties. Exact ties on prices that are whole
    numbers are exact in all three (sums of integers are exact in float64, and one division
    rounds the same everywhere)."""
    diff = sma_difference(frame, fast, slow)
    scale = frame["close"].to_numpy()
    defined = ~np.isnan(diff)
    exact = diff[defined] == 0.0
    near = (np.abs(diff[defined]) <= rel * scale[defined]) & ~exact
    return int(exact.sum()), int(near.sum())


def assert_no_crossing_on_last_bar(frame: pl.DataFrame, fast: int, slow: int) -> None:
    """Both peers fill an order placed on the last bar never (there is no bar after it to
    process it, even with cheat/trade-on-close), while our close mode fills it at that close.
    The chosen files and periods do not cross on the last bar, so that quirk is out of play."""
    diff = sma_difference(frame, fast, slow)
    signs = np.sign(diff[~np.isnan(diff) & (diff != 0.0)])
    assert signs.size >= 2
    last = diff[-1]
    assert not math.isnan(last)
    assert last != 0.0
    assert signs[-1] == signs[-2], "the averages cross on the last bar"


def assert_same_outcome(ours: Outcome, theirs: Outcome, *, min_trades: int = 5) -> None:
    """Trade by trade: side, size, entry/exit bar, entry/exit price, P&L, commission; then the
    open position and the final equity."""
    assert len(ours.trades) >= min_trades, "too few trades for the comparison to mean much"
    assert len(theirs.trades) == len(ours.trades)
    for number, (mine, peer) in enumerate(zip(ours.trades, theirs.trades, strict=True)):
        where = f"trade {number}: ours {mine} vs peer {peer}"
        assert (mine.side, mine.size, mine.entry_bar, mine.exit_bar) == (
            peer.side,
            peer.size,
            peer.entry_bar,
            peer.exit_bar,
        ), where
        assert mine.entry_price == pytest.approx(peer.entry_price, rel=REL), where
        assert mine.exit_price == pytest.approx(peer.exit_price, rel=REL), where
        assert mine.commission == pytest.approx(peer.commission, rel=REL, abs=1e-9), where
        assert mine.pnl == pytest.approx(peer.pnl, rel=REL, abs=1e-9), where
    assert len(ours.open) == len(theirs.open)
    for mine, peer in zip(ours.open, theirs.open, strict=True):
        assert (mine.side, mine.size, mine.entry_bar) == (peer.side, peer.size, peer.entry_bar)
        assert mine.entry_price == pytest.approx(peer.entry_price, rel=REL)
    assert ours.final_equity == pytest.approx(theirs.final_equity, rel=REL)


def bar_index(frame: pl.DataFrame) -> dict[pd.Timestamp, int]:
    """Bar start (naive UTC, as the peers see it) -> bar number."""
    starts = pandas_ohlc(frame).index
    return {stamp: number for number, stamp in enumerate(starts)}
