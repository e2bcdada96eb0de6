"""A named strategy: its parameters, its event-driven class and, when it has one, its
vectorized form. Both forms of a built-in take the same decisions on the same bars (tested),
so a research result holds when the strategy runs event by event, and live."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.strategy._event import Strategy
from shared.strategy._params import Constraint, ParamSpec, ParamValue, resolve_params
from shared.strategy._signals import SignalData, Signals

SignalFunction = Callable[[SignalData, Mapping[str, ParamValue]], Signals]


@dataclass(frozen=True, slots=True)
class StrategyDefinition:
    name: str
    description: str
    params: tuple[ParamSpec, ...]
    constraints: tuple[Constraint, ...]
    event_class: type[Strategy] | None
    signals: SignalFunction | None
    # Bars of warm-up before the first decision can be taken, given the parameters.
    warmup: Callable[[Mapping[str, ParamValue]], int] = lambda _params: 0
    # Deeper checks of the resolved values (a formula's syntax), raising `ParamError`.
    check: Callable[[Mapping[str, ParamValue]], None] = lambda _params: None

    def resolve(self, given: Mapping[str, object]) -> dict[str, ParamValue]:
        values = resolve_params(self.params, given, self.constraints)
        self.check(values)
        return values

    @classmethod
    def from_class(
        cls,
        event_class: type[Strategy],
        signals: SignalFunction | None = None,
        warmup: Callable[[Mapping[str, ParamValue]], int] | None = None,
    ) -> StrategyDefinition:
        return cls(
            name=event_class.name,
            description=event_class.description,
            params=event_class.params,
            constraints=event_class.constraints,
            event_class=event_class,
            signals=signals,
            warmup=warmup or (lambda _params: 0),
        )
