"""The paper exchange's matching engine: one example per rule, on SHFE rb and CFFEX IF."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest

from shared.domain import (
    Exchange,
    Instrument,
    Offset,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Tick,
    TimeInForce,
)
from shared.matching import MatchingEngine, Report
from shared.orders import (
    Accepted,
    Cancelled,
    CancelRejected,
    Expired,
    Filled,
    Rejected,
    apply,
)

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai: the SHFE day session
DAY = date(2026, 11, 24)
RB = Instrument(
    symbol="rb2605", exchange=Exchange.SHFE, product="rb", multiplier=10, price_tick=1.0
)
IF = Instrument(
    symbol="IF2612", exchange=Exchange.CFFEX, product="IF", multiplier=300, price_tick=0.2
)
# Both are 4000.6 on IF's 0.2 grid, yet neither equals 4000.6 as a float: one above, one below.
IF_4000_6_ABOVE = 3999.8 + 0.8  # 4000.6000000000004
IF_4000_6_BELOW = 4000.0 + 0.2 + 0.2 + 0.2  # 4000.5999999999995
UNLISTED = Instrument(
    symbol="IF9999", exchange=Exchange.CFFEX, product="IF", multiplier=300, price_tick=0.2
)
S = OrderStatus


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _tick(
    instrument: Instrument = RB,
    *,
    bid: float | None = 3499.0,
    ask: float | None = 3500.0,
    bid_volume: int = 10,
    ask_volume: int = 10,
    last: float = 3499.0,
    volume: int = 1000,
    at: float = 0,
    upper: float | None = 3700.0,
    lower: float | None = 3300.0,
) -> Tick:
    return Tick(
        symbol=instrument.symbol,
        exchange=instrument.exchange,
        ts=_at(at),
        trading_day=DAY,
        last_price=last,
        volume=volume,
        turnover=0.0,
        open_interest=100_000.0,
        bid_price=bid,
        bid_volume=bid_volume if bid is not None else 0,
        ask_price=ask,
        ask_volume=ask_volume if ask is not None else 0,
        upper_limit=upper,
        lower_limit=lower,
    )


def _order(
    order_id: str = "o1",
    *,
    side: Side = Side.BUY,
    volume: int = 5,
    price: float | None = 3500.0,
    type_: OrderType = OrderType.LIMIT,
    tif: TimeInForce = TimeInForce.DAY,
    instrument: Instrument = RB,
    trigger: float | None = None,
) -> Order:
    return Order(
        id=order_id,
        client_order_id=f"c-{order_id}",
        account_id="acc-7",
        symbol=instrument.symbol,
        exchange=instrument.exchange,
        side=side,
        offset=Offset.OPEN,
        type=type_,
        volume=volume,
        price=price if type_ is not OrderType.MARKET else None,
        trigger_price=trigger,
        time_in_force=tif,
        created_at=T0,
        updated_at=T0,
    )


class _Gateway:
    """The engine's caller: keeps its own copy of each order and applies every report to it."""

    def __init__(self, engine: MatchingEngine | None = None) -> None:
        self.engine = engine or MatchingEngine({RB.key: RB, IF.key: IF})
        self.orders: dict[str, Order] = {}

    def submit(self, order: Order, at: float = 1) -> list[Report]:
        self.orders[order.id] = order
        return self._apply(self.engine.submit(order, _at(at)))

    def tick(self, tick: Tick) -> list[Report]:
        return self._apply(self.engine.on_tick(tick))

    def cancel(self, order_id: str, at: float = 1) -> list[Report]:
        return self._apply(self.engine.cancel(order_id, _at(at)))

    def expire_day(self, at: float = 1) -> list[Report]:
        return self._apply(self.engine.expire_day(_at(at)))

    def _apply(self, reports: list[Report]) -> list[Report]:
        for report in reports:
            if report.order_id in self.orders:
                self.orders[report.order_id] = apply(self.orders[report.order_id], report.event)
        return reports


def _kinds(reports: list[Report]) -> list[str]:
    return [type(report.event).__name__ for report in reports]


def _fills(reports: list[Report]) -> list[tuple[str, float, int]]:
    return [
        (report.order_id, report.event.price, report.event.volume)
        for report in reports
        if isinstance(report.event, Filled)
    ]


def _reason(reports: list[Report]) -> str:
    (event,) = [r.event for r in reports if isinstance(r.event, Rejected | Cancelled)]
    assert event.reason is not None
    return event.reason


def _quoted(gateway: _Gateway | None = None, **tick: Any) -> _Gateway:
    """A gateway whose engine has seen one quote (at time 0)."""
    gateway = gateway or _Gateway()
    gateway.tick(_tick(**tick))
    return gateway


# 1. Construction: keys, the session calendar, slippage, trade ids.


def test_default_trade_ids_count_p1_p2_and_venue_ids_are_given() -> None:
    gateway = _quoted()
    reports = gateway.submit(_order("o1", volume=1)) + gateway.submit(_order("o2", volume=1))
    trade_ids = [r.event.trade_id for r in reports if isinstance(r.event, Filled)]
    assert trade_ids == ["P1", "P2"]
    venue_ids = [r.event.venue_order_id for r in reports if isinstance(r.event, Accepted)]
    assert len(set(venue_ids)) == 2
    assert None not in venue_ids


def test_injected_trade_ids_are_used() -> None:
    ids = iter(["T-a", "T-b"])
    gateway = _quoted(_Gateway(MatchingEngine({RB.key: RB}, trade_ids=lambda: next(ids))))
    gateway.submit(_order("o1", volume=1))
    gateway.submit(_order("o2", volume=1))
    assert gateway.orders["o1"].trade_ids == ("T-a",)
    assert gateway.orders["o2"].trade_ids == ("T-b",)


def test_the_session_calendar_is_asked_with_the_instrument_key_and_time() -> None:
    asked: list[tuple[str, datetime]] = []

    def is_trading(key: str, ts: datetime) -> bool:
        asked.append((key, ts))
        return True

    gateway = _quoted(_Gateway(MatchingEngine({RB.key: RB}, is_trading=is_trading)))
    gateway.submit(_order(price=3490.0), at=7)
    assert ("SHFE.rb2605", _at(7)) in asked


def test_negative_slippage_and_a_misfiled_instrument_are_refused() -> None:
    with pytest.raises(ValueError, match="market_slippage_ticks"):
        MatchingEngine({RB.key: RB}, market_slippage_ticks=-1)
    with pytest.raises(ValueError, match="filed under"):
        MatchingEngine({"rb2605": RB})


def test_an_order_that_is_not_new_or_already_working_is_a_caller_error() -> None:
    gateway = _quoted()
    gateway.submit(_order("o1", price=3490.0))
    with pytest.raises(ValueError, match="already working"):
        gateway.engine.submit(_order("o1", price=3490.0), _at(2))
    with pytest.raises(ValueError, match="only new orders"):
        gateway.engine.submit(gateway.orders["o1"], _at(2))


# 2. Reports: frozen, per order, in the order things happened.


def test_reports_come_in_the_order_events_happened() -> None:
    gateway = _quoted(ask_volume=3)
    reports = gateway.submit(_order(volume=5, price=3500.0, tif=TimeInForce.FAK))
    assert _kinds(reports) == ["Accepted", "Filled", "Cancelled"]
    assert {r.order_id for r in reports} == {"o1"}
    with pytest.raises(AttributeError):
        reports[0].order_id = "other"  # type: ignore[misc]
    assert msgspec.json.decode(msgspec.json.encode(reports[1]), type=Report) == reports[1]


# 3. Submitting: refusals.


@pytest.mark.parametrize(
    ("order", "is_open", "quoted", "reason"),
    [
        (_order(instrument=UNLISTED), True, True, "unknown instrument CFFEX.IF9999"),
        (_order(), False, True, "not in a trading session"),
        (_order(price=3500.5), True, True, "not on the price tick grid"),
        (_order(price=3701.0), True, True, "above the upper limit 3700.0"),
        (_order(side=Side.SELL, price=3299.0), True, True, "below the lower limit 3300.0"),
        (_order(), True, False, "no quote yet for SHFE.rb2605"),
        (_order(type_=OrderType.MARKET), True, False, "no quote yet for SHFE.rb2605"),
        (_order(type_=OrderType.STOP_LIMIT, trigger=3510.0), True, True, "stop_limit orders"),
    ],
    ids=["unknown", "closed", "off-grid", "above-band", "below-band", "no-quote",
         "market-no-quote", "stop-limit"],
)  # fmt: skip
def test_refused_orders_are_rejected_with_the_reason(
    order: Order, is_open: bool, quoted: bool, reason: str
) -> None:
    gateway = _Gateway(MatchingEngine({RB.key: RB}, is_trading=lambda key, ts: is_open))
    if quoted:
        gateway.tick(_tick())
    reports = gateway.submit(order)
    assert _kinds(reports) == ["Rejected"]
    assert reason in _reason(reports)
    assert gateway.orders["o1"].status is S.REJECTED
    assert gateway.engine.working_order("o1") is None


def test_without_a_known_price_band_any_price_on_the_grid_is_taken() -> None:
    gateway = _quoted(upper=None, lower=None)
    assert _kinds(gateway.submit(_order(side=Side.SELL, price=9999.0))) == ["Accepted"]


def test_an_if_price_off_its_0_2_grid_is_rejected_and_one_with_float_noise_is_not() -> None:
    gateway = _quoted(
        instrument=IF, bid=4000.0, ask=4000.4, last=4000.0, upper=4400.0, lower=3600.0
    )
    assert "not on the price tick grid (0.2)" in _reason(
        gateway.submit(_order("off", instrument=IF, price=4000.1 + 0.2))
    )
    assert _kinds(gateway.submit(_order("on", instrument=IF, price=IF_4000_6_BELOW - 0.4))) == [
        "Accepted"
    ]


# 3. Submitting: market orders.


def test_a_market_buy_takes_the_ask_plus_slippage_and_the_rest_is_cancelled() -> None:
    gateway = _quoted(_Gateway(MatchingEngine({RB.key: RB}, market_slippage_ticks=2)), ask_volume=3)
    reports = gateway.submit(_order(type_=OrderType.MARKET, volume=5))
    assert _kinds(reports) == ["Accepted", "Filled", "Cancelled"]
    assert _fills(reports) == [("o1", 3502.0, 3)]
    assert gateway.orders["o1"].status is S.CANCELLED
    assert gateway.orders["o1"].filled_volume == 3


def test_a_market_sell_takes_the_bid_minus_slippage() -> None:
    gateway = _quoted(_Gateway(MatchingEngine({RB.key: RB}, market_slippage_ticks=1)))
    reports = gateway.submit(_order(side=Side.SELL, type_=OrderType.MARKET, volume=4))
    assert _kinds(reports) == ["Accepted", "Filled"]
    assert _fills(reports) == [("o1", 3498.0, 4)]
    assert gateway.orders["o1"].status is S.FILLED


def test_market_slippage_stops_at_the_price_band() -> None:
    engine = MatchingEngine({RB.key: RB}, market_slippage_ticks=5)
    gateway = _quoted(_Gateway(engine), bid=3697.0, ask=3698.0, upper=3700.0)
    assert _fills(gateway.submit(_order(type_=OrderType.MARKET, volume=1))) == [("o1", 3700.0, 1)]


def test_a_fok_market_order_fills_in_full_or_not_at_all() -> None:
    gateway = _quoted(ask_volume=3)
    short = gateway.submit(_order("short", type_=OrderType.MARKET, volume=5, tif=TimeInForce.FOK))
    assert _kinds(short) == ["Accepted", "Cancelled"]
    covered = gateway.submit(_order("ok", type_=OrderType.MARKET, volume=3, tif=TimeInForce.FOK))
    assert _fills(covered) == [("ok", 3500.0, 3)]


def test_a_market_order_with_no_opposite_quote_is_cancelled() -> None:
    gateway = _quoted(bid=3700.0, ask=None, bid_volume=5000)
    reports = gateway.submit(_order(type_=OrderType.MARKET))
    assert _kinds(reports) == ["Accepted", "Cancelled"]
    assert "no ask" in _reason(reports)
    assert gateway.orders["o1"].status is S.CANCELLED


# 3. Submitting: limit orders.


def test_a_marketable_limit_fills_at_the_ask_not_at_its_limit() -> None:
    gateway = _quoted()
    reports = gateway.submit(_order(volume=4, price=3505.0))
    assert _fills(reports) == [("o1", 3500.0, 4)]
    assert gateway.orders["o1"].status is S.FILLED


def test_a_marketable_sell_limit_fills_at_the_bid() -> None:
    gateway = _quoted()
    assert _fills(gateway.submit(_order(side=Side.SELL, volume=2, price=3490.0))) == [
        ("o1", 3499.0, 2)
    ]


def test_a_marketable_day_limit_fills_the_displayed_volume_and_rests_the_rest() -> None:
    gateway = _quoted(ask_volume=3)
    reports = gateway.submit(_order(volume=5, price=3500.0))
    assert _kinds(reports) == ["Accepted", "Filled"]
    assert _fills(reports) == [("o1", 3500.0, 3)]
    assert gateway.orders["o1"].status is S.PARTIALLY_FILLED
    working = gateway.engine.working_order("o1")
    assert working is not None
    assert working.remaining_volume == 2
    # It rests at 3500, better than the 3499 bid: the next lots traded at 3500 are its own.
    reports = gateway.tick(_tick(bid=3499.0, ask=3501.0, last=3500.0, volume=1002))
    assert _fills(reports) == [("o1", 3500.0, 2)]
    assert gateway.orders["o1"].status is S.FILLED


def test_a_fak_limit_fills_what_is_displayed_and_cancels_the_rest() -> None:
    gateway = _quoted(ask_volume=3)
    reports = gateway.submit(_order(volume=5, price=3501.0, tif=TimeInForce.FAK))
    assert _fills(reports) == [("o1", 3500.0, 3)]
    assert _kinds(reports)[-1] == "Cancelled"
    assert gateway.orders["o1"].status is S.CANCELLED
    assert gateway.engine.working_order("o1") is None


def test_a_fok_limit_fills_nothing_unless_the_displayed_volume_covers_it_all() -> None:
    gateway = _quoted(ask_volume=4)
    short = gateway.submit(_order("short", volume=5, price=3500.0, tif=TimeInForce.FOK))
    assert _kinds(short) == ["Accepted", "Cancelled"]
    assert "FOK" in _reason(short)
    covered = gateway.submit(_order("covered", volume=4, price=3500.0, tif=TimeInForce.FOK))
    assert _kinds(covered) == ["Accepted", "Filled"]
    assert gateway.orders["covered"].status is S.FILLED


@pytest.mark.parametrize("tif", [TimeInForce.FAK, TimeInForce.FOK])
def test_a_fak_or_fok_limit_that_is_not_marketable_is_cancelled_at_once(tif: TimeInForce) -> None:
    gateway = _quoted()
    reports = gateway.submit(_order(price=3499.0, tif=tif))
    assert _kinds(reports) == ["Accepted", "Cancelled"]
    assert gateway.engine.working_order("o1") is None


def test_a_day_limit_that_is_not_marketable_rests() -> None:
    gateway = _quoted()
    reports = gateway.submit(_order(price=3499.0))
    assert _kinds(reports) == ["Accepted"]
    assert gateway.orders["o1"].status is S.SUBMITTED
    assert gateway.engine.working_order("o1") == gateway.orders["o1"]


def test_the_accounts_own_orders_never_trade_with_each_other() -> None:
    gateway = _quoted(bid=3499.0, ask=3501.0)
    gateway.submit(_order("buy", side=Side.BUY, price=3500.0))
    assert _kinds(gateway.submit(_order("sell", side=Side.SELL, price=3500.0))) == ["Accepted"]
    assert _fills(gateway.submit(_order("sell-low", side=Side.SELL, price=3499.0, volume=1))) == [
        ("sell-low", 3499.0, 1)  # against the market's bid, not against our buy at 3500
    ]
    assert gateway.orders["buy"].filled_volume == 0


def test_displayed_volume_taken_by_one_order_is_gone_until_the_next_tick() -> None:
    gateway = _quoted(ask_volume=10)
    gateway.submit(_order("first", volume=10, price=3500.0))
    reports = gateway.submit(_order("second", volume=1, price=3500.0, tif=TimeInForce.FAK))
    assert _kinds(reports) == ["Accepted", "Cancelled"]
    reports = gateway.tick(_tick(ask_volume=10, at=2))
    assert gateway.submit(_order("third", volume=1, price=3500.0), at=3)[1].event == Filled(
        ts=_at(3), trade_id="P2", price=3500.0, volume=1
    )


def test_if_prices_are_compared_in_ticks_not_as_floats() -> None:
    gateway = _quoted(
        instrument=IF, bid=4000.4, ask=IF_4000_6_ABOVE, last=4000.4, upper=4400.0, lower=3600.0
    )
    # As floats the limit is below the ask and would not be marketable; in ticks they are equal.
    reports = gateway.submit(_order(instrument=IF, volume=2, price=IF_4000_6_BELOW))
    assert _fills(reports) == [("o1", 4000.6, 2)]
    assert gateway.orders["o1"].status is S.FILLED


# 4. Queue position of resting limits.


def test_a_buy_at_the_best_bid_waits_behind_the_displayed_bid_volume() -> None:
    gateway = _quoted(bid=3499.0, bid_volume=5)
    gateway.submit(_order(volume=3, price=3499.0))
    assert gateway.tick(_tick(last=3499.0, volume=1003, bid_volume=2, at=2)) == []
    reports = gateway.tick(_tick(last=3499.0, volume=1007, bid_volume=1, at=3))
    assert _fills(reports) == [("o1", 3499.0, 2)]  # 7 traded, 5 were ahead
    assert gateway.orders["o1"].status is S.PARTIALLY_FILLED


def test_a_sell_at_the_best_ask_waits_behind_the_displayed_ask_volume() -> None:
    gateway = _quoted(ask=3500.0, ask_volume=4)
    gateway.submit(_order(side=Side.SELL, volume=2, price=3500.0))
    reports = gateway.tick(_tick(last=3500.0, volume=1005, ask_volume=3, at=2))
    assert _fills(reports) == [("o1", 3500.0, 1)]


def test_a_buy_better_than_the_best_bid_has_nobody_ahead() -> None:
    gateway = _quoted(bid=3499.0, ask=3501.0, bid_volume=50)
    gateway.submit(_order(volume=3, price=3500.0))
    reports = gateway.tick(_tick(bid=3499.0, ask=3501.0, last=3500.0, volume=1002, at=2))
    assert _fills(reports) == [("o1", 3500.0, 2)]


def test_a_buy_behind_the_best_waits_until_its_price_is_the_best() -> None:
    gateway = _quoted(bid=3499.0, ask=3500.0)
    gateway.submit(_order(volume=3, price=3497.0))
    assert gateway.tick(_tick(bid=3498.0, ask=3499.0, last=3499.0, volume=1010, at=2)) == []
    # 3497 becomes the best bid with 4 lots displayed: those are ahead of it.
    assert gateway.tick(_tick(bid=3497.0, bid_volume=4, ask=3498.0, volume=1010, at=3)) == []
    reports = gateway.tick(_tick(bid=3497.0, ask=3498.0, last=3497.0, volume=1016, at=4))
    assert _fills(reports) == [("o1", 3497.0, 2)]


def test_the_queue_ahead_shrinks_when_displayed_volume_at_its_price_is_cancelled() -> None:
    gateway = _quoted(bid=3499.0, bid_volume=10)
    gateway.submit(_order(volume=5, price=3499.0))
    assert gateway.tick(_tick(bid=3499.0, bid_volume=3, at=2)) == []
    reports = gateway.tick(_tick(bid=3499.0, bid_volume=1, last=3499.0, volume=1005, at=3))
    assert _fills(reports) == [("o1", 3499.0, 2)]


def test_lots_traded_at_a_price_are_shared_by_our_orders_in_time_order() -> None:
    gateway = _quoted(bid=3499.0, ask=3501.0)
    gateway.submit(_order("early", volume=3, price=3500.0))
    gateway.submit(_order("late", volume=3, price=3500.0))
    reports = gateway.tick(_tick(bid=3499.0, ask=3501.0, last=3500.0, volume=1004, at=2))
    assert _fills(reports) == [("early", 3500.0, 3), ("late", 3500.0, 1)]


# 5. Resting orders on later ticks.


def test_an_ask_below_a_resting_buy_fills_what_it_shows_at_the_ask() -> None:
    gateway = _quoted(bid=3499.0, ask=3500.0)
    gateway.submit(_order(volume=5, price=3498.0))
    # The sellers cannot see our order: they offer 3 lots below our limit, and we take them
    # at their price. Nothing traded, so nothing went through the limit for the rest.
    reports = gateway.tick(_tick(bid=3496.0, ask=3497.0, ask_volume=3, at=2))
    assert _fills(reports) == [("o1", 3497.0, 3)]
    assert gateway.orders["o1"].status is S.PARTIALLY_FILLED
    # Trades below the limit: the rest would have been hit on the way down, at the limit.
    reports = gateway.tick(
        _tick(bid=3495.0, ask=3496.0, ask_volume=1, last=3496.0, volume=1010, at=3)
    )
    assert _fills(reports) == [("o1", 3496.0, 1), ("o1", 3498.0, 1)]
    assert gateway.orders["o1"].status is S.FILLED
    assert gateway.engine.working_order("o1") is None


def test_a_last_price_below_a_resting_buy_fills_it_in_full() -> None:
    gateway = _quoted(bid=3499.0, ask=3500.0)
    gateway.submit(_order(volume=5, price=3498.0))
    reports = gateway.tick(
        _tick(bid=3497.0, ask=3498.0, ask_volume=1, last=3497.0, volume=1020, at=2)
    )
    assert _fills(reports) == [("o1", 3498.0, 5)]


def test_an_old_last_price_below_a_new_buy_fills_nothing() -> None:
    gateway = _quoted(bid=3499.0, ask=3501.0, last=3495.0, volume=1000)
    gateway.submit(_order(volume=5, price=3500.0))
    # Nothing traded since the last tick: 3495 is old news, not a trade through 3500.
    assert gateway.tick(_tick(bid=3499.0, ask=3501.0, last=3495.0, volume=1000, at=2)) == []


def test_a_bid_above_a_resting_sell_fills_what_it_shows_at_the_bid() -> None:
    gateway = _quoted(bid=3499.0, ask=3500.0)
    gateway.submit(_order(side=Side.SELL, volume=5, price=3502.0))
    reports = gateway.tick(_tick(bid=3503.0, ask=3504.0, bid_volume=10, at=2))
    assert _fills(reports) == [("o1", 3503.0, 5)]


def test_an_ask_dropping_to_a_buy_limit_fills_up_to_the_displayed_volume() -> None:
    gateway = _quoted(bid=3499.0, ask=3500.0)
    gateway.submit(_order(volume=5, price=3498.0))
    reports = gateway.tick(_tick(bid=3497.0, ask=3498.0, ask_volume=2, at=2))
    assert _fills(reports) == [("o1", 3498.0, 2)]
    assert gateway.orders["o1"].status is S.PARTIALLY_FILLED
    reports = gateway.tick(_tick(bid=3497.0, ask=3498.0, ask_volume=10, at=3))
    assert _fills(reports) == [("o1", 3498.0, 3)]
    assert gateway.orders["o1"].status is S.FILLED


def test_an_if_bid_rising_to_a_sell_limit_is_matched_in_ticks() -> None:
    gateway = _quoted(instrument=IF, bid=4000.0, ask=4000.2, upper=4400.0, lower=3600.0)
    gateway.submit(_order(side=Side.SELL, instrument=IF, volume=5, price=IF_4000_6_BELOW))
    # As floats the bid is above the limit (a trade-through, a full fill); in ticks it is at
    # the limit, so only the 2 displayed lots fill.
    tick = _tick(IF, bid=IF_4000_6_ABOVE, bid_volume=2, ask=4000.8, upper=4400.0, lower=3600.0)
    reports = gateway.tick(tick)
    assert _fills(reports) == [("o1", 4000.6, 2)]


def test_ticks_outside_the_session_fill_nothing_but_update_the_quote() -> None:
    closed_at = _at(2)
    engine = MatchingEngine({RB.key: RB}, is_trading=lambda key, ts: ts != closed_at)
    gateway = _quoted(_Gateway(engine), bid=3499.0, ask=3500.0)
    gateway.submit(_order("rest", volume=5, price=3498.0))
    assert gateway.tick(_tick(bid=3494.0, ask=3495.0, at=2)) == []
    assert gateway.orders["rest"].filled_volume == 0
    # The closed-session quote is still the latest: a new order matches against it.
    assert _fills(gateway.submit(_order("new", volume=1, price=3496.0), at=3)) == [
        ("new", 3495.0, 1)
    ]


def test_ticks_of_instruments_the_engine_does_not_list_are_ignored() -> None:
    gateway = _quoted()
    other = Instrument(
        symbol="hc2605", exchange=Exchange.SHFE, product="hc", multiplier=10, price_tick=1.0
    )
    assert gateway.tick(_tick(other)) == []


def test_the_days_cumulative_volume_restarts_with_a_new_trading_day() -> None:
    gateway = _quoted(bid=3499.0, ask=3501.0, volume=250_000)
    gateway.submit(_order(volume=5, price=3500.0))
    night = msgspec.structs.replace(
        _tick(bid=3499.0, ask=3501.0, last=3500.0, volume=3, at=2), trading_day=DAY + timedelta(1)
    )
    assert _fills(gateway.tick(night)) == [("o1", 3500.0, 3)]  # the 3 lots of the new day


# 6. Cancelling.


def test_a_resting_order_is_cancelled_and_then_cannot_be_cancelled_again() -> None:
    gateway = _quoted()
    gateway.submit(_order(price=3490.0))
    assert _kinds(gateway.cancel("o1", at=2)) == ["Cancelled"]
    assert gateway.orders["o1"].status is S.CANCELLED
    again = gateway.cancel("o1", at=3)
    assert _kinds(again) == ["CancelRejected"]
    # A later tick through its price fills nothing.
    assert gateway.tick(_tick(bid=3480.0, ask=3481.0, at=4)) == []


def test_cancelling_an_unknown_or_filled_order_is_refused_with_a_reason() -> None:
    gateway = _quoted()
    unknown = gateway.cancel("nope")
    assert isinstance(unknown[0].event, CancelRejected)
    assert "not a working order" in unknown[0].event.reason
    gateway.submit(_order(volume=1, price=3500.0))
    assert gateway.orders["o1"].status is S.FILLED
    refused = gateway.cancel("o1", at=2)
    assert _kinds(refused) == ["CancelRejected"]
    assert gateway.orders["o1"].status is S.FILLED


# 7. The end of the trading day.


def test_expire_day_expires_every_resting_order() -> None:
    gateway = _quoted()
    gateway.submit(_order("a", price=3490.0))
    gateway.submit(_order("b", side=Side.SELL, price=3510.0))
    gateway.submit(_order("done", volume=1, price=3500.0))
    reports = gateway.expire_day(at=5)
    assert sorted(r.order_id for r in reports) == ["a", "b"]
    assert all(r.event == Expired(ts=_at(5)) for r in reports)
    assert gateway.orders["a"].status is S.EXPIRED
    assert gateway.engine.working_order("a") is None
    assert gateway.tick(_tick(bid=3520.0, ask=3521.0, at=6)) == []
    assert gateway.expire_day(at=7) == []


# 8. Fills: on the grid, never beyond the order's volume.


def test_fill_prices_are_snapped_to_the_grid() -> None:
    gateway = _quoted(instrument=IF, bid=4000.2, ask=IF_4000_6_ABOVE, upper=4400.0, lower=3600.0)
    reports = gateway.submit(_order(instrument=IF, type_=OrderType.MARKET, volume=1))
    assert _fills(reports) == [("o1", 4000.6, 1)]
    assert repr(_fills(reports)[0][1]) == "4000.6"


def test_a_trade_through_after_a_partial_fill_fills_only_the_remainder() -> None:
    gateway = _quoted(bid=3499.0, ask=3500.0)
    gateway.submit(_order(volume=5, price=3498.0))
    gateway.tick(_tick(bid=3497.0, ask=3498.0, ask_volume=2, at=2))
    reports = gateway.tick(_tick(bid=3490.0, ask=3491.0, last=3490.0, volume=1010, at=3))
    assert _fills(reports) == [("o1", 3491.0, 3)]  # the ask below the limit had room for all
    assert gateway.orders["o1"].filled_volume == 5
    assert gateway.orders["o1"].average_fill_price == pytest.approx((3498.0 * 2 + 3491.0 * 3) / 5)


# 9. Locked limits.


def test_a_buy_at_a_locked_limit_up_rests_and_fills_only_when_sellers_appear() -> None:
    gateway = _quoted(bid=3700.0, bid_volume=5000, ask=None, last=3700.0)
    reports = gateway.submit(_order(volume=5, price=3700.0))
    assert _kinds(reports) == ["Accepted"]
    # More traded at the limit than was queued ahead, yet with no ask at all nothing fills.
    locked = _tick(bid=3700.0, bid_volume=5000, ask=None, last=3700.0, volume=7000, at=2)
    assert gateway.tick(locked) == []
    assert gateway.orders["o1"].filled_volume == 0
    opened = _tick(bid=3699.0, ask=3700.0, ask_volume=3, last=3700.0, volume=7000, at=3)
    assert _fills(gateway.tick(opened)) == [("o1", 3700.0, 3)]


def test_a_sell_at_a_locked_limit_down_rests_with_no_bid() -> None:
    gateway = _quoted(bid=None, ask=3300.0, ask_volume=4000, last=3300.0)
    assert _kinds(gateway.submit(_order(side=Side.SELL, price=3300.0))) == ["Accepted"]
    locked = _tick(bid=None, ask=3300.0, ask_volume=3000, last=3300.0, volume=9000, at=2)
    assert gateway.tick(locked) == []
    assert gateway.orders["o1"].status is S.SUBMITTED
