"""Stop, stop-limit and conditional orders: held until their price is reached, then released."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import count

import pytest

from shared.domain import (
    Exchange,
    Instrument,
    Offset,
    Order,
    OrderType,
    Side,
    Tick,
    TriggerCondition,
    TriggerSource,
)
from shared.orders import TriggerBook

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
RB = Instrument(
    symbol="rb2605", exchange=Exchange.SHFE, product="rb", multiplier=10, price_tick=1.0
)
IF = Instrument(
    symbol="IF2612", exchange=Exchange.CFFEX, product="IF", multiplier=300, price_tick=0.2
)
_ids = count(1)


def _book() -> TriggerBook:
    return TriggerBook({RB.key: RB, IF.key: IF})


def _order(
    kind: OrderType,
    side: Side,
    trigger: float,
    price: float | None = None,
    instrument: Instrument = RB,
    **trigger_options: object,
) -> Order:
    number = next(_ids)
    return Order(
        id=f"o{number}",
        client_order_id=f"c{number}",
        account_id="acc-7",
        symbol=instrument.symbol,
        exchange=instrument.exchange,
        side=side,
        offset=Offset.OPEN,
        type=kind,
        price=price,
        trigger_price=trigger,
        volume=2,
        created_at=T0,
        updated_at=T0,
        **trigger_options,  # type: ignore[arg-type]
    )


def _tick(
    last: float, bid: float | None = None, ask: float | None = None, instrument: Instrument = RB
) -> Tick:
    return Tick(
        symbol=instrument.symbol,
        exchange=instrument.exchange,
        ts=T0,
        trading_day=date(2026, 11, 24),
        last_price=last,
        volume=1,
        turnover=0.0,
        open_interest=0.0,
        bid_price=bid,
        ask_price=ask,
    )


def test_a_buy_stop_fires_when_the_last_price_rises_to_it_as_a_market_order() -> None:
    book = _book()
    stop = _order(OrderType.STOP, Side.BUY, trigger=3510.0)
    book.hold(stop)
    assert book.on_tick(_tick(3509.0)) == []
    (released,) = book.on_tick(_tick(3511.0))
    assert released.held == stop
    assert released.trigger == 3511.0
    assert (released.send.id, released.send.client_order_id) == (stop.id, stop.client_order_id)
    assert released.send.type is OrderType.MARKET
    assert (released.send.price, released.send.trigger_price) == (None, None)
    assert book.on_tick(_tick(3520.0)) == []  # released once
    assert book.held() == []


def test_a_sell_stop_limit_fires_on_the_way_down_as_a_limit_at_its_price() -> None:
    book = _book()
    order = _order(OrderType.STOP_LIMIT, Side.SELL, trigger=3490.0, price=3488.0)
    book.hold(order)
    assert book.on_tick(_tick(3491.0)) == []
    (released,) = book.on_tick(_tick(3490.0))
    assert (released.send.type, released.send.price) == (OrderType.LIMIT, 3488.0)


def test_a_conditional_order_watches_the_price_and_direction_it_names() -> None:
    book = _book()
    order = _order(
        OrderType.CONDITIONAL,
        Side.BUY,
        trigger=3495.0,
        price=3496.0,
        trigger_source=TriggerSource.BID,
        trigger_condition=TriggerCondition.AT_OR_BELOW,
    )
    book.hold(order)
    assert book.on_tick(_tick(3400.0, bid=None, ask=3501.0)) == []  # no bid: nothing to watch
    assert book.on_tick(_tick(3400.0, bid=3496.0, ask=3497.0)) == []  # the last does not count
    (released,) = book.on_tick(_tick(3500.0, bid=3495.0, ask=3496.0))
    assert released.trigger == 3495.0
    assert (released.send.type, released.send.price) == (OrderType.LIMIT, 3496.0)
    assert released.send.trigger_condition is None


def test_prices_are_compared_in_ticks_not_as_floats() -> None:
    book = _book()
    book.hold(_order(OrderType.STOP, Side.BUY, trigger=4000.2, instrument=IF))
    noisy = 4000.2 - 1e-9  # 4000.2 as a float sum may come out, just under the trigger
    assert noisy < 4000.2
    assert len(book.on_tick(_tick(noisy, instrument=IF))) == 1


def test_cancelled_orders_and_other_instruments_are_left_alone() -> None:
    book = _book()
    first = _order(OrderType.STOP, Side.BUY, trigger=3510.0)
    second = _order(OrderType.STOP, Side.BUY, trigger=3510.0)
    book.hold(first)
    book.hold(second)
    assert book.cancel(first.id) == first
    assert book.cancel(first.id) is None
    assert book.on_tick(_tick(5000.0, instrument=IF)) == []
    assert [r.held.id for r in book.on_tick(_tick(3515.0))] == [second.id]


def test_only_triggered_types_are_held_and_orders_say_which_way() -> None:
    book = _book()
    limit = Order(
        id="x",
        client_order_id="x",
        account_id="acc-7",
        symbol="rb2605",
        exchange=Exchange.SHFE,
        side=Side.BUY,
        offset=Offset.OPEN,
        type=OrderType.LIMIT,
        price=3500.0,
        volume=1,
        created_at=T0,
        updated_at=T0,
    )
    with pytest.raises(ValueError, match="not held for a trigger"):
        book.hold(limit)
    with pytest.raises(ValueError, match="`trigger_condition` is required"):
        _order(OrderType.CONDITIONAL, Side.BUY, trigger=3495.0, price=3496.0)
    with pytest.raises(ValueError, match="a limit order has no trigger"):
        Order(
            id="y",
            client_order_id="y",
            account_id="acc-7",
            symbol="rb2605",
            exchange=Exchange.SHFE,
            side=Side.BUY,
            offset=Offset.OPEN,
            type=OrderType.LIMIT,
            price=3500.0,
            volume=1,
            created_at=T0,
            updated_at=T0,
            trigger_source=TriggerSource.LAST,
        )
