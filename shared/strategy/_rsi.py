"""`rsi_reversion`: buy oversold, sell overbought, on Wilder's RSI.

Long when RSI falls below `lower`, closed when it rises above `exit_level`. In `long_short`
mode, short when RSI rises above `upper`, covered when it falls below `exit_level`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shared.strategy._event import BarView, IndicatorHandle, Strategy, StrategyContext
from shared.strategy._params import Constraint, ParamValue, choice_param, float_param, int_param
from shared.strategy._signals import SignalData, Signals

MODES = ("long_only", "long_short")


class RsiReversion(Strategy):
    name = "rsi_reversion"
    description = "RSI mean reversion: enter at the extremes, exit at the middle level."
    params = (
        int_param("period", 14, 2, 1_000, "RSI period"),
        float_param("lower", 30.0, 1.0, 99.0, "oversold level (long entry)", step=5.0),
        float_param("upper", 70.0, 1.0, 99.0, "overbought level (short entry)", step=5.0),
        float_param("exit_level", 50.0, 1.0, 99.0, "level where a position is closed", step=5.0),
        choice_param("mode", "long_only", MODES, "long_only or long_short"),
    )
    constraints = (
        Constraint(
            "lower < exit_level < upper",
            lambda p: float(p["lower"]) < float(p["exit_level"]) < float(p["upper"]),
        ),
    )

    def on_start(self, ctx: StrategyContext) -> None:
        self._rsi: IndicatorHandle = ctx.indicator("rsi", timeperiod=self.p["period"])
        self._lower = float(self.p["lower"])
        self._upper = float(self.p["upper"])
        self._exit = float(self.p["exit_level"])
        self._long_short = self.p["mode"] == "long_short"

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:  # noqa: ARG002 - RSI only
        rsi: Any = self._rsi.value
        if rsi is None:
            return
        position = ctx.position()
        if rsi < self._lower:
            ctx.go_long()
        elif self._long_short and rsi > self._upper:
            ctx.go_short()
        elif (position > 0 and rsi > self._exit) or (position < 0 and rsi < self._exit):
            ctx.go_flat()


def rsi_signals(data: SignalData, params: Mapping[str, ParamValue]) -> Signals:
    rsi = data.indicator("rsi", timeperiod=int(params["period"]))
    exit_level = float(params["exit_level"])
    with np.errstate(invalid="ignore"):
        long_entry = rsi < float(params["lower"])
        long_exit = rsi > exit_level
        if params["mode"] == "long_short":
            return Signals(
                long_entry=long_entry,
                long_exit=long_exit,
                short_entry=rsi > float(params["upper"]),
                short_exit=rsi < exit_level,
            )
    return Signals(long_entry=long_entry, long_exit=long_exit)


def rsi_warmup(params: Mapping[str, ParamValue]) -> int:
    return int(params["period"]) + 1
