"""`dual_thrust`: the intraday range breakout of Michael Chalek.

Over the previous `lookback` trading days take HH (highest high), HC (highest close), LC
(lowest close) and LL (lowest low); range = max(HH - LC, HC - LL). Each day the triggers are
the day's open + k1 * range (buy) and open - k2 * range (sell). A close above the buy trigger
goes long, below the sell trigger goes short (`long_short`) or closes the long (`long_only`).
Positions are closed on the last bar of the trading day (no entry is taken on that bar), so
nothing is held overnight when `flat_at_day_end` is set.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np

from shared.strategy._event import BarView, Strategy, StrategyContext
from shared.strategy._params import (
    ParamValue,
    bool_param,
    choice_param,
    float_param,
    int_param,
)
from shared.strategy._signals import SignalData, Signals, day_boundaries, last_bar_of_day

MODES = ("long_short", "long_only")


class DualThrust(Strategy):
    name = "dual_thrust"
    description = "Intraday breakout of the open by k1/k2 times the range of the last N days."
    params = (
        int_param("lookback", 4, 1, 250, "trading days in the range"),
        float_param("k1", 0.5, 0.01, 5.0, "buy trigger = open + k1 * range", step=0.1),
        float_param("k2", 0.5, 0.01, 5.0, "sell trigger = open - k2 * range", step=0.1),
        choice_param("mode", "long_short", MODES, "long_short or long_only"),
        bool_param("flat_at_day_end", True, "close positions on each day's last bar"),
    )

    def on_start(self, ctx: StrategyContext) -> None:  # noqa: ARG002 - needs no indicator
        self._days: deque[tuple[float, float, float]] = deque(maxlen=int(self.p["lookback"]))
        self._day = -1
        self._open = self._high = self._low = self._close = 0.0
        self._k1, self._k2 = float(self.p["k1"]), float(self.p["k2"])
        self._long_short = self.p["mode"] == "long_short"
        self._flat_at_end = bool(self.p["flat_at_day_end"])

    def _roll_day(self, bar: BarView) -> None:
        if self._day >= 0:
            self._days.append((self._high, self._low, self._close))
        self._day = bar.day
        self._open, self._high, self._low = bar.open, bar.high, bar.low

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        if bar.day != self._day:
            self._roll_day(bar)
        self._high = max(self._high, bar.high)
        self._low = min(self._low, bar.low)
        self._close = bar.close
        days = self._days
        if len(days) < (days.maxlen or 0):
            return
        if bar.last_of_day and self._flat_at_end:
            ctx.go_flat()
            return
        span = max(
            max(d[0] for d in days) - min(d[2] for d in days),
            max(d[2] for d in days) - min(d[1] for d in days),
        )
        close = bar.close
        if close > self._open + self._k1 * span:
            ctx.go_long()
        elif close < self._open - self._k2 * span:
            if self._long_short:
                ctx.go_short()
            elif ctx.position() > 0:
                ctx.go_flat()


def _previous_days_range(
    highs: np.ndarray, lows: np.ndarray, closes: np.ndarray, lookback: int
) -> np.ndarray:
    """Per day, the range over the `lookback` days before it (NaN until there are enough)."""
    count = highs.size
    out = np.full(count, np.nan)
    if count <= lookback:
        return out
    windows = np.lib.stride_tricks.sliding_window_view
    hh = windows(highs, lookback).max(axis=1)[:-1]
    ll = windows(lows, lookback).min(axis=1)[:-1]
    hc = windows(closes, lookback).max(axis=1)[:-1]
    lc = windows(closes, lookback).min(axis=1)[:-1]
    out[lookback:] = np.maximum(hh - lc, hc - ll)
    return out


def dual_thrust_signals(data: SignalData, params: Mapping[str, ParamValue]) -> Signals:
    starts = day_boundaries(data.trading_days)
    high, low, close = data.column("high"), data.column("low"), data.column("close")
    day_high = np.maximum.reduceat(high, starts)
    day_low = np.minimum.reduceat(low, starts)
    day_close = close[np.append(starts[1:], close.size) - 1]
    span = _previous_days_range(day_high, day_low, day_close, int(params["lookback"]))
    day_of_bar = np.repeat(np.arange(starts.size), np.diff(np.append(starts, close.size)))
    day_open = data.column("open")[starts][day_of_bar]
    bar_span = span[day_of_bar]
    last = last_bar_of_day(data.trading_days)
    flat_at_end = bool(params["flat_at_day_end"])
    with np.errstate(invalid="ignore"):
        up = close > day_open + float(params["k1"]) * bar_span
        down = close < day_open - float(params["k2"]) * bar_span
    if flat_at_end:
        ready = ~np.isnan(bar_span)
        up &= ~last
        down &= ~last
        day_end = last & ready
    else:
        day_end = np.zeros(close.size, dtype=np.bool_)
    if params["mode"] == "long_short":
        return Signals(long_entry=up, long_exit=day_end, short_entry=down, short_exit=day_end)
    return Signals(long_entry=up, long_exit=down | day_end)


def dual_thrust_warmup(_params: Mapping[str, ParamValue]) -> int:
    return 0
