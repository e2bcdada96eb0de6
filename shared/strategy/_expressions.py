"""Vectorized strategies from polars expressions, for research in Python.

    golden = expression_strategy(
        "golden_cross",
        long_entry=pl.col("close").rolling_mean(10) > pl.col("close").rolling_mean(30),
        long_exit=pl.col("close").rolling_mean(10) < pl.col("close").rolling_mean(30),
    )
    run_vectorized(golden, {}, series, config)

Each expression is evaluated over the bar columns (`open`, `high`, `low`, `close`, `volume`,
`open_interest`) and read as true where it is true (null counts as false). The rule is the
engine's: an entry while already in that side is ignored, so a condition that stays true
enters once. User formulas (`shared.indicators.compile_formula`) compile to such expressions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from shared.strategy._definition import StrategyDefinition
from shared.strategy._params import ParamValue
from shared.strategy._signals import BoolArray, SignalData, Signals


def _fires(frame: pl.DataFrame, expression: pl.Expr | None) -> BoolArray | None:
    if expression is None:
        return None
    values = frame.select(expression.cast(pl.Boolean).fill_null(False).alias("fires"))
    return np.asarray(values["fires"].to_numpy(), dtype=np.bool_)


def expression_signals(
    data: SignalData,
    *,
    long_entry: pl.Expr | None = None,
    long_exit: pl.Expr | None = None,
    short_entry: pl.Expr | None = None,
    short_exit: pl.Expr | None = None,
) -> Signals:
    frame = pl.DataFrame(dict(data.columns))
    entry = _fires(frame, long_entry)
    return Signals(
        long_entry=entry if entry is not None else np.zeros(len(data), dtype=np.bool_),
        long_exit=_fires(frame, long_exit),
        short_entry=_fires(frame, short_entry),
        short_exit=_fires(frame, short_exit),
    )


def expression_strategy(
    name: str,
    *,
    long_entry: pl.Expr | None = None,
    long_exit: pl.Expr | None = None,
    short_entry: pl.Expr | None = None,
    short_exit: pl.Expr | None = None,
    description: str = "",
) -> StrategyDefinition:
    """A parameterless vectorized strategy from polars expressions (at least one entry)."""
    if long_entry is None and short_entry is None:
        raise ValueError("give long_entry or short_entry")

    def signals(data: SignalData, _params: Mapping[str, ParamValue]) -> Signals:
        return expression_signals(
            data,
            long_entry=long_entry,
            long_exit=long_exit,
            short_entry=short_entry,
            short_exit=short_exit,
        )

    return StrategyDefinition(
        name=name,
        description=description or f"{name}: signals from polars expressions",
        params=(),
        constraints=(),
        event_class=None,
        signals=signals,
    )
