"""The vectorized engine's inner loop, compiled with numba.

Signals are known for every bar in advance, but fills are path-dependent (equity sizing,
margin checks, reversals), so one sequential pass remains; numba runs it at C speed without
a C extension to build. The loop sees only numpy arrays and scalars; `_vectorized` prepares
them and turns the output rows into tables.

Per bar t, per symbol j:
1. (next_open) a pending target from bar t-1 fills at open[t, j] when the symbol has a bar.
2. The position is marked at close[t, j] (a missing bar, NaN, keeps the last close).
3. The bar's action moves the intended side; a change fills at close[t, j] (close mode) or
   waits for the next open.
4. equity[t] = cash + open P&L over all symbols.

A change of side closes the old position entirely (one trade) before opening the new one.
"""

# Compiled functions take plain positional arrays (numba has no dataclasses): PLR0917/0915.
# ruff: noqa: PLR0917, PLR0915

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Action codes, per bar and symbol (see `_vectorized.actions_of`).
NONE, GO_LONG, GO_SHORT, EXIT_LONG, EXIT_SHORT, EXIT_ANY = 0, 1, 2, 3, 4, 5
NO_PENDING = 9
# Columns of a trade row and of a fill row.
TRADE_COLUMNS = (
    "symbol", "side", "size", "entry_bar", "exit_bar",
    "entry_price", "exit_price", "pnl", "commission",
)  # fmt: skip
FILL_COLUMNS = ("bar", "symbol", "units", "price", "commission")
# State kept per symbol between the bars: position, average price, entry bar, entry day,
# entry commission (a trade's commission is both legs).
STATE_COLUMNS = ("position", "entry_price", "entry_bar", "entry_day", "entry_commission")


@njit(cache=True, nogil=True, inline="always")
def _target(action: int, side: int) -> int:
    if action == GO_LONG:
        return 1
    if action == GO_SHORT:
        return -1
    if action == EXIT_ANY or (action == EXIT_LONG and side > 0):
        return 0
    if action == EXIT_SHORT and side < 0:
        return 0
    return side


@njit(cache=True, nogil=True, inline="always")
def _commission(terms: np.ndarray, j: int, units: float, price: float, today: bool) -> float:
    # terms columns: multiplier, margin, rate, per_unit, close_today_rate, close_today_per_unit,
    # slippage (price units)
    rate = terms[j, 4] if today else terms[j, 2]
    per_unit = terms[j, 5] if today else terms[j, 3]
    return float(per_unit * units + rate * price * units * terms[j, 0])


@njit(cache=True, nogil=True, inline="always")
def _open_pnl(state: np.ndarray, marks: np.ndarray, terms: np.ndarray) -> float:
    total = 0.0
    for j in range(state.shape[0]):
        if state[j, 0] != 0.0:
            total += state[j, 0] * (marks[j] - state[j, 1]) * terms[j, 0]
    return total


@njit(cache=True, nogil=True, inline="always")
def _used_margin(state: np.ndarray, marks: np.ndarray, terms: np.ndarray) -> float:
    total = 0.0
    for j in range(state.shape[0]):
        if state[j, 0] != 0.0:
            total += abs(state[j, 0]) * marks[j] * terms[j, 0] * terms[j, 1]
    return total


@njit(cache=True, nogil=True, inline="always")
def _fill(
    t: int, j: int, target: int, price: float, day: int,
    state: np.ndarray, marks: np.ndarray, terms: np.ndarray, account: np.ndarray,
    size_equity: bool, size_value: float,
    trades: np.ndarray, fills: np.ndarray, counts: np.ndarray,
) -> None:  # fmt: skip
    """Move symbol j to `target` side at reference `price`; account = [cash]; counts =
    [trades, fills, rejected]."""
    position = state[j, 0]
    side = 1 if position > 0.0 else (-1 if position < 0.0 else 0)
    multiplier, slip = terms[j, 0], terms[j, 6]
    if side not in (0, target):
        units = abs(position)
        exit_price = price - slip * side
        commission = _commission(terms, j, units, exit_price, day == int(state[j, 3]))
        gross = (exit_price - state[j, 1]) * position * multiplier
        account[0] += gross - commission
        row = int(counts[0])
        trades[row, 0] = j
        trades[row, 1] = side
        trades[row, 2] = units
        trades[row, 3] = state[j, 2]
        trades[row, 4] = t
        trades[row, 5] = state[j, 1]
        trades[row, 6] = exit_price
        trades[row, 7] = gross - commission - state[j, 4]
        trades[row, 8] = commission + state[j, 4]
        counts[0] += 1
        row = int(counts[1])
        fills[row, 0] = t
        fills[row, 1] = j
        fills[row, 2] = -position
        fills[row, 3] = exit_price
        fills[row, 4] = commission
        counts[1] += 1
        state[j, 0] = 0.0
    if target in (0, side):
        return
    entry_price = price + slip * target
    unit_cost = entry_price * multiplier * terms[j, 1] + _commission(
        terms, j, 1.0, entry_price, False
    )
    available = account[0] + _open_pnl(state, marks, terms) - _used_margin(state, marks, terms)
    if size_equity:
        units = math.floor(size_value * available / unit_cost) if available > 0.0 else 0.0
    else:
        units = size_value
    if units < 1.0 or units * unit_cost > available * (1.0 + 1e-12):
        counts[2] += 1
        return
    commission = _commission(terms, j, units, entry_price, False)
    account[0] -= commission
    state[j, 0] = units * target
    state[j, 1] = entry_price
    state[j, 2] = t
    state[j, 3] = day
    state[j, 4] = commission
    row = int(counts[1])
    fills[row, 0] = t
    fills[row, 1] = j
    fills[row, 2] = units * target
    fills[row, 3] = entry_price
    fills[row, 4] = commission
    counts[1] += 1


@njit(cache=True, nogil=True)
def simulate(
    opens: np.ndarray, closes: np.ndarray, days: np.ndarray, actions: np.ndarray,
    terms: np.ndarray, cash: float, fill_at_close: bool, size_equity: bool, size_value: float,
    equity: np.ndarray, positions: np.ndarray, state: np.ndarray,
    trades: np.ndarray, fills: np.ndarray, counts: np.ndarray,
) -> None:  # fmt: skip
    """Run the whole series; outputs are written into `equity` (n), `positions` (n, k),
    `state` (k, 5: see STATE_COLUMNS), `trades`, `fills` and `counts`."""
    bars, symbols = closes.shape
    account = np.empty(1)
    account[0] = cash
    marks = np.full(symbols, np.nan)
    pending = np.full(symbols, NO_PENDING, dtype=np.int64)
    for t in range(bars):
        day = int(days[t])
        if not fill_at_close:
            for j in range(symbols):
                if pending[j] != NO_PENDING and not math.isnan(opens[t, j]):
                    marks[j] = opens[t, j]
                    _fill(
                        t, j, int(pending[j]), opens[t, j], day, state, marks, terms,
                        account, size_equity, size_value, trades, fills, counts,
                    )  # fmt: skip
                    pending[j] = NO_PENDING
        for j in range(symbols):
            price = closes[t, j]
            if math.isnan(price):
                continue
            marks[j] = price
            action = actions[t, j]
            if action == NONE:
                continue
            position = state[j, 0]
            side = 1 if position > 0.0 else (-1 if position < 0.0 else 0)
            intended = side if pending[j] == NO_PENDING else int(pending[j])
            target = _target(action, intended)
            if target == intended:
                continue
            if fill_at_close:
                _fill(
                    t, j, target, price, day, state, marks, terms,
                    account, size_equity, size_value, trades, fills, counts,
                )  # fmt: skip
            else:
                pending[j] = NO_PENDING if target == side else target
        equity[t] = account[0] + _open_pnl(state, marks, terms)
        for j in range(symbols):
            positions[t, j] = state[j, 0]


@njit(cache=True, nogil=True)
def simulate_one(
    opens: np.ndarray, closes: np.ndarray, days: np.ndarray, actions: np.ndarray,
    terms: np.ndarray, cash: float, fill_at_close: bool, size_equity: bool, size_value: float,
    equity: np.ndarray, positions: np.ndarray, state: np.ndarray,
    trades: np.ndarray, fills: np.ndarray, counts: np.ndarray,
) -> None:  # fmt: skip
    """`simulate` for a single series (1-D arrays, every bar present): the same fills by the
    same `_fill`, with the per-bar bookkeeping cut to what one series needs."""
    account = np.empty(1)
    account[0] = cash
    marks = np.full(1, np.nan)
    multiplier = terms[0, 0]
    pending = NO_PENDING
    for t in range(closes.shape[0]):
        if pending != NO_PENDING:
            marks[0] = opens[t]
            _fill(
                t, 0, pending, opens[t], int(days[t]), state, marks, terms,
                account, size_equity, size_value, trades, fills, counts,
            )  # fmt: skip
            pending = NO_PENDING
        price = closes[t]
        action = actions[t]
        if action != NONE:
            marks[0] = price
            position = state[0, 0]
            side = 1 if position > 0.0 else (-1 if position < 0.0 else 0)
            target = _target(action, side)
            if target != side:
                if fill_at_close:
                    _fill(
                        t, 0, target, price, int(days[t]), state, marks, terms,
                        account, size_equity, size_value, trades, fills, counts,
                    )  # fmt: skip
                else:
                    pending = target
        position = state[0, 0]
        positions[t] = position
        equity[t] = account[0] + position * (price - state[0, 1]) * multiplier
