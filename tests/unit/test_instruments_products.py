"""The shipped product file and the Product model's own rules."""

from __future__ import annotations

import math
from datetime import date

import msgspec
import pytest

from shared.domain import CommissionRates, Exchange, prices_equal
from shared.instruments import (
    COLUMNS,
    LOWER_CASE_EXCHANGES,
    EarlierTick,
    Product,
    format_earlier_ticks,
    parse_earlier_ticks,
    parse_products,
    shipped_products,
)

# The list of main products, and the extra ones the file promises.
REQUIRED = {
    Exchange.SHFE: {"rb", "hc", "cu", "al", "zn", "ni", "au", "ag", "bu", "ru", "fu"},
    Exchange.INE: {"sc"},
    Exchange.DCE: {"m", "y", "p", "c", "i", "j", "jm", "jd"},
    Exchange.CZCE: {"SR", "CF", "TA", "MA", "RM", "FG"},
    Exchange.CFFEX: {"IF", "IH", "IC", "IM", "T", "TF", "TS"},
}
EXTRA = {
    Exchange.SHFE: {"ss", "sn", "pb", "sp"},
    Exchange.INE: {"lu", "nr", "bc"},
    Exchange.DCE: {"eb", "eg", "pp", "l", "v", "a", "b", "cs", "lh", "pg"},
    Exchange.CZCE: {"AP", "SA", "UR", "PF", "SF", "SM", "OI", "ZC"},
    Exchange.CFFEX: {"TL"},
    Exchange.GFEX: {"lc", "si"},
}


@pytest.fixture(scope="module")
def products() -> dict[tuple[Exchange, str], Product]:
    return {(product.exchange, product.code): product for product in shipped_products()}


def _rb(**changes: object) -> Product:
    base = Product(
        exchange=Exchange.SHFE, code="rb", name_zh="螺纹钢", name_en="Rebar", multiplier=10,
        price_tick=1.0, long_margin_ratio=0.08, short_margin_ratio=0.08, limit_ratio=0.06,
    )  # fmt: skip
    return msgspec.structs.replace(base, **changes)


def test_every_listed_product_is_shipped(products: dict[tuple[Exchange, str], Product]) -> None:
    for exchange, codes in REQUIRED.items():
        missing = {code for code in codes if (exchange, code) not in products}
        assert not missing, f"{exchange}: {missing}"
    for exchange, codes in EXTRA.items():
        assert codes <= {code for (ex, code) in products if ex is exchange}, exchange


def test_shipped_values_are_sane(products: dict[tuple[Exchange, str], Product]) -> None:
    assert len(products) >= 60
    for product in products.values():
        assert product.price_tick > 0
        assert product.multiplier > 0
        assert 0 < product.limit_ratio < 0.3
        assert product.currency == "CNY"
        assert product.name_zh
        assert product.name_en
        # One limit move must not eat more than the margin: exchanges keep margin >= limit.
        assert min(product.long_margin_ratio, product.short_margin_ratio) >= product.limit_ratio
        # Ticks are 1, 2 or 5 times a power of ten (a typo such as 0.3 or 7 would show here).
        scale = 10.0 ** math.floor(math.log10(product.price_tick))
        assert any(prices_equal(product.price_tick, step * scale, scale) for step in (1, 2, 5))
        # Fees are either per lot (a few CNY, ZC's deterrent 150) or per turnover (<= 0.1 %).
        fees = product.commission
        assert max(fees.open_by_money, fees.close_by_money, fees.close_today_by_money) < 0.001
        assert max(fees.open_by_volume, fees.close_by_volume, fees.close_today_by_volume) <= 150
        assert fees.open_by_money > 0 or fees.open_by_volume > 0
        # The data follows each exchange's case convention (validated on construction too).
        lower = product.exchange in LOWER_CASE_EXCHANGES
        assert product.code == (product.code.lower() if lower else product.code.upper())


def test_contract_specifications_of_the_bundled_data_products(
    products: dict[tuple[Exchange, str], Product],
) -> None:
    # The products of the real data; each is also checked against the data itself in
    # test_instruments_real_data.py.
    expected = {
        (Exchange.CFFEX, "IF"): (300, 0.2),
        (Exchange.CFFEX, "IC"): (200, 0.2),
        (Exchange.CFFEX, "T"): (10000, 0.005),
        (Exchange.SHFE, "au"): (1000, 0.02),
        (Exchange.SHFE, "cu"): (5, 10.0),
        (Exchange.SHFE, "rb"): (10, 1.0),
        (Exchange.SHFE, "bu"): (10, 1.0),
        (Exchange.DCE, "m"): (10, 1.0),
        (Exchange.DCE, "jd"): (10, 1.0),
        (Exchange.CZCE, "RM"): (10, 1.0),
    }
    for key, (multiplier, tick) in expected.items():
        assert (products[key].multiplier, products[key].price_tick) == (multiplier, tick), key


def test_tick_history(products: dict[tuple[Exchange, str], Product]) -> None:
    gold = products[Exchange.SHFE, "au"]
    assert gold.tick_on(date(2019, 12, 9)) == 0.05
    assert gold.tick_on(date(2019, 12, 10)) == 0.02
    assert gold.tick_on(date(2026, 1, 5)) == gold.price_tick
    assert products[Exchange.SHFE, "rb"].tick_on(date(2001, 1, 1)) == 1.0


def test_earlier_ticks_text_round_trip() -> None:
    changes = (
        EarlierTick(until=date(2010, 1, 4), tick=0.1),
        EarlierTick(until=date(2019, 12, 10), tick=0.05),
    )
    text = format_earlier_ticks(changes)
    assert text == "0.1<2010-01-04;0.05<2019-12-10"
    assert parse_earlier_ticks(text) == changes
    assert parse_earlier_ticks("") == ()
    with pytest.raises(ValueError, match="TICK<YYYY-MM-DD"):
        parse_earlier_ticks("0.05@2019-12-10")


def test_limit_prices_round_inwards_onto_the_grid() -> None:
    index = _rb(exchange=Exchange.CFFEX, code="IF", price_tick=0.2, limit_ratio=0.1)
    # 4000.1 * 1.1 = 4400.11 -> down to 4400.0; 4000.1 * 0.9 = 3600.09 -> up to 3600.2.
    assert index.limit_prices(4000.1) == (3600.2, 4400.0)
    # Exactly on the grid stays there despite binary floating point (3 * 1.1 = 3.3000000000000003).
    assert _rb(price_tick=0.1, limit_ratio=0.1).limit_prices(3.0) == (2.7, 3.3)
    with pytest.raises(ValueError, match="settlement"):
        index.limit_prices(0.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code": "RB"}, "lower case"),
        ({"exchange": Exchange.CZCE, "code": "sr"}, "upper case"),
        ({"code": "r2"}, "ASCII letters"),
        ({"multiplier": 0}, "multiplier"),
        ({"price_tick": -1.0}, "price_tick"),
        ({"min_volume": 0}, "min_volume"),
        ({"long_margin_ratio": 1.2}, "long_margin_ratio"),
        ({"limit_ratio": 7.0}, "limit_ratio"),  # a percentage where a fraction belongs
        ({"limit_ratio": 0.0}, "limit_ratio"),
        (
            {"earlier_ticks": (EarlierTick(until=date(2020, 1, 1), tick=2.0),) * 2},
            "increasing",
        ),
    ],
)
def test_invalid_products_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _rb(**changes)


def test_decoding_validates_like_construction() -> None:
    good = msgspec.json.encode(_rb())
    assert msgspec.json.decode(good, type=Product) == _rb()
    bad = good.replace(b'"code":"rb"', b'"code":"RB"')
    with pytest.raises(msgspec.ValidationError, match="lower case"):
        msgspec.json.decode(bad, type=Product)


def _csv(*rows: str) -> str:
    return "\n".join(["# a comment", ",".join(COLUMNS), *rows])


RB_ROW = "SHFE,rb,螺纹钢,Rebar,10,1,1,0.08,0.08,0.06,0,0.0001,0,0.0001,0,0.0001,day_15,"


def test_parse_products_reads_the_layout() -> None:
    (product,) = parse_products(_csv(RB_ROW))
    assert product.commission == CommissionRates(
        open_by_money=0.0001, close_by_money=0.0001, close_today_by_money=0.0001
    )
    assert product.last_trading_day == "day_15"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_csv(RB_ROW, RB_ROW), "SHFE.rb more than once"),
        (_csv(RB_ROW.replace(",10,1,1,", ",ten,1,1,")), r"line 2 \('rb'\).*ten"),
        (_csv(RB_ROW.replace("day_15", "day_16")), "line 2.*day_16"),
        (_csv(RB_ROW.replace("SHFE", "SHFX")), "line 2.*SHFX"),
        ("exchange,code\nSHFE,rb", "header"),
    ],
)
def test_parse_products_names_the_bad_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_products(text)
