"""Strategy parameters: declared once with type, default and bounds, checked everywhere.

The declaration drives request validation (API and CLI), the form a front end draws, and the
search space of an optimisation. Values arriving as text (the CLI's `--param fast=10`, a query
string) are converted by the declared kind, so "10" is accepted for an int and "1e-3" for a
float, but "10.5" is not an int and "yes" is a bool only for a `bool` parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Literal

import msgspec

ParamValue = int | float | str | bool
ParamKind = Literal["int", "float", "choice", "bool", "text"]
Params = Mapping[str, ParamValue]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class ParamError(ValueError):
    """A parameter is unknown, of the wrong type or out of bounds (`field` names it)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class ParamSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One declared parameter. `minimum`/`maximum` are inclusive; `step` is the grid spacing an
    optimisation uses by default (ints: 1)."""

    name: str
    kind: ParamKind
    default: ParamValue
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""


class Constraint(msgspec.Struct, frozen=True):
    """A rule between parameters (`fast < slow`); `text` is what a refusal quotes."""

    text: str
    holds: Callable[[Mapping[str, ParamValue]], bool]


def int_param(
    name: str, default: int, minimum: int, maximum: int, description: str = "", *, step: int = 1
) -> ParamSpec:
    return ParamSpec(
        name=name,
        kind="int",
        default=default,
        minimum=minimum,
        maximum=maximum,
        step=step,
        description=description,
    )


def float_param(
    name: str,
    default: float,
    minimum: float,
    maximum: float,
    description: str = "",
    *,
    step: float | None = None,
) -> ParamSpec:
    return ParamSpec(
        name=name,
        kind="float",
        default=default,
        minimum=minimum,
        maximum=maximum,
        step=step,
        description=description,
    )


def choice_param(
    name: str, default: str, choices: tuple[str, ...], description: str = ""
) -> ParamSpec:
    return ParamSpec(
        name=name, kind="choice", default=default, choices=choices, description=description
    )


def bool_param(name: str, default: bool, description: str = "") -> ParamSpec:
    return ParamSpec(name=name, kind="bool", default=default, description=description)


def text_param(
    name: str, default: str, description: str = "", *, max_length: int = 2_000
) -> ParamSpec:
    """Free text (a formula): `maximum` is its length limit."""
    return ParamSpec(
        name=name, kind="text", default=default, maximum=max_length, description=description
    )


def _as_int(spec: ParamSpec, value: object) -> int:
    if isinstance(value, bool):
        raise ParamError(f"`{spec.name}` must be an integer, got {value!r}", spec.name)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ParamError(f"`{spec.name}` must be an integer, got {value!r}", spec.name)


def _as_float(spec: ParamSpec, value: object) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ParamError(f"`{spec.name}` must be a finite number, got {value!r}", spec.name)
    return number


def _as_bool(spec: ParamSpec, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ParamError(f"`{spec.name}` must be true or false, got {value!r}", spec.name)


def _as_text(spec: ParamSpec, value: object) -> str:
    if not isinstance(value, str):
        raise ParamError(f"`{spec.name}` must be text, got {value!r}", spec.name)
    limit = int(spec.maximum) if spec.maximum is not None else None
    if limit is not None and len(value) > limit:
        raise ParamError(f"`{spec.name}` is longer than {limit} characters", spec.name)
    return value


def _as_choice(spec: ParamSpec, value: object) -> str:
    if isinstance(value, str) and value in spec.choices:
        return value
    allowed = ", ".join(spec.choices)
    raise ParamError(f"`{spec.name}` must be one of {allowed}, got {value!r}", spec.name)


def check_value(spec: ParamSpec, value: object) -> ParamValue:
    """`value` converted to the spec's kind and checked against its bounds."""
    checked: ParamValue
    if spec.kind == "int":
        checked = _as_int(spec, value)
    elif spec.kind == "float":
        checked = _as_float(spec, value)
    elif spec.kind == "bool":
        return _as_bool(spec, value)
    elif spec.kind == "text":
        return _as_text(spec, value)
    else:
        return _as_choice(spec, value)
    if spec.minimum is not None and checked < spec.minimum:
        raise ParamError(f"`{spec.name}` must be >= {spec.minimum:g}, got {checked}", spec.name)
    if spec.maximum is not None and checked > spec.maximum:
        raise ParamError(f"`{spec.name}` must be <= {spec.maximum:g}, got {checked}", spec.name)
    return checked


def resolve_params(
    specs: tuple[ParamSpec, ...],
    given: Mapping[str, object],
    constraints: tuple[Constraint, ...] = (),
) -> dict[str, ParamValue]:
    """Defaults overlaid with `given`, every value checked; unknown names are refused."""
    by_name = {spec.name: spec for spec in specs}
    for name in given:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise ParamError(f"unknown parameter `{name}` (parameters: {known})", name)
    values = {
        spec.name: check_value(spec, given[spec.name]) if spec.name in given else spec.default
        for spec in specs
    }
    for constraint in constraints:
        if not constraint.holds(values):
            shown = ", ".join(f"{k}={v}" for k, v in values.items())
            raise ParamError(f"parameters must satisfy {constraint.text} ({shown})", "params")
    return values


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`["fast=10", "slow=30"]` -> `{"fast": "10", "slow": "30"}` (values checked later)."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParamError(f"a parameter is written name=value, got {pair!r}", "params")
        parsed[name.strip()] = value.strip()
    return parsed
