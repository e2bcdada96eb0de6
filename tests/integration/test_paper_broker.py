"""The paper broker on the real IF2101 ticks the embedded replay ships."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count

import msgspec
import pytest

from gateway.venues._sources import load_ticks
from gateway.venues.paper import PaperBroker
from gateway.venues.simulated import DEFAULT_REPLAY_FILE
from shared.domain import Instrument, Offset, Order, OrderStatus, OrderType, Side, Tick
from shared.instruments import ProductCatalogue, shipped_products
from shared.orders import (
    Accepted,
    Cancelled,
    CancelRequested,
    Expired,
    Filled,
    OrderLifecycleEvent,
    Rejected,
    apply,
)
from shared.sessions import load_calendar, load_sessions

TICKS = load_ticks(DEFAULT_REPLAY_FILE)
_ids = count(1)


class Recorder:
    """The order sink: applies every event to the order, as the gateway will."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.events: list[tuple[str, OrderLifecycleEvent]] = []

    def on_order_event(self, order_id: str, event: OrderLifecycleEvent) -> None:
        self.events.append((order_id, event))
        self.orders[order_id] = apply(self.orders[order_id], event)

    def kinds(self, order_id: str) -> list[str]:
        return [type(event).__name__ for oid, event in self.events if oid == order_id]


@pytest.fixture(scope="module")
def contract() -> Instrument:
    return ProductCatalogue(shipped_products()).contract("CFFEX.IF2101")


@pytest.fixture
def broker(contract: Instrument) -> tuple[PaperBroker, Recorder]:
    paper = PaperBroker({contract.key: contract}, load_sessions(), load_calendar())
    recorder = Recorder()
    paper.bind(recorder)
    return paper, recorder


def _order(
    recorder: Recorder, side: Side, kind: OrderType, at: datetime, **fields: object
) -> Order:
    number = next(_ids)
    order = Order(
        id=f"o{number}",
        client_order_id=f"c{number}",
        account_id="paper-1",
        symbol="IF2101",
        exchange=TICKS[0].exchange,
        side=side,
        offset=Offset.OPEN,
        type=kind,
        volume=1,
        created_at=at,
        updated_at=at,
        **fields,  # type: ignore[arg-type]
    )
    recorder.orders[order.id] = order
    return order


def _feed(paper: PaperBroker, ticks: list[Tick]) -> None:
    for tick in ticks:
        paper.accept(tick)


def test_a_marketable_limit_fills_at_the_real_ask(broker: tuple[PaperBroker, Recorder]) -> None:
    paper, recorder = broker
    _feed(paper, TICKS[:100])
    quote = TICKS[99]
    assert quote.ask_price is not None
    order = _order(recorder, Side.BUY, OrderType.LIMIT, quote.ts, price=quote.ask_price + 2.0)
    paper.submit(order, quote.ts)
    assert recorder.kinds(order.id) == ["Accepted", "Filled"]
    filled = recorder.orders[order.id]
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == pytest.approx(quote.ask_price)


def test_a_resting_bid_waits_and_is_cancelled(broker: tuple[PaperBroker, Recorder]) -> None:
    paper, recorder = broker
    _feed(paper, TICKS[:100])
    low = min(tick.last_price for tick in TICKS) - 20.0
    order = _order(recorder, Side.BUY, OrderType.LIMIT, TICKS[99].ts, price=low)
    paper.submit(order, TICKS[99].ts)
    _feed(paper, TICKS[100:2000])
    assert recorder.kinds(order.id) == ["Accepted"]
    paper.cancel(order.id, TICKS[1999].ts)
    assert recorder.orders[order.id].status is OrderStatus.CANCELLED
    paper.cancel(order.id, TICKS[1999].ts)
    assert recorder.kinds(order.id)[-1] == "CancelRejected"


def test_a_buy_stop_is_held_until_the_market_rises_to_it(
    broker: tuple[PaperBroker, Recorder],
) -> None:
    paper, recorder = broker
    _feed(paper, TICKS[:100])
    start = TICKS[99].last_price
    later = next(i for i in range(100, len(TICKS)) if TICKS[i].last_price >= start + 10.0)
    trigger = TICKS[later].last_price
    order = _order(recorder, Side.BUY, OrderType.STOP, TICKS[99].ts, trigger_price=trigger)
    paper.submit(order, TICKS[99].ts)
    _feed(paper, TICKS[100:later])
    assert recorder.kinds(order.id) == ["Accepted"]  # held: the price has not got there
    paper.accept(TICKS[later])
    kinds = recorder.kinds(order.id)
    assert kinds[-1] == "Filled"
    fill = recorder.events[-1][1]
    assert isinstance(fill, Filled)
    assert fill.price >= trigger - 1e-9  # a market order at the ask once the last reached it


def test_outside_the_session_orders_are_refused(
    broker: tuple[PaperBroker, Recorder],
) -> None:
    paper, recorder = broker
    _feed(paper, TICKS[:100])
    lunch = TICKS[99].ts.replace(hour=4, minute=0)  # 12:00 in Shanghai: CFFEX lunch break
    order = _order(recorder, Side.BUY, OrderType.LIMIT, lunch, price=TICKS[99].last_price)
    paper.submit(order, lunch)
    (event,) = [e for oid, e in recorder.events if oid == order.id]
    assert isinstance(event, Rejected)
    assert "session" in event.reason


def test_the_end_of_the_day_expires_resting_and_held_orders(
    broker: tuple[PaperBroker, Recorder],
) -> None:
    paper, recorder = broker
    _feed(paper, TICKS[:100])
    now = TICKS[99].ts
    resting = _order(recorder, Side.BUY, OrderType.LIMIT, now, price=5000.0)
    held = _order(recorder, Side.SELL, OrderType.STOP, now, trigger_price=5000.0)
    paper.submit(resting, now)
    paper.submit(held, now)
    paper.expire_day(now + timedelta(hours=6))
    assert recorder.orders[resting.id].status is OrderStatus.EXPIRED
    assert recorder.orders[held.id].status is OrderStatus.EXPIRED
    cancelled_late = [e for oid, e in recorder.events if isinstance(e, Cancelled)]
    assert cancelled_late == []
    assert all(isinstance(e, Accepted | Expired) for _, e in recorder.events)


def test_trade_ids_do_not_start_over_with_a_new_broker(contract: Instrument) -> None:
    """Fills are booked once per venue trade id: a restarted gateway must not reuse them."""
    ids: set[str] = set()
    for _ in range(2):  # two gateway runs
        paper = PaperBroker({contract.key: contract}, load_sessions(), load_calendar())
        recorder = Recorder()
        paper.bind(recorder)
        _feed(paper, TICKS[:100])
        quote = TICKS[99]
        assert quote.ask_price is not None
        order = _order(recorder, Side.BUY, OrderType.LIMIT, quote.ts, price=quote.ask_price)
        paper.submit(order, quote.ts)
        ids.update(recorder.orders[order.id].trade_ids)
    assert len(ids) == 2


def _restarted(contract: Instrument, orders: dict[str, Order]) -> tuple[PaperBroker, Recorder]:
    """A new broker (a gateway restart), its recorder knowing the orders as stored."""
    paper = PaperBroker({contract.key: contract}, load_sessions(), load_calendar())
    recorder = Recorder()
    recorder.orders.update(orders)
    paper.bind(recorder)
    return paper, recorder


def test_a_restart_puts_working_orders_back_and_ends_the_ones_it_cannot(
    broker: tuple[PaperBroker, Recorder], contract: Instrument
) -> None:
    paper, recorder = broker
    _feed(paper, TICKS[:100])
    now = TICKS[99].ts
    bid = TICKS[99].bid_price
    assert bid is not None
    resting = _order(recorder, Side.BUY, OrderType.LIMIT, now, price=bid - 2.0)
    held = _order(recorder, Side.BUY, OrderType.STOP, now, trigger_price=bid + 50.0)
    old = _order(recorder, Side.BUY, OrderType.LIMIT, now - timedelta(days=1), price=bid - 4.0)
    unsent = _order(recorder, Side.BUY, OrderType.LIMIT, now, price=bid - 2.0)
    cancelling = _order(recorder, Side.BUY, OrderType.LIMIT, now, price=bid - 2.0)
    for order in (resting, held, old, cancelling):
        paper.submit(order, now)
    recorder.on_order_event(cancelling.id, CancelRequested(ts=now))
    stored = dict(recorder.orders)

    again, after = _restarted(contract, stored)
    working = [stored[o.id] for o in (resting, held, old, unsent, cancelling)]
    today = TICKS[99].trading_day
    again.reconcile(
        working, now, day_of=lambda o: today - timedelta(days=1) if o.id == old.id else today
    )
    assert after.kinds(resting.id) == after.kinds(held.id) == []  # back, nothing to say
    assert after.orders[old.id].status is OrderStatus.EXPIRED
    assert after.orders[unsent.id].status is OrderStatus.REJECTED
    assert after.orders[cancelling.id].status is OrderStatus.CANCELLED

    # The market then fills the restored limit and releases the re-held stop.
    low = next(t for t in TICKS[100:] if t.ask_price is not None and t.ask_price <= bid - 2.0)
    high = next(t for t in TICKS[100:] if t.last_price >= bid + 50.0)
    _feed(again, [t for t in TICKS[100:] if t.ts <= max(low.ts, high.ts)])
    assert after.orders[resting.id].status is OrderStatus.FILLED
    assert after.orders[held.id].status is OrderStatus.FILLED


def test_orders_restored_from_a_day_the_market_has_left_expire_on_its_first_tick(
    broker: tuple[PaperBroker, Recorder], contract: Instrument
) -> None:
    paper, recorder = broker
    _feed(paper, TICKS[:100])
    now = TICKS[99].ts
    order = _order(recorder, Side.BUY, OrderType.LIMIT, now, price=5000.0)
    paper.submit(order, now)
    again, after = _restarted(contract, dict(recorder.orders))
    again.reconcile([after.orders[order.id]], now, day_of=lambda o: TICKS[0].trading_day)
    again.accept(TICKS[100])  # the same day: the order rests on
    assert after.kinds(order.id) == []
    later = msgspec.structs.replace(
        TICKS[101], trading_day=TICKS[101].trading_day + timedelta(days=3)
    )
    again.accept(later)
    assert after.orders[order.id].status is OrderStatus.EXPIRED


def test_a_new_trading_day_or_a_replay_starting_over_expires_the_days_orders(
    contract: Instrument,
) -> None:
    days: list[date] = []
    paper = PaperBroker(
        {contract.key: contract}, load_sessions(), load_calendar(), on_new_day=days.append
    )
    recorder = Recorder()
    paper.bind(recorder)
    _feed(paper, TICKS[:100])
    assert days == [TICKS[0].trading_day]  # the first tick tells the day
    now = TICKS[99].ts
    first = _order(recorder, Side.BUY, OrderType.LIMIT, now, price=5000.0)
    paper.submit(first, now)
    paper.rewind()  # the replay starts its day over: time goes back
    assert recorder.orders[first.id].status is OrderStatus.EXPIRED
    assert days == [TICKS[0].trading_day] * 2
    second = _order(recorder, Side.BUY, OrderType.LIMIT, now, price=5000.0)
    paper.submit(second, now)
    next_day = msgspec.structs.replace(
        TICKS[100], trading_day=TICKS[100].trading_day + timedelta(days=1)
    )
    paper.accept(next_day)
    assert recorder.orders[second.id].status is OrderStatus.EXPIRED
    assert days[-1] == next_day.trading_day
