"""Our engine against backtrader (1.9.78) on its own sample files and on Chinese futures, with
its conventions.

backtrader's conventions and the configuration that matches them:
- A market order placed in `next()` fills at the next bar's open (our `fill="next_open"`);
  with `broker.set_coc(True)` (cheat-on-close) at the close of the bar that placed it, dated
  that bar (our `fill="close"`).
- `bt.sizers.FixedSize(stake=N)` trades N units (our `SizeRule("units", N)`).
- `setcommission(commission=r)` with no margin is a stock-like instrument charged r * price *
  units per fill (`percabs=True`, the broker's default: 0.001 is 0.1%): our `commission_rate`.
- `setcommission(commission=c, margin=m, mult=k)` is futures-like: c per contract per fill
  (our `commission_per_unit`), P&L times k (our `multiplier`), and m is a fixed amount of cash
  held per contract, where our `margin_rate` is a fraction of the notional (price * k * rate).
  The margin changes no trade or P&L unless it refuses an order, so the futures runs pick a
  stake that fits either way (asserted: no order is refused on either side) and m equal to our
  rate's margin at the first price; the equity is the same whatever margin is held (cash plus
  open P&L, backtrader marking futures to market every bar).
- `bt.indicators.CrossOver` keeps the last non-zero difference, like our crossings: a cross
  through a tie (a < b, a == b, a > b) counts in both. On whole-number prices (the futures
  files) the averages tie exactly and identically in both (see `loaders.count_ties`), and the
  futures test asserts that such crossings occur.
- Reversal: the strategy closes the position and enters the other side on the same bar.
- An order placed on the last bar is never executed, cheat-on-close included (no bar follows
  for the broker to run on); the tests assert the data does not cross there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd
import polars as pl
import pytest

from shared.backtest import BacktestConfig, InstrumentTerms, SizeRule
from tests.peers.loaders import (
    Open,
    Outcome,
    Trade,
    assert_no_crossing_on_last_bar,
    assert_same_outcome,
    bar_index,
    count_ties,
    daily_frame,
    futures_frame,
    pandas_ohlc,
    run_ours,
    sma_difference,
)


class SmaCross(bt.Strategy):
    """The SMA crossover as backtrader users write it, recording what the broker did."""

    params = (("fast", 10), ("slow", 30), ("long_short", False))

    def __init__(self) -> None:
        fast = bt.indicators.SMA(self.data.close, period=self.p.fast)
        slow = bt.indicators.SMA(self.data.close, period=self.p.slow)
        self.cross = bt.indicators.CrossOver(fast, slow)
        self.closed: list[Any] = []
        self.opened: dict[int, Any] = {}
        self.refused: list[Any] = []
        self.final_value = float("nan")

    def next(self) -> None:
        if self.cross[0] > 0:
            if self.position:
                self.close()
            self.buy()
        elif self.cross[0] < 0:
            if self.position:
                self.close()
            if self.p.long_short:
                self.sell()

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Canceled, order.Margin, order.Rejected):
            self.refused.append(order)

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.justopened:
            self.opened[trade.ref] = trade
        if trade.isclosed:
            self.closed.append(trade)
            self.opened.pop(trade.ref)

    def stop(self) -> None:
        self.final_value = self.broker.getvalue()


def run_peer(
    frame: pl.DataFrame,
    *,
    fast: int,
    slow: int,
    long_short: bool,
    cheat_on_close: bool,
    cash: float,
    stake: int,
    commission: dict[str, float],
) -> Outcome:
    cerebro = bt.Cerebro(stdstats=False, tradehistory=True)
    ohlc = pandas_ohlc(frame).rename(columns=str.lower)
    cerebro.adddata(bt.feeds.PandasData(dataname=ohlc, openinterest=None))
    cerebro.addstrategy(SmaCross, fast=fast, slow=slow, long_short=long_short)
    cerebro.addsizer(bt.sizers.FixedSize, stake=stake)
    cerebro.broker.setcash(cash)
    cerebro.broker.set_coc(cheat_on_close)
    cerebro.broker.setcommission(**commission)
    (strategy,) = cerebro.run()
    assert not strategy.refused, "a comparison run must not depend on refused orders"

    bars = bar_index(frame)

    def bar_of(num: float) -> int:
        # backtrader keeps times as float days; round back to the second they came from.
        return bars[pd.Timestamp(bt.num2date(num)).round("s")]

    # A trade's `dtopen`/`dtclose` is the bar the broker processed the order on: with
    # cheat-on-close that is the bar after the close it filled at, so the bar is taken from the
    # order's execution (`executed.dt`, the order's own bar under cheat-on-close) instead.
    def trade_of(trade: bt.Trade) -> Trade:
        opening, closing = trade.history[0].event, trade.history[-1].event
        return Trade(
            side=1 if opening.size > 0 else -1,
            size=float(abs(opening.size)),
            entry_bar=bar_of(opening.order.executed.dt),
            exit_bar=bar_of(closing.order.executed.dt),
            entry_price=float(trade.price),
            exit_price=float(closing.price),
            pnl=float(trade.pnlcomm),
            commission=float(trade.commission),
        )

    still_open = [
        Open(
            side=1 if t.size > 0 else -1,
            size=float(abs(t.size)),
            entry_bar=bar_of(t.history[0].event.order.executed.dt),
            entry_price=float(t.price),
        )
        for t in strategy.opened.values()
    ]
    return Outcome(
        trades=[trade_of(t) for t in strategy.closed],
        open=still_open,
        final_equity=float(strategy.final_value),
    )


# (file, fast, slow, cash, stake, commission rate); the periods avoid near ties (see loaders).
STOCKS = {
    "orcl": ("backtrader/orcl-1995-2014.txt", 20, 50, 100_000.0, 1_000, 0.001),
    "nvda": ("backtrader/nvda-1999-2014.txt", 10, 30, 100_000.0, 1_000, 0.001),
    "2006-day-001": ("backtrader/2006-day-001.txt", 5, 20, 1_000_000.0, 10, 0.0005),
}


@pytest.mark.parametrize("mode", ["long_only", "long_short"])
@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("name", sorted(STOCKS))
def test_stocks_agree_with_backtrader(shared_data: Path, name: str, fill: str, mode: str) -> None:
    path, fast, slow, cash, stake, rate = STOCKS[name]
    frame = daily_frame(shared_data / path)
    assert count_ties(frame, fast, slow)[1] == 0
    assert_no_crossing_on_last_bar(frame, fast, slow)
    config = BacktestConfig(
        cash=cash,
        fill="close" if fill == "close" else "next_open",
        size=SizeRule(mode="units", value=stake),
        terms=InstrumentTerms(commission_rate=rate),
    )
    ours = run_ours(frame, {"fast": fast, "slow": slow, "mode": mode}, config)
    theirs = run_peer(
        frame,
        fast=fast,
        slow=slow,
        long_short=mode == "long_short",
        cheat_on_close=fill == "close",
        cash=cash,
        stake=stake,
        commission={"commission": rate},
    )
    assert_same_outcome(ours, theirs, min_trades=3 if name == "2006-day-001" else 20)


# SHFE rebar: 10 tonnes a contract, a commission per contract, margin 10% of the notional.
REBAR = "cn_futures/bar_1m/SHFE_rb2002_1m.csv"
MULTIPLIER, PER_CONTRACT, MARGIN_RATE = 10.0, 3.0, 0.1
FUT_FAST, FUT_SLOW, FUT_CASH, FUT_STAKE = 10, 30, 1_000_000.0, 5


@pytest.fixture(scope="module")
def rebar(shared_data: Path) -> pl.DataFrame:
    frame = futures_frame(shared_data, REBAR)
    exact, near = count_ties(frame, FUT_FAST, FUT_SLOW)
    assert near == 0
    # The tie semantics are exercised: some crossings go through a bar where the averages
    # are equal (backtesting.py's `crossover` would miss those; backtrader's does not).
    diff = sma_difference(frame, FUT_FAST, FUT_SLOW)
    with np.errstate(invalid="ignore"):
        crossing = np.sign(diff[1:]) * np.sign(diff[:-1]) == 0
        through_tie = crossing & (diff[:-1] == 0.0) & (diff[1:] != 0.0)
    assert exact > 0
    assert through_tie.sum() > 0
    assert_no_crossing_on_last_bar(frame, FUT_FAST, FUT_SLOW)
    return frame


@pytest.mark.parametrize("mode", ["long_only", "long_short"])
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_futures_agree_with_backtrader(rebar: pl.DataFrame, fill: str, mode: str) -> None:
    first_price = float(rebar["close"][0])
    config = BacktestConfig(
        cash=FUT_CASH,
        fill="close" if fill == "close" else "next_open",
        size=SizeRule(mode="units", value=FUT_STAKE),
        terms=InstrumentTerms(
            multiplier=MULTIPLIER, commission_per_unit=PER_CONTRACT, margin_rate=MARGIN_RATE
        ),
    )
    ours = run_ours(rebar, {"fast": FUT_FAST, "slow": FUT_SLOW, "mode": mode}, config)
    theirs = run_peer(
        rebar,
        fast=FUT_FAST,
        slow=FUT_SLOW,
        long_short=mode == "long_short",
        cheat_on_close=fill == "close",
        cash=FUT_CASH,
        stake=FUT_STAKE,
        commission={
            "commission": PER_CONTRACT,
            "margin": first_price * MULTIPLIER * MARGIN_RATE,
            "mult": MULTIPLIER,
        },
    )
    assert_same_outcome(ours, theirs, min_trades=50)


def test_a_different_convention_is_told_apart(rebar: pl.DataFrame) -> None:
    """The comparison is not vacuous: our per-unit commission without the multiplier on the
    P&L, against backtrader's futures setup, fails it."""
    config = BacktestConfig(
        cash=FUT_CASH,
        size=SizeRule(mode="units", value=FUT_STAKE),
        terms=InstrumentTerms(commission_per_unit=PER_CONTRACT),
    )
    ours = run_ours(rebar, {"fast": FUT_FAST, "slow": FUT_SLOW, "mode": "long_only"}, config)
    theirs = run_peer(
        rebar,
        fast=FUT_FAST,
        slow=FUT_SLOW,
        long_short=False,
        cheat_on_close=False,
        cash=FUT_CASH,
        stake=FUT_STAKE,
        commission={"commission": PER_CONTRACT, "margin": 3_000.0, "mult": MULTIPLIER},
    )
    with pytest.raises(AssertionError):
        assert_same_outcome(ours, theirs)
