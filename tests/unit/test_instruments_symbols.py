"""Contract symbols of every exchange, CZCE's one-digit years, and last trading days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import Exchange
from shared.instruments import (
    SEED_CONTRACTS,
    LastTradingDay,
    ProductCatalogue,
    YearMonth,
    contract_for,
    last_trading_day,
    parse_symbol,
    seed_instruments,
    shipped_products,
    split_exchange,
    weekdays_except,
)

WEEKDAYS = weekdays_except(set())


@pytest.fixture(scope="module")
def catalogue() -> ProductCatalogue:
    return ProductCatalogue(shipped_products())


@pytest.mark.parametrize(
    ("symbol", "product", "delivery"),
    [
        ("rb2401", "rb", (2024, 1)),
        ("SHFE.rb2401", "rb", (2024, 1)),
        ("INE.sc2312", "sc", (2023, 12)),
        ("DCE.m2005", "m", (2020, 5)),
        ("GFEX.lc2407", "lc", (2024, 7)),
        ("CFFEX.IF2101", "IF", (2021, 1)),
        ("T2003", "T", (2020, 3)),
        ("CZCE.SR2401", "SR", (2024, 1)),  # some vendors write CZCE with four digits
        (" rb2401 ", "rb", (2024, 1)),
    ],
)
def test_four_digit_symbols(symbol: str, product: str, delivery: tuple[int, int]) -> None:
    parsed = parse_symbol(symbol)
    assert parsed == (product, delivery)
    assert parsed.delivery == YearMonth(*delivery)
    assert str(parsed.delivery) == f"{delivery[0]}-{delivery[1]:02d}"


@pytest.mark.parametrize(
    ("symbol", "reference", "year"),
    [
        ("CZCE.RM705", date(2017, 3, 20), 2017),  # the vn.py tick file's own day
        ("SR401", date(2023, 9, 1), 2024),  # listed a year ahead
        ("SR001", date(2029, 12, 31), 2030),  # across the decade, forwards
        ("SR912", date(2030, 1, 2), 2029),  # and backwards: data read just after expiry
        ("SR912", date(2031, 6, 1), 2029),  # up to two years later
        ("SR912", date(2022, 6, 1), 2029),  # a contract listed up to 7 years ahead
    ],
)
def test_czce_decade_from_the_reference_date(symbol: str, reference: date, year: int) -> None:
    assert parse_symbol(symbol, reference=reference).delivery.year == year


@given(
    year=st.integers(min_value=2005, max_value=2095),
    month=st.integers(min_value=1, max_value=12),
    offset_days=st.integers(min_value=-7 * 365 + 1, max_value=2 * 365 - 1),
)
def test_czce_year_is_right_anywhere_in_the_window(year: int, month: int, offset_days: int) -> None:
    """Read on any day from seven years before its delivery to two years after, a CZCE
    symbol names the year it was written for."""
    reference = date(year, month, 1) + timedelta(days=offset_days)
    symbol = f"CF{year % 10}{month:02d}"
    assert parse_symbol(symbol, reference=reference).delivery == (year, month)


@pytest.mark.parametrize(
    ("symbol", "message"),
    [
        ("", "must not be empty"),
        ("SHFE.", "must not be empty"),
        ("2401", "product code followed by"),
        ("rb", "product code followed by"),
        ("rb-2401", "product code followed by"),
        ("rb2401x", "product code followed by"),
        ("螺纹2401", "product code followed by"),
        ("abcde2401", "longer than 4 letters"),
        ("rb24011", "must be YYMM"),
        ("rb24", "must be YYMM"),
        ("rb2413", "month 13"),
        ("rb2400", "month 00"),
        ("SHFX.rb2401", "unknown exchange 'SHFX'"),
        ("SHFE.RB2401", "SHFE writes it in lower case"),
        ("CFFEX.if2101", "CFFEX writes it in upper case"),
        ("CZCE.sr401", "CZCE writes it in upper case"),
        ("rb401", "only CZCE uses"),
        ("SHFE.RB401", "lower case"),
        ("CFFEX.IF101", "only CZCE uses"),
        ("SR401", "pass `reference`"),
    ],
)
def test_garbage_is_refused_naming_the_wrong_part(symbol: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_symbol(symbol, reference=None)


def test_split_exchange() -> None:
    assert split_exchange("CFFEX.IF2101") == (Exchange.CFFEX, "IF2101")
    assert split_exchange("IF2101") == (None, "IF2101")
    with pytest.raises(ValueError, match="expected one of SHFE, INE, DCE, CZCE, CFFEX, GFEX"):
        split_exchange("cffex.IF2101")


def test_contract_takes_the_products_terms(catalogue: ProductCatalogue) -> None:
    product = catalogue.get(Exchange.SHFE, "rb")
    assert product is not None
    rebar = contract_for(product, "rb2401")
    assert (rebar.symbol, rebar.exchange, rebar.product) == ("rb2401", Exchange.SHFE, "rb")
    assert (rebar.multiplier, rebar.price_tick) == (product.multiplier, product.price_tick)
    assert rebar.long_margin_ratio == product.long_margin_ratio
    assert rebar.commission == product.commission
    assert rebar.name == "螺纹钢2401"
    assert rebar.key == "SHFE.rb2401"
    assert rebar.expires_on is None  # no calendar given: no guessed date
    assert contract_for(product, "SHFE.rb2401") == rebar


def test_czce_contracts_keep_the_exchanges_three_digits(catalogue: ProductCatalogue) -> None:
    from_four = catalogue.contract("CZCE.SR2401")
    from_three = catalogue.contract("SR401", reference=date(2023, 6, 1))
    assert from_four.symbol == from_three.symbol == "SR401"
    assert from_four.exchange is Exchange.CZCE


def test_contract_for_refuses_another_products_symbol(catalogue: ProductCatalogue) -> None:
    rebar = catalogue.get(Exchange.SHFE, "rb")
    assert rebar is not None
    with pytest.raises(ValueError, match=r"contract of 'hc', not of SHFE\.rb"):
        contract_for(rebar, "hc2401")
    with pytest.raises(ValueError, match=r"on DCE, but SHFE\.rb is on SHFE"):
        contract_for(rebar, "DCE.rb2401")
    with pytest.raises(ValueError, match="lower case"):
        contract_for(rebar, "RB2401")


def test_catalogue_resolves_products_by_code(catalogue: ProductCatalogue) -> None:
    assert catalogue.product_of("IF2101").exchange is Exchange.CFFEX
    assert catalogue.product_of("SHFE.au1912").code == "au"
    with pytest.raises(ValueError, match="no product 'xx' on SHFE"):
        catalogue.product_of("SHFE.xx2401")
    with pytest.raises(ValueError, match="listed on no exchange"):
        catalogue.product_of("xx2401")


def test_seed_contracts_resolve(catalogue: ProductCatalogue) -> None:
    seeds = seed_instruments(catalogue)
    assert [seed.key for seed in seeds] == [symbol for symbol, _ in SEED_CONTRACTS]
    by_key = {seed.key: seed for seed in seeds}
    assert by_key["CZCE.RM705"].multiplier == 10
    assert by_key["CFFEX.IF2101"].multiplier == 300


# Last trading days. Rules from the exchanges' contract texts; the expected dates are those
# rules applied by hand to a calendar (weekday + the month's public holidays).
@pytest.mark.parametrize(
    ("rule", "delivery", "holidays", "expected"),
    [
        (LastTradingDay.DAY_15, (2024, 1), set(), date(2024, 1, 15)),  # a Monday
        (LastTradingDay.DAY_15, (2020, 2), set(), date(2020, 2, 17)),  # Sat 15th -> Monday
        # The 15th inside the Spring Festival closure (15-21 Feb 2018) moves past all of it.
        (
            LastTradingDay.DAY_15,
            (2018, 2),
            {date(2018, 2, day) for day in range(15, 22)},
            date(2018, 2, 22),
        ),
        (LastTradingDay.TRADING_DAY_10, (2020, 3), set(), date(2020, 3, 13)),
        # Labour Day 2020 closed the exchanges 1-5 May: the 10th trading day is the 19th.
        (
            LastTradingDay.TRADING_DAY_10,
            (2020, 5),
            {date(2020, 5, day) for day in range(1, 6)},
            date(2020, 5, 19),
        ),
        (LastTradingDay.TRADING_DAY_LAST_4, (2019, 9), set(), date(2019, 9, 25)),
        (LastTradingDay.PREVIOUS_MONTH_LAST, (2023, 12), set(), date(2023, 11, 30)),
        (LastTradingDay.PREVIOUS_MONTH_LAST, (2024, 1), {date(2023, 12, 29)}, date(2023, 12, 28)),
        (LastTradingDay.FRIDAY_3, (2021, 1), set(), date(2021, 1, 15)),  # IF2101
        (LastTradingDay.FRIDAY_2, (2020, 3), set(), date(2020, 3, 13)),  # T2003
        # Spring Festival 2018 (15-21 Feb) covered the third Friday: the next trading day.
        (
            LastTradingDay.FRIDAY_3,
            (2018, 2),
            {date(2018, 2, day) for day in range(15, 22)},
            date(2018, 2, 22),
        ),
    ],
)
def test_last_trading_day_rules(
    rule: LastTradingDay, delivery: tuple[int, int], holidays: set[date], expected: date
) -> None:
    assert last_trading_day(rule, *delivery, weekdays_except(holidays)) == expected


def test_expiry_is_filled_in_with_a_calendar(catalogue: ProductCatalogue) -> None:
    index = catalogue.contract("CFFEX.IF2101", is_trading_day=WEEKDAYS)
    assert index.expires_on == date(2021, 1, 15)
    # A product whose rule is not recorded gets no date rather than a guessed one.
    assert catalogue.contract("GFEX.lc2407", is_trading_day=WEEKDAYS).expires_on is None


def test_a_calendar_without_trading_days_is_an_error() -> None:
    with pytest.raises(ValueError, match="no trading day"):
        last_trading_day(LastTradingDay.DAY_15, 2024, 1, lambda _day: False)
    with pytest.raises(ValueError, match="only 0 trading days"):
        last_trading_day(LastTradingDay.TRADING_DAY_10, 2024, 1, lambda _day: False)


def test_a_calendar_not_covering_the_month_leaves_the_expiry_empty(
    catalogue: ProductCatalogue,
) -> None:
    def calendar_of_2021(day: date) -> bool:
        if day.year != 2021:
            raise LookupError(f"{day} is outside the calendar")
        return day.weekday() < 5

    assert catalogue.contract("IF2101", is_trading_day=calendar_of_2021).expires_on == date(
        2021, 1, 15
    )
    assert catalogue.contract("IF2003", is_trading_day=calendar_of_2021).expires_on is None
