"""A futures product (rb, IF, SR ...): what every contract of it shares."""

from __future__ import annotations

import math
from datetime import date
from enum import StrEnum

import msgspec

from shared.domain import CommissionRates, Exchange

# SHFE, INE, DCE and GFEX write product codes in lower case; CZCE and CFFEX in upper case.
LOWER_CASE_EXCHANGES = frozenset({Exchange.SHFE, Exchange.INE, Exchange.DCE, Exchange.GFEX})

# No exchange sets a daily limit this wide for a listed future; a larger value is a typo
# (a percentage written where a fraction belongs).
MAX_LIMIT_RATIO = 0.3


class LastTradingDay(StrEnum):
    """How the last trading day of a contract follows from its delivery month."""

    DAY_15 = "day_15"  # the 15th of the delivery month, or the next trading day
    TRADING_DAY_10 = "trading_day_10"  # the 10th trading day of the delivery month
    TRADING_DAY_LAST_4 = "trading_day_last_4"  # the 4th-last trading day of the delivery month
    PREVIOUS_MONTH_LAST = "previous_month_last"  # the last trading day of the month before
    FRIDAY_2 = "friday_2"  # the 2nd Friday of the delivery month, or the next trading day
    FRIDAY_3 = "friday_3"  # the 3rd Friday of the delivery month, or the next trading day


class EarlierTick(msgspec.Struct, frozen=True, kw_only=True):
    """A price tick that was in force on every trading day before ``until``."""

    until: date
    tick: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tick) and self.tick > 0):
            raise ValueError(f"earlier tick must be positive, got {self.tick!r}")


def _check_code(exchange: Exchange, code: str) -> None:
    if not (code.isascii() and code.isalpha() and 1 <= len(code) <= 4):
        raise ValueError(f"product code must be 1-4 ASCII letters, got {code!r}")
    expected = code.lower() if exchange in LOWER_CASE_EXCHANGES else code.upper()
    if code != expected:
        case = "lower" if exchange in LOWER_CASE_EXCHANGES else "upper"
        raise ValueError(
            f"{exchange} writes product codes in {case} case: {expected!r}, not {code!r}"
        )


class Product(msgspec.Struct, frozen=True, kw_only=True):
    exchange: Exchange
    code: str  # as the exchange writes it: rb, SR, IF
    name_zh: str
    name_en: str
    multiplier: int  # units of the quoted price per lot (CTP's VolumeMultiple)
    price_tick: float  # the tick in force now; see ``earlier_ticks`` for history
    min_volume: int = 1
    long_margin_ratio: float  # exchange minimum, fraction of contract value
    short_margin_ratio: float
    # Daily limit up/down as a fraction of the previous settlement price.
    limit_ratio: float
    commission: CommissionRates = msgspec.field(default_factory=CommissionRates)
    currency: str = "CNY"
    last_trading_day: LastTradingDay | None = None  # None: rule not recorded
    # Oldest first; each ends where the next (or the current tick) begins.
    earlier_ticks: tuple[EarlierTick, ...] = ()

    def __post_init__(self) -> None:
        _check_code(self.exchange, self.code)
        if self.multiplier <= 0:
            raise ValueError(f"{self.code}: `multiplier` must be positive, got {self.multiplier}")
        if not (math.isfinite(self.price_tick) and self.price_tick > 0):
            raise ValueError(f"{self.code}: `price_tick` must be positive, got {self.price_tick}")
        if self.min_volume <= 0:
            raise ValueError(f"{self.code}: `min_volume` must be positive, got {self.min_volume}")
        for name in ("long_margin_ratio", "short_margin_ratio"):
            ratio = getattr(self, name)
            if not 0.0 <= ratio < 1.0:
                raise ValueError(f"{self.code}: `{name}` must be in [0, 1), got {ratio!r}")
        if not 0.0 < self.limit_ratio < MAX_LIMIT_RATIO:
            raise ValueError(
                f"{self.code}: `limit_ratio` must be in (0, {MAX_LIMIT_RATIO}), "
                f"got {self.limit_ratio!r}"
            )
        ends = [change.until for change in self.earlier_ticks]
        if ends != sorted(set(ends)):
            raise ValueError(f"{self.code}: `earlier_ticks` must be in increasing `until` order")

    @property
    def key(self) -> str:
        return f"{self.exchange}.{self.code}"

    def tick_on(self, trading_day: date) -> float:
        """The price tick in force on ``trading_day`` (ticks change: au was 0.05 until 2019)."""
        for change in self.earlier_ticks:
            if trading_day < change.until:
                return change.tick
        return self.price_tick

    def limit_prices(self, pre_settlement: float, tick: float | None = None) -> tuple[float, float]:
        """(limit-down, limit-up) from the previous settlement, rounded inwards onto the tick
        grid, as the exchanges publish them."""
        if not (math.isfinite(pre_settlement) and pre_settlement > 0):
            raise ValueError(f"previous settlement must be positive, got {pre_settlement!r}")
        grid = self.price_tick if tick is None else tick
        # A hair of tolerance so that a product landing exactly on the grid is not pushed
        # one tick inwards by binary floating-point error.
        up_ticks = math.floor(pre_settlement * (1 + self.limit_ratio) / grid + 1e-9)
        down_ticks = math.ceil(pre_settlement * (1 - self.limit_ratio) / grid - 1e-9)
        return (_on_grid(down_ticks, grid), _on_grid(up_ticks, grid))


def _on_grid(ticks: int, tick: float) -> float:
    decimals = max(0, -math.floor(math.log10(tick)) + 2)
    return round(ticks * tick, decimals)


def format_earlier_ticks(changes: tuple[EarlierTick, ...]) -> str:
    """``0.05<2019-12-10`` (tick 0.05 before that day), ``;`` between changes."""
    return ";".join(f"{change.tick:g}<{change.until.isoformat()}" for change in changes)


def parse_earlier_ticks(text: str) -> tuple[EarlierTick, ...]:
    changes = []
    for part in filter(None, (piece.strip() for piece in text.split(";"))):
        tick, separator, until = part.partition("<")
        if not separator:
            raise ValueError(f"earlier tick {part!r} must read TICK<YYYY-MM-DD")
        changes.append(EarlierTick(until=date.fromisoformat(until.strip()), tick=float(tick)))
    return tuple(changes)
