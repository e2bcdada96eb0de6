"""Contract symbols as each exchange writes them, and the instruments they name.

SHFE, INE, DCE and GFEX: lower-case product + YYMM (``rb2401``). CFFEX: upper case + YYMM
(``IF2101``). CZCE: upper case + YMM (``SR401``), one digit of year, so the decade comes from a
reference date. ``EXCHANGE.symbol`` (``SHFE.rb2401``) is accepted everywhere.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date
from typing import NamedTuple

from shared.domain import Exchange, Instrument
from shared.instruments._expiry import IsTradingDay, last_trading_day
from shared.instruments._product import LOWER_CASE_EXCHANGES, Product

_SHAPE = re.compile(r"(?P<product>[A-Za-z]+)(?P<digits>[0-9]+)")

# A one-digit CZCE year is read as the year within this window around the reference date:
# contracts list about a year ahead, and data is usually read while or soon after it trades.
_CZCE_YEARS_BEFORE = 2
_CZCE_YEARS_AFTER = 7


class YearMonth(NamedTuple):
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


class ParsedSymbol(NamedTuple):
    product: str
    delivery: YearMonth


def split_exchange(symbol: str) -> tuple[Exchange | None, str]:
    """``SHFE.rb2401`` -> (SHFE, ``rb2401``); a bare symbol -> (None, symbol)."""
    prefix, dot, rest = symbol.partition(".")
    if not dot:
        return None, symbol
    try:
        return Exchange(prefix), rest
    except ValueError:
        known = ", ".join(Exchange)
        raise ValueError(
            f"unknown exchange {prefix!r} in {symbol!r}: expected one of {known}"
        ) from None


def _czce_year(digit: int, reference: date) -> int:
    low = reference.year - _CZCE_YEARS_BEFORE
    return low + (digit - low) % 10


def parse_symbol(symbol: str, *, reference: date | None = None) -> ParsedSymbol:
    """Product code and delivery month of a contract symbol, checked against the exchange's
    format when the symbol names its exchange. ``reference`` (a day the contract traded on,
    e.g. the data's trading day) is needed for CZCE's one-digit years."""
    exchange, bare = split_exchange(symbol.strip() if symbol else "")
    if not bare:
        raise ValueError("symbol must not be empty")
    shape = _SHAPE.fullmatch(bare)
    if shape is None:
        raise ValueError(
            f"symbol {symbol!r} is not a product code followed by its delivery year and month "
            "(e.g. rb2401, SR401, IF2101)"
        )
    product, digits = shape["product"], shape["digits"]
    if len(product) > 4:
        raise ValueError(f"product code {product!r} in {symbol!r} is longer than 4 letters")
    if exchange is not None:
        _check_case(exchange, product, symbol)
    month = int(digits[-2:])
    if len(digits) == 4:
        year = 2000 + int(digits[:2])
    elif len(digits) == 3:
        if exchange not in {None, Exchange.CZCE} or product != product.upper():
            raise ValueError(
                f"delivery {digits!r} in {symbol!r} has a one-digit year, which only CZCE uses: "
                "write YYMM (e.g. rb2401)"
            )
        if reference is None:
            raise ValueError(
                f"CZCE symbol {symbol!r} has a one-digit year: pass `reference` "
                "(a date it traded on) to choose its decade"
            )
        year = _czce_year(int(digits[0]), reference)
    else:
        raise ValueError(
            f"delivery {digits!r} in {symbol!r} must be YYMM (4 digits) or, on CZCE, YMM (3)"
        )
    if not 1 <= month <= 12:
        raise ValueError(f"delivery month {month:02d} in {symbol!r} is not 01-12")
    return ParsedSymbol(product, YearMonth(year, month))


def _check_case(exchange: Exchange, product: str, symbol: str) -> None:
    lower = exchange in LOWER_CASE_EXCHANGES
    expected = product.lower() if lower else product.upper()
    if product != expected:
        case = "lower" if lower else "upper"
        raise ValueError(
            f"product code {product!r} in {symbol!r}: {exchange} writes it in {case} case "
            f"({expected!r})"
        )


def exchange_symbol(product: Product, delivery: YearMonth) -> str:
    """The symbol as the exchange writes it: CZCE keeps one digit of year."""
    if product.exchange is Exchange.CZCE:
        return f"{product.code}{delivery.year % 10}{delivery.month:02d}"
    return f"{product.code}{delivery.year % 100:02d}{delivery.month:02d}"


def contract_for(
    product: Product,
    symbol: str,
    *,
    reference: date | None = None,
    is_trading_day: IsTradingDay | None = None,
) -> Instrument:
    """The instrument ``symbol`` names, with the product's terms. ``expires_on`` is set when a
    trading calendar is given that covers the delivery month (one raising LookupError for it,
    as ``shared.sessions.TradingCalendar`` does, leaves it empty) and the product's
    last-trading-day rule is known."""
    exchange, bare = split_exchange(symbol.strip())
    if exchange is not None and exchange is not product.exchange:
        raise ValueError(f"{symbol!r} is on {exchange}, but {product.key} is on {product.exchange}")
    parsed = parse_symbol(f"{product.exchange}.{bare}", reference=reference)
    if parsed.product != product.code:
        raise ValueError(f"{symbol!r} is a contract of {parsed.product!r}, not of {product.key}")
    expires_on = None
    if is_trading_day is not None and product.last_trading_day is not None:
        # A calendar not covering that month raises LookupError: no date rather than a guess.
        with contextlib.suppress(LookupError):
            expires_on = last_trading_day(
                product.last_trading_day,
                parsed.delivery.year,
                parsed.delivery.month,
                is_trading_day,
            )
    code = exchange_symbol(product, parsed.delivery)
    return Instrument(
        symbol=code,
        exchange=product.exchange,
        product=product.code,
        multiplier=product.multiplier,
        price_tick=product.price_tick,
        name=f"{product.name_zh}{code[len(product.code) :]}",
        min_volume=product.min_volume,
        long_margin_ratio=product.long_margin_ratio,
        short_margin_ratio=product.short_margin_ratio,
        commission=product.commission,
        expires_on=expires_on,
    )
