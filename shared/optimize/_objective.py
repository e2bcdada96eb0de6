"""What an optimisation ranks by: any scalar field of `shared.analytics.Metrics`, by name.

Nested fields take dotted names (`trades.win_rate`, `trades.sqn`). The names are read from the
`Metrics` declaration itself, so a metric added there is an objective here with no change.
Non-numeric fields (durations, drawdown episodes, daily results) are not objectives.

Direction: higher is better, except for the names in `LOWER_IS_BETTER` (drawdown depth, amount
and length, volatility, commission, losing trades), where lower is better. `objective(name,
maximize=...)` overrides either way.

A value that is undefined (`None`, e.g. a Sharpe ratio without variance) or not finite means
the run has no objective value: searches rank it below every run that has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from shared.analytics import Metrics

_NUMBERS = (msgspec.inspect.FloatType, msgspec.inspect.IntType)


def _scalar_names(struct: type[msgspec.Struct], prefix: str = "") -> list[str]:
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    names: list[str] = []
    for item in info.fields:
        kind = item.type
        if isinstance(kind, msgspec.inspect.StructType):
            names.extend(_scalar_names(kind.cls, f"{prefix}{item.name}."))
            continue
        options = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
        numeric = [t for t in options if isinstance(t, _NUMBERS)]
        rest = [t for t in options if not isinstance(t, (*_NUMBERS, msgspec.inspect.NoneType))]
        if numeric and not rest:
            names.append(prefix + item.name)
    return names


OBJECTIVE_NAMES: tuple[str, ...] = tuple(_scalar_names(Metrics))

LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        "max_drawdown_pct",
        "max_drawdown_amount",
        "average_drawdown_pct",
        "average_drawdown_amount",
        "average_drawdown_days",
        "drawdown_count",
        "volatility",
        "total_commission",
        "trades.losses",
        "trades.gross_loss",
        "trades.total_commission",
    }
)
# A renamed field must not silently turn a minimised objective into a maximised one.
assert set(OBJECTIVE_NAMES) >= LOWER_IS_BETTER, LOWER_IS_BETTER - set(OBJECTIVE_NAMES)


class ObjectiveError(ValueError):
    """An unknown objective name (the message lists the allowed ones)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown objective {name!r}; objectives: {', '.join(OBJECTIVE_NAMES)}")
        self.field = "objective"
        self.name = name


def _require_known(name: str) -> None:
    if name not in OBJECTIVE_NAMES:
        raise ObjectiveError(name)


def objective_value(metrics: Metrics, name: str) -> float | None:
    """The metric `name` (dotted for nested fields) as a float; `None` when undefined."""
    _require_known(name)
    value: object = metrics
    for part in name.split("."):
        value = getattr(value, part)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def default_maximize(name: str) -> bool:
    _require_known(name)
    return name not in LOWER_IS_BETTER


@dataclass(frozen=True, slots=True)
class Objective:
    """A metric name and its direction; `score` turns a value into higher-is-better."""

    name: str
    maximize: bool

    def value(self, metrics: Metrics) -> float | None:
        return objective_value(metrics, self.name)

    def score(self, value: float) -> float:
        return value if self.maximize else -value


def objective(name: str, maximize: bool | None = None) -> Objective:
    """The objective `name`, maximised unless lower is better for it (or `maximize` says)."""
    return Objective(name, default_maximize(name) if maximize is None else maximize)


def as_objective(given: str | Objective) -> Objective:
    return given if isinstance(given, Objective) else objective(given)


# Small enough to keep with every stored evaluation, enough to compare runs at a glance.
HEADLINE_METRICS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "sharpe",
    "max_drawdown_pct",
    "trades.count",
    "trades.win_rate",
    "trades.profit_factor",
    "exposure",
)


def headline(metrics: Metrics) -> dict[str, float | None]:
    return {name: objective_value(metrics, name) for name in HEADLINE_METRICS}
