"""Strategy parameters: conversion from text, bounds, bool/choice, unknown names, constraints,
`parse_assignments`; the registry's lookups and suggestions; every built-in's defaults."""

from __future__ import annotations

import pytest

from shared.strategy import (
    Constraint,
    ParamError,
    Strategy,
    UnknownStrategyError,
    bool_param,
    check_value,
    choice_param,
    float_param,
    get_strategy,
    int_param,
    parse_assignments,
    resolve_params,
    strategies,
)

FAST = int_param("fast", 10, 1, 100)
RATIO = float_param("ratio", 0.5, 0.0, 2.0)
MODE = choice_param("mode", "long_only", ("long_only", "long_short"))
FLAG = bool_param("flag", True)

BUILT_INS = {"sma_cross", "donchian_breakout", "rsi_reversion", "dual_thrust"}


# Conversions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [("10", 10), (" 42 ", 42), (7, 7), (7.0, 7), ("1", 1), ("100", 100)],
)
def test_int_accepts_whole_numbers_and_their_text(given: object, expected: int) -> None:
    value = check_value(FAST, given)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize("given", ["10.5", "ten", "", 10.5, True, False, None, "1e1"])
def test_int_refuses_fractions_words_and_bools(given: object) -> None:
    with pytest.raises(ParamError, match="must be an integer") as caught:
        check_value(FAST, given)
    assert caught.value.field == "fast"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1e-3", 0.001), ("0.25", 0.25), (" 2 ", 2.0), (1, 1.0), (0.75, 0.75)],
)
def test_float_accepts_numbers_and_their_text(given: object, expected: float) -> None:
    value = check_value(RATIO, given)
    assert value == expected
    assert type(value) is float


@pytest.mark.parametrize("given", ["nan", "inf", "-inf", float("nan"), "half", True, None])
def test_float_refuses_non_finite_words_and_bools(given: object) -> None:
    with pytest.raises(ParamError, match="finite number") as caught:
        check_value(RATIO, given)
    assert caught.value.field == "ratio"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("true", True),
        ("Yes", True),
        (" ON ", True),
        ("1", True),
        ("false", False),
        ("no", False),
        ("off", False),
        ("0", False),
        (True, True),
        (False, False),
    ],
)
def test_bool_accepts_the_usual_words(given: object, expected: bool) -> None:
    assert check_value(FLAG, given) is expected


@pytest.mark.parametrize("given", ["maybe", "", 1, 0, 1.0, None])
def test_bool_refuses_anything_else(given: object) -> None:
    with pytest.raises(ParamError, match="true or false") as caught:
        check_value(FLAG, given)
    assert caught.value.field == "flag"


def test_yes_is_a_bool_only_for_a_bool_parameter() -> None:
    assert check_value(FLAG, "yes") is True
    with pytest.raises(ParamError):
        check_value(FAST, "yes")
    with pytest.raises(ParamError):
        check_value(RATIO, "yes")


def test_choice_accepts_only_the_listed_values_exactly() -> None:
    assert check_value(MODE, "long_short") == "long_short"
    for bad in ("LONG_SHORT", "long", " long_only", 1):
        with pytest.raises(ParamError, match="must be one of long_only, long_short") as caught:
            check_value(MODE, bad)
        assert caught.value.field == "mode"


# Bounds -----------------------------------------------------------------------------------


def test_bounds_are_inclusive() -> None:
    assert check_value(FAST, 1) == 1  # minimum
    assert check_value(FAST, "100") == 100  # maximum
    assert check_value(RATIO, 0.0) == 0.0
    assert check_value(RATIO, "2") == 2.0


@pytest.mark.parametrize(
    ("spec", "given", "message"),
    [
        (FAST, 0, "must be >= 1"),
        (FAST, "101", "must be <= 100"),
        (RATIO, -0.001, "must be >= 0"),
        (RATIO, "2.5", "must be <= 2"),
    ],
)
def test_out_of_bounds_is_refused_naming_the_parameter(
    spec: object, given: object, message: str
) -> None:
    with pytest.raises(ParamError, match=message) as caught:
        check_value(spec, given)  # type: ignore[arg-type]
    assert caught.value.field == spec.name  # type: ignore[attr-defined]


def test_int_param_default_step_is_one_and_float_has_none() -> None:
    assert FAST.step == 1
    assert RATIO.step is None
    assert (FAST.minimum, FAST.maximum) == (1, 100)


# resolve_params ---------------------------------------------------------------------------


def test_resolve_overlays_given_values_on_defaults() -> None:
    specs = (FAST, RATIO, MODE, FLAG)
    assert resolve_params(specs, {}) == {
        "fast": 10,
        "ratio": 0.5,
        "mode": "long_only",
        "flag": True,
    }
    assert resolve_params(specs, {"fast": "20", "flag": "off"}) == {
        "fast": 20,
        "ratio": 0.5,
        "mode": "long_only",
        "flag": False,
    }


def test_unknown_parameter_is_refused_naming_it_and_listing_the_known() -> None:
    with pytest.raises(ParamError, match=r"unknown parameter `fats`.*fast, ratio") as caught:
        resolve_params((FAST, RATIO), {"fats": 3})
    assert caught.value.field == "fats"


def test_unknown_parameter_of_a_strategy_without_parameters() -> None:
    with pytest.raises(ParamError, match=r"parameters: none") as caught:
        resolve_params((), {"x": 1})
    assert caught.value.field == "x"


def test_a_bad_value_is_refused_before_the_constraints() -> None:
    rule = Constraint("never", lambda _p: False)
    with pytest.raises(ParamError) as caught:
        resolve_params((FAST,), {"fast": "x"}, (rule,))
    assert caught.value.field == "fast"


def test_constraint_refusal_names_params_and_quotes_the_rule() -> None:
    rule = Constraint("fast < 5", lambda p: int(p["fast"]) < 5)
    assert resolve_params((FAST,), {"fast": 4}, (rule,)) == {"fast": 4}
    with pytest.raises(ParamError, match=r"must satisfy fast < 5 \(fast=5\)") as caught:
        resolve_params((FAST,), {"fast": 5}, (rule,))
    assert caught.value.field == "params"


@pytest.mark.parametrize(("fast", "slow"), [(30, 10), (20, 20)])
def test_sma_cross_refuses_fast_not_below_slow(fast: int, slow: int) -> None:
    definition = get_strategy("sma_cross")
    with pytest.raises(ParamError, match="fast < slow") as caught:
        definition.resolve({"fast": fast, "slow": slow})
    assert caught.value.field == "params"
    # The event-driven class checks the same rule when built.
    assert definition.event_class is not None
    with pytest.raises(ParamError, match="fast < slow"):
        definition.event_class({"fast": fast, "slow": slow})


def test_sma_cross_accepts_text_values_that_satisfy_the_constraint() -> None:
    values = get_strategy("sma_cross").resolve({"fast": "5", "slow": "20", "mode": "long_short"})
    assert values == {"fast": 5, "slow": 20, "mode": "long_short"}


def test_sma_cross_refuses_values_outside_its_bounds() -> None:
    with pytest.raises(ParamError) as caught:
        get_strategy("sma_cross").resolve({"slow": 1})  # slow's minimum is 2
    assert caught.value.field == "slow"


def test_other_built_in_constraints() -> None:
    with pytest.raises(ParamError, match="exit_period <= period") as caught:
        get_strategy("donchian_breakout").resolve({"period": 5, "exit_period": 6})
    assert caught.value.field == "params"
    assert (
        get_strategy("donchian_breakout").resolve({"period": 5, "exit_period": 5})["exit_period"]
        == 5
    )
    with pytest.raises(ParamError, match="lower < exit_level < upper"):
        get_strategy("rsi_reversion").resolve({"lower": 60})  # exit_level 50 < lower 60


def test_strategy_subclass_checks_its_parameters_when_built() -> None:
    class Probe(Strategy):
        name = "probe"
        params = (FAST, FLAG)

    assert Probe({"fast": "3"}).p == {"fast": 3, "flag": True}
    assert Probe().p == {"fast": 10, "flag": True}
    with pytest.raises(ParamError) as caught:
        Probe({"flag": "sometimes"})
    assert caught.value.field == "flag"


# parse_assignments ------------------------------------------------------------------------


def test_parse_assignments_splits_and_strips() -> None:
    assert parse_assignments(["fast=10", " slow = 30 ", "mode=long_short"]) == {
        "fast": "10",
        "slow": "30",
        "mode": "long_short",
    }
    # Only the first '=' separates; the value may be empty (checked later by its kind).
    assert parse_assignments(["expr=a=b", "x="]) == {"expr": "a=b", "x": ""}
    assert parse_assignments([]) == {}


def test_parse_assignments_later_pairs_win() -> None:
    assert parse_assignments(["fast=10", "fast=12"]) == {"fast": "12"}


@pytest.mark.parametrize("pair", ["fast", "=10", "  =10", ""])
def test_parse_assignments_refuses_a_pair_without_name_or_sign(pair: str) -> None:
    with pytest.raises(ParamError, match="name=value") as caught:
        parse_assignments(["fast=1", pair])
    assert caught.value.field == "params"


def test_parsed_text_resolves_through_the_declarations() -> None:
    given = parse_assignments(["fast=5", "slow=8"])
    assert get_strategy("sma_cross").resolve(given)["slow"] == 8
    with pytest.raises(ParamError) as caught:
        get_strategy("sma_cross").resolve(parse_assignments(["fast="]))
    assert caught.value.field == "fast"


# Registry ---------------------------------------------------------------------------------


def test_strategies_lists_the_built_ins() -> None:
    names = [definition.name for definition in strategies()]
    # The four in both forms, and `formula`, written as formulas (vectorized only).
    assert set(names) == BUILT_INS | {"formula"}
    assert len(names) == len(BUILT_INS) + 1


@pytest.mark.parametrize("name", sorted(BUILT_INS))
def test_get_strategy_finds_each_built_in(name: str) -> None:
    definition = get_strategy(name)
    assert definition.name == name
    assert definition.event_class is not None
    assert definition.event_class.name == name
    assert definition.signals is not None
    assert definition.params == definition.event_class.params


def test_unknown_strategy_suggests_close_names() -> None:
    with pytest.raises(UnknownStrategyError) as caught:
        get_strategy("sma_crossing")
    error = caught.value
    assert isinstance(error, LookupError)
    assert error.name == "sma_crossing"
    assert error.suggestions[0] == "sma_cross"
    assert "did you mean sma_cross" in str(error)
    listed = "strategies: donchian_breakout, dual_thrust, formula, rsi_reversion, sma_cross"
    assert listed in str(error)


def test_unknown_strategy_far_from_any_name_has_no_suggestion() -> None:
    with pytest.raises(UnknownStrategyError) as caught:
        get_strategy("zzzzzz")
    assert caught.value.suggestions == []
    assert "did you mean" not in str(caught.value)


def test_lookup_is_exact_and_a_typo_gets_one_suggestion() -> None:
    with pytest.raises(UnknownStrategyError):
        get_strategy("SMA_CROSS")
    with pytest.raises(UnknownStrategyError) as caught:
        get_strategy("dual_trust")
    assert caught.value.suggestions == ["dual_thrust"]


# Every built-in's defaults ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILT_INS))
def test_every_built_in_default_resolves(name: str) -> None:
    definition = get_strategy(name)
    values = definition.resolve({})
    assert values == {spec.name: spec.default for spec in definition.params}
    for spec in definition.params:
        # Each default is a valid value of its own declaration (type and bounds).
        assert check_value(spec, spec.default) == spec.default
        if spec.kind == "choice":
            assert spec.default in spec.choices
    for constraint in definition.constraints:
        assert constraint.holds(values), constraint.text
    assert definition.warmup(values) >= 0
    assert definition.event_class is not None
    assert definition.event_class().p == values


def test_built_in_warmups_follow_their_parameters() -> None:
    # sma_cross needs `slow` bars; donchian and rsi one more than their period.
    assert get_strategy("sma_cross").warmup({"fast": 3, "slow": 7, "mode": "long_only"}) == 7
    assert get_strategy("donchian_breakout").warmup({"period": 20, "exit_period": 10}) == 21
    assert get_strategy("rsi_reversion").warmup({"period": 14}) == 15
    assert get_strategy("dual_thrust").warmup({}) == 0
