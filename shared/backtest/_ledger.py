"""The event-driven engine's books: cash, positions and round trips, fill by fill.

The rules are the vectorized kernel's (`_kernel`), generalised to partial fills:
- each fill pays its commission from cash at once;
- a fill that adds to a position averages its entry price; one that reduces it closes that
  many units as one trade (entry commission prorated by the units closed);
- a fill through zero closes the whole position and opens the rest the other way;
- a close on the trading day the position was first opened uses the close-today rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from shared.analytics import TradeTable
from shared.backtest._config import InstrumentTerms
from shared.backtest._result import FillLog, TradeLog


@dataclass(slots=True)
class Holding:
    units: float = 0.0
    entry_price: float = 0.0
    entry_bar: int = 0
    entry_day: int = 0
    entry_commission: float = 0.0  # still to be charged to the units held


@dataclass(slots=True)
class Ledger:
    cash: float
    terms: list[InstrumentTerms]
    holdings: list[Holding] = field(default_factory=list)
    trades: list[tuple[float, ...]] = field(default_factory=list)
    fills: list[tuple[float, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.holdings = [Holding() for _ in self.terms]

    def commission(self, j: int, units: float, price: float, *, closing_today: bool) -> float:
        terms = self.terms[j]
        rate, per_unit = terms.commission_rate, terms.commission_per_unit
        if closing_today:
            if terms.close_today_rate is not None:
                rate = terms.close_today_rate
            if terms.close_today_per_unit is not None:
                per_unit = terms.close_today_per_unit
        return per_unit * units + rate * price * units * terms.multiplier

    def fill_commission(self, j: int, units: float, price: float, day: int) -> float:
        """The commission of a fill of signed `units`: the closing part at the closing rates."""
        held = self.holdings[j]
        closing = min(abs(units), abs(held.units)) if held.units * units < 0.0 else 0.0
        opening = abs(units) - closing
        today = day == held.entry_day
        return self.commission(j, closing, price, closing_today=today) + self.commission(
            j, opening, price, closing_today=False
        )

    def apply(
        self, j: int, units: float, price: float, commission: float, *, bar: int, day: int
    ) -> None:
        held = self.holdings[j]
        multiplier = self.terms[j].multiplier
        self.cash -= commission
        self.fills.append((bar, j, units, price, commission))
        remaining = units
        if held.units * units < 0.0:
            closed = min(abs(units), abs(held.units))
            side = 1.0 if held.units > 0.0 else -1.0
            share = closed / abs(held.units)
            entry_commission = held.entry_commission * share
            exit_commission = commission * closed / abs(units)
            gross = (price - held.entry_price) * closed * side * multiplier
            self.cash += gross
            self.trades.append(
                (j, side, closed, held.entry_bar, bar, held.entry_price, price,
                 gross - entry_commission - exit_commission, entry_commission + exit_commission)
            )  # fmt: skip
            held.entry_commission -= entry_commission
            held.units += closed * -side
            remaining = units + closed * side
            commission -= exit_commission
        if abs(remaining) > 0.0:
            if held.units == 0.0:
                held.entry_price, held.entry_bar, held.entry_day = price, bar, day
                held.entry_commission = 0.0
            else:
                total = held.units + remaining
                held.entry_price = (held.entry_price * held.units + price * remaining) / total
            held.units += remaining
            held.entry_commission += commission

    def open_pnl(self, marks: list[float]) -> float:
        return sum(
            h.units * (marks[j] - h.entry_price) * self.terms[j].multiplier
            for j, h in enumerate(self.holdings)
            if h.units != 0.0
        )

    def used_margin(self, marks: list[float]) -> float:
        total = 0.0
        for j, held in enumerate(self.holdings):
            if held.units != 0.0:
                terms = self.terms[j]
                rate = 1.0 if terms.margin_rate is None else terms.margin_rate
                total += abs(held.units) * marks[j] * terms.multiplier * rate
        return total

    def trade_log(self, ts_ns: npt.NDArray[np.int64]) -> TradeLog:
        rows = np.array(self.trades, dtype=np.float64).reshape(-1, 9)
        symbol = rows[:, 0].astype(np.int32)
        entry_bar = rows[:, 3].astype(np.int64)
        exit_bar = rows[:, 4].astype(np.int64)
        multipliers = np.array([t.multiplier for t in self.terms], dtype=np.float64)
        return TradeLog(
            table=TradeTable(
                entry_time=ts_ns[entry_bar],
                exit_time=ts_ns[exit_bar],
                side=rows[:, 1].astype(np.int8),
                size=np.ascontiguousarray(rows[:, 2]),
                entry_price=np.ascontiguousarray(rows[:, 5]),
                exit_price=np.ascontiguousarray(rows[:, 6]),
                pnl=np.ascontiguousarray(rows[:, 7]),
                commission=np.ascontiguousarray(rows[:, 8]),
                multiplier=multipliers[symbol],
            ),
            symbol=symbol,
            entry_bar=entry_bar,
            exit_bar=exit_bar,
        )

    def fill_log(self) -> FillLog:
        rows = np.array(self.fills, dtype=np.float64).reshape(-1, 5)
        return FillLog(
            bar=rows[:, 0].astype(np.int64),
            symbol=rows[:, 1].astype(np.int32),
            units=np.ascontiguousarray(rows[:, 2]),
            price=np.ascontiguousarray(rows[:, 3]),
            commission=np.ascontiguousarray(rows[:, 4]),
        )
