"""Instrument catalogue: products (shipped data file), contract symbols, last trading days.

Pure: no database, no clock, no environment. The only I/O is reading the data file shipped
inside this package (``shipped_products``). The store loads it into the database
(``shared.store.catalogue``).
"""

from shared.instruments._catalogue import (
    COLUMNS,
    SEED_CONTRACTS,
    ProductCatalogue,
    parse_products,
    seed_instruments,
    shipped_products,
)
from shared.instruments._expiry import IsTradingDay, last_trading_day, weekdays_except
from shared.instruments._product import (
    LOWER_CASE_EXCHANGES,
    EarlierTick,
    LastTradingDay,
    Product,
    format_earlier_ticks,
    parse_earlier_ticks,
)
from shared.instruments._symbols import (
    ParsedSymbol,
    YearMonth,
    contract_for,
    exchange_symbol,
    parse_symbol,
    split_exchange,
)

__all__ = [
    "COLUMNS",
    "LOWER_CASE_EXCHANGES",
    "SEED_CONTRACTS",
    "EarlierTick",
    "IsTradingDay",
    "LastTradingDay",
    "ParsedSymbol",
    "Product",
    "ProductCatalogue",
    "YearMonth",
    "contract_for",
    "exchange_symbol",
    "format_earlier_ticks",
    "last_trading_day",
    "parse_earlier_ticks",
    "parse_products",
    "parse_symbol",
    "seed_instruments",
    "shipped_products",
    "split_exchange",
    "weekdays_except",
]
