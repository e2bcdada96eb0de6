"""`sma_cross`: trade the crossings of a fast and a slow simple moving average.

- `long_only`: buy when the fast average crosses above the slow one, close on the cross below.
- `long_short`: always in the market after the first crossing, reversing on each one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.strategy._event import BarView, IndicatorHandle, Strategy, StrategyContext
from shared.strategy._params import Constraint, ParamValue, choice_param, int_param
from shared.strategy._signals import SignalData, Signals, crosses

MODES = ("long_only", "long_short")


class SmaCross(Strategy):
    name = "sma_cross"
    description = "Fast/slow simple moving average crossover."
    params = (
        int_param("fast", 10, 1, 10_000, "bars in the fast average"),
        int_param("slow", 30, 2, 10_000, "bars in the slow average"),
        choice_param("mode", "long_only", MODES, "long_only or long_short (always in)"),
    )
    constraints = (Constraint("fast < slow", lambda p: int(p["fast"]) < int(p["slow"])),)

    def on_start(self, ctx: StrategyContext) -> None:
        self._fast: IndicatorHandle = ctx.indicator("sma", timeperiod=self.p["fast"])
        self._slow: IndicatorHandle = ctx.indicator("sma", timeperiod=self.p["slow"])
        self._side = 0  # sign of fast - slow at the last bar where they differed
        self._long_short = self.p["mode"] == "long_short"

    def on_bar(self, ctx: StrategyContext, bar: BarView) -> None:  # noqa: ARG002 - averages only
        fast: Any = self._fast.value
        slow: Any = self._slow.value
        if fast is None or slow is None:
            return
        side = 1 if fast > slow else -1 if fast < slow else 0
        if side == 0:
            return
        if side > 0 and self._side < 0:
            ctx.go_long()
        elif side < 0 and self._side > 0:
            if self._long_short:
                ctx.go_short()
            else:
                ctx.go_flat()
        self._side = side


def sma_cross_signals(data: SignalData, params: Mapping[str, ParamValue]) -> Signals:
    fast = data.indicator("sma", timeperiod=int(params["fast"]))
    slow = data.indicator("sma", timeperiod=int(params["slow"]))
    up, down = crosses(fast, slow)
    if params["mode"] == "long_short":
        return Signals(long_entry=up, short_entry=down)
    return Signals(long_entry=up, long_exit=down)


def sma_cross_warmup(params: Mapping[str, ParamValue]) -> int:
    return int(params["slow"])
