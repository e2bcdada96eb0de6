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


# A single series' book, carried in scalars rather than in `state`/`account` arrays: numba
# then keeps it in registers through the fills, a third of a 1M-bar run's fill cost.
# (balance, position, entry price, entry bar, entry day, entry commission,
#  trade rows, fill rows, rejected orders)
Book = tuple[float, float, float, int, int, float, int, int, int]


@njit(cache=True, nogil=True, inline="always")
def _fill_one(
    t: int, target: int, price: float, day: int, book: Book, terms: np.ndarray,
    size_equity: bool, size_value: float, trades: np.ndarray, fills: np.ndarray,
) -> Book:  # fmt: skip
    """`_fill` for symbol 0 of a one-series run, statement for statement (so bit for bit):
    the book in, the book after the fill out. Entering only ever happens flat, where `_fill`'s
    open P&L and used margin are both 0.0, so the money available is the balance."""
    (
        balance,
        position,
        entry,
        entry_bar,
        entry_day,
        entry_commission,
        n_trades,
        n_fills,
        rejected,
    ) = book
    side = 1 if position > 0.0 else (-1 if position < 0.0 else 0)
    multiplier, slip = terms[0, 0], terms[0, 6]
    if side not in (0, target):
        units = abs(position)
        exit_price = price - slip * side
        commission = _commission(terms, 0, units, exit_price, day == entry_day)
        gross = (exit_price - entry) * position * multiplier
        balance += gross - commission
        trades[n_trades, 0] = 0
        trades[n_trades, 1] = side
        trades[n_trades, 2] = units
        trades[n_trades, 3] = entry_bar
        trades[n_trades, 4] = t
        trades[n_trades, 5] = entry
        trades[n_trades, 6] = exit_price
        trades[n_trades, 7] = gross - commission - entry_commission
        trades[n_trades, 8] = commission + entry_commission
        n_trades += 1
        fills[n_fills, 0] = t
        fills[n_fills, 1] = 0
        fills[n_fills, 2] = -position
        fills[n_fills, 3] = exit_price
        fills[n_fills, 4] = commission
        n_fills += 1
        position = 0.0
    if target in (0, side):
        return (
            balance, position, entry, entry_bar, entry_day, entry_commission,
            n_trades, n_fills, rejected,
        )  # fmt: skip
    entry_price = price + slip * target
    unit_cost = entry_price * multiplier * terms[0, 1] + _commission(
        terms, 0, 1.0, entry_price, False
    )
    available = balance
    if size_equity:
        units = math.floor(size_value * available / unit_cost) if available > 0.0 else 0.0
    else:
        units = size_value
    if units < 1.0 or units * unit_cost > available * (1.0 + 1e-12):
        return (
            balance, position, entry, entry_bar, entry_day, entry_commission,
            n_trades, n_fills, rejected + 1,
        )  # fmt: skip
    commission = _commission(terms, 0, units, entry_price, False)
    balance -= commission
    position = units * target
    fills[n_fills, 0] = t
    fills[n_fills, 1] = 0
    fills[n_fills, 2] = position
    fills[n_fills, 3] = entry_price
    fills[n_fills, 4] = commission
    return (
        balance, position, entry_price, t, day, commission, n_trades, n_fills + 1, rejected,
    )  # fmt: skip


@njit(cache=True, nogil=True, inline="always")
def _close_book(book: Book, state: np.ndarray, counts: np.ndarray) -> None:
    """Write a one-series book where `simulate` leaves its state and counts."""
    state[0, 0] = book[1]
    state[0, 1] = book[2]
    state[0, 2] = book[3]
    state[0, 3] = book[4]
    state[0, 4] = book[5]
    counts[0] = book[6]
    counts[1] = book[7]
    counts[2] = book[8]


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
) -> tuple[float, float]:  # fmt: skip
    """`simulate` for a single series (1-D arrays, every bar present): the same fills (by
    `_fill_one`, `_fill`'s twin), with the per-bar bookkeeping cut to what one series needs.
    Returns the lowest equity and a sum that is 0.0 only when every equity is finite: the
    curve's checks, taken while it is written rather than in two more passes."""
    multiplier = terms[0, 0]
    pending = NO_PENDING
    book: Book = (cash, 0.0, 0.0, 0, 0, 0.0, 0, 0, 0)
    position, entry = 0.0, 0.0
    lowest, nonfinite = math.inf, 0.0
    for t in range(closes.shape[0]):
        if pending != NO_PENDING:
            book = _fill_one(
                t, pending, opens[t], int(days[t]), book, terms, size_equity, size_value,
                trades, fills,
            )  # fmt: skip
            pending = NO_PENDING
        price = closes[t]
        action = actions[t]
        if action != NONE:
            position = book[1]
            side = 1 if position > 0.0 else (-1 if position < 0.0 else 0)
            target = _target(action, side)
            if target != side:
                if fill_at_close:
                    book = _fill_one(
                        t, target, price, int(days[t]), book, terms, size_equity,
                        size_value, trades, fills,
                    )  # fmt: skip
                else:
                    pending = target
        position, entry = book[1], book[2]
        positions[t] = position
        value = book[0] + position * (price - entry) * multiplier
        equity[t] = value
        lowest = min(lowest, value)
        nonfinite += value - value  # NaN from an inf or a NaN on, 0.0 while all are finite
    _close_book(book, state, counts)
    return lowest, nonfinite


# The sweep's kernel lives here, beside the `_fill_one` it inlines: numba's on-disk cache is
# invalidated by a change to the file defining a function, not to the files it inlines from.

# Slots of the kernel's float and int outputs.
DEPTH_SUM, AMOUNT_SUM, DEEP_PEAK_EQUITY, DEEP_TROUGH_EQUITY, DEEP_DEPTH, DEEP_AMOUNT = range(6)
REALS = 6
(
    EPISODES, DEEP_PEAK, DEEP_TROUGH, DEEP_END, DEEP_RECOVERED, DEEP_DAYS,
    DAYS_SUM, DURATION_SUM, IN_MARKET, VALID,
) = range(10)  # fmt: skip
INTS = 10


@njit(cache=True, nogil=True, inline="always")
def _episode(
    reals: np.ndarray, ints: np.ndarray, peak: int, trough: int, end: int, recovered: bool,
    peak_equity: float, trough_equity: float, days: int, duration_ns: int,
) -> None:  # fmt: skip
    # amount and depth as `_drawdown.find_episodes` computes them, element by element.
    amount = peak_equity - trough_equity
    depth = amount / peak_equity
    reals[DEPTH_SUM] += depth
    reals[AMOUNT_SUM] += amount
    ints[DAYS_SUM] += days
    ints[DURATION_SUM] += duration_ns
    ints[EPISODES] += 1
    if ints[EPISODES] == 1 or depth > reals[DEEP_DEPTH]:  # the first of the deepest
        reals[DEEP_PEAK_EQUITY] = peak_equity
        reals[DEEP_TROUGH_EQUITY] = trough_equity
        reals[DEEP_DEPTH] = depth
        reals[DEEP_AMOUNT] = amount
        ints[DEEP_PEAK] = peak
        ints[DEEP_TROUGH] = trough
        ints[DEEP_END] = end
        ints[DEEP_RECOVERED] = recovered
        ints[DEEP_DAYS] = days


@njit(cache=True, nogil=True, inline="always")
def _trades_valid(trades: np.ndarray, count: int, multiplier: float) -> bool:
    """What `shared.analytics.validate_trades` requires of the rows `_fill_one` can write."""
    for row in range(count):
        size, entry, exit_ = trades[row, 2], trades[row, 5], trades[row, 6]
        if not (size > 0.0 and entry > 0.0 and exit_ > 0.0):
            return False
        entry_notional = entry * size * multiplier
        exit_notional = exit_ * size * multiplier
        if not (math.isfinite(entry_notional) and math.isfinite(exit_notional)):
            return False
        if not (math.isfinite(trades[row, 7]) and math.isfinite(trades[row, 8])):
            return False
    return True


@njit(cache=True, nogil=True)
def trades_valid(trades: np.ndarray, count: int, multiplier: float) -> bool:
    """`_trades_valid` for a caller outside the kernels (the full path's rows)."""
    return _trades_valid(trades, count, multiplier)


@njit(cache=True, nogil=True)
def simulate_summary(
    opens: np.ndarray, closes: np.ndarray, days: np.ndarray, day_last: np.ndarray,
    ts_ns: np.ndarray, actions: np.ndarray, terms: np.ndarray, cash: float,
    fill_at_close: bool, size_equity: bool, size_value: float, floor: float,
    state: np.ndarray, trades: np.ndarray, fills: np.ndarray, counts: np.ndarray,
    day_equity: np.ndarray, reals: np.ndarray, ints: np.ndarray,
) -> None:  # fmt: skip
    """`simulate_one`'s run, reduced: `day_equity` (one value per trading day, whose last bars
    `day_last` gives), `reals` and `ints` (the slots above) are written; `state`, `trades`,
    `fills`, `counts` as there."""
    reals[:] = 0.0
    ints[:] = 0
    multiplier = terms[0, 0]
    pending = NO_PENDING
    book: Book = (cash, 0.0, 0.0, 0, 0, 0.0, 0, 0, 0)
    position, entry = 0.0, 0.0
    # Any inf or NaN in the curve makes this NaN (x - x is 0.0 only for finite x): a sum per
    # bar rather than a test and a jump.
    nonfinite = 0.0
    in_market = 0
    # -inf: the first bar sets the mark, without a test of t per bar.
    peak, peak_equity = 0, -math.inf
    peak_ordinal = 0  # of the peak's trading day among the series' days
    trough, trough_equity = -1, 0.0
    start = 0
    for ordinal in range(day_last.shape[0]):
        stop = day_last[ordinal] + 1
        day = int(days[start])
        value = 0.0
        for t in range(start, stop):
            # The fills: simulate_one's bar, statement for statement.
            if pending != NO_PENDING:
                book = _fill_one(
                    t, pending, opens[t], day, book, terms, size_equity, size_value,
                    trades, fills,
                )  # fmt: skip
                pending = NO_PENDING
            price = closes[t]
            action = actions[t]
            if action != NONE:
                position = book[1]
                side = 1 if position > 0.0 else (-1 if position < 0.0 else 0)
                target = _target(action, side)
                if target != side:
                    if fill_at_close:
                        book = _fill_one(
                            t, target, price, day, book, terms, size_equity, size_value,
                            trades, fills,
                        )  # fmt: skip
                    else:
                        pending = target
            position, entry = book[1], book[2]
            equity = book[0] + position * (price - entry) * multiplier
            # The reductions of what simulate_one would have written.
            in_market += position != 0.0
            nonfinite += equity - equity
            value = equity if equity > floor else floor
            if value >= peak_equity:  # back at the mark: the open episode (if any) ends
                if trough >= 0:
                    _episode(
                        reals, ints, peak, trough, t, True, peak_equity, trough_equity,
                        ordinal - peak_ordinal, ts_ns[t] - ts_ns[peak],
                    )  # fmt: skip
                    trough = -1
                peak, peak_equity, peak_ordinal = t, value, ordinal
            elif trough < 0 or value < trough_equity:
                trough, trough_equity = t, value
        day_equity[ordinal] = value
        start = stop
    if trough >= 0:  # unrecovered: measured to the last bar
        last = closes.shape[0] - 1
        _episode(
            reals, ints, peak, trough, last, False, peak_equity, trough_equity,
            day_last.shape[0] - 1 - peak_ordinal, ts_ns[last] - ts_ns[peak],
        )  # fmt: skip
    _close_book(book, state, counts)
    ints[IN_MARKET] = in_market
    ints[VALID] = nonfinite == 0.0 and _trades_valid(trades, book[6], multiplier)


def _action_table() -> np.ndarray:
    """The action for each combination of the four signals, indexed by long_entry +
    2 long_exit + 4 short_entry + 8 short_exit: both entries cancel out, an entry wins over
    the exits, both exits leave whichever side is held."""
    table = np.empty(16, dtype=np.int8)
    for index in range(16):
        long_entry, long_exit = index & 1, index & 2
        short_entry, short_exit = index & 4, index & 8
        if long_entry and short_entry:
            table[index] = NONE
        elif long_entry:
            table[index] = GO_LONG
        elif short_entry:
            table[index] = GO_SHORT
        elif long_exit:
            table[index] = EXIT_ANY if short_exit else EXIT_LONG
        else:
            table[index] = EXIT_SHORT if short_exit else NONE
    return table


_ACTIONS = _action_table()


@njit(cache=True, nogil=True)
def encode_actions(
    long_entry: np.ndarray, long_exit: np.ndarray, short_entry: np.ndarray,
    short_exit: np.ndarray, actions: np.ndarray,
) -> None:  # fmt: skip
    """Each bar's action code from the four signal columns (uint8 views of the booleans), by
    table rather than branches: the loop then runs without a jump per bar."""
    for i in range(actions.shape[0]):
        actions[i] = _ACTIONS[
            long_entry[i] | (long_exit[i] << 1) | (short_entry[i] << 2) | (short_exit[i] << 3)
        ]
