"""`formula`: a vectorized strategy written as user formulas, no code.

Each side is a formula of the indicator formula language (`shared.indicators`), true where
the signal fires, e.g. `long_entry = cross_above(ema(close, 12), ema(close, 26))`. A side left
empty is never taken. Through the API a side may also be `@name`, one of the user's saved
formulas, expanded before the run. Formulas have no O(1) form, so this strategy runs on the
vectorized engine only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from shared.indicators import FormulaError, compile_formula, evaluate
from shared.strategy._definition import StrategyDefinition
from shared.strategy._params import Constraint, ParamError, ParamValue, text_param
from shared.strategy._signals import BoolArray, SignalData, Signals

SIDES = ("long_entry", "long_exit", "short_entry", "short_exit")
PARAMS = tuple(
    text_param(side, "", f"formula true where the {side.replace('_', ' ')} fires") for side in SIDES
)


def _fires(data: SignalData, side: str, text: str) -> BoolArray | None:
    if not text.strip():
        return None
    frame = pl.DataFrame(dict(data.columns))
    try:
        values = evaluate(text, frame)
    except FormulaError as exc:
        raise ParamError(f"`{side}`: {exc}", side) from None
    with np.errstate(invalid="ignore"):
        return np.asarray((values != 0.0) & ~np.isnan(values), dtype=np.bool_)


def formula_signals(data: SignalData, params: Mapping[str, ParamValue]) -> Signals:
    fired = {side: _fires(data, side, str(params[side])) for side in SIDES}
    long_entry = fired["long_entry"]
    if long_entry is None:
        long_entry = np.zeros(len(data), dtype=np.bool_)
    return Signals(
        long_entry=long_entry,
        long_exit=fired["long_exit"],
        short_entry=fired["short_entry"],
        short_exit=fired["short_exit"],
    )


def check_formulas(params: Mapping[str, ParamValue]) -> None:
    """Every given formula compiles (a mistake names the side and the column)."""
    for side in SIDES:
        text = str(params[side])
        if text.strip():
            try:
                compile_formula(text)
            except FormulaError as exc:
                raise ParamError(f"`{side}`: {exc}", side) from None


FORMULA = StrategyDefinition(
    name="formula",
    description="Entries and exits written as indicator formulas (vectorized engine only).",
    params=PARAMS,
    constraints=(
        Constraint(
            "long_entry or short_entry is given",
            lambda p: bool(str(p["long_entry"]).strip() or str(p["short_entry"]).strip()),
        ),
    ),
    event_class=None,
    signals=formula_signals,
    check=check_formulas,
)
