"""How a backtest fills, sizes and charges: the conventions an engine is configured with.

- `fill`: `next_open` (default) fills a decision taken at a bar's close at the next bar's open;
  `close` fills it at the same bar's close (backtesting.py's `trade_on_close`, backtrader's
  cheat-on-close).
- `size`: `units:N` trades N whole units (lots, shares); `equity:F` trades the whole number of
  units whose cost fits in F times the equity available when the order fills. A unit's cost is
  its margin (price * multiplier * margin rate; a cash instrument has rate 1) plus the
  commission on opening it, so the entry never leaves the account short of its own fees.
- Commission per fill: `commission_per_unit` * units + `commission_rate` * turnover
  (price * units * multiplier). A close of a position opened on the same trading day uses the
  `close_today_*` rates when given (Chinese futures charge some products differently).
- `slippage_ticks`: market fills are that many price ticks worse than the reference price.
- `margin_rate`: `None` for a cash instrument (the whole notional is paid), else the fraction
  of notional held as margin. Equity is the same either way: cash plus open P&L; margin only
  limits what can be opened (an order that does not fit is rejected and counted).
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

FillMode = Literal["next_open", "close"]
SizeMode = Literal["units", "equity"]


class BacktestError(ValueError):
    """A configuration or input the engine cannot run (`field` names it)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class SizeRule(msgspec.Struct, frozen=True, kw_only=True):
    mode: SizeMode = "units"
    value: float = 1.0

    @classmethod
    def parse(cls, text: str) -> SizeRule:
        """`units:3` or `equity:0.5`."""
        mode, sep, raw = text.partition(":")
        if not sep or mode not in ("units", "equity"):
            raise BacktestError(f"size is units:N or equity:F, got {text!r}", "size")
        try:
            value = float(raw)
        except ValueError:
            raise BacktestError(f"size is units:N or equity:F, got {text!r}", "size") from None
        rule = cls(mode="units" if mode == "units" else "equity", value=value)
        rule.validate()
        return rule

    def validate(self) -> None:
        if self.mode == "units":
            if not (self.value >= 1 and float(self.value).is_integer()):
                raise BacktestError(
                    f"size units must be a whole number >= 1, got {self.value}", "size"
                )
        elif not (0.0 < self.value <= 100.0):
            raise BacktestError(
                f"size equity fraction must be in (0, 100], got {self.value}", "size"
            )


class InstrumentTerms(msgspec.Struct, frozen=True, kw_only=True):
    """Contract terms and charges of one traded series."""

    multiplier: float = 1.0
    price_tick: float = 0.0  # 0: no tick (slippage is then impossible to express in ticks)
    margin_rate: float | None = None
    commission_rate: float = 0.0
    commission_per_unit: float = 0.0
    close_today_rate: float | None = None
    close_today_per_unit: float | None = None
    slippage_ticks: float = 0.0

    def validate(self) -> None:
        _positive("multiplier", self.multiplier)
        _non_negative("price_tick", self.price_tick)
        if self.margin_rate is not None and not (0.0 < self.margin_rate <= 1.0):
            raise BacktestError(f"margin must be in (0, 1], got {self.margin_rate}", "margin")
        for name in ("commission_rate", "commission_per_unit", "slippage_ticks"):
            _non_negative(name, getattr(self, name))
        for name in ("close_today_rate", "close_today_per_unit"):
            value = getattr(self, name)
            if value is not None:
                _non_negative(name, value)
        if self.slippage_ticks > 0.0 and self.price_tick <= 0.0:
            raise BacktestError("slippage in ticks needs the instrument's price tick", "price_tick")


class BacktestConfig(msgspec.Struct, frozen=True, kw_only=True):
    cash: float = 1_000_000.0
    fill: FillMode = "next_open"
    size: SizeRule = msgspec.field(default_factory=SizeRule)
    terms: InstrumentTerms = msgspec.field(default_factory=InstrumentTerms)
    periods_per_year: int = 252
    risk_free_rate: float = 0.0

    def validate(self) -> None:
        _positive("cash", self.cash)
        if self.fill not in ("next_open", "close"):
            raise BacktestError(f"fill is next_open or close, got {self.fill!r}", "fill")
        self.size.validate()
        self.terms.validate()
        if self.periods_per_year <= 0:
            raise BacktestError("periods_per_year must be > 0", "periods_per_year")
        if not math.isfinite(self.risk_free_rate):
            raise BacktestError("risk_free_rate must be finite", "risk_free_rate")


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0.0):
        raise BacktestError(f"{name} must be a finite number > 0, got {value}", name)


def _non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise BacktestError(f"{name} must be a finite number >= 0, got {value}", name)
