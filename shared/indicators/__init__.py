"""Technical indicators: a catalogue every front end can render (TA-Lib's 200-odd functions
now; project-native ones later) and a registry that checks and runs a call.

- `catalogue()`: every `IndicatorInfo` (inputs, parameters with types, defaults and bounds,
  outputs with their drawing style, group, overlay or pane).
- `find(name)` / `compute(name, columns, params, inputs)`: look up and run; bad calls raise
  `IndicatorError` naming the field, unknown names `UnknownIndicatorError` with close matches.
"""

from shared.indicators._catalog import (
    BAR_COLUMNS,
    IndicatorInfo,
    InputInfo,
    OutputInfo,
    ParamInfo,
)
from shared.indicators._registry import (
    IndicatorError,
    UnknownIndicatorError,
    catalogue,
    checked_params,
    compute,
    find,
    input_columns,
)
from shared.indicators._talib import MA_TYPES

__all__ = [
    "BAR_COLUMNS",
    "MA_TYPES",
    "IndicatorError",
    "IndicatorInfo",
    "InputInfo",
    "OutputInfo",
    "ParamInfo",
    "UnknownIndicatorError",
    "catalogue",
    "checked_params",
    "compute",
    "find",
    "input_columns",
]
