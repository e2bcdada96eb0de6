"""The vectorized engine on hand-made bars and hand-made signals (`run_signals`): fill prices,
sizing, commissions, slippage, margin, reversals, open positions, equity bar by bar, portfolio
alignment, and the validation of configs and bar frames. Every expected number is worked out
in the test."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest

from shared.backtest import (
    BacktestConfig,
    BacktestError,
    BacktestResult,
    BarSeries,
    InstrumentTerms,
    SizeRule,
    actions_of,
    run_signals,
)
from shared.backtest import _kernel as kernel
from shared.strategy import Signals
from tests.support.bars_builder import frame, mask, series, signals

CASH = 100_000.0
# Opens and closes that differ at every bar, so a fill price tells which convention was used.
OPENS = [100.0, 101.0, 103.0, 102.0, 106.0, 107.0]
CLOSES = [100.5, 102.0, 102.5, 105.0, 106.5, 108.0]


def run(
    bars: BarSeries,
    sig: Signals,
    *,
    cash: float = CASH,
    fill: str = "next_open",
    size: str = "units:1",
    **terms: object,
) -> BacktestResult:
    config = BacktestConfig(
        cash=cash,
        fill=fill,  # type: ignore[arg-type]
        size=SizeRule.parse(size),
        terms=InstrumentTerms(**terms),  # type: ignore[arg-type]
    )
    return run_signals([bars], [sig], config)


def six_bars(days: list[int] | None = None) -> BarSeries:
    return series(OPENS, CLOSES, days=days)


# Fill conventions -------------------------------------------------------------------------


def test_next_open_fills_at_the_following_bars_open() -> None:
    result = run(six_bars(), signals(6, long_entry=[1], long_exit=[3]))
    assert result.fills.bar.tolist() == [2, 4]
    assert result.fills.price.tolist() == [103.0, 106.0]  # OPENS[2], OPENS[4]
    assert result.fills.units.tolist() == [1.0, -1.0]
    assert len(result.trades) == 1
    assert result.trades.entry_bar.tolist() == [2]
    assert result.trades.exit_bar.tolist() == [4]
    assert result.trades.table.pnl[0] == pytest.approx(106.0 - 103.0)


def test_close_fills_at_the_signal_bars_close() -> None:
    result = run(six_bars(), signals(6, long_entry=[1], long_exit=[3]), fill="close")
    assert result.fills.bar.tolist() == [1, 3]
    assert result.fills.price.tolist() == [102.0, 105.0]  # CLOSES[1], CLOSES[3]
    assert result.trades.table.pnl[0] == pytest.approx(105.0 - 102.0)
    assert result.positions[:, 0].tolist() == [0, 1, 1, 0, 0, 0]


def test_signal_on_the_last_bar_never_fills_at_next_open() -> None:
    result = run(six_bars(), signals(6, long_entry=[5]))
    assert len(result.fills) == 0
    assert result.open_positions == ()
    assert result.final_equity == CASH


# Sizing -----------------------------------------------------------------------------------


def test_units_sizing_trades_that_many_units() -> None:
    result = run(
        six_bars(), signals(6, long_entry=[1], long_exit=[3]), size="units:3", multiplier=10
    )
    assert result.fills.units.tolist() == [3.0, -3.0]
    assert result.trades.table.size.tolist() == [3.0]
    # 3 units * (106 - 103) * multiplier 10
    assert result.trades.table.pnl[0] == pytest.approx(3 * (106 - 103) * 10)
    assert result.final_equity == pytest.approx(CASH + 90.0)


def test_equity_sizing_counts_margin_and_opening_commission() -> None:
    bars = series([1000.0] * 4)
    result = run(
        bars,
        signals(4, long_entry=[0]),
        size="equity:0.5",
        multiplier=10,
        margin_rate=0.1,
        commission_per_unit=2.0,
        commission_rate=1e-4,
    )
    # unit cost = margin 1000 * 10 * 0.1 + commission 2 + 1e-4 * 1000 * 10 = 1000 + 2 + 1 = 1003
    # units = floor(0.5 * 100_000 / 1003) = floor(49.85) = 49
    assert result.fills.units.tolist() == [49.0]
    assert result.fills.bar.tolist() == [1]
    # commission = 49 * 2 + 1e-4 * 1000 * 49 * 10 = 98 + 49 = 147
    assert result.fills.commission[0] == pytest.approx(147.0)
    assert result.final_equity == pytest.approx(CASH - 147.0)


def test_equity_sizing_of_a_cash_instrument() -> None:
    bars = series([30.0, 40.0, 40.0])
    result = run(bars, signals(3, long_entry=[0]), size="equity:1", cash=1_000.0)
    # no margin rate: a unit costs its notional, 40 at bar 1's open -> floor(1000 / 40) = 25
    assert result.fills.units.tolist() == [25.0]
    assert result.fills.price.tolist() == [40.0]


def test_equity_sizing_uses_the_equity_after_closing_the_old_side() -> None:
    bars = series([10.0, 10.0, 20.0, 20.0, 20.0])
    result = run(
        bars,
        signals(5, long_entry=[0], short_entry=[2]),
        size="equity:1",
        cash=1_000.0,
    )
    # bar 1: buy floor(1000 / 10) = 100 at 10; bar 3: sell them at 20 (+1000, cash 2000), then
    # short floor(2000 / 20) = 100 at 20.
    assert result.fills.units.tolist() == [100.0, -100.0, -100.0]
    assert result.fills.price.tolist() == [10.0, 20.0, 20.0]
    assert result.trades.table.pnl.tolist() == [pytest.approx(100 * (20 - 10))]


# Commissions ------------------------------------------------------------------------------


def round_trip(days: list[int], **terms: object) -> BacktestResult:
    # Long 2 units, entered at OPENS[2] = 103 (day of bar 2), left at OPENS[4] = 106 (bar 4).
    return run(six_bars(days), signals(6, long_entry=[1], long_exit=[3]), size="units:2", **terms)


SAME_DAY = [0, 0, 0, 0, 0, 0]
NEXT_DAY = [0, 0, 0, 0, 1, 1]  # the exit at bar 4 falls on the following trading day


def test_turnover_commission_with_the_close_today_rate() -> None:
    result = round_trip(SAME_DAY, multiplier=10, commission_rate=1e-4, close_today_rate=5e-4)
    entry = 1e-4 * 103 * 2 * 10  # 0.206
    exit_ = 5e-4 * 106 * 2 * 10  # 1.06 (closed the day it was opened)
    assert result.fills.commission.tolist() == pytest.approx([entry, exit_])
    table = result.trades.table
    assert table.commission[0] == pytest.approx(entry + exit_)
    gross = (106 - 103) * 2 * 10  # 60
    assert table.pnl[0] == pytest.approx(gross - entry - exit_)
    assert result.final_equity == pytest.approx(CASH + gross - entry - exit_)


def test_turnover_commission_across_days_uses_the_normal_rate() -> None:
    result = round_trip(NEXT_DAY, multiplier=10, commission_rate=1e-4, close_today_rate=5e-4)
    entry = 1e-4 * 103 * 2 * 10
    exit_ = 1e-4 * 106 * 2 * 10  # 0.212, the ordinary rate
    assert result.fills.commission.tolist() == pytest.approx([entry, exit_])
    assert result.trades.table.pnl[0] == pytest.approx(60 - entry - exit_)


def test_per_unit_commission_with_and_without_close_today() -> None:
    today = round_trip(SAME_DAY, commission_per_unit=3.0, close_today_per_unit=7.0)
    assert today.fills.commission.tolist() == [2 * 3.0, 2 * 7.0]
    assert today.trades.table.commission[0] == 6.0 + 14.0
    # gross (106 - 103) * 2 = 6, less 20 of commission
    assert today.trades.table.pnl[0] == pytest.approx(6.0 - 20.0)
    later = round_trip(NEXT_DAY, commission_per_unit=3.0, close_today_per_unit=7.0)
    assert later.fills.commission.tolist() == [6.0, 6.0]
    assert later.trades.table.pnl[0] == pytest.approx(6.0 - 12.0)


def test_close_today_defaults_to_the_ordinary_rates() -> None:
    result = round_trip(SAME_DAY, commission_per_unit=3.0, commission_rate=1e-3)
    # each fill: 2 * 3 + 1e-3 * price * 2
    expected = [6 + 1e-3 * 103 * 2, 6 + 1e-3 * 106 * 2]
    assert result.fills.commission.tolist() == pytest.approx(expected)


# Slippage ---------------------------------------------------------------------------------


def test_slippage_in_ticks_on_a_long() -> None:
    result = run(
        six_bars(),
        signals(6, long_entry=[1], long_exit=[3]),
        price_tick=0.5,
        slippage_ticks=2,
    )
    # 2 ticks of 0.5 = 1.0 worse: buy at 103 + 1, sell at 106 - 1
    assert result.fills.price.tolist() == [104.0, 105.0]
    assert result.trades.table.entry_price[0] == 104.0
    assert result.trades.table.exit_price[0] == 105.0
    assert result.trades.table.pnl[0] == pytest.approx(105.0 - 104.0)


def test_slippage_in_ticks_on_a_short() -> None:
    result = run(
        six_bars(),
        signals(6, long_entry=[], short_entry=[1], short_exit=[3]),
        price_tick=0.5,
        slippage_ticks=2,
    )
    # sell at 103 - 1 = 102, buy back at 106 + 1 = 107: a short loses 107 - 102 = 5
    assert result.fills.price.tolist() == [102.0, 107.0]
    assert result.fills.units.tolist() == [-1.0, 1.0]
    assert result.trades.table.side.tolist() == [-1]
    assert result.trades.table.pnl[0] == pytest.approx(-5.0)


def test_slippage_applies_in_close_mode_too() -> None:
    result = run(
        six_bars(),
        signals(6, long_entry=[1], long_exit=[3]),
        fill="close",
        price_tick=0.25,
        slippage_ticks=1,
    )
    # CLOSES[1] + 0.25 and CLOSES[3] - 0.25
    assert result.fills.price.tolist() == [102.25, 104.75]


# Margin -----------------------------------------------------------------------------------


def test_an_order_that_does_not_fit_the_margin_is_rejected() -> None:
    bars = series([100.0] * 4)
    result = run(
        bars,
        signals(4, long_entry=[0]),
        cash=10_000.0,
        size="units:101",
        multiplier=10,
        margin_rate=0.1,
    )
    # 101 units * 100 * 10 * 0.1 = 10_100 > 10_000 of equity
    assert result.rejected_orders == 1
    assert len(result.fills) == 0
    assert result.positions[:, 0].tolist() == [0, 0, 0, 0]
    assert result.equity.tolist() == [10_000.0] * 4


def test_an_order_that_exactly_fits_is_taken() -> None:
    bars = series([100.0] * 4)
    result = run(
        bars,
        signals(4, long_entry=[0]),
        cash=10_000.0,
        size="units:100",
        multiplier=10,
        margin_rate=0.1,
    )
    # 100 * 100 * 10 * 0.1 = 10_000: all the equity, not more
    assert result.rejected_orders == 0
    assert result.fills.units.tolist() == [100.0]


def test_commission_counts_against_the_margin() -> None:
    bars = series([100.0] * 4)
    result = run(
        bars,
        signals(4, long_entry=[0]),
        cash=10_000.0,
        size="units:100",
        multiplier=10,
        margin_rate=0.1,
        commission_per_unit=0.01,
    )
    # 100 * (100 + 0.01) = 10_001 > 10_000
    assert result.rejected_orders == 1
    assert len(result.fills) == 0


def test_a_cash_instrument_pays_the_whole_notional() -> None:
    bars = series([100.0] * 4)
    result = run(bars, signals(4, long_entry=[0], long_exit=[2]), cash=10_000.0, size="units:101")
    # 101 * 100 = 10_100 > 10_000; the exit has nothing to close
    assert result.rejected_orders == 1
    assert len(result.fills) == 0
    assert len(result.trades) == 0


def test_margin_held_by_one_series_limits_another() -> None:
    a = flat_bars([100.0] * 3, "A")
    b = flat_bars([100.0] * 3, "B")
    config = BacktestConfig(
        cash=10_000.0,
        fill="close",
        size=SizeRule(mode="units", value=60),
        terms=InstrumentTerms(multiplier=1, margin_rate=1.0),
    )
    result = run_signals([a, b], [signals(3, long_entry=[0]), signals(3, long_entry=[1])], config)
    # A holds 60 * 100 = 6_000; B would need another 6_000 of the 4_000 left
    assert result.rejected_orders == 1
    assert result.positions[-1].tolist() == [60.0, 0.0]


# Position rules ---------------------------------------------------------------------------


def test_reversal_closes_one_trade_and_opens_the_other() -> None:
    result = run(six_bars(), signals(6, long_entry=[1], short_entry=[3]))
    # long at OPENS[2] = 103, reversed at OPENS[4] = 106: close +1 at 106, open -1 at 106
    assert result.fills.units.tolist() == [1.0, -1.0, -1.0]
    assert result.fills.price.tolist() == [103.0, 106.0, 106.0]
    assert len(result.trades) == 1
    assert result.trades.table.side.tolist() == [1]
    assert result.trades.table.pnl[0] == pytest.approx(106.0 - 103.0)
    (still,) = result.open_positions
    assert still.units == -1.0
    assert still.entry_price == 106.0
    assert still.entry_bar == 4
    assert result.positions[:, 0].tolist() == [0, 0, 1, 1, -1, -1]
    # 3 from the long, then the short from 106 marked at CLOSES[5] = 108: -2
    assert result.final_equity == pytest.approx(CASH + 3.0 - 2.0)


def test_both_entries_on_one_bar_do_nothing() -> None:
    result = run(six_bars(), signals(6, long_entry=[1], short_entry=[1]))
    assert len(result.fills) == 0
    assert result.positions[:, 0].tolist() == [0] * 6
    codes = actions_of(signals(3, long_entry=[1], short_entry=[1], long_exit=[1]), 3)
    assert codes.tolist() == [kernel.NONE] * 3


def test_both_entries_while_long_keep_the_long() -> None:
    result = run(six_bars(), signals(6, long_entry=[0, 2], short_entry=[2]))
    # long at OPENS[1] = 101; the conflicting bar 2 neither adds nor reverses
    assert result.fills.units.tolist() == [1.0]
    assert result.positions[:, 0].tolist() == [0, 1, 1, 1, 1, 1]


def test_entry_while_already_long_is_ignored() -> None:
    result = run(six_bars(), signals(6, long_entry=[1, 2, 3]), size="units:2")
    assert result.fills.units.tolist() == [2.0]  # no pyramiding
    assert result.positions[:, 0].tolist() == [0, 0, 2, 2, 2, 2]


def test_exit_of_the_other_side_is_ignored() -> None:
    result = run(six_bars(), signals(6, long_entry=[1], short_exit=[3]))
    assert result.fills.units.tolist() == [1.0]
    assert len(result.trades) == 0


def test_exit_and_entry_of_the_same_side_on_one_bar_enters() -> None:
    # an entry wins over the exits
    codes = actions_of(signals(2, long_entry=[1], long_exit=[1]), 2)
    assert codes.tolist() == [kernel.NONE, kernel.GO_LONG]
    codes = actions_of(signals(2, long_exit=[1], short_exit=[1]), 2)
    assert codes.tolist() == [kernel.NONE, kernel.EXIT_ANY]


def test_an_open_position_at_the_end_is_not_a_trade() -> None:
    result = run(six_bars(), signals(6, long_entry=[1]), size="units:2", multiplier=10)
    assert len(result.trades) == 0
    (still,) = result.open_positions
    assert still.symbol == "TEST"
    assert still.units == 2.0
    assert still.entry_price == 103.0  # OPENS[2]
    assert still.entry_bar == 2
    assert still.mark == 108.0  # CLOSES[5]
    # its P&L is in the final equity: 2 * (108 - 103) * 10
    assert result.final_equity == pytest.approx(CASH + 100.0)


def test_exit_the_bar_after_the_entry_fills_one_open_later() -> None:
    result = run(six_bars(), signals(6, long_entry=[1], long_exit=[2]))
    # entry decided at bar 1 fills at OPENS[2] = 103, exit decided at bar 2 at OPENS[3] = 102
    assert result.fills.bar.tolist() == [2, 3]
    assert result.fills.price.tolist() == [103.0, 102.0]
    assert result.trades.table.pnl[0] == pytest.approx(102.0 - 103.0)


# Equity bar by bar ------------------------------------------------------------------------


def test_equity_at_each_bar() -> None:
    result = run(
        six_bars(NEXT_DAY),
        signals(6, long_entry=[1], long_exit=[3]),
        size="units:2",
        multiplier=10,
        commission_per_unit=1.0,
    )
    # bar 0, 1: flat                                          100_000
    # bar 2: buy 2 at 103 (commission 2), marked at 102.5:    100_000 - 2 + 2 * (102.5 - 103) * 10
    # bar 3: marked at 105:                                   100_000 - 2 + 2 * (105 - 103) * 10
    # bar 4: sell 2 at 106 (commission 2), flat:              100_000 - 4 + 2 * (106 - 103) * 10
    # bar 5: flat
    expected = [
        100_000.0,
        100_000.0,
        100_000.0 - 2 - 10,
        100_000.0 - 2 + 40,
        100_000.0 - 4 + 60,
        100_000.0 - 4 + 60,
    ]
    assert result.equity.tolist() == pytest.approx(expected)
    assert result.positions[:, 0].tolist() == [0, 0, 2, 2, 0, 0]
    table = result.trades.table
    assert table.commission[0] == pytest.approx(4.0)  # both legs
    assert table.pnl[0] == pytest.approx(60.0 - 4.0)
    assert result.final_equity == pytest.approx(CASH + table.pnl[0])
    # the result's frames carry the same numbers
    assert result.equity_frame()["equity"].to_list() == pytest.approx(expected)
    trades = result.trades_frame()
    assert trades["side"].to_list() == ["long"]
    assert trades["entry_price"].to_list() == [103.0]


def test_equity_of_a_short_at_each_bar_in_close_mode() -> None:
    result = run(
        six_bars(),
        signals(6, long_entry=[], short_entry=[2], short_exit=[4]),
        fill="close",
        multiplier=5,
    )
    # short 1 at CLOSES[2] = 102.5; marked at 105 (bar 3): -2.5 * 5; covered at 106.5 (bar 4)
    expected = [CASH, CASH, CASH, CASH - 12.5, CASH - 20.0, CASH - 20.0]
    assert result.equity.tolist() == pytest.approx(expected)
    assert result.trades.table.pnl[0] == pytest.approx((102.5 - 106.5) * 5)


# Portfolio --------------------------------------------------------------------------------


def flat_bars(prices: list[float], symbol: str, minutes: list[int] | None = None) -> BarSeries:
    return series(prices, prices, symbol=symbol, minutes=minutes)


def test_portfolio_keeps_the_last_close_where_a_series_has_no_bar() -> None:
    a = flat_bars([50.0, 51.0, 52.0, 53.0], "A")  # minutes 0, 1, 2, 3
    b = flat_bars([100.0, 104.0, 103.0], "B", minutes=[0, 1, 3])  # no bar at minute 2
    config = BacktestConfig(cash=CASH, fill="close")
    result = run_signals([a, b], [signals(4, long_entry=[0]), signals(3, long_entry=[0])], config)
    assert result.symbols == ("A", "B")
    assert result.ts_ns.size == 4
    # A from 50, B from 100, one unit each:
    #   minute 0: 0 + 0; minute 1: 1 + 4; minute 2: 2 + 4 (B kept at 104); minute 3: 3 + 3
    assert result.equity.tolist() == pytest.approx([CASH, CASH + 5, CASH + 6, CASH + 6])
    assert not np.isnan(result.equity).any()
    assert result.positions.tolist() == [[1, 1], [1, 1], [1, 1], [1, 1]]
    marks = {p.symbol: p.mark for p in result.open_positions}
    assert marks == {"A": 53.0, "B": 103.0}


def test_portfolio_pending_fill_waits_for_the_series_next_bar() -> None:
    a = flat_bars([50.0, 50.0, 50.0, 50.0], "A")
    b = series([100.0, 107.0, 108.0], [101.0, 107.5, 108.0], symbol="B", minutes=[0, 2, 3])
    config = BacktestConfig(cash=CASH)
    result = run_signals([a, b], [signals(4), signals(3, long_entry=[0])], config)
    # B's decision at minute 0 fills at B's next open, at minute 2 (grid row 2), at 107
    assert result.fills.bar.tolist() == [2]
    assert result.fills.symbol.tolist() == [1]
    assert result.fills.price.tolist() == [107.0]
    # row 1: B flat; row 2: 107.5 - 107; row 3: 108 - 107
    assert result.equity.tolist() == pytest.approx([CASH, CASH, CASH + 0.5, CASH + 1.0])


def test_portfolio_equity_sizing_shares_one_account() -> None:
    a = flat_bars([10.0, 10.0, 10.0], "A")
    b = flat_bars([20.0, 20.0, 20.0], "B")
    config = BacktestConfig(cash=1_000.0, fill="close", size=SizeRule(mode="equity", value=0.5))
    result = run_signals([a, b], [signals(3, long_entry=[0]), signals(3, long_entry=[0])], config)
    # A first: floor(0.5 * 1000 / 10) = 50 (500 of notional); B then sees 1000 - 500 = 500
    # available: floor(0.5 * 500 / 20) = 12
    assert result.positions[0].tolist() == [50.0, 12.0]


def test_portfolio_refuses_duplicate_symbols_and_mismatched_signals() -> None:
    a = flat_bars([1.0, 2.0], "A")
    config = BacktestConfig()
    with pytest.raises(BacktestError) as caught:
        run_signals([a, a], [signals(2), signals(2)], config)
    assert caught.value.field == "symbol"
    with pytest.raises(BacktestError) as caught:
        run_signals([a], [signals(2), signals(2)], config)
    assert caught.value.field == "signals"
    with pytest.raises(BacktestError) as caught:
        run_signals([a], [Signals(long_entry=mask(3))], config)
    assert caught.value.field == "long_entry"
    with pytest.raises(BacktestError) as caught:
        run_signals([a], [signals(2)], config, terms=[InstrumentTerms(), InstrumentTerms()])
    assert caught.value.field == "terms"


def test_portfolio_bars_at_one_time_must_share_the_trading_day() -> None:
    a = series([1.0, 2.0], symbol="A", days=[0, 0])
    b = series([1.0, 2.0], symbol="B", days=[0, 1])
    with pytest.raises(BacktestError) as caught:
        run_signals([a, b], [signals(2), signals(2)], BacktestConfig())
    assert caught.value.field == "trading_day"


def test_per_series_terms() -> None:
    a = flat_bars([10.0, 12.0], "A")
    b = flat_bars([10.0, 12.0], "B")
    config = BacktestConfig(cash=CASH, fill="close")
    terms = [InstrumentTerms(multiplier=10), InstrumentTerms(multiplier=1)]
    result = run_signals(
        [a, b], [signals(2, long_entry=[0]), signals(2, long_entry=[0])], config, terms
    )
    # (12 - 10) * 10 + (12 - 10) * 1
    assert result.final_equity == pytest.approx(CASH + 22.0)


# Config validation ------------------------------------------------------------------------


@pytest.mark.parametrize("cash", [0.0, -1.0, math.inf, math.nan])
def test_cash_must_be_positive(cash: float) -> None:
    with pytest.raises(BacktestError, match="cash") as caught:
        run(series([1.0, 2.0]), signals(2), cash=cash)
    assert caught.value.field == "cash"


@pytest.mark.parametrize(
    "text",
    ["lots:3", "units", "units:", "units:abc", "units:1.5", "units:0", "equity:0", "equity:101",
     "equity:-1", ":3", "3"],
)  # fmt: skip
def test_bad_size_text_names_size(text: str) -> None:
    with pytest.raises(BacktestError) as caught:
        SizeRule.parse(text)
    assert caught.value.field == "size"


def test_size_text_parses() -> None:
    assert SizeRule.parse("units:3") == SizeRule(mode="units", value=3.0)
    assert SizeRule.parse("equity:0.5") == SizeRule(mode="equity", value=0.5)
    assert SizeRule.parse("equity:100").value == 100.0


def test_size_rule_built_directly_is_validated_by_the_config() -> None:
    config = BacktestConfig(size=SizeRule(mode="units", value=0.5))
    with pytest.raises(BacktestError) as caught:
        config.validate()
    assert caught.value.field == "size"


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5])
def test_margin_out_of_range_names_margin(rate: float) -> None:
    with pytest.raises(BacktestError) as caught:
        BacktestConfig(terms=InstrumentTerms(margin_rate=rate)).validate()
    assert caught.value.field == "margin"


def test_margin_of_one_and_none_are_accepted() -> None:
    BacktestConfig(terms=InstrumentTerms(margin_rate=1.0)).validate()
    BacktestConfig(terms=InstrumentTerms(margin_rate=None)).validate()


def test_slippage_without_a_tick_names_price_tick() -> None:
    with pytest.raises(BacktestError, match="price tick") as caught:
        run(series([1.0, 2.0]), signals(2), slippage_ticks=1)
    assert caught.value.field == "price_tick"


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"multiplier": 0.0}, "multiplier"),
        ({"price_tick": -0.5}, "price_tick"),
        ({"commission_rate": -1e-4}, "commission_rate"),
        ({"commission_per_unit": math.nan}, "commission_per_unit"),
        ({"close_today_rate": -1.0}, "close_today_rate"),
        ({"close_today_per_unit": -1.0}, "close_today_per_unit"),
        ({"slippage_ticks": -1.0}, "slippage_ticks"),
    ],
)
def test_bad_terms_name_their_field(terms: dict[str, float], field: str) -> None:
    with pytest.raises(BacktestError) as caught:
        InstrumentTerms(**terms).validate()  # type: ignore[arg-type]
    assert caught.value.field == field


def test_other_config_fields() -> None:
    with pytest.raises(BacktestError) as caught:
        BacktestConfig(fill="open").validate()  # type: ignore[arg-type]
    assert caught.value.field == "fill"
    with pytest.raises(BacktestError) as caught:
        BacktestConfig(periods_per_year=0).validate()
    assert caught.value.field == "periods_per_year"
    with pytest.raises(BacktestError) as caught:
        BacktestConfig(risk_free_rate=math.inf).validate()
    assert caught.value.field == "risk_free_rate"


def test_per_series_terms_are_validated() -> None:
    a = flat_bars([1.0, 2.0], "A")
    with pytest.raises(BacktestError) as caught:
        run_signals([a], [signals(2)], BacktestConfig(), [InstrumentTerms(margin_rate=2.0)])
    assert caught.value.field == "margin"


# BarSeries.from_frame ---------------------------------------------------------------------


def test_from_frame_reads_a_valid_frame() -> None:
    bars = BarSeries.from_frame(frame(3), "rb")
    assert bars.symbol == "rb"
    assert len(bars) == 3
    # 2024-01-01T00:00Z and one minute apart, in nanoseconds
    assert bars.ts_ns.tolist() == [1_704_067_200_000_000_000 + i * 60_000_000_000 for i in range(3)]
    assert bars.trading_days.dtype == np.int32
    assert bars.trading_days.tolist() == [19_723] * 3  # 2024-01-01 in days since the epoch
    assert bars.close.tolist() == [100.0, 101.0, 102.0]
    assert bars.open_interest.tolist() == [0.0, 0.0, 0.0]  # absent column: zeros


def test_from_frame_converts_other_time_zones_to_utc() -> None:
    shanghai = frame(2).with_columns(pl.col("start").dt.convert_time_zone("Asia/Shanghai"))
    assert (
        BarSeries.from_frame(shanghai).ts_ns.tolist()
        == BarSeries.from_frame(frame(2)).ts_ns.tolist()
    )


@pytest.mark.parametrize("column", ["start", "trading_day", "open", "high", "low", "close"])
def test_from_frame_missing_column(column: str) -> None:
    with pytest.raises(BacktestError, match="lack column") as caught:
        BarSeries.from_frame(frame(3).drop(column))
    assert caught.value.field == column


def test_from_frame_empty() -> None:
    with pytest.raises(BacktestError, match="no bars") as caught:
        BarSeries.from_frame(frame(3).clear())
    assert caught.value.field == "data"


def test_from_frame_nulls() -> None:
    holed = frame(3).with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("low")).alias("low")
    )
    with pytest.raises(BacktestError, match="empty values in low") as caught:
        BarSeries.from_frame(holed)
    assert caught.value.field == "low"


def test_from_frame_naive_datetimes() -> None:
    naive = frame(3).with_columns(pl.col("start").dt.replace_time_zone(None))
    with pytest.raises(BacktestError, match="timezone-aware") as caught:
        BarSeries.from_frame(naive)
    assert caught.value.field == "start"


@pytest.mark.parametrize("order", [[0, 0, 1], [0, 2, 1]])
def test_from_frame_starts_must_strictly_increase(order: list[int]) -> None:
    base = frame(3)
    shuffled = base.with_columns(pl.Series("start", [base["start"][i] for i in order]))
    with pytest.raises(BacktestError, match="strictly increasing") as caught:
        BarSeries.from_frame(shuffled)
    assert caught.value.field == "start"


def test_from_frame_trading_days_must_not_go_backwards() -> None:
    base = frame(3)
    days = base["trading_day"].to_list()
    days[2] = date(2023, 12, 31)  # the day before the others
    with pytest.raises(BacktestError) as caught:
        BarSeries.from_frame(base.with_columns(pl.Series("trading_day", days)))
    assert caught.value.field == "trading_day"


def test_from_frame_high_below_close() -> None:
    bad = frame(3).with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.col("close") - 0.5)
        .otherwise(pl.col("high"))
        .alias("high")
    )
    with pytest.raises(BacktestError, match="bar 2") as caught:
        BarSeries.from_frame(bad)
    assert caught.value.field == "high"


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf])
def test_from_frame_prices_must_be_finite_and_positive(value: float) -> None:
    bad = frame(3).with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(value).otherwise(pl.col("low")).alias("low")
    )
    with pytest.raises(BacktestError) as caught:
        BarSeries.from_frame(bad)
    assert caught.value.field == "low"
