"""The product catalogue: the shipped data file, lookups, the bundled data's contracts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date
from importlib.resources import files

from shared.domain import CommissionRates, Exchange, Instrument
from shared.instruments._expiry import IsTradingDay
from shared.instruments._product import LastTradingDay, Product, parse_earlier_ticks
from shared.instruments._symbols import contract_for, split_exchange

PRODUCTS_FILE = "products.csv"

COLUMNS = (
    "exchange", "code", "name_zh", "name_en", "multiplier", "price_tick", "min_volume",
    "long_margin_ratio", "short_margin_ratio", "limit_ratio",
    "open_by_volume", "open_by_money", "close_by_volume", "close_by_money",
    "close_today_by_volume", "close_today_by_money", "last_trading_day", "earlier_ticks",
)  # fmt: skip

_COMMISSION_COLUMNS = COLUMNS[10:16]

# The contracts of the bundled real data (../shared/data, SOURCES.md) and the shipped replay
# file; CZCE ones with a day they traded on, for the decade of their one-digit year.
SEED_CONTRACTS: tuple[tuple[str, date | None], ...] = (
    ("SHFE.rb2401", None),
    ("SHFE.rb2002", None),
    ("SHFE.au1912", None),
    ("SHFE.cu1905", None),
    ("SHFE.cu1909", None),
    ("SHFE.bu1912", None),
    ("DCE.m2005", None),
    ("DCE.jd1909", None),
    ("CFFEX.IF2003", None),
    ("CFFEX.IF2101", None),
    ("CFFEX.IC2105", None),
    ("CFFEX.T2003", None),
    ("CZCE.RM705", date(2017, 3, 20)),
)


def _row_to_product(row: dict[str, str], line: int) -> Product:
    try:
        commission = CommissionRates(
            **{name: float(row[name] or 0) for name in _COMMISSION_COLUMNS}
        )
        return Product(
            exchange=Exchange(row["exchange"]),
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            multiplier=int(row["multiplier"]),
            price_tick=float(row["price_tick"]),
            min_volume=int(row["min_volume"] or 1),
            long_margin_ratio=float(row["long_margin_ratio"]),
            short_margin_ratio=float(row["short_margin_ratio"]),
            limit_ratio=float(row["limit_ratio"]),
            commission=commission,
            last_trading_day=LastTradingDay(row["last_trading_day"])
            if row["last_trading_day"]
            else None,
            earlier_ticks=parse_earlier_ticks(row["earlier_ticks"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{PRODUCTS_FILE} line {line} ({row.get('code')!r}): {exc}") from exc


def parse_products(text: str) -> list[Product]:
    """Products from CSV text in the shipped layout; ``#`` lines are comments."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)), skipinitialspace=True)
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"{PRODUCTS_FILE} header must be: {','.join(COLUMNS)}")
    products = [_row_to_product(row, number) for number, row in enumerate(reader, start=2)]
    keys = [product.key for product in products]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"{PRODUCTS_FILE} lists {', '.join(duplicates)} more than once")
    return products


def shipped_products() -> list[Product]:
    """The products in the data file shipped with this package."""
    text = files("shared.instruments").joinpath("data", PRODUCTS_FILE).read_text("utf-8")
    return parse_products(text)


class ProductCatalogue:
    """Products by exchange and code; resolves contract symbols to instruments."""

    def __init__(self, products: Iterable[Product]) -> None:
        self._by_key = {(product.exchange, product.code): product for product in products}
        self._by_code: dict[str, list[Product]] = {}
        for product in self._by_key.values():
            self._by_code.setdefault(product.code, []).append(product)

    @property
    def products(self) -> list[Product]:
        return list(self._by_key.values())

    def get(self, exchange: Exchange, code: str) -> Product | None:
        return self._by_key.get((exchange, code))

    def product_of(self, symbol: str) -> Product:
        """The product a symbol (``rb2401`` or ``SHFE.rb2401``) belongs to."""
        exchange, bare = split_exchange(symbol.strip())
        code = bare.rstrip("0123456789")
        if exchange is not None:
            found = self.get(exchange, code)
            if found is None:
                raise ValueError(f"no product {code!r} on {exchange} in the catalogue ({symbol!r})")
            return found
        candidates = self._by_code.get(code, [])
        if len(candidates) != 1:
            where = "no exchange" if not candidates else "several exchanges"
            raise ValueError(f"product {code!r} of {symbol!r} is listed on {where}")
        return candidates[0]

    def contract(
        self,
        symbol: str,
        *,
        reference: date | None = None,
        is_trading_day: IsTradingDay | None = None,
    ) -> Instrument:
        return contract_for(
            self.product_of(symbol), symbol, reference=reference, is_trading_day=is_trading_day
        )


def seed_instruments(
    catalogue: ProductCatalogue, is_trading_day: IsTradingDay | None = None
) -> list[Instrument]:
    """The instruments of ``SEED_CONTRACTS``, derived from their products."""
    return [
        catalogue.contract(symbol, reference=reference, is_trading_day=is_trading_day)
        for symbol, reference in SEED_CONTRACTS
    ]
