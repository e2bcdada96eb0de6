"""The built-in strategies by name."""

from __future__ import annotations

import difflib

from shared.strategy._definition import StrategyDefinition
from shared.strategy._donchian import DonchianBreakout, donchian_signals, donchian_warmup
from shared.strategy._dual_thrust import DualThrust, dual_thrust_signals, dual_thrust_warmup
from shared.strategy._formula_strategy import FORMULA
from shared.strategy._rsi import RsiReversion, rsi_signals, rsi_warmup
from shared.strategy._sma_cross import SmaCross, sma_cross_signals, sma_cross_warmup

_BUILT_INS: dict[str, StrategyDefinition] = {
    definition.name: definition
    for definition in (
        StrategyDefinition.from_class(SmaCross, sma_cross_signals, sma_cross_warmup),
        StrategyDefinition.from_class(DonchianBreakout, donchian_signals, donchian_warmup),
        StrategyDefinition.from_class(RsiReversion, rsi_signals, rsi_warmup),
        StrategyDefinition.from_class(DualThrust, dual_thrust_signals, dual_thrust_warmup),
        FORMULA,
    )
}


class UnknownStrategyError(LookupError):
    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        known = ", ".join(sorted(_BUILT_INS))
        super().__init__(f"unknown strategy {name!r}{hint} (strategies: {known})")
        self.name = name
        self.suggestions = suggestions


def strategies() -> list[StrategyDefinition]:
    return list(_BUILT_INS.values())


def get_strategy(name: str) -> StrategyDefinition:
    try:
        return _BUILT_INS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_BUILT_INS), n=3, cutoff=0.5)
        raise UnknownStrategyError(name, close) from None
