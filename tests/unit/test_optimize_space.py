"""Search spaces (ranges, lists, fixed values, constraints, grid cap, sampling) and objectives."""

from __future__ import annotations

import itertools
import random
import time

import numpy as np
import pytest

from shared.analytics import EquitySeries, Metrics, Settings, TradeTable, compute_metrics_arrays
from shared.optimize import (
    LOWER_IS_BETTER,
    OBJECTIVE_NAMES,
    ObjectiveError,
    SearchSpace,
    objective,
    objective_value,
)
from shared.strategy import (
    Constraint,
    ParamError,
    StrategyDefinition,
    bool_param,
    choice_param,
    float_param,
    get_strategy,
    int_param,
)

SMA = get_strategy("sma_cross")


def toy(*constraints: Constraint) -> StrategyDefinition:
    """A strategy with one parameter of each kind; the space needs only its declarations."""
    return StrategyDefinition(
        name="toy",
        description="",
        params=(
            int_param("x", 50, 0, 100),
            int_param("y", 50, 0, 100),
            float_param("w", 0.5, 0.0, 1.0),
            choice_param("mode", "a", ("a", "b", "c")),
            bool_param("flag", False),
        ),
        constraints=constraints,
        event_class=None,
        signals=None,
    )


def test_ranges_lists_and_fixed_values_with_defaults_for_the_rest() -> None:
    space = SearchSpace.build(
        SMA, {"fast": {"min": 5, "max": 50, "step": 5}, "slow": [20, 30, 40], "mode": "long_short"}
    )
    assert space.names == ("fast", "slow")
    assert space.axis("fast").values() == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert space.size() == 10 * 3
    assert space.fixed == {"mode": "long_short"}
    untouched = SearchSpace.build(SMA, {"fast": [3, 4]})
    assert untouched.fixed == {"slow": 30, "mode": "long_only"}


def test_values_are_converted_to_the_declared_kind() -> None:
    space = SearchSpace.build(toy(), {"x": ["7", 8.0], "flag": [True, "false"], "w": "0.25"})
    assert space.axis("x").values() == [7, 8]
    assert all(isinstance(v, int) for v in space.axis("x").values())
    assert space.axis("flag").values() == [True, False]
    assert space.fixed["w"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("ranges", "field"),
    [
        ({"nope": [1, 2]}, "nope"),
        ({"fast": {"min": 0, "max": 10}}, "fast"),  # below the declared minimum
        ({"fast": {"min": 1, "max": 20_000}}, "fast"),  # above the declared maximum
        ({"fast": {"min": 10, "max": 5}}, "fast"),
        ({"fast": {"min": 1, "max": 5, "step": 0}}, "fast"),
        ({"fast": {"min": 1, "max": 5, "step": 1.5}}, "fast"),
        ({"fast": {"min": 1}}, "fast"),
        ({"fast": {"min": 1, "max": 5, "stride": 2}}, "fast"),
        ({"slow": ["thirty"]}, "slow"),
        ({"slow": []}, "slow"),
        ({"mode": ["long_only", "sideways"]}, "mode"),
        ({"mode": {"min": 1, "max": 2}}, "mode"),
        ({"fast": 2.5}, "fast"),
    ],
)
def test_bad_ranges_are_refused_naming_the_parameter(ranges: dict[str, object], field: str) -> None:
    with pytest.raises(ParamError) as caught:
        SearchSpace.build(SMA, ranges)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_float_range_steps_reach_the_maximum_without_rounding_noise() -> None:
    space = SearchSpace.build(toy(), {"w": {"min": 0.1, "max": 0.5, "step": 0.1}})
    assert space.axis("w").values() == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_a_float_range_without_a_step_is_continuous_and_refused_by_a_grid() -> None:
    space = SearchSpace.build(toy(), {"w": {"min": 0.2, "max": 0.4}, "x": [1, 2]})
    with pytest.raises(ParamError, match=r"`w`.*step") as caught:
        space.size()
    assert caught.value.field == "w"
    with pytest.raises(ParamError):
        next(space.grid())
    drawn = space.sample(200, random.Random(1))
    assert all(0.2 <= p["w"] <= 0.4 for p in drawn)  # type: ignore[operator]
    assert len({p["w"] for p in drawn}) > 150  # not stuck on a few grid values


def test_a_declared_float_step_is_used_when_the_range_gives_none() -> None:
    rsi = get_strategy("rsi_reversion")
    space = SearchSpace.build(rsi, {"lower": {"min": 10, "max": 30}})
    assert space.axis("lower").values() == [10.0, 15.0, 20.0, 25.0, 30.0]


def test_grid_skips_points_breaking_the_constraints_and_is_complete_otherwise() -> None:
    def holds(p: object) -> bool:
        assert isinstance(p, dict)
        return int(p["x"]) + int(p["y"]) <= 60

    space = SearchSpace.build(
        toy(Constraint("x + y <= 60", holds)),
        {"x": {"min": 0, "max": 60, "step": 10}, "y": {"min": 5, "max": 65, "step": 15}},
    )
    expected = [
        (x, y) for x, y in itertools.product(range(0, 61, 10), range(5, 66, 15)) if x + y <= 60
    ]
    points = list(space.grid())
    assert [(p["x"], p["y"]) for p in points] == expected
    assert space.size() == 7 * 5
    assert space.grid_count() == len(expected) < space.size()
    # Every point is a complete parameter set, fixed values included.
    assert all(p["mode"] == "a" and p["flag"] is False and p["w"] == 0.5 for p in points)


def test_sma_grid_respects_fast_below_slow() -> None:
    space = SearchSpace.build(SMA, {"fast": {"min": 5, "max": 50, "step": 5}, "slow": [20, 30, 40]})
    points = list(space.grid())
    assert points
    assert all(int(p["fast"]) < int(p["slow"]) for p in points)
    assert len(points) == sum(1 for f in range(5, 51, 5) for s in (20, 30, 40) if f < s)
    assert all(SMA.resolve(p) == p for p in points)


def test_grid_size_is_capped_with_a_clear_message_and_the_grid_is_lazy() -> None:
    wide = SearchSpace.build(
        SMA, {"fast": {"min": 1, "max": 5000}, "slow": {"min": 2, "max": 5000}}
    )
    assert wide.size() == 5000 * 4999
    with pytest.raises(ValueError, match="limit of 1,000,000"):
        next(wide.grid())
    at_cap = SearchSpace.build(
        SMA, {"fast": {"min": 1, "max": 1000}, "slow": {"min": 2, "max": 1001}}
    )
    assert at_cap.size() == 1_000_000
    started = time.perf_counter()
    first = next(at_cap.grid())
    assert first["fast"] == 1
    assert time.perf_counter() - started < 0.5  # a lazy walk, not a materialised million
    small_cap = SearchSpace.build(SMA, {"fast": [1, 2, 3], "slow": [10, 20]}, max_grid=5)
    with pytest.raises(ValueError, match="6 points"):
        list(small_cap.grid())


def test_sample_draws_valid_points_in_range_and_is_reproducible() -> None:
    space = SearchSpace.build(SMA, {"fast": {"min": 1, "max": 100}, "slow": {"min": 2, "max": 60}})
    drawn = space.sample(500, random.Random(7))
    assert len(drawn) == 500
    assert all(1 <= int(p["fast"]) < int(p["slow"]) <= 60 for p in drawn)
    assert drawn == space.sample(500, random.Random(7))
    assert drawn != space.sample(500, random.Random(8))
    # Uniform over the valid points: the smallest fast values are the most common, since
    # they pair with the most slow values.
    low = sum(1 for p in drawn if int(p["fast"]) <= 20)
    high = sum(1 for p in drawn if 40 <= int(p["fast"]) < 60)
    assert low > high


def test_sample_gives_up_when_the_constraints_reject_nearly_everything() -> None:
    needle = toy(Constraint("w < 1e-9", lambda p: float(p["w"]) < 1e-9))
    space = SearchSpace.build(needle, {"w": {"min": 0.0, "max": 1.0}})
    with pytest.raises(ValueError, match=r"w < 1e-9.*rejected"):
        space.sample(1, random.Random(0))


# --- objectives -------------------------------------------------------------------------


def sample_metrics() -> Metrics:
    days = np.repeat(np.arange(19_000, 19_010, dtype=np.int32), 2)
    equity = 100.0 * np.cumprod(1.0 + np.random.default_rng(3).normal(0.0, 0.01, days.size))
    series = EquitySeries(
        timestamps=np.arange(days.size, dtype=np.int64) * 60_000_000_000,
        equity=equity,
        trading_days=days,
    )
    return compute_metrics_arrays(series, TradeTable.empty(), Settings(starting_cash=100.0))


def test_objective_names_cover_top_level_and_nested_scalars_only() -> None:
    for name in ("sharpe", "total_return", "max_drawdown_pct", "trades.win_rate", "trades.sqn"):
        assert name in OBJECTIVE_NAMES
    for name in ("daily", "drawdowns", "max_drawdown", "average_drawdown_duration", "trades"):
        assert name not in OBJECTIVE_NAMES
    assert "trades.average_holding_time" not in OBJECTIVE_NAMES


def test_objective_values_read_the_metrics_by_name() -> None:
    metrics = sample_metrics()
    assert objective_value(metrics, "total_return") == pytest.approx(metrics.total_return)
    assert objective_value(metrics, "max_drawdown_pct") == pytest.approx(metrics.max_drawdown_pct)
    assert metrics.max_drawdown_pct > 0.0
    assert objective_value(metrics, "trades.count") == 0.0
    assert objective_value(metrics, "trades.win_rate") is None  # undefined without trades
    assert metrics.sharpe is not None
    assert objective_value(metrics, "sharpe") == pytest.approx(metrics.sharpe)


def test_unknown_objective_names_are_refused_listing_the_allowed_ones() -> None:
    metrics = sample_metrics()
    with pytest.raises(ObjectiveError, match="sharp_ratio") as caught:
        objective_value(metrics, "sharp_ratio")
    assert "sharpe" in str(caught.value)
    with pytest.raises(ObjectiveError):
        objective("trades.nope")


def test_drawdown_like_objectives_are_minimised_by_default() -> None:
    assert objective("sharpe").maximize
    assert not objective("max_drawdown_pct").maximize
    assert objective("max_drawdown_pct", maximize=True).maximize
    assert "volatility" in LOWER_IS_BETTER
    assert objective("volatility").score(0.2) > objective("volatility").score(0.3)
