"""A search space: a strategy's declared parameters narrowed by the user's ranges.

Each parameter the user mentions is given as
- a range `{"min": 5, "max": 50, "step": 5}` (ints and floats; `step` defaults to the spec's
  step, ints to 1; a float range with no step anywhere is continuous: fine for random and
  genetic searches, refused by a grid),
- an explicit list `[20, 30, 40]` (any kind; duplicates dropped, order kept),
- or a single value (fixed).
Parameters not mentioned stay at their default. Every value is checked against the spec
(`ParamError` naming the parameter). Points violating the strategy's constraints are never
produced: `grid()` skips them, `sample()` rejects and redraws them.

Range values are computed on demand from (start, step, count), never materialised, so a wide
range costs nothing until a grid walks it; the grid itself is capped (`max_grid`).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from shared.strategy import (
    ParamError,
    ParamKind,
    ParamSpec,
    ParamValue,
    StrategyDefinition,
    check_value,
)

ParamSet = dict[str, ParamValue]
# One coordinate of a point: an index into a discrete axis, or the value on a continuous one.
Gene = int | float
Genes = tuple[Gene, ...]

DEFAULT_MAX_GRID = 1_000_000
# Consecutive constraint rejections after which sampling gives up: the constraints then admit
# well under a thousandth of the space, which a uniform sampler cannot search.
MAX_REJECTIONS = 10_000
_RANGE_KEYS = frozenset({"min", "max", "step"})
# Float grid values are rounded so that 0.1 + 2 * 0.1 is the 0.3 a user typed.
_FLOAT_DIGITS = 12


@dataclass(frozen=True, slots=True)
class Axis:
    """One varying parameter: `count` discrete values (an explicit list, or `low + i * step`),
    or, when `count` is 0, the continuous interval [low, high]."""

    name: str
    kind: ParamKind
    count: int
    choices: tuple[ParamValue, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float = 0.0

    @property
    def discrete(self) -> bool:
        return self.count > 0

    def value(self, gene: Gene) -> ParamValue:
        """The parameter value of a gene (an index when discrete)."""
        if not self.discrete:
            return float(gene)
        index = int(gene)
        if self.choices:
            return self.choices[index]
        if self.kind == "int":
            return int(self.low) + index * int(self.step)
        return round(self.low + index * self.step, _FLOAT_DIGITS)

    def random_gene(self, rng: random.Random) -> Gene:
        if self.discrete:
            return rng.randrange(self.count)
        return rng.uniform(self.low, self.high)

    def values(self) -> list[ParamValue]:
        """Every value of a discrete axis (callers bound the count first)."""
        return [self.value(i) for i in range(self.count)]


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """Build with `SearchSpace.build(definition, ranges)`."""

    definition: StrategyDefinition
    axes: tuple[Axis, ...]
    fixed: Mapping[str, ParamValue]
    max_grid: int = DEFAULT_MAX_GRID

    @classmethod
    def build(
        cls,
        definition: StrategyDefinition,
        ranges: Mapping[str, object],
        *,
        max_grid: int = DEFAULT_MAX_GRID,
    ) -> SearchSpace:
        specs = {spec.name: spec for spec in definition.params}
        for name in ranges:
            if name not in specs:
                known = ", ".join(specs) or "none"
                raise ParamError(f"unknown parameter `{name}` (parameters: {known})", name)
        axes: list[Axis] = []
        fixed: dict[str, ParamValue] = {}
        # Declaration order, not the order of the user's mapping: the grid order and the gene
        # layout then depend on the strategy alone.
        for spec in definition.params:
            if spec.name not in ranges:
                fixed[spec.name] = spec.default
                continue
            parsed = _parse(spec, ranges[spec.name])
            if isinstance(parsed, Axis):
                axes.append(parsed)
            else:
                fixed[spec.name] = parsed
        return cls(
            definition=definition,
            axes=tuple(axes),
            fixed=fixed,
            max_grid=max_grid,
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The varying parameters, in declaration order."""
        return tuple(axis.name for axis in self.axes)

    def axis(self, name: str) -> Axis:
        for axis in self.axes:
            if axis.name == name:
                return axis
        varying = ", ".join(self.names) or "none"
        raise ParamError(f"`{name}` does not vary in this search (varying: {varying})", name)

    def size(self) -> int:
        """Points of the grid before constraints; refused when an axis is continuous."""
        continuous = [axis.name for axis in self.axes if not axis.discrete]
        if continuous:
            raise ParamError(
                f"`{continuous[0]}` is a float range without a step: give a step for a grid",
                continuous[0],
            )
        return math.prod(axis.count for axis in self.axes)

    def params_of(self, genes: Sequence[Gene]) -> ParamSet:
        values = dict(self.fixed)
        for axis, gene in zip(self.axes, genes, strict=True):
            values[axis.name] = axis.value(gene)
        # Declaration order, so two equal points print and serialise the same.
        return {spec.name: values[spec.name] for spec in self.definition.params}

    def admits(self, params: Mapping[str, ParamValue]) -> bool:
        return all(constraint.holds(params) for constraint in self.definition.constraints)

    def grid(self) -> Iterator[ParamSet]:
        """Every grid point satisfying the constraints, lazily, the last axis varying fastest."""
        size = self.size()
        if size > self.max_grid:
            raise ValueError(
                f"the grid has {size:,} points, more than the limit of {self.max_grid:,}: "
                "narrow the ranges, raise the steps or use a random or genetic search"
            )
        for genes in itertools.product(*(range(axis.count) for axis in self.axes)):
            params = self.params_of(genes)
            if self.admits(params):
                yield params

    def grid_count(self) -> int:
        """Grid points satisfying the constraints (walks the grid once)."""
        return sum(1 for _ in self.grid())

    def random_genes(self, rng: random.Random) -> Genes:
        """A uniformly drawn point satisfying the constraints (rejection sampling)."""
        for _ in range(MAX_REJECTIONS):
            genes = tuple(axis.random_gene(rng) for axis in self.axes)
            if self.admits(self.params_of(genes)):
                return genes
        rules = "; ".join(c.text for c in self.definition.constraints)
        raise ValueError(
            f"the constraints ({rules}) rejected {MAX_REJECTIONS:,} random points in a row: "
            "the ranges leave almost no valid point, narrow them to where the constraints hold"
        )

    def sample(self, n: int, rng: random.Random) -> list[ParamSet]:
        """`n` uniformly drawn points satisfying the constraints (repeats possible)."""
        if n < 0:
            raise ValueError(f"cannot sample {n} points")
        return [self.params_of(self.random_genes(rng)) for _ in range(n)]


def _parse(spec: ParamSpec, given: object) -> Axis | ParamValue:
    if isinstance(given, Mapping):
        return _range_axis(spec, given)
    if isinstance(given, list | tuple):
        return _list_axis(spec, given)
    return check_value(spec, given)


def _list_axis(spec: ParamSpec, given: Sequence[object]) -> Axis | ParamValue:
    values: list[ParamValue] = []
    for item in given:
        value = check_value(spec, item)
        if value not in values:
            values.append(value)
    if not values:
        raise ParamError(f"`{spec.name}`: the list of values is empty", spec.name)
    if len(values) == 1:
        return values[0]
    return Axis(name=spec.name, kind=spec.kind, count=len(values), choices=tuple(values))


def _range_axis(spec: ParamSpec, given: Mapping[object, object]) -> Axis | ParamValue:
    name = spec.name
    if spec.kind not in ("int", "float"):
        raise ParamError(f"`{name}` is a {spec.kind}: give a list of values, not a range", name)
    unknown = [str(key) for key in given if key not in _RANGE_KEYS]
    if unknown:
        raise ParamError(f"`{name}`: a range takes min, max and step, not {unknown[0]}", name)
    if "min" not in given or "max" not in given:
        raise ParamError(f"`{name}`: a range needs both min and max", name)
    low = float(check_value(spec, given["min"]))
    high = float(check_value(spec, given["max"]))
    if low > high:
        raise ParamError(f"`{name}`: range min {low:g} is above max {high:g}", name)
    step = _step(spec, given.get("step"))
    if step is None:
        if low < high:
            return Axis(name=name, kind=spec.kind, count=0, low=low, high=high)
        return low
    # The small tolerance keeps max on the grid when (max - min) / step is a whole number
    # that floating point computes as a hair below it.
    count = math.floor((high - low) / step + 1e-9) + 1
    if count == 1:
        return int(low) if spec.kind == "int" else low
    return Axis(name=name, kind=spec.kind, count=count, low=low, high=high, step=step)


def _step(spec: ParamSpec, given: object) -> float | None:
    """The range's step: given, else the spec's, else 1 for ints; None for a continuous float."""
    raw = given if given is not None else spec.step
    if raw is None:
        return 1.0 if spec.kind == "int" else None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ParamError(f"`{spec.name}`: step must be a number, got {raw!r}", spec.name)
    step = float(raw)
    if not (math.isfinite(step) and step > 0.0):
        raise ParamError(f"`{spec.name}`: step must be > 0, got {raw!r}", spec.name)
    if spec.kind == "int" and not step.is_integer():
        raise ParamError(f"`{spec.name}`: an integer range needs a whole step", spec.name)
    return step
