"""User formulas: a small expression language over bar columns and catalogue indicators,
parsed (never evaluated as Python) and compiled to polars expressions.

    ema(close, 12) - ema(close, 26)
    cross_above(close, sma(close, 20))
    (close - lowest(low, 9)) / (highest(high, 9) - lowest(low, 9))
    macd(close, 12, 26, 9).macdsignal          # one output of a multi-output indicator
    if_else(rsi(close, 14) > 70, 1, 0)

The text is read with Python's parser (`ast.parse` builds a syntax tree and runs nothing),
then every node is checked against what the language allows: numbers, bar columns, the
operators + - * / ** and unary -, comparisons, `and`/`or`/`not`, calls of catalogue indicators
and of the helpers below, and `.output` after a multi-output indicator. Anything else is a
`FormulaError` with the 1-based column where it starts. A catalogue indicator takes its input
series first (as many as it has inputs), then its parameters, in catalogue order or by name;
the parameters are checked against the catalogue like any call.

Helpers: highest(x, n), lowest(x, n), ref(x, n) (n bars ago), abs(x), sqrt(x), log(x),
min(a, b), max(a, b), cross_above(a, b), cross_below(a, b), if_else(cond, a, b).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import polars as pl

from shared.indicators._registry import IndicatorError, UnknownIndicatorError, checked_params, find

MAX_LENGTH: Final = 2_000
MAX_NODES: Final = 400
COLUMNS: Final = ("open", "high", "low", "close", "volume", "open_interest")
_BINARY: Final[dict[type[ast.operator], Callable[[pl.Expr, pl.Expr], pl.Expr]]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_COMPARE: Final[dict[type[ast.cmpop], Callable[[pl.Expr, pl.Expr], pl.Expr]]] = {
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


class FormulaError(ValueError):
    """What is wrong and where: ``column`` is 1-based in the formula's text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} (at column {column})")
        self.reason = message
        self.column = column


def _at(node: ast.AST) -> int:
    # 1-based in the user's text: the parser saw it inside one added "(" (see compile_formula).
    return max(int(getattr(node, "col_offset", 1)), 1)


def _window(node: ast.expr, what: str) -> int:
    if not (isinstance(node, ast.Constant) and type(node.value) is int and node.value >= 1):
        raise FormulaError(f"{what} must be a whole number of bars >= 1", _at(node))
    return int(node.value)


class _Compiler:
    def expr(self, node: ast.expr) -> pl.Expr:  # noqa: PLR0911 - one branch per node kind
        if isinstance(node, ast.Constant):
            if isinstance(node.value, int | float) and not isinstance(node.value, bool):
                return pl.lit(float(node.value))
            raise FormulaError("only numbers may be written as constants", _at(node))
        if isinstance(node, ast.Name):
            if node.id in COLUMNS:
                return pl.col(node.id).cast(pl.Float64)
            raise FormulaError(
                f"unknown name {node.id!r}; bar columns are {', '.join(COLUMNS)}", _at(node)
            )
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = self.expr(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self._truth(node.operand).not_().cast(pl.Float64)
        if isinstance(node, ast.BoolOp):
            parts = [self._truth(value) for value in node.values]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if isinstance(node.op, ast.And) else combined | part
            return combined.cast(pl.Float64)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._call(node, output=None)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
            return self._call(node.value, output=node.attr)
        raise FormulaError(f"{type(node).__name__} is not part of the formula language", _at(node))

    def _truth(self, node: ast.expr) -> pl.Expr:
        return self.expr(node) != 0.0

    def _compare(self, node: ast.Compare) -> pl.Expr:
        left = self.expr(node.left)
        result: pl.Expr | None = None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                raise FormulaError(f"{type(op).__name__} is not a comparison here", _at(node))
            right = self.expr(right_node)
            part = _COMPARE[type(op)](left, right)
            result = part if result is None else result & part
            left = right
        assert result is not None
        return result.cast(pl.Float64)

    def _call(self, node: ast.Call, output: str | None) -> pl.Expr:
        if not isinstance(node.func, ast.Name):
            raise FormulaError("only named functions can be called", _at(node))
        name = node.func.id
        helper = _HELPERS.get(name)
        if helper is not None:
            if output is not None:
                raise FormulaError(f"{name}() has one output", _at(node))
            if node.keywords:
                raise FormulaError(f"{name}() takes no keyword arguments", _at(node))
            return helper(self, node)
        return self._indicator(node, output)

    def _indicator(self, node: ast.Call, output: str | None) -> pl.Expr:
        assert isinstance(node.func, ast.Name)
        try:
            indicator = find(node.func.id)
        except UnknownIndicatorError as exc:
            raise FormulaError(str(exc), _at(node)) from None
        info = indicator.info
        slots = len(info.inputs)
        if len(node.args) < slots:
            needed = ", ".join(i.name for i in info.inputs)
            raise FormulaError(
                f"{info.name}() needs {slots} input series first: {needed}", _at(node)
            )
        inputs = [self.expr(arg) for arg in node.args[:slots]]
        given: dict[str, Any] = {}
        extra = node.args[slots:]
        if len(extra) > len(info.params):
            raise FormulaError(f"{info.name}() takes {len(info.params)} parameter(s)", _at(node))
        for param, arg in zip(info.params, extra, strict=False):
            given[param.name] = self._number(arg)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise FormulaError("** arguments are not allowed", _at(node))
            given[keyword.arg] = self._number(keyword.value)
        try:
            params = checked_params(info, given)
        except IndicatorError as exc:
            raise FormulaError(f"{info.name}(): {exc}", _at(node)) from None
        names = [o.name for o in info.outputs]
        if output is None and len(names) > 1:
            choices = ", ".join(names)
            raise FormulaError(
                f"{info.name}() has outputs {choices}: pick one with .name", _at(node)
            )
        index = names.index(output) if output is not None and output in names else None
        if output is not None and index is None:
            raise FormulaError(f"{info.name}() has no output {output!r}", _at(node))
        function = indicator.function

        def run(series: Sequence[pl.Series]) -> pl.Series:
            arrays = [s.to_numpy().astype(np.float64, copy=False) for s in series]
            result = function(*arrays, **params)
            values = result[index or 0] if isinstance(result, tuple) else result
            return pl.Series(np.asarray(values, dtype=np.float64)).fill_nan(None)

        return pl.map_batches(inputs, run, return_dtype=pl.Float64)

    @staticmethod
    def _number(node: ast.expr) -> float:
        sign = 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sign, node = -1, node.operand
        if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
            value = node.value
            if isinstance(value, int | float):
                return sign * value
        raise FormulaError("an indicator's parameters must be numbers", _at(node))


def _args(node: ast.Call, count: int) -> list[ast.expr]:
    if len(node.args) != count:
        assert isinstance(node.func, ast.Name)
        raise FormulaError(f"{node.func.id}() takes {count} argument(s)", _at(node))
    return list(node.args)


def _rolling(kind: str) -> Callable[[_Compiler, ast.Call], pl.Expr]:
    def build(compiler: _Compiler, node: ast.Call) -> pl.Expr:
        series, window = _args(node, 2)
        bars = _window(window, f"{kind}()'s window")
        value = compiler.expr(series)
        return value.rolling_max(bars) if kind == "highest" else value.rolling_min(bars)

    return build


def _ref(compiler: _Compiler, node: ast.Call) -> pl.Expr:
    series, bars = _args(node, 2)
    return compiler.expr(series).shift(_window(bars, "ref()'s bars"))


def _unary(apply: Callable[[pl.Expr], pl.Expr]) -> Callable[[_Compiler, ast.Call], pl.Expr]:
    def build(compiler: _Compiler, node: ast.Call) -> pl.Expr:
        (value,) = _args(node, 1)
        return apply(compiler.expr(value))

    return build


def _pair(kind: str) -> Callable[[_Compiler, ast.Call], pl.Expr]:
    def build(compiler: _Compiler, node: ast.Call) -> pl.Expr:
        a, b = (compiler.expr(arg) for arg in _args(node, 2))
        if kind == "min":
            return pl.min_horizontal(a, b)
        if kind == "max":
            return pl.max_horizontal(a, b)
        above = a > b
        before = a.shift(1) <= b.shift(1) if kind == "cross_above" else a.shift(1) >= b.shift(1)
        now = above if kind == "cross_above" else a < b
        return (now & before).cast(pl.Float64)

    return build


def _if_else(compiler: _Compiler, node: ast.Call) -> pl.Expr:
    condition, a, b = _args(node, 3)
    return pl.when(compiler._truth(condition)).then(compiler.expr(a)).otherwise(compiler.expr(b))


_HELPERS: Final[dict[str, Callable[[_Compiler, ast.Call], pl.Expr]]] = {
    "highest": _rolling("highest"),
    "lowest": _rolling("lowest"),
    "ref": _ref,
    "abs": _unary(lambda e: e.abs()),
    "sqrt": _unary(lambda e: e.sqrt()),
    "log": _unary(lambda e: e.log()),
    "min": _pair("min"),
    "max": _pair("max"),
    "cross_above": _pair("cross_above"),
    "cross_below": _pair("cross_below"),
    "if_else": _if_else,
}


def compile_formula(text: str) -> pl.Expr:
    """The formula as one polars expression over a frame of bar columns; `FormulaError` with
    the column of the problem otherwise."""
    if not text.strip():
        raise FormulaError("the formula is empty", 1)
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    if "\n" in text or "\r" in text:
        raise FormulaError("a formula is one line", text.find("\n") + 1 or text.find("\r") + 1)
    try:
        # In parentheses, so that leading spaces are no "unexpected indent".
        tree = ast.parse(f"({text})", mode="eval")
    except SyntaxError as exc:
        column = min(max(int(exc.offset or 2) - 1, 1), len(text))
        raise FormulaError(f"syntax error: {exc.msg}", column) from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise FormulaError(f"the formula has more than {MAX_NODES} parts", 1)
    return _Compiler().expr(tree.body)


def evaluate(text: str, frame: pl.DataFrame) -> np.ndarray:
    """The formula's values over ``frame`` (bar columns), float64 with NaN where undefined."""
    values = frame.select(compile_formula(text).alias("value"))["value"]
    return values.cast(pl.Float64).fill_null(np.nan).to_numpy()
