"""The CTP venue with the scripted front at the API boundary: it connects only around the
products' sessions (and releases the APIs outside them), turns depth reports into ticks with
the exchange from the instrument table, drops ticks outside the sessions, and reports its
state as it changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.venues.ctp.venue import CtpVenue, broker_balance
from shared.domain import ComponentState, Exchange, Instrument, Tick
from shared.sessions import load_calendar, load_sessions
from tests.support.ctp_front import Contract, ScriptedBroker, ctp_settings
from tests.support.waiting import wait_until

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2024, 1, 8)
RB = Instrument(
    symbol="rb2405", exchange=Exchange.SHFE, product="rb", multiplier=10, price_tick=1.0
)
EXPIRED = Instrument(
    symbol="rb2301",
    exchange=Exchange.SHFE,
    product="rb",
    multiplier=10,
    price_tick=1.0,
    expires_on=date(2023, 1, 16),
)


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Ticks:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []

    def accept(self, tick: Tick) -> None:
        self.ticks.append(tick)

    def rewind(self) -> None:
        raise AssertionError("a live venue never rewinds")


def _venue(tmp_path: Path, clock: Clock, broker: ScriptedBroker, *, window: bool) -> CtpVenue:
    calendar = load_calendar()
    return CtpVenue(
        ctp_settings(tmp_path, ctp_connect_window=window),
        instruments={RB.key: RB, EXPIRED.key: EXPIRED},
        sessions=load_sessions(),
        calendar=lambda: calendar,
        apis=broker.apis,
        clock=clock,
        window_check_s=0.01,
    )


def _broker(clock: Clock) -> ScriptedBroker:
    contract = Contract(
        symbol="rb2405",
        exchange="SHFE",
        product="rb",
        multiplier=10,
        price_tick=1.0,
        expires=date(2024, 5, 15),
    )
    return ScriptedBroker(contracts=[contract], balance=5e5, clock=clock, trading_day=MONDAY)


async def test_connects_only_around_the_sessions(tmp_path: Path) -> None:
    clock = Clock(_at(MONDAY - timedelta(days=2), 12, 0))  # Saturday noon
    broker = _broker(clock)
    venue = _venue(tmp_path, clock, broker, window=True)
    statuses: list[tuple[ComponentState, str]] = []
    venue.on_status = lambda state, detail: statuses.append((state, detail))
    await venue.start(Ticks())
    try:
        await wait_until(lambda: bool(statuses))
        assert broker.trader is None  # no API made, nothing dialled
        assert venue.state is ComponentState.UP
        # The night session of Friday's calendar day opened the week; next is Monday's
        # 09:00 day session (call auction 08:55), dialled from 08:40.
        assert venue.detail.endswith("connects at 2024-01-08 08:40 (Asia/Shanghai)")

        clock.now = _at(MONDAY, 8, 45)
        await wait_until(lambda: "session 101" in venue.detail)
        assert venue.state is ComponentState.UP
        first = broker.trader
        assert first is not None

        clock.now = _at(MONDAY, 12, 0)  # lunch: 11:30 close + 10 min, 13:30 open - 15 min
        await wait_until(lambda: venue.detail.startswith("idle"))
        assert first.released
        assert broker.market is not None
        assert broker.market.released

        clock.now = _at(MONDAY, 13, 20)
        await wait_until(lambda: "session 102" in venue.detail)
        assert broker.trader is not first  # a new API: the library cannot reuse a released one
    finally:
        await venue.stop()
    assert venue.state is ComponentState.DOWN
    # Every change was told, the lunch break's included.
    assert [state for state, _ in statuses].count(ComponentState.DOWN) == 1  # at stop only


async def test_ticks_take_the_exchange_from_the_table_and_keep_to_the_sessions(
    tmp_path: Path,
) -> None:
    clock = Clock(_at(MONDAY, 10, 0))
    broker = _broker(clock)
    venue = _venue(tmp_path, clock, broker, window=False)
    sink = Ticks()
    await venue.start(sink)
    try:
        await wait_until(lambda: venue.state is ComponentState.UP)
        assert "rb2405" in broker.subscribed
        assert "rb2301" not in broker.subscribed  # expired a year before this market day
        broker.tick("rb2405", last=3800.0, bid=3799.0, ask=3801.0, at=_at(MONDAY, 10, 0))
        broker.tick("rb2405", last=3801.0, bid=3800.0, ask=3802.0, at=_at(MONDAY, 8, 30))
        broker.tick("zz9999", last=1.0, bid=1.0, ask=2.0, at=_at(MONDAY, 10, 0))
        await wait_until(lambda: sum(venue.dropped.values()) == 2)
        [tick] = sink.ticks
        assert (tick.exchange, tick.symbol, tick.last_price) == (Exchange.SHFE, "rb2405", 3800.0)
        assert tick.ts == _at(MONDAY, 10, 0)
        assert tick.trading_day == MONDAY
        assert venue.dropped == {"outside the sessions": 1, "unknown instrument": 1}
    finally:
        await venue.stop()


async def test_a_dropped_front_is_reported_and_logged_into_again(tmp_path: Path) -> None:
    clock = Clock(_at(MONDAY, 10, 0))
    broker = _broker(clock)
    venue = _venue(tmp_path, clock, broker, window=False)
    statuses: list[tuple[ComponentState, str]] = []
    venue.on_status = lambda state, detail: statuses.append((state, detail))
    balances: list[float] = []
    venue.on_balance = balances.append
    await venue.start(Ticks())
    try:
        await wait_until(lambda: balances == [5e5], timeout_s=10)  # the catch-up's account
        broker.drop()
        await wait_until(lambda: "session 102" in venue.detail)
        down = [detail for state, detail in statuses if state is ComponentState.DOWN]
        assert len(down) == 1
        assert "front disconnected: network read failed (0x1001)" in down[0]
    finally:
        await venue.stop()


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([{"CurrencyID": "USD", "Balance": 7.0}, {"CurrencyID": "CNY", "Balance": 9.5}], 9.5),
        ([{"CurrencyID": "", "Balance": 3.0}], 3.0),
        ([{"CurrencyID": "CNY", "Balance": 1.7976931348623157e308}], None),
        ([], None),
    ],
)
def test_the_balance_is_the_cny_record(records: list[dict[str, object]], expected: float) -> None:
    assert broker_balance(records) == expected


async def test_past_the_calendars_end_it_waits_degraded_saying_why(tmp_path: Path) -> None:
    calendar = load_calendar()
    clock = Clock(_at(calendar.last_day + timedelta(days=30), 10, 0))
    broker = _broker(clock)
    venue = _venue(tmp_path, clock, broker, window=True)
    await venue.start(Ticks())
    try:
        await wait_until(lambda: venue.state is ComponentState.DEGRADED)
        assert "extend the calendar" in venue.detail
        assert broker.trader is None  # nothing dialled
    finally:
        await venue.stop()
