"""What an indicator is, as the front end needs to render a form and a chart for it: its
inputs, parameters (types, defaults, bounds), outputs (and how to draw them), group, and
whether it is drawn over the price."""

from __future__ import annotations

from typing import Literal

import msgspec

ParamType = Literal["int", "float", "ma_type"]
# The bar columns an input may name.
BAR_COLUMNS = ("open", "high", "low", "close", "volume", "open_interest")


class InputInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # the slot, e.g. "price" or "high"
    default: str  # the bar column used unless the request maps the slot to another


class ParamInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    title: str
    type: ParamType
    default: float
    min: float
    max: float
    help: str = ""
    # For `ma_type`: the moving-average kinds by their numbers (0 = simple ...).
    choices: tuple[str, ...] = ()


class OutputInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    # How the series is drawn: line, dashed, dotted, histogram, upper or lower limit, or
    # pattern (a candlestick signal: -100/0/100 and their multiples).
    style: str = "line"


class IndicatorInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # lower case, e.g. "macd"
    title: str
    group: str
    source: Literal["ta-lib", "native"]
    inputs: tuple[InputInfo, ...]
    params: tuple[ParamInfo, ...]
    outputs: tuple[OutputInfo, ...]
    overlay: bool  # drawn over the price chart rather than in a pane of its own

    def param(self, name: str) -> ParamInfo | None:
        return next((p for p in self.params if p.name == name), None)
