"""The bodies of `POST /api/v1/backtests` and `POST /api/v1/optimizations`."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from functions.backtest_settings import BacktestSettings, StoredBars

ParamValue = int | float | str | bool


class BacktestRequest(BacktestSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings of one backtest and the stored bars it runs on."""

    data: StoredBars

    def settings(self) -> BacktestSettings:
        fields = msgspec.structs.asdict(self)
        fields.pop("data")
        return BacktestSettings(**fields)


class ParamRange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    min: float
    max: float
    step: float | None = None


class OptimizationRequest(BacktestRequest, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A search over parameter ranges; `params` fixes the parameters not searched."""

    ranges: Annotated[
        dict[str, ParamRange | list[ParamValue] | ParamValue], msgspec.Meta(min_length=1)
    ]
    method: Literal["grid", "random", "genetic", "walk_forward"] = "grid"
    objective: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "sharpe"
    maximize: bool | None = None
    trials: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 200  # random
    population: Annotated[int, msgspec.Meta(ge=4, le=10_000)] = 30  # genetic
    generations: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 10  # genetic
    seed: int = 0
    top: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 20
    heatmap: Annotated[list[str], msgspec.Meta(min_length=2, max_length=2)] | None = None
    chunk_size: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 25
    # walk_forward: windows in trading days; each training window is searched with `search`.
    train_days: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 60
    test_days: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 20
    anchored: bool = False
    step_days: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    search: Literal["grid", "random"] = "grid"

    def settings(self) -> BacktestSettings:
        fields = msgspec.structs.asdict(self)
        for name in (
            "data", "ranges", "method", "objective", "maximize", "trials", "population",
            "generations", "seed", "top", "heatmap", "chunk_size", "train_days", "test_days",
            "anchored", "step_days", "search",
        ):  # fmt: skip
            fields.pop(name)
        return BacktestSettings(**fields)

    def range_spec(self) -> dict[str, object]:
        """`ranges` as `shared.optimize.SearchSpace.build` takes them."""
        return {
            name: _range(value) if isinstance(value, ParamRange) else value
            for name, value in self.ranges.items()
        }


def _range(value: ParamRange) -> dict[str, float]:
    fields = {"min": value.min, "max": value.max}
    if value.step is not None:
        fields["step"] = value.step
    return fields
