from __future__ import annotations

from datetime import date, time

import pytest

from shared.domain import Exchange
from shared.sessions import (
    ProductSessions,
    Schedule,
    Session,
    SessionKind,
    UnknownProductError,
    load_sessions,
    parse_sessions_toml,
)

CATALOG = load_sessions()
TODAY = date(2026, 6, 1)

# The issue's product list with each product's exchange (exchange rule books).
ISSUE_PRODUCTS = {
    **dict.fromkeys(["rb", "hc", "cu", "al", "zn", "ni", "au", "ag", "bu", "ru", "fu"], "SHFE"),
    "sc": "INE",
    **dict.fromkeys(["m", "y", "p", "c", "i", "j", "jm", "jd"], "DCE"),
    **dict.fromkeys(["SR", "CF", "TA", "MA", "RM", "FG"], "CZCE"),
    **dict.fromkeys(["IF", "IH", "IC", "IM", "T", "TF", "TS"], "CFFEX"),
}
# Today's night-session end per product, as the exchanges publish it (None: no night session).
NIGHT_ENDS = {
    **dict.fromkeys(["au", "ag", "sc"], time(2, 30)),
    **dict.fromkeys(["cu", "al", "zn", "ni"], time(1, 0)),
    **dict.fromkeys(["rb", "hc", "bu", "ru", "fu"], time(23, 0)),
    **dict.fromkeys(["m", "y", "p", "c", "i", "j", "jm"], time(23, 0)),
    **dict.fromkeys(["SR", "CF", "TA", "MA", "RM", "FG"], time(23, 0)),
    **dict.fromkeys(["jd", "IF", "IH", "IC", "IM", "T", "TF", "TS"], None),
}
COMMODITY_DAY = [(time(9), time(10, 15)), (time(10, 30), time(11, 30)), (time(13, 30), time(15))]


def _spans(schedule: Schedule) -> list[tuple[time, time]]:
    return [(s.start, s.end) for s in schedule.day]


@pytest.mark.parametrize(("product", "exchange"), sorted(ISSUE_PRODUCTS.items()))
def test_every_issue_product_has_todays_hours(product: str, exchange: str) -> None:
    sessions = CATALOG.for_product(product)
    assert sessions.exchange is Exchange(exchange)
    schedule = sessions.schedule_on(TODAY)
    night_end = NIGHT_ENDS[product]
    if night_end is None:
        assert schedule.night is None
    else:
        assert schedule.night is not None
        assert (schedule.night.start, schedule.night.end) == (time(21), night_end)
    if exchange != "CFFEX":
        assert _spans(schedule) == COMMODITY_DAY


@pytest.mark.parametrize(
    ("product", "day", "spans"),
    [
        ("IF", date(2015, 12, 31), [(time(9, 15), time(11, 30)), (time(13), time(15, 15))]),
        ("IF", date(2016, 1, 4), [(time(9, 30), time(11, 30)), (time(13), time(15))]),
        ("IC", date(2015, 6, 1), [(time(9, 15), time(11, 30)), (time(13), time(15, 15))]),
        ("IM", TODAY, [(time(9, 30), time(11, 30)), (time(13), time(15))]),
        ("T", date(2020, 7, 17), [(time(9, 15), time(11, 30)), (time(13), time(15, 15))]),
        ("T", date(2020, 7, 20), [(time(9, 30), time(11, 30)), (time(13), time(15, 15))]),
        ("TS", TODAY, [(time(9, 30), time(11, 30)), (time(13), time(15, 15))]),
    ],
)
def test_cffex_hours_follow_their_history(
    product: str, day: date, spans: list[tuple[time, time]]
) -> None:
    assert _spans(CATALOG.for_product(product).schedule_on(day)) == spans


@pytest.mark.parametrize(
    ("product", "day", "night_end"),
    [
        ("rb", date(2016, 5, 3), time(1)),  # the night of 05-03 already closed at 23:00
        ("rb", date(2016, 5, 4), time(23)),
        ("hc", date(2015, 6, 1), time(1)),
        ("ru", date(2015, 6, 1), time(23)),
        ("rb", date(2014, 12, 26), None),  # night trading began that evening
        ("m", date(2015, 5, 8), time(2, 30)),
        ("m", date(2015, 5, 11), time(23, 30)),
        ("m", date(2019, 4, 1), time(23)),
        ("c", date(2019, 3, 29), None),
        ("SR", date(2017, 3, 20), time(23, 30)),
        ("au", date(2013, 7, 5), None),
    ],
)
def test_night_hours_follow_their_history(product: str, day: date, night_end: time | None) -> None:
    night = CATALOG.for_product(product).schedule_on(day).night
    assert (night.end if night is not None else None) == night_end


def test_products_resolve_from_contract_symbols_in_either_case() -> None:
    assert CATALOG.for_symbol("rb2401").product == "rb"
    assert CATALOG.for_symbol("SR401").product == "SR"
    assert CATALOG.for_symbol("IF2003", Exchange.CFFEX).product == "IF"
    assert CATALOG.for_product("AU").product == "au"
    with pytest.raises(UnknownProductError, match="trades on SHFE"):
        CATALOG.for_symbol("rb2401", Exchange.DCE)
    with pytest.raises(UnknownProductError, match="not a futures contract"):
        CATALOG.for_symbol("2401")


def test_unlisted_products_fall_back_on_their_exchange() -> None:
    with pytest.raises(UnknownProductError, match="name its exchange"):
        CATALOG.for_product("sn")
    tin = CATALOG.for_product("sn", Exchange.SHFE)
    assert tin.product == "sn"
    assert tin.schedules == CATALOG.exchange_default(Exchange.SHFE).schedules
    assert tin.day_auction_after_night(date(2023, 5, 26))
    assert not tin.day_auction_after_night(date(2023, 5, 25))


def test_full_day_minutes_match_the_published_counts() -> None:
    # 555 for au (night 330 + day 225), 465 for cu, 345 for rb; 240 IF; 270 T.
    counts = {"au": 555, "cu": 465, "rb": 345, "IF": 240, "T": 270, "jd": 225}
    for product, minutes in counts.items():
        assert CATALOG.for_product(product).schedule_on(date(2019, 12, 2)).minutes == minutes


def test_bad_schedules_are_rejected() -> None:
    nine, ten = time(9), time(10)
    with pytest.raises(ValueError, match="overlap"):
        Schedule(date(2020, 1, 1), (Session(SessionKind.DAY, nine, ten),) * 2)
    with pytest.raises(ValueError, match="whole minutes"):
        Session(SessionKind.DAY, time(9, 0, 30), ten)
    with pytest.raises(ValueError, match="end after it starts"):
        Session(SessionKind.DAY, ten, nine)
    night = Session(SessionKind.NIGHT, time(21), time(9, 30))
    with pytest.raises(ValueError, match="runs into the day"):
        Schedule(date(2020, 1, 1), (Session(SessionKind.DAY, nine, ten),), night)
    schedule = Schedule(date(2020, 1, 1), (Session(SessionKind.DAY, nine, ten),))
    with pytest.raises(ValueError, match="increasing"):
        ProductSessions("x", Exchange.SHFE, (schedule, schedule))
    with pytest.raises(ValueError, match="before 2020-01-01"):
        ProductSessions("x", Exchange.SHFE, (schedule,)).schedule_on(date(2019, 1, 1))


def test_toml_errors_name_the_place() -> None:
    text = '[day_sessions]\nd = ["09:00-10:00"]\n[products.x]\nexchange = "DCE"\n'
    with pytest.raises(ValueError, match="unknown day-session set"):
        parse_sessions_toml(text + 'schedules = [{ from = 2020-01-01, day = "nope" }]\n')
    with pytest.raises(ValueError, match="09:00-10:15"):
        parse_sessions_toml(text + 'schedules = [{ from = 2020-01-01, day = "d", night = "9pm" }]')
    catalog = parse_sessions_toml(text + 'schedules = [{ from = 2020-01-01, day = "d" }]\n')
    assert catalog.products == ("x",)


def test_a_night_that_starts_before_the_day_ends_is_rejected() -> None:
    day = (Session(SessionKind.DAY, time(9), time(15)),)
    with pytest.raises(ValueError, match="before day ends"):
        Schedule(date(2020, 1, 1), day, Session(SessionKind.NIGHT, time(15, 2), time(1)))
    assert Schedule(date(2020, 1, 1), day, Session(SessionKind.NIGHT, time(21), time(1))).night
