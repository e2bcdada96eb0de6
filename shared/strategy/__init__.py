"""Strategies: one API for research and live.

- Event-driven: subclass `Strategy`, declare `params` (`int_param`, `float_param`,
  `choice_param`, `bool_param`) and `constraints`, react in `on_bar`/`on_tick`/`on_order`/
  `on_trade` through a `StrategyContext` (orders, positions, account, streaming indicators).
- Vectorized: a function `(SignalData, params) -> Signals` of whole columns, for the fast
  engine and parameter sweeps; `expression_strategy(name, long_entry=pl.Expr, ...)` builds
  one from polars expressions.
- `get_strategy(name)` / `strategies()`: the built-ins (`sma_cross`, `donchian_breakout`,
  `rsi_reversion`, `dual_thrust`), each in both forms, taking the same decisions, and
  `formula` (entries and exits as indicator formulas, vectorized only).
- `resolve_params` checks values against the declarations; `ParamError.field` names the culprit.
"""

from shared.strategy._definition import SignalFunction, StrategyDefinition
from shared.strategy._event import (
    BarView,
    IndicatorHandle,
    OrderKind,
    OrderUpdate,
    Strategy,
    StrategyContext,
    TradeUpdate,
)
from shared.strategy._expressions import expression_signals, expression_strategy
from shared.strategy._params import (
    Constraint,
    ParamError,
    ParamKind,
    ParamSpec,
    ParamValue,
    bool_param,
    check_value,
    choice_param,
    float_param,
    int_param,
    parse_assignments,
    resolve_params,
    text_param,
)
from shared.strategy._registry import UnknownStrategyError, get_strategy, strategies
from shared.strategy._signals import (
    SignalData,
    Signals,
    cross_above,
    cross_below,
    crosses,
    day_boundaries,
    last_bar_of_day,
    shifted,
)

__all__ = [
    "BarView",
    "Constraint",
    "IndicatorHandle",
    "OrderKind",
    "OrderUpdate",
    "ParamError",
    "ParamKind",
    "ParamSpec",
    "ParamValue",
    "SignalData",
    "SignalFunction",
    "Signals",
    "Strategy",
    "StrategyContext",
    "StrategyDefinition",
    "TradeUpdate",
    "UnknownStrategyError",
    "bool_param",
    "check_value",
    "choice_param",
    "cross_above",
    "cross_below",
    "crosses",
    "day_boundaries",
    "expression_signals",
    "expression_strategy",
    "float_param",
    "get_strategy",
    "int_param",
    "last_bar_of_day",
    "parse_assignments",
    "resolve_params",
    "shifted",
    "strategies",
    "text_param",
]
