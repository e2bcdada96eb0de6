"""Technical indicators: a catalogue every front end can render (TA-Lib's 200-odd functions
now; project-native ones later) and a registry that checks and runs a call.

- `catalogue()`: every `IndicatorInfo` (inputs, parameters with types, defaults and bounds,
  outputs with their drawing style, group, overlay or pane).
- `find(name)` / `compute(name, columns, params, inputs)`: look up and run; bad calls raise
  `IndicatorError` naming the field, unknown names `UnknownIndicatorError` with close matches.
- `streaming(name, **params)`: O(1) bar-by-bar versions of the common ones, equal to the batch
  values; `LiveIndicatorSet` keeps several of them up to date for one live series.
- `column_names(...)`: how outputs are named everywhere (`sma_20`, `macd_12_26_9.macdsignal`).
"""

from shared.indicators._catalog import (
    BAR_COLUMNS,
    IndicatorInfo,
    InputInfo,
    OutputInfo,
    ParamInfo,
)
from shared.indicators._formula import FormulaError, compile_formula, evaluate
from shared.indicators._live import LiveIndicatorSet, LiveIndicatorSpec
from shared.indicators._naming import column_names
from shared.indicators._registry import (
    IndicatorError,
    UnknownIndicatorError,
    catalogue,
    checked_params,
    compute,
    find,
    input_columns,
)
from shared.indicators._streaming import STREAMING, StreamingIndicator, streaming
from shared.indicators._talib import MA_TYPES

__all__ = [
    "BAR_COLUMNS",
    "MA_TYPES",
    "STREAMING",
    "FormulaError",
    "IndicatorError",
    "IndicatorInfo",
    "InputInfo",
    "LiveIndicatorSet",
    "LiveIndicatorSpec",
    "OutputInfo",
    "ParamInfo",
    "StreamingIndicator",
    "UnknownIndicatorError",
    "catalogue",
    "checked_params",
    "column_names",
    "compile_formula",
    "compute",
    "evaluate",
    "find",
    "input_columns",
    "streaming",
]
