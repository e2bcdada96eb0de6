"""`donchian_breakout`: the turtle-style channel breakout.

Long when the close breaks above the highest high of the previous `period` bars; the long is
closed when the close falls below the lowest low of the previous `exit_period` bars. In
`long_short` mode the mirror image trades the short side (a breakout on the other side
reverses).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np

from shared.strategy._event import BarView, Strategy, StrategyContext
from shared.strategy._params import Constraint, ParamValue, choice_param, int_param
from shared.strategy._signals import SignalData, Signals, shifted

MODES = ("long_only", "long_short")


class DonchianBreakout(Strategy):
    name = "donchian_breakout"
    description = "Channel breakout: enter beyond the N-bar high/low, exit on the M-bar opposite."
    params = (
        int_param("period", 20, 2, 10_000, "bars in the entry channel"),
        int_param("exit_period", 10, 1, 10_000, "bars in the exit channel"),
        choice_param("mode", "long_only", MODES, "long_only or long_short"),
    )
    constraints = (
        Constraint("exit_period <= period", lambda p: int(p["exit_period"]) <= int(p["period"])),
    )

    def on_start(self, ctx: StrategyContext) -> None:  # noqa: ARG002 - needs no indicator
        size = int(self.p["period"])
        self._highs: deque[float] = deque(maxlen=size)
        self._lows: deque[float] = deque(maxlen=size)
        self._exit = int(self.p["exit_period"])
        self._long_short = self.p["mode"] == "long_short"

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:
        highs, lows = self._highs, self._lows
        if len(highs) == highs.maxlen:
            close = bar.close
            position = ctx.position()
            recent_high = max(list(highs)[-self._exit :])
            recent_low = min(list(lows)[-self._exit :])
            if close > max(highs):
                ctx.go_long()
            elif self._long_short and close < min(lows):
                ctx.go_short()
            elif (position > 0 and close < recent_low) or (position < 0 and close > recent_high):
                ctx.go_flat()
        highs.append(bar.high)
        lows.append(bar.low)


def donchian_signals(data: SignalData, params: Mapping[str, ParamValue]) -> Signals:
    period, exit_period = int(params["period"]), int(params["exit_period"])
    close = data.column("close")
    upper = shifted(data.rolling("max", "high", period))
    lower = shifted(data.rolling("min", "low", period))
    exit_low = shifted(data.rolling("min", "low", exit_period))
    exit_high = shifted(data.rolling("max", "high", exit_period))
    with np.errstate(invalid="ignore"):
        # Exits need the full entry channel too, as the event form starts after `period` bars.
        ready = ~np.isnan(upper)
        long_entry = close > upper
        long_exit = ready & (close < exit_low)
        if params["mode"] == "long_short":
            return Signals(
                long_entry=long_entry,
                long_exit=long_exit,
                short_entry=close < lower,
                short_exit=ready & (close > exit_high),
            )
    return Signals(long_entry=long_entry, long_exit=long_exit)


def donchian_warmup(params: Mapping[str, ParamValue]) -> int:
    return int(params["period"]) + 1
