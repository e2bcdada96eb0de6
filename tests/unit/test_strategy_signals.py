"""Vectorized signals: crossings (with the touch rule and the NaN warm-up), SignalData's memo,
`shifted`, day boundaries, and each built-in's entries on tiny series built so the answer is
known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from shared.backtest import BarSeries
from shared.strategy import (
    SignalData,
    Signals,
    cross_above,
    cross_below,
    day_boundaries,
    get_strategy,
    last_bar_of_day,
    shifted,
)
from tests.support.bars_builder import series, signal_data

NAN = np.nan


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def where(flags: np.ndarray | None) -> list[int]:
    assert flags is not None
    return [int(i) for i in np.flatnonzero(flags)]


# Crossings --------------------------------------------------------------------------------


def test_plain_crossings_both_ways() -> None:
    a = arr(1, 3, 1, 3, 3)
    b = arr(2, 2, 2, 2, 2)
    # a - b = -1, +1, -1, +1, +1: up at 1 and 3, down at 2; staying above is not a crossing.
    assert where(cross_above(a, b)) == [1, 3]
    assert where(cross_below(a, b)) == [2]


def test_touch_then_move_up_is_one_crossing_at_the_move() -> None:
    a = arr(1, 2, 2, 3)
    b = arr(2, 2, 2, 2)
    # diff -1, 0, 0, +1: the last earlier non-zero diff before bar 3 is -1 (bar 0).
    assert where(cross_above(a, b)) == [3]
    assert where(cross_below(a, b)) == []


def test_touch_then_move_down_is_one_crossing_below() -> None:
    a = arr(3, 2, 1)
    b = arr(2, 2, 2)
    assert where(cross_below(a, b)) == [2]
    assert where(cross_above(a, b)) == []


def test_touch_and_back_is_no_crossing() -> None:
    # From below to equal and back below, and from above to equal and back above.
    assert where(cross_above(arr(1, 2, 1), arr(2, 2, 2))) == []
    assert where(cross_below(arr(1, 2, 1), arr(2, 2, 2))) == []
    assert where(cross_above(arr(3, 2, 3), arr(2, 2, 2))) == []
    assert where(cross_below(arr(3, 2, 3), arr(2, 2, 2))) == []


def test_equal_is_never_a_crossing_bar() -> None:
    a = arr(1, 2, 3, 2)
    b = arr(2, 2, 2, 2)
    # Bar 1 (a == b) is not the crossing; bar 2 is; bar 3 touches from above.
    assert where(cross_above(a, b)) == [2]
    assert where(cross_below(a, b)) == []


def test_nan_warm_up_never_crosses() -> None:
    a = arr(NAN, NAN, 3, 1)
    b = arr(2, 2, 2, 2)
    # The first defined bar (above) has nothing before it: no crossing; then a real one down.
    assert where(cross_above(a, b)) == []
    assert where(cross_below(a, b)) == [3]
    # NaN on either side hides the bar, and a NaN bar itself is never a crossing.
    assert where(cross_above(arr(NAN, NAN, NAN), arr(1, NAN, 2))) == []
    assert where(cross_below(arr(NAN, NAN, NAN), arr(1, NAN, 2))) == []


def test_nan_gap_is_skipped_when_looking_back() -> None:
    a = arr(1, NAN, 3)
    b = arr(2, 2, 2)
    # Bar 1 gives no information; the last defined, non-zero diff before bar 2 is bar 0's -1.
    assert where(cross_above(a, b)) == [2]
    assert where(cross_below(a, b)) == []


def test_crossings_are_boolean_arrays_of_the_input_length() -> None:
    up = cross_above(arr(1, 3), arr(2, 2))
    assert up.dtype == np.bool_
    assert up.shape == (2,)
    assert cross_above(arr(), arr()).shape == (0,)


# SignalData -------------------------------------------------------------------------------


def test_indicator_is_memoised_and_correct() -> None:
    data = signal_data(series([1, 2, 3, 4, 5]))
    first = data.indicator("sma", timeperiod=3)
    again = data.indicator("sma", timeperiod=3)
    assert first is again
    # sma(3) of 1..5: warm-up NaN for two bars, then (1+2+3)/3, (2+3+4)/3, (3+4+5)/3.
    np.testing.assert_array_equal(first, arr(NAN, NAN, 2, 3, 4))
    other = data.indicator("sma", timeperiod=2)
    assert other is not first
    np.testing.assert_array_equal(other, arr(NAN, 1.5, 2.5, 3.5, 4.5))


def test_indicator_memo_ignores_keyword_order_and_picks_named_outputs() -> None:
    data = signal_data(series([1, 2, 3, 4, 5, 6]))
    upper = data.indicator("bbands", "upperband", timeperiod=3, nbdevup=2.0, nbdevdn=2.0)
    middle = data.indicator("bbands", "middleband", nbdevdn=2.0, nbdevup=2.0, timeperiod=3)
    # One computation for both (same key): the memo holds a single entry.
    assert len(data._memo) == 1
    assert data.indicator("bbands", "upperband", nbdevdn=2.0, timeperiod=3, nbdevup=2.0) is upper
    # middle band = sma(3); population std of three consecutive integers = sqrt(2/3).
    np.testing.assert_allclose(middle[2:], arr(2, 3, 4, 5))
    np.testing.assert_allclose(upper[2:], arr(2, 3, 4, 5) + 2 * np.sqrt(2 / 3))


def test_rolling_is_memoised_and_correct() -> None:
    bars = series([5, 3, 4, 6, 2], high=[6, 4, 7, 6, 3], low=[4, 2, 3, 5, 1])
    data = signal_data(bars)
    top = data.rolling("max", "high", 2)
    assert data.rolling("max", "high", 2) is top
    # max of (high[i-1], high[i]); the first bar has no full window.
    np.testing.assert_array_equal(top, arr(NAN, 6, 7, 7, 6))
    bottom = data.rolling("min", "low", 3)
    assert bottom is not top
    np.testing.assert_array_equal(bottom, arr(NAN, NAN, 2, 2, 1))
    assert data.rolling("max", "high", 3) is not top
    assert top.dtype == np.float64


def test_signal_data_length_and_columns() -> None:
    bars = series([1, 2, 3])
    data = SignalData(bars.columns(), bars.trading_days)
    assert len(data) == 3
    assert data.column("close") is bars.close


# shifted ----------------------------------------------------------------------------------


def test_shifted_delays_and_pads_with_nan() -> None:
    values = arr(1, 2, 3)
    np.testing.assert_array_equal(shifted(values), arr(NAN, 1, 2))
    np.testing.assert_array_equal(shifted(values, 2), arr(NAN, NAN, 1))
    np.testing.assert_array_equal(shifted(values, 0), values)
    assert np.isnan(shifted(values, 3)).all()
    assert np.isnan(shifted(values, 10)).all()
    np.testing.assert_array_equal(values, arr(1, 2, 3))  # the input is untouched
    assert shifted(values) is not values


# Trading days -----------------------------------------------------------------------------


def test_day_boundaries_and_last_bars() -> None:
    days = np.array([5, 5, 6, 6, 6, 9], dtype=np.int32)
    assert day_boundaries(days).tolist() == [0, 2, 5]
    assert last_bar_of_day(days).tolist() == [False, True, False, False, True, True]


def test_single_day_and_empty_series() -> None:
    one = np.array([7, 7, 7], dtype=np.int32)
    assert day_boundaries(one).tolist() == [0]
    assert last_bar_of_day(one).tolist() == [False, False, True]
    empty = np.zeros(0, dtype=np.int32)
    assert day_boundaries(empty).size == 0
    assert last_bar_of_day(empty).size == 0
    assert last_bar_of_day(np.array([3], dtype=np.int32)).tolist() == [True]


# Built-ins on engineered series -----------------------------------------------------------

# sma(2) and sma(3) of these closes, by hand:
#   bar:   0    1    2     3     4      5       6      7
#   close: 10   9    8     7     12     12      5      5
#   sma2:  -    9.5  8.5   7.5   9.5    12      8.5    5
#   sma3:  -    -    9     8     9      31/3    29/3   22/3
#   diff:            -0.5  -0.5  +0.5   +1.67   -1.17  -2.33
# so the fast average crosses above at bar 4 and below at bar 6.
SMA_CLOSES = [10, 9, 8, 7, 12, 12, 5, 5]


def test_sma_cross_long_only_entries_and_exits() -> None:
    definition = get_strategy("sma_cross")
    assert definition.signals is not None
    values = definition.resolve({"fast": 2, "slow": 3})
    out = definition.signals(signal_data(series(SMA_CLOSES)), values)
    assert where(out.long_entry) == [4]
    assert where(out.long_exit) == [6]
    assert out.short_entry is None
    assert out.short_exit is None


def test_sma_cross_long_short_reverses_on_each_crossing() -> None:
    definition = get_strategy("sma_cross")
    assert definition.signals is not None
    values = definition.resolve({"fast": 2, "slow": 3, "mode": "long_short"})
    out = definition.signals(signal_data(series(SMA_CLOSES)), values)
    assert where(out.long_entry) == [4]
    assert where(out.short_entry) == [6]
    assert out.long_exit is None


def test_sma_cross_touch_then_move_counts_once() -> None:
    # closes 9, 9, 9, 12: sma2 = -, 9, 9, 10.5; sma3 = -, -, 9, 10 -> diff nan, nan, 0, +0.5:
    # no earlier non-zero difference, so no crossing at all. With a dip first, it crosses.
    definition = get_strategy("sma_cross")
    assert definition.signals is not None
    values = definition.resolve({"fast": 2, "slow": 3})
    out = definition.signals(signal_data(series([9, 9, 9, 12])), values)
    assert where(out.long_entry) == []
    # closes 10, 10, 7, 9, 10, 12: sma2 = -, 10, 8.5, 8, 9.5, 11; sma3 = -, -, 9, 26/3, 26/3,
    # 31/3 -> diff -0.5, -0.67, +0.83, +0.67: crosses above at bar 4.
    out = definition.signals(signal_data(series([10, 10, 7, 9, 10, 12])), values)
    assert where(out.long_entry) == [4]


# Donchian: highs = close + 1, lows = close - 1.
#   bar:   0   1   2   3   4   5   6
#   close: 10  11  8   11  13  12  9
#   high:  11  12  9   12  14  13  10
#   low:   9   10  7   10  12  11  8
# period 3: upper[i] = max(high[i-3..i-1]): bar3 12 (close 11 no), bar4 12 (13 > 12: entry),
#   bar5 14, bar6 14. lower[i] = min(low[i-3..i-1]): bar6 min(10, 12, 11) = 10 (9 < 10: short).
# exit_period 2: exit_low[i] = min(low[i-2..i-1]): bar2 9 (close 8 < 9, but the entry channel
#   is not ready yet), bar6 min(12, 11) = 11 (9 < 11: exit long). exit_high: bar4 max(9, 12)
#   = 12 (13 > 12: cover).
DONCHIAN_CLOSES = [10, 11, 8, 11, 13, 12, 9]


def donchian_bars() -> BarSeries:
    closes = np.array(DONCHIAN_CLOSES, dtype=np.float64)
    return series(closes, closes, high=closes + 1, low=closes - 1)


def test_donchian_long_only_breakout_at_a_known_bar() -> None:
    definition = get_strategy("donchian_breakout")
    assert definition.signals is not None
    values = definition.resolve({"period": 3, "exit_period": 2})
    out = definition.signals(signal_data(donchian_bars()), values)
    assert where(out.long_entry) == [4]
    assert where(out.long_exit) == [6]  # not bar 2: the exit waits for the entry channel
    assert out.short_entry is None


def test_donchian_long_short_mirror() -> None:
    definition = get_strategy("donchian_breakout")
    assert definition.signals is not None
    values = definition.resolve({"period": 3, "exit_period": 2, "mode": "long_short"})
    out = definition.signals(signal_data(donchian_bars()), values)
    assert where(out.long_entry) == [4]
    assert where(out.long_exit) == [6]
    assert where(out.short_entry) == [6]
    assert where(out.short_exit) == [4]


# RSI(2), Wilder: changes +1, +1, -1, -2, -1, +4.
#   bar 2: avg gain (1+1)/2 = 1, avg loss 0             -> RSI 100
#   bar 3: gain (1*1 + 0)/2 = 0.5, loss (0 + 1)/2 = 0.5   -> RSI 50
#   bar 4: gain 0.5/2 = 0.25, loss (0.5 + 2)/2 = 1.25     -> RSI 100 - 100/1.2 = 16.67
#   bar 5: gain 0.125, loss (1.25 + 1)/2 = 1.125          -> RSI 100 - 100/(1 + 1/9) = 10
#   bar 6: gain (0.125 + 4)/2 = 2.0625, loss 0.5625       -> RSI 100 - 100/(1 + 11/3) = 78.57
RSI_CLOSES = [10, 11, 12, 11, 9, 8, 12]


def test_rsi_values_match_the_hand_computation() -> None:
    data = signal_data(series(RSI_CLOSES))
    rsi = data.indicator("rsi", timeperiod=2)
    assert np.isnan(rsi[:2]).all()
    expected = arr(100, 50, 100 - 100 / 1.2, 10, 100 - 100 / (1 + 11 / 3))
    np.testing.assert_allclose(rsi[2:], expected, rtol=1e-9)


def test_rsi_long_only_entries_below_30_and_exits_above_50() -> None:
    definition = get_strategy("rsi_reversion")
    assert definition.signals is not None
    values = definition.resolve({"period": 2})
    out = definition.signals(signal_data(series(RSI_CLOSES)), values)
    assert where(out.long_entry) == [4, 5]  # 16.67 and 10 are below 30
    assert where(out.long_exit) == [2, 6]  # 100 and 78.57 are above 50; exactly 50 is not
    assert out.short_entry is None


def test_rsi_long_short_levels() -> None:
    definition = get_strategy("rsi_reversion")
    assert definition.signals is not None
    values = definition.resolve({"period": 2, "mode": "long_short", "lower": 15.0})
    out = definition.signals(signal_data(series(RSI_CLOSES)), values)
    assert where(out.long_entry) == [5]  # only 10 is below 15
    assert where(out.short_entry) == [2, 6]  # above 70
    assert where(out.short_exit) == [4, 5]  # below 50
    assert where(out.long_exit) == [2, 6]


# Dual Thrust, lookback 1, k1 = k2 = 0.5.
#   day 0 (bars 0-2): (o, h, l, c) = (100, 102, 99, 101), (101, 104, 100, 103), (103, 103, 98, 100)
#     HH = 104, LL = 98, HC = LC = day close = 100
#     range = max(HH - LC, HC - LL) = max(104 - 100, 100 - 98) = 4
#   day 1 (bars 3-6): open 100 -> buy trigger 100 + 0.5 * 4 = 102, sell trigger 100 - 2 = 98
#     closes 101 (nothing), 103 (> 102: long), 97 (< 98: short), 103 (last bar of the day)
DT_OPEN = [100, 101, 103, 100, 101, 103, 97]
DT_HIGH = [102, 104, 103, 101, 103, 103, 103]
DT_LOW = [99, 100, 98, 100, 101, 97, 97]
DT_CLOSE = [101, 103, 100, 101, 103, 97, 103]
DT_DAYS = [0, 0, 0, 1, 1, 1, 1]


def dual_thrust_bars() -> BarSeries:
    return series(DT_OPEN, DT_CLOSE, high=DT_HIGH, low=DT_LOW, days=DT_DAYS)


def dual_thrust(params: dict[str, object]) -> Signals:
    definition = get_strategy("dual_thrust")
    assert definition.signals is not None
    values = definition.resolve({"lookback": 1, "k1": 0.5, "k2": 0.5, **params})
    return definition.signals(signal_data(dual_thrust_bars()), values)


def test_dual_thrust_long_short_on_day_two() -> None:
    out = dual_thrust({})
    assert where(out.long_entry) == [4]
    assert where(out.short_entry) == [5]
    # Flat at the day's last bar once the range is known (day 0's last bar has no range).
    assert where(out.long_exit) == [6]
    assert where(out.short_exit) == [6]


def test_dual_thrust_long_only_exits_on_the_sell_trigger_and_day_end() -> None:
    out = dual_thrust({"mode": "long_only"})
    assert where(out.long_entry) == [4]
    assert where(out.long_exit) == [5, 6]
    assert out.short_entry is None


def test_dual_thrust_without_day_end_flattening_enters_on_the_last_bar_too() -> None:
    out = dual_thrust({"flat_at_day_end": False})
    assert where(out.long_entry) == [4, 6]
    assert where(out.short_entry) == [5]
    assert where(out.long_exit) == []


def test_dual_thrust_range_uses_highest_close_minus_lowest_low_when_larger() -> None:
    # lookback 2 over one-bar days: day 0 (100, 110, 100, 110), day 1 (110, 112, 108, 111)
    #   HH = 112, LL = 100, HC = 111, LC = 110: HH - LC = 2, HC - LL = 11 -> range 11
    # day 2 opens at 111: buy trigger 111 + 0.5 * 11 = 116.5, sell trigger 105.5
    #   closes 116 (below 116.5; above 112, the trigger a range of 2 would give), 117, 105
    bars = series(
        [100, 110, 111, 116, 117],
        [110, 111, 116, 117, 105],
        high=[110, 112, 116, 117, 117],
        low=[100, 108, 111, 116, 105],
        days=[0, 1, 2, 2, 2],
    )
    definition = get_strategy("dual_thrust")
    assert definition.signals is not None
    values = definition.resolve({"lookback": 2, "k1": 0.5, "k2": 0.5, "flat_at_day_end": False})
    out = definition.signals(signal_data(bars), values)
    assert where(out.long_entry) == [3]
    assert where(out.short_entry) == [4]


@pytest.mark.parametrize("name", ["sma_cross", "donchian_breakout", "rsi_reversion"])
def test_built_in_signals_have_the_series_length(name: str) -> None:
    definition = get_strategy(name)
    assert definition.signals is not None
    bars = series(np.linspace(100, 120, 50))
    out = definition.signals(signal_data(bars), definition.resolve({}))
    for column in (out.long_entry, out.long_exit, out.short_entry, out.short_exit):
        if column is not None:
            assert column.shape == (50,)
            assert column.dtype == np.bool_
