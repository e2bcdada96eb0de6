"""The catalogue repository and migration 0002 on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import msgspec
import pytest
from sqlalchemy import create_engine, func, inspect, select

from shared.domain import CommissionRates, Exchange, Instrument
from shared.instruments import (
    SEED_CONTRACTS,
    ProductCatalogue,
    shipped_products,
    weekdays_except,
)
from shared.store import sync_url
from shared.store.catalogue import CatalogueRepository, load_shipped_catalogue
from shared.store.migrate import downgrade, upgrade
from shared.store.tables import InstrumentRow, ProductRow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CATALOGUE = ProductCatalogue(shipped_products())


def _clock() -> datetime:
    return NOW


def _repository(sessions: async_sessionmaker[AsyncSession]) -> CatalogueRepository:
    return CatalogueRepository(sessions, clock=_clock)


def _contracts(*symbols: str, expires_on: date | None = None) -> list[Instrument]:
    return [
        msgspec.structs.replace(CATALOGUE.contract(symbol), expires_on=expires_on)
        for symbol in symbols
    ]


async def _count(sessions: async_sessionmaker[AsyncSession], model: type[object]) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_products_round_trip(store_sessions: async_sessionmaker[AsyncSession]) -> None:
    repository = _repository(store_sessions)
    shipped = shipped_products()
    assert await repository.load_products(shipped) == len(shipped)

    stored = await repository.list_products()
    assert stored == sorted(shipped, key=lambda product: (product.exchange, product.code))
    gold = next(product for product in stored if product.code == "au")
    assert gold.tick_on(date(2019, 12, 9)) == 0.05  # the tick history survives storage

    czce = await repository.list_products(Exchange.CZCE)
    assert czce
    assert {product.exchange for product in czce} == {Exchange.CZCE}
    assert len(czce) == sum(product.exchange is Exchange.CZCE for product in shipped)


async def test_loading_products_is_idempotent_and_replace_decides(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository = _repository(store_sessions)
    shipped = shipped_products()
    await repository.load_products(shipped)
    await repository.load_products(shipped)
    assert await _count(store_sessions, ProductRow) == len(shipped)

    rebar = next(product for product in shipped if product.code == "rb")
    overridden = msgspec.structs.replace(
        rebar, long_margin_ratio=0.15, commission=CommissionRates(open_by_volume=7.5)
    )
    await repository.load_products([overridden])
    # Loading the shipped defaults without replace keeps the operator's values ...
    await repository.load_products(shipped, replace=False)
    stored = {product.code: product for product in await repository.list_products(Exchange.SHFE)}
    assert stored["rb"] == overridden
    # ... and with replace restores the defaults.
    await repository.load_products(shipped)
    stored = {product.code: product for product in await repository.list_products(Exchange.SHFE)}
    assert stored["rb"] == rebar
    assert await _count(store_sessions, ProductRow) == len(shipped)


async def test_instruments_round_trip_and_upsert(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository = _repository(store_sessions)
    (rebar,) = _contracts("SHFE.rb2401", expires_on=date(2024, 1, 15))
    await repository.upsert_instruments([rebar])
    assert await repository.get_instrument(Exchange.SHFE, "rb2401") == rebar
    assert await repository.get_instrument(Exchange.DCE, "rb2401") is None
    assert await repository.get_instrument(Exchange.SHFE, "RB2401") is None

    changed = msgspec.structs.replace(rebar, short_margin_ratio=0.2)
    await repository.upsert_instruments([changed])
    assert await repository.get_instrument(Exchange.SHFE, "rb2401") == changed
    await repository.upsert_instruments([rebar], replace=False)  # keeps the stored row
    assert await repository.get_instrument(Exchange.SHFE, "rb2401") == changed
    assert await _count(store_sessions, InstrumentRow) == 1
    assert await repository.upsert_instruments([]) == 0


async def test_instrument_filters(store_sessions: async_sessionmaker[AsyncSession]) -> None:
    repository = _repository(store_sessions)
    await repository.upsert_instruments(
        [
            *_contracts("SHFE.rb2401", "SHFE.rb2405", expires_on=date(2024, 1, 15)),
            *_contracts("SHFE.hc2401", "CFFEX.IF2101", "CFFEX.IC2105"),
            *_contracts("DCE.m2005", expires_on=date(2020, 5, 19)),
        ]
    )

    def keys(items: list[Instrument]) -> list[str]:
        return [item.key for item in items]

    everything = await repository.list_instruments()
    # Ordered by exchange, then symbol.
    assert keys(everything) == [
        "CFFEX.IC2105", "CFFEX.IF2101", "DCE.m2005", "SHFE.hc2401", "SHFE.rb2401", "SHFE.rb2405",
    ]  # fmt: skip
    assert keys(await repository.list_instruments(exchange=Exchange.SHFE)) == keys(everything)[3:]
    assert keys(await repository.list_instruments(product="rb")) == ["SHFE.rb2401", "SHFE.rb2405"]
    assert keys(await repository.list_instruments(symbol_prefix="rb24")) == keys(everything)[4:]
    assert keys(await repository.list_instruments(symbol_prefix="I")) == keys(everything)[:2]
    assert keys(await repository.list_instruments(symbol_prefix="RB24")) == keys(everything)[4:]
    assert keys(await repository.list_instruments(symbol_prefix="if")) == ["CFFEX.IF2101"]
    # `_` and `%` are characters in a prefix, not wildcards.
    assert await repository.list_instruments(symbol_prefix="r_") == []
    assert await repository.list_instruments(symbol_prefix="%") == []
    # Not expired by that day; the unknown expiries count as active.
    active = await repository.list_instruments(active_on=date(2021, 6, 1))
    assert "DCE.m2005" not in keys(active)
    assert len(active) == 5
    active = await repository.list_instruments(active_on=date(2024, 2, 1))
    assert keys(active) == ["CFFEX.IC2105", "CFFEX.IF2101", "SHFE.hc2401"]
    active = await repository.list_instruments(active_on=date(2020, 5, 19))
    assert "DCE.m2005" in keys(active)  # its last trading day is still active

    first, second = (
        await repository.list_instruments(limit=4, offset=0),
        await repository.list_instruments(limit=4, offset=4),
    )
    assert keys(first + second) == keys(everything)
    assert await repository.count_instruments() == 6
    assert await repository.count_instruments(exchange=Exchange.CFFEX, symbol_prefix="IF") == 1
    with pytest.raises(ValueError, match="limit"):
        await repository.list_instruments(limit=0)


async def test_shipped_catalogue_loads_once_and_keeps_operator_changes(
    store_sessions: async_sessionmaker[AsyncSession],
) -> None:
    calendar = weekdays_except(set())
    loaded = await load_shipped_catalogue(store_sessions, is_trading_day=calendar, clock=_clock)
    assert loaded == (len(shipped_products()), len(SEED_CONTRACTS))
    repository = _repository(store_sessions)
    index = await repository.get_instrument(Exchange.CFFEX, "IF2101")
    assert index is not None
    assert (index.multiplier, index.price_tick, index.expires_on) == (300, 0.2, date(2021, 1, 15))
    meal = await repository.get_instrument(Exchange.CZCE, "RM705")
    assert meal is not None
    assert meal.product == "RM"

    await repository.upsert_instruments([msgspec.structs.replace(index, long_margin_ratio=0.2)])
    await load_shipped_catalogue(store_sessions, is_trading_day=calendar, clock=_clock)
    assert await _count(store_sessions, InstrumentRow) == len(SEED_CONTRACTS)
    assert await _count(store_sessions, ProductRow) == len(shipped_products())
    again = await repository.get_instrument(Exchange.CFFEX, "IF2101")
    assert again is not None
    assert again.long_margin_ratio == 0.2


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


async def test_migration_0002_adds_and_drops_only_products(store_url: str) -> None:
    await asyncio.to_thread(upgrade, store_url, "0001")
    before = await asyncio.to_thread(_tables, store_url)
    assert "products" not in before
    await asyncio.to_thread(upgrade, store_url, "0002")
    assert await asyncio.to_thread(_tables, store_url) == before | {"products"}
    await asyncio.to_thread(downgrade, store_url, "0001")
    assert await asyncio.to_thread(_tables, store_url) == before
