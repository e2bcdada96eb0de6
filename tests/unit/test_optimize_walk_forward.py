"""Walk-forward windows on trading-day boundaries, and a walk-forward run on real bars."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from shared.backtest import BacktestConfig, BarSeries, run_vectorized
from shared.optimize import (
    SearchSpace,
    WalkForwardWindow,
    choice_of,
    evaluate_chunk,
    grid_search,
    objective_value,
    stitch_windows,
    walk_forward,
    windows,
)
from shared.strategy import get_strategy
from tests.support.market_data import real_bars

RB2002 = "cn_futures/bar_1m/SHFE_rb2002_1m.csv"


def uneven_days(day_count: int, seed: int = 0) -> npt.NDArray[np.int32]:
    """Bars labelled with trading days of uneven length, with calendar gaps between days."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, size=day_count)
    labels = 18_000 + np.cumsum(rng.integers(1, 4, size=day_count))
    return np.repeat(labels, lengths).astype(np.int32)


def days_in(days: npt.NDArray[np.int32], part: slice) -> list[int]:
    return sorted(set(days[part].tolist()))


def starts_a_day(days: npt.NDArray[np.int32], bar: int) -> bool:
    return bar in (0, days.size) or bool(days[bar - 1] != days[bar])


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize(("train", "test", "step"), [(10, 5, None), (7, 3, 4), (1, 1, None)])
def test_windows_fall_on_day_boundaries_and_have_the_asked_lengths(
    anchored: bool, train: int, test: int, step: int | None
) -> None:
    days = uneven_days(40)
    day_labels = sorted(set(days.tolist()))
    plan = windows(days, train, test, anchored, step)
    stride = step or test
    assert len(plan) == (len(day_labels) - train - test) // stride + 1
    for k, window in enumerate(plan):
        for bar in (window.train.start, window.train.stop, window.test.start, window.test.stop):
            assert starts_a_day(days, bar)
        assert window.train.stop == window.test.start
        test_days = days_in(days, window.test)
        assert test_days == day_labels[train + k * stride : train + k * stride + test]
        train_days = days_in(days, window.train)
        if anchored:
            assert window.train.start == 0
            assert train_days == day_labels[: train + k * stride]
        else:
            assert train_days == day_labels[k * stride : k * stride + train]
    # Out of sample: consecutive and disjoint; gaps only when the step exceeds the test length.
    for before, after in itertools.pairwise(plan):
        if stride == test:
            assert before.test.stop == after.test.start
        else:
            assert before.test.stop < after.test.start
    # Trailing days too few for a whole test window are left out, never a partial window.
    assert len(day_labels) - len(days_in(days, slice(0, plan[-1].test.stop))) < stride


def test_anchored_and_rolling_share_test_windows_but_not_training_starts() -> None:
    days = uneven_days(30, seed=1)
    rolling = windows(days, 10, 5, anchored=False)
    anchored = windows(days, 10, 5, anchored=True)
    assert [w.test for w in rolling] == [w.test for w in anchored]
    assert rolling[0] == anchored[0]
    assert all(w.train.start == 0 for w in anchored)
    assert all(
        a.train.start < r.train.start for a, r in zip(anchored[1:], rolling[1:], strict=True)
    )
    lengths = [w.train.stop - w.train.start for w in anchored]
    assert lengths == sorted(lengths)
    assert len(set(lengths)) == len(lengths)


def test_windows_refuse_what_cannot_be_stitched_or_filled() -> None:
    days = uneven_days(20)
    with pytest.raises(ValueError, match="must not overlap"):
        windows(days, 5, 4, step_days=2)
    with pytest.raises(ValueError, match="too few"):
        windows(days, 15, 6)
    with pytest.raises(ValueError, match=">= 1"):
        windows(days, 0, 5)
    with pytest.raises(ValueError, match="non-decreasing"):
        windows(days[::-1].copy(), 5, 5)


def test_a_single_day_bar_run_is_never_split() -> None:
    # Every bar on one trading day except the last: one day has all the bars.
    days = np.array([1, 1, 1, 1, 1, 1, 2, 3], dtype=np.int32)
    plan = windows(days, 1, 1)
    assert plan[0] == WalkForwardWindow(train=slice(0, 6), test=slice(6, 7))
    assert plan[1] == WalkForwardWindow(train=slice(6, 7), test=slice(7, 8))


# --- real data -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rb2002(shared_data: Path) -> BarSeries:
    return BarSeries.from_frame(real_bars(shared_data, RB2002), "rb2002")


@pytest.mark.parametrize("anchored", [False, True])
def test_walk_forward_on_real_bars_stitches_the_test_windows(
    rb2002: BarSeries, anchored: bool
) -> None:
    sma = get_strategy("sma_cross")
    config = BacktestConfig(cash=100_000.0)
    space = SearchSpace.build(sma, {"fast": [5, 10, 20], "slow": [30, 60], "mode": "long_short"})
    reports: list[tuple[int, int]] = []
    result = walk_forward(
        rb2002,
        sma,
        space,
        config,
        "total_return",
        train_days=8,
        test_days=6,
        anchored=anchored,
        progress=lambda done, total: reports.append((done, total)),
    )
    plan = windows(rb2002.trading_days, 8, 6, anchored)
    assert len(plan) >= 4
    assert [w.window for w in result.windows] == plan
    assert reports[-1] == (len(plan), len(plan))
    assert not result.cancelled

    # One stitched point per out-of-sample bar, on the bars' own times and days.
    tests = [w.test for w in plan]
    assert result.equity.size == sum(t.stop - t.start for t in tests)
    assert np.array_equal(result.ts_ns, np.concatenate([rb2002.ts_ns[t] for t in tests]))
    assert np.array_equal(
        result.trading_days, np.concatenate([rb2002.trading_days[t] for t in tests])
    )

    # Chained: the curve starts from the cash and each window starts where the last ended,
    # moving by the window's own returns.
    assert math.isclose(result.equity[0], config.cash, rel_tol=1e-12)
    offset = 0
    level = config.cash
    for window in result.windows:
        assert window.best_params is not None
        alone = run_vectorized(
            sma, window.best_params, rb2002.slice(*_bounds(window.window.test)), config
        )
        size = alone.equity.size
        part = result.equity[offset : offset + size]
        np.testing.assert_allclose(part, alone.equity * (level / config.cash), rtol=1e-12)
        assert window.out_of_sample == objective_value(alone.metrics, "total_return")
        level = float(part[-1])
        offset += size

    # In sample: the window's best is the best of the grid on its training bars.
    first = result.windows[0]
    train = rb2002.slice(*_bounds(first.window.train))
    in_sample = {
        tuple(p.items()): run_vectorized(sma, p, train, config).metrics.total_return
        for p in space.grid()
    }
    assert first.in_sample == max(in_sample.values())
    assert first.evaluated == len(in_sample) == 6

    metrics = result.metrics
    assert metrics is not None
    assert math.isclose(metrics.end_equity, float(result.equity[-1]), rel_tol=1e-12)
    assert math.isclose(metrics.total_return, float(result.equity[-1]) / config.cash - 1.0)
    assert metrics.trading_day_count == len(set(result.trading_days.tolist()))
    assert metrics.trades.count > 0


def _bounds(part: slice) -> tuple[int, int]:
    return int(part.start), int(part.stop)


def test_walk_forward_with_random_search_and_cancellation(rb2002: BarSeries) -> None:
    sma = get_strategy("sma_cross")
    config = BacktestConfig()
    space = SearchSpace.build(sma, {"fast": {"min": 3, "max": 30}, "slow": {"min": 20, "max": 90}})
    result = walk_forward(
        rb2002, sma, space, config, "sharpe", train_days=10, test_days=10, search="random",
        trials=12, seed=5, batch_size=4,
    )  # fmt: skip
    assert len(result.windows) == len(windows(rb2002.trading_days, 10, 10))
    for window in result.windows:
        assert window.evaluated == 12
        if window.best_params is not None:
            assert int(window.best_params["fast"]) < int(window.best_params["slow"])
    calls = 0

    def cancelled() -> bool:
        nonlocal calls
        calls += 1
        return calls > 5  # the first window takes 3 batches (+1 check), the second stops early

    stopped = walk_forward(
        rb2002, sma, space, config, "sharpe", train_days=10, test_days=10, search="random",
        trials=12, seed=5, batch_size=4, cancelled=cancelled,
    )  # fmt: skip
    assert stopped.cancelled
    assert len(stopped.windows) == 1
    assert stopped.windows[0] == result.windows[0]
    assert (
        stopped.equity.size
        == stopped.windows[0].window.test.stop - stopped.windows[0].window.test.start
    )


def test_walk_forward_matches_a_grid_search_of_its_own() -> None:
    """The in-sample search is the same grid search a caller would run on the window."""
    sma = get_strategy("sma_cross")
    t = np.arange(4_000)
    close = 100.0 + 3.0 * np.sin(t / 25.0) + 2.0 * np.sin(t / 170.0)
    series = BarSeries(
        symbol="wave",
        ts_ns=(t.astype(np.int64) + 1_600_000_000) * 60_000_000_000,
        trading_days=(18_000 + t // 200).astype(np.int32),
        open=close,
        high=close + 0.2,
        low=close - 0.2,
        close=close,
        volume=np.ones(t.size),
        open_interest=np.zeros(t.size),
    )
    config = BacktestConfig()
    space = SearchSpace.build(sma, {"fast": [3, 6, 12], "slow": [24, 48]})
    result = walk_forward(series, sma, space, config, "max_drawdown_pct", train_days=6, test_days=4)
    for window in result.windows:
        train = series.slice(*_bounds(window.window.train))
        own = grid_search(
            space,
            lambda batch, train=train: [
                objective_value(run_vectorized(sma, p, train, config).metrics, "max_drawdown_pct")
                for p in batch
            ],
            maximize=False,  # a drawdown objective is minimised
        )
        assert window.best_params == own.best_params
        assert window.in_sample == own.best_value


def test_windows_unpack_as_train_and_test_slices() -> None:
    days = uneven_days(12, seed=2)
    for train, test in windows(days, 4, 4):
        assert isinstance(train, slice)
        assert isinstance(test, slice)
        assert train.stop == test.start


def test_searches_run_window_by_window_stitch_to_the_same_result(rb2002: BarSeries) -> None:
    """The plan, each window's search on its own training bars, then `stitch_windows`: what a
    gateway fanning the windows out does, equal to `walk_forward` in one process."""
    sma = get_strategy("sma_cross")
    config = BacktestConfig()
    space = SearchSpace.build(sma, {"fast": [3, 8, 13], "slow": [30, 60], "mode": ["long_short"]})
    whole = walk_forward(rb2002, sma, space, config, "sortino", train_days=8, test_days=4)
    plan = windows(rb2002.trading_days, 8, 4)
    choices = []
    for train, _ in plan:
        bars = rb2002.slice(*_bounds(train))
        found = grid_search(
            space, lambda batch, bars=bars: evaluate_chunk(sma, batch, bars, config, "sortino")
        )
        choices.append(choice_of(found))
    stitched = stitch_windows(rb2002, sma, config, "sortino", plan=plan, choices=choices)
    assert len(stitched.windows) == len(whole.windows) >= 4
    assert stitched.windows == whole.windows
    np.testing.assert_array_equal(stitched.equity, whole.equity)
    assert stitched.metrics == whole.metrics
    with pytest.raises(ValueError, match="3 choices for"):
        stitch_windows(rb2002, sma, config, "sortino", plan=plan, choices=choices[:3])
