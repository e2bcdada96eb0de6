"""The catalogue against the real market data in ../shared/data (see its SOURCES.md).

Independent checks: prices only ever land on the tick grid the catalogue says was in force,
the exchanges' own turnover implies the multiplier, CFFEX's published limit prices follow
from the limit ratio, and the last rows of expired contracts fall on their last trading days.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from shared.domain import Exchange, is_on_tick, prices_equal
from shared.instruments import (
    SEED_CONTRACTS,
    Product,
    ProductCatalogue,
    last_trading_day,
    shipped_products,
    weekdays_except,
)

PRICE_COLUMNS = {  # lower-cased
    "open", "high", "low", "close", "open_price", "high_price", "low_price", "close_price",
    "lastprice", "last_price", "openprice", "highestprice", "lowestprice",
}  # fmt: skip
# Files named EXCHANGE_symbol_...: the contract they hold. IC_tick and the HOT series are
# continuous main-contract data, whose product is all that matters here.
FILE_NAME = re.compile(r"(?P<exchange>[A-Z]+)_(?P<product>[A-Za-z]+)(?P<digits>\d*)_")
# Whose old tick is a whole multiple of today's (bu traded in steps of 2 before today's 1): the
# data sits on the current grid but on a coarser one too, so only the first half applies.
COARSER_IN_THE_DATA = {"SHFE_bu1912_1m.csv"}


@pytest.fixture(scope="module")
def catalogue() -> ProductCatalogue:
    return ProductCatalogue(shipped_products())


def _data_files(shared_data: Path) -> list[Path]:
    root = shared_data / "cn_futures"
    return sorted(path for path in root.glob("*/*.csv"))


def _product_of(path: Path, catalogue: ProductCatalogue) -> Product:
    match = FILE_NAME.match(path.name)
    assert match is not None, path.name
    product = catalogue.get(Exchange(match["exchange"]), match["product"])
    assert product is not None, path.name
    return product


def _prices_by_day(path: Path) -> pl.DataFrame:
    """Distinct (day, price) pairs of every price column; the day is the trading day where the
    file has one and the calendar day otherwise (no file's night session borders a tick change)."""
    header = pl.read_csv(path, n_rows=0).columns
    # WonderTrader's header reads `<Date>, <Time>, <Open>...`.
    names = {name: name.strip(" <>\ufeff") for name in header}
    day_column = next(
        name for name, clean in names.items() if clean in {"TradingDay", "datetime", "Date", "date"}
    )
    columns = [name for name, clean in names.items() if clean.lower() in PRICE_COLUMNS]
    assert columns, f"{path.name}: no price column in {header}"
    # Text in, so that the day keeps its form; only the prices are parsed.
    text = pl.scan_csv(path, infer_schema=False).select(day_column, *columns)
    day = pl.col(day_column).str.replace_all("/", "-").str.slice(0, 10)
    long = text.select(day.alias("day"), *[pl.col(name).cast(pl.Float64) for name in columns])
    frame = long.collect().unpivot(index="day", value_name="price")
    return frame.filter(pl.col("price") > 0).select("day", "price").unique()


def _day(text: str) -> date:
    """YYYY-MM-DD, unpadded YYYY-M-D (WonderTrader) or YYYYMMDD (CTP's TradingDay)."""
    if "-" not in text:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    year, month, day = (int(part) for part in text.split("-"))
    return date(year, month, day)


def _prices_by_tick(path: Path, product: Product) -> list[tuple[float, float]]:
    """Distinct (tick in force that day, price) pairs of a file."""
    pairs = _prices_by_day(path)
    ticks = {day: product.tick_on(_day(day)) for day in pairs["day"].unique()}
    with_tick = pairs.with_columns(
        tick=pl.col("day").replace_strict(ticks, return_dtype=pl.Float64)
    )
    return list(with_tick.select("tick", "price").unique().iter_rows())


def test_every_price_lies_on_the_tick_grid_in_force(
    shared_data: Path, catalogue: ProductCatalogue
) -> None:
    files = _data_files(shared_data)
    assert len(files) >= 15
    for path in files:
        product = _product_of(path, catalogue)
        pairs = _prices_by_tick(path, product)
        off_grid = [(tick, price) for tick, price in pairs if not is_on_tick(price, tick)]
        assert not off_grid, f"{path.name}: {off_grid[:5]} off the {product.code} grid"
        if path.name in COARSER_IN_THE_DATA:
            continue
        # And the tick is not too fine: the data uses the grid, not just a coarser one.
        for coarser in (2, 5):
            on_coarser = all(is_on_tick(price, coarser * tick) for tick, price in pairs)
            assert not on_coarser, f"{path.name}: every price is on {coarser} ticks"


def test_gold_needed_its_tick_history(shared_data: Path, catalogue: ProductCatalogue) -> None:
    """Without the 0.05 -> 0.02 change, half of 2019's gold prices would be off-grid."""
    gold = catalogue.get(Exchange.SHFE, "au")
    assert gold is not None
    pairs = _prices_by_day(shared_data / "cn_futures" / "bar_1d" / "SHFE_au1912_1d.csv")
    before = [price for day, price in pairs.iter_rows() if _day(day) < date(2019, 12, 10)]
    after = [price for day, price in pairs.iter_rows() if _day(day) >= date(2019, 12, 10)]
    assert sum(not is_on_tick(price, gold.price_tick) for price in before) > len(before) / 3
    assert any(not is_on_tick(price, 0.05) for price in after)


def _median(values: pl.Series) -> float:
    median = values.median()
    assert isinstance(median, float)
    return median


def test_turnover_implies_the_multiplier(shared_data: Path, catalogue: ProductCatalogue) -> None:
    ticks = shared_data / "cn_futures" / "tick"
    implied: dict[tuple[Exchange, str], float] = {}

    frame = pl.read_csv(ticks / "CFFEX_IF2101_tick_20210104.csv", infer_schema_length=None)
    trades = frame.with_columns(
        lots=pl.col("Volume").diff(), money=pl.col("Turnover").diff()
    ).filter(pl.col("lots") > 0)
    # One tick's trades all at the last price is an approximation; the median is exact.
    implied[Exchange.CFFEX, "IF"] = _median(
        trades["money"] / (trades["lots"] * trades["LastPrice"])
    )

    frame = pl.read_csv(ticks / "CFFEX_IC_tick_20210427.csv").filter(pl.col("LastVolume") > 0)
    implied[Exchange.CFFEX, "IC"] = _median(
        frame["LastTurnover"] / (frame["LastVolume"] * frame["LastPrice"])
    )

    frame = pl.read_csv(ticks / "SHFE_cu1909_tick_20190916_tq.csv")
    # TQ's `average` is the day's VWAP per unit: amount / volume / average = multiplier.
    implied[Exchange.SHFE, "cu"] = _median(frame["amount"] / (frame["volume"] * frame["average"]))

    bars = shared_data / "cn_futures" / "bar_1m" / "SHFE_rb2401_1m_ctpbee.csv"
    frame = pl.read_csv(bars).filter(pl.col("volume") > 0)
    implied[Exchange.SHFE, "rb"] = _median(
        frame["turnover"] / (frame["volume"] * frame["close_price"])
    )

    for key, value in implied.items():
        product = catalogue.get(*key)
        assert product is not None
        assert abs(value / product.multiplier - 1) < 0.002, (key, value)


def test_cffex_limit_prices_follow_from_the_limit_ratio(
    shared_data: Path, catalogue: ProductCatalogue
) -> None:
    index = catalogue.get(Exchange.CFFEX, "IF")
    assert index is not None
    for path in sorted((shared_data / "cn_futures" / "tick").glob("CFFEX_IF2101_tick_*.csv")):
        published = (
            pl.scan_csv(path, infer_schema=False)
            .select(
                pl.col("PreSettlementPrice", "LowerLimitPrice", "UpperLimitPrice").cast(pl.Float64)
            )
            .unique()
            .collect()
        )
        assert published.height == 1, path.name
        pre_settlement, lower, upper = published.row(0)
        computed = index.limit_prices(pre_settlement)
        assert prices_equal(computed[0], lower, index.price_tick), (path.name, computed)
        assert prices_equal(computed[1], upper, index.price_tick), (path.name, computed)
        # Not trivially: a limit one point off would already miss by several ticks.
        assert not prices_equal(
            pre_settlement * (1 + index.limit_ratio + 0.01), upper, index.price_tick
        )


@pytest.mark.parametrize(
    ("file", "code", "delivery"),
    [
        # The last row of an expired contract's series is its last trading day.
        ("bar_1m/SHFE_cu1905_1m.csv", "cu", (2019, 5)),
        ("bar_1d/SHFE_au1912_1d.csv", "au", (2019, 12)),
        ("bar_1d/DCE_jd1909_1d.csv", "jd", (2019, 9)),
    ],
)
def test_last_rows_of_expired_contracts_fall_on_the_last_trading_day(
    shared_data: Path, catalogue: ProductCatalogue, file: str, code: str, delivery: tuple[int, int]
) -> None:
    frame = pl.read_csv(shared_data / "cn_futures" / file)
    last_row_day = _day(frame["datetime"][-1][:10])
    product = next(item for item in catalogue.products if item.code == code)
    assert product.last_trading_day is not None
    # None of these months had an exchange holiday near its last trading day.
    expected = last_trading_day(product.last_trading_day, *delivery, weekdays_except(set()))
    assert last_row_day == expected


def test_every_contract_file_is_a_seed(shared_data: Path) -> None:
    seeds = {symbol for symbol, _ in SEED_CONTRACTS}
    for path in _data_files(shared_data):
        match = FILE_NAME.match(path.name)
        assert match is not None
        if match["digits"]:
            assert f"{match['exchange']}.{match['product']}{match['digits']}" in seeds, path.name
