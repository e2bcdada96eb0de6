"""`simulate_one` keeps a single series' book in scalars (`_fill_one`), `simulate` in arrays
(`_fill`): run on one series, the two must write the same bits everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from shared.backtest import InstrumentTerms
from shared.backtest import _kernel as kernel
from shared.backtest._vectorized import _terms_matrix

BARS = 4_000


def _market(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 3_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, BARS)))
    open_ = np.concatenate(([close[0]], close[:-1])) * (1.0 + rng.normal(0.0, 0.001, BARS))
    days = (20_000 + np.arange(BARS) // 50).astype(np.int32)
    # Dense actions of every kind, so reversals, exits while flat and same-day closes all occur.
    actions = rng.choice(np.arange(6, dtype=np.int8), BARS, p=[0.7, 0.08, 0.08, 0.05, 0.05, 0.04])
    return open_, close, days, actions


def _run(
    one: bool,
    market: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    terms: np.ndarray,
    *,
    cash: float,
    fill_at_close: bool,
    size_equity: bool,
    size_value: float,
) -> list[np.ndarray]:
    open_, close, days, actions = market
    capacity = int(np.count_nonzero(actions)) + 1
    equity = np.empty(BARS)
    positions = np.empty((BARS, 1))
    state = np.zeros((1, len(kernel.STATE_COLUMNS)))
    trades = np.zeros((capacity, len(kernel.TRADE_COLUMNS)))
    fills = np.zeros((2 * capacity, len(kernel.FILL_COLUMNS)))
    counts = np.zeros(3)
    if one:
        kernel.simulate_one(
            open_, close, days, actions, terms, cash, fill_at_close, size_equity, size_value,
            equity, positions[:, 0], state, trades, fills, counts,
        )  # fmt: skip
    else:
        kernel.simulate(
            open_[:, None], close[:, None], days, actions[:, None], terms, cash, fill_at_close,
            size_equity, size_value, equity, positions, state, trades, fills, counts,
        )  # fmt: skip
    return [equity, positions, state, trades, fills, counts]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("fill_at_close", [False, True])
@pytest.mark.parametrize(
    ("size_equity", "size_value", "cash"),
    [(True, 1.0, 1_000_000.0), (True, 0.5, 200_000.0), (False, 3.0, 150_000.0)],
)
@pytest.mark.parametrize(
    "terms",
    [
        InstrumentTerms(commission_rate=0.0002),
        InstrumentTerms(
            multiplier=10.0,
            margin_rate=0.12,
            commission_per_unit=3.0,
            close_today_per_unit=9.0,
            slippage_ticks=2.0,
            price_tick=1.0,
        ),
    ],
    ids=["cash", "futures"],
)
def test_one_series_kernel_writes_what_the_portfolio_kernel_writes(
    seed: int,
    fill_at_close: bool,
    size_equity: bool,
    size_value: float,
    cash: float,
    terms: InstrumentTerms,
) -> None:
    market = _market(seed)
    matrix = _terms_matrix([terms])
    options = {
        "cash": cash,
        "fill_at_close": fill_at_close,
        "size_equity": size_equity,
        "size_value": size_value,
    }
    one = _run(True, market, matrix, **options)
    many = _run(False, market, matrix, **options)
    counts = one[-1]
    assert counts[0] > 20  # trades happened
    for mine, theirs in zip(one, many, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_refused_entries_are_counted_alike() -> None:
    """Fixed sizes too large for the account: every entry refused, by both kernels."""
    market = _market(3)
    matrix = _terms_matrix([InstrumentTerms(multiplier=10.0, margin_rate=0.1)])
    options = {"cash": 1_000.0, "fill_at_close": False, "size_equity": False, "size_value": 5.0}
    one = _run(True, market, matrix, **options)
    many = _run(False, market, matrix, **options)
    assert one[-1][2] > 100
    assert one[-1][0] == 0
    for mine, theirs in zip(one, many, strict=True):
        np.testing.assert_array_equal(mine, theirs)
