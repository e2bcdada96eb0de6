"""The instrument catalogue in the database: products and contracts (``products``,
``instruments``). Loads are idempotent upserts that behave alike on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.clock import Clock, utc_now
from shared.domain import CommissionRates, Exchange, Instrument, to_utc
from shared.instruments import (
    IsTradingDay,
    LastTradingDay,
    Product,
    ProductCatalogue,
    format_earlier_ticks,
    parse_earlier_ticks,
    seed_instruments,
    shipped_products,
)
from shared.store.tables import ContractTerms, InstrumentRow, ProductRow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_COMMISSION_FIELDS = CommissionRates.__struct_fields__


def _terms_values(terms: Product | Instrument) -> dict[str, Any]:
    """The `ContractTerms` columns of a product or a contract."""
    return {
        "multiplier": terms.multiplier,
        "price_tick": terms.price_tick,
        "min_volume": terms.min_volume,
        "long_margin_ratio": terms.long_margin_ratio,
        "short_margin_ratio": terms.short_margin_ratio,
        **{f"commission_{name}": getattr(terms.commission, name) for name in _COMMISSION_FIELDS},
    }


def _terms(row: ContractTerms) -> dict[str, Any]:
    """The `ContractTerms` columns as keyword arguments of `Product` or `Instrument`."""
    commission = CommissionRates(
        **{name: getattr(row, f"commission_{name}") for name in _COMMISSION_FIELDS}
    )
    return {
        "multiplier": row.multiplier,
        "price_tick": row.price_tick,
        "min_volume": row.min_volume,
        "long_margin_ratio": row.long_margin_ratio,
        "short_margin_ratio": row.short_margin_ratio,
        "commission": commission,
    }


def _product_values(product: Product) -> dict[str, Any]:
    return {
        "exchange": product.exchange,
        "code": product.code,
        "name_zh": product.name_zh,
        "name_en": product.name_en,
        **_terms_values(product),
        "limit_ratio": product.limit_ratio,
        "currency": product.currency,
        "last_trading_day": product.last_trading_day,
        "earlier_ticks": format_earlier_ticks(product.earlier_ticks),
    }


def _product(row: ProductRow) -> Product:
    return Product(
        exchange=row.exchange,
        code=row.code,
        name_zh=row.name_zh,
        name_en=row.name_en,
        **_terms(row),
        limit_ratio=row.limit_ratio,
        currency=row.currency,
        last_trading_day=LastTradingDay(row.last_trading_day) if row.last_trading_day else None,
        earlier_ticks=parse_earlier_ticks(row.earlier_ticks),
    )


def _instrument_values(instrument: Instrument) -> dict[str, Any]:
    return {
        "exchange": instrument.exchange,
        "symbol": instrument.symbol,
        "product": instrument.product,
        "name": instrument.name,
        **_terms_values(instrument),
        "expires_on": instrument.expires_on,
    }


def instrument_of(row: InstrumentRow) -> Instrument:
    return Instrument(
        symbol=row.symbol,
        exchange=row.exchange,
        product=row.product,
        name=row.name,
        **_terms(row),
        expires_on=row.expires_on,
    )


class CatalogueRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock = utc_now) -> None:
        self._sessions = sessions
        self._clock = clock

    async def load_products(self, products: Iterable[Product], *, replace: bool = True) -> int:
        """Insert the products; an existing one is overwritten when ``replace``, else kept
        (it may carry an operator's margins or fees). Returns how many were given."""
        now = to_utc(self._clock())
        rows = [{**_product_values(product), "updated_at": now} for product in products]
        await self._upsert(ProductRow, rows, ("exchange", "code"), replace=replace)
        return len(rows)

    async def list_products(self, exchange: Exchange | None = None) -> list[Product]:
        query = select(ProductRow).order_by(ProductRow.exchange, ProductRow.code)
        if exchange is not None:
            query = query.where(ProductRow.exchange == exchange)
        async with self._sessions() as session:
            return [_product(row) for row in await session.scalars(query)]

    async def upsert_instruments(
        self, instruments: Iterable[Instrument], *, replace: bool = True
    ) -> int:
        now = to_utc(self._clock())
        rows = [{**_instrument_values(item), "updated_at": now} for item in instruments]
        await self._upsert(InstrumentRow, rows, ("exchange", "symbol"), replace=replace)
        return len(rows)

    async def list_instruments(
        self,
        *,
        exchange: Exchange | None = None,
        product: str | None = None,
        symbol_prefix: str | None = None,
        active_on: date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Instrument]:
        """Instruments by exchange and symbol. ``symbol_prefix`` ignores case; ``active_on``:
        not expired by that day (one without a known last trading day counts as active)."""
        if limit < 1 or offset < 0:
            raise ValueError(f"limit must be >= 1 and offset >= 0, got {limit} and {offset}")
        conditions = _instrument_filters(exchange, product, symbol_prefix, active_on)
        query = (
            select(InstrumentRow)
            .where(*conditions)
            .order_by(InstrumentRow.exchange, InstrumentRow.symbol)
            .limit(limit)
            .offset(offset)
        )
        async with self._sessions() as session:
            return [instrument_of(row) for row in await session.scalars(query)]

    async def count_instruments(
        self,
        *,
        exchange: Exchange | None = None,
        product: str | None = None,
        symbol_prefix: str | None = None,
        active_on: date | None = None,
    ) -> int:
        conditions = _instrument_filters(exchange, product, symbol_prefix, active_on)
        query = select(func.count()).select_from(InstrumentRow).where(*conditions)
        async with self._sessions() as session:
            return await session.scalar(query) or 0

    async def get_instrument(self, exchange: Exchange, symbol: str) -> Instrument | None:
        async with self._sessions() as session:
            row = await session.get(InstrumentRow, (exchange, symbol))
            return None if row is None else instrument_of(row)

    async def _upsert(
        self,
        model: type[ProductRow] | type[InstrumentRow],
        rows: Sequence[dict[str, Any]],
        keys: tuple[str, ...],
        *,
        replace: bool,
    ) -> None:
        if not rows:
            return
        async with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = insert(model)
            if replace:
                updated = {name: statement.excluded[name] for name in rows[0] if name not in keys}
                statement = statement.on_conflict_do_update(index_elements=keys, set_=updated)
            else:
                statement = statement.on_conflict_do_nothing(index_elements=keys)
            await session.execute(statement, list(rows))


def _instrument_filters(
    exchange: Exchange | None,
    product: str | None,
    symbol_prefix: str | None,
    active_on: date | None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if exchange is not None:
        conditions.append(InstrumentRow.exchange == exchange)
    if product is not None:
        conditions.append(InstrumentRow.product == product)
    if symbol_prefix:
        # Case-insensitive on both backends (SQLite's LIKE is, PostgreSQL's is not), and
        # escaped: `_` and `%` in a prefix are characters, not wildcards.
        conditions.append(
            func.lower(InstrumentRow.symbol).startswith(symbol_prefix.lower(), autoescape=True)
        )
    if active_on is not None:
        conditions.append(
            or_(InstrumentRow.expires_on.is_(None), InstrumentRow.expires_on >= active_on)
        )
    return conditions


async def load_shipped_catalogue(
    sessions: async_sessionmaker[AsyncSession],
    *,
    is_trading_day: IsTradingDay | None = None,
    clock: Clock = utc_now,
) -> tuple[int, int]:
    """Load the shipped products and the bundled data's contracts (gateway start-up).

    Rows already present are kept, so an operator's changes survive restarts; a trading
    calendar, when given, fills in the contracts' last trading days.
    Returns (products, instruments) offered.
    """
    repository = CatalogueRepository(sessions, clock)
    loaded = await repository.load_products(shipped_products(), replace=False)
    # Contracts take their terms from the products as stored, operator changes included.
    catalogue = ProductCatalogue(await repository.list_products())
    seeds = seed_instruments(catalogue, is_trading_day)
    seeded = await repository.upsert_instruments(seeds, replace=False)
    return loaded, seeded


async def instrument_table(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Instrument]:
    """Every stored instrument by key ("EXCHANGE.symbol"): the table the gateway trades with."""
    repository = CatalogueRepository(sessions)
    table: dict[str, Instrument] = {}
    page = 5_000
    while batch := await repository.list_instruments(limit=page, offset=len(table)):
        table.update((instrument.key, instrument) for instrument in batch)
        if len(batch) < page:
            break
    return table
