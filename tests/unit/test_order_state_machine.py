"""The order lifecycle: examples of every out-of-order edge, and properties over random streams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import Exchange, Offset, Order, OrderStatus, OrderType, Side
from shared.orders import (
    Accepted,
    Cancelled,
    CancelRejected,
    CancelRequested,
    Expired,
    Filled,
    IllegalTransitionError,
    OrderLifecycleEvent,
    OverfillError,
    Rejected,
    apply,
)

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
S = OrderStatus


def _order(volume: int = 5) -> Order:
    return Order(
        id="o-1",
        client_order_id="c-1",
        account_id="acc-7",
        symbol="rb2605",
        exchange=Exchange.SHFE,
        side=Side.BUY,
        offset=Offset.OPEN,
        type=OrderType.LIMIT,
        price=3500.0,
        volume=volume,
        created_at=T0,
        updated_at=T0,
    )


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _run(order: Order, *events: OrderLifecycleEvent) -> Order:
    for event in events:
        order = apply(order, event)
    return order


def test_accepted_then_filled_in_two_parts_with_the_average_price() -> None:
    order = _run(
        _order(),
        Accepted(ts=_at(1), venue_order_id="v-9"),
        Filled(ts=_at(2), trade_id="t1", price=3500.0, volume=2),
    )
    assert (order.status, order.filled_volume, order.venue_order_id) == (
        S.PARTIALLY_FILLED,
        2,
        "v-9",
    )
    order = apply(order, Filled(ts=_at(3), trade_id="t2", price=3503.0, volume=3))
    assert order.status is S.FILLED
    assert order.average_fill_price == pytest.approx((3500.0 * 2 + 3503.0 * 3) / 5)
    assert order.trade_ids == ("t1", "t2")
    assert order.updated_at == _at(3)


def test_a_trade_reported_before_the_acknowledgement() -> None:
    order = apply(_order(), Filled(ts=_at(1), trade_id="t1", price=3500.0, volume=1))
    assert order.status is S.PARTIALLY_FILLED
    order = apply(order, Accepted(ts=_at(0.5), venue_order_id="v-9"))
    assert order.status is S.PARTIALLY_FILLED  # the late acknowledgement changes nothing else
    assert order.venue_order_id == "v-9"
    assert order.updated_at == _at(1)  # the clock does not go back


def test_a_fill_racing_a_cancel_and_one_reported_after_it() -> None:
    order = _run(
        _order(),
        Accepted(ts=_at(1)),
        CancelRequested(ts=_at(2)),
        Filled(ts=_at(3), trade_id="t1", price=3500.0, volume=2),
    )
    assert order.status is S.CANCEL_PENDING  # still waiting to hear about the other three
    order = apply(order, Cancelled(ts=_at(4)))
    assert (order.status, order.filled_volume) == (S.CANCELLED, 2)
    order = apply(order, Filled(ts=_at(3.5), trade_id="t2", price=3501.0, volume=1))
    assert (order.status, order.filled_volume) == (S.CANCELLED, 3)  # booked, still cancelled


@pytest.mark.parametrize(("filled", "expected"), [(0, S.SUBMITTED), (2, S.PARTIALLY_FILLED)])
def test_a_refused_cancel_puts_the_order_back_to_work(filled: int, expected: S) -> None:
    order = apply(_order(), Accepted(ts=_at(1)))
    if filled:
        order = apply(order, Filled(ts=_at(2), trade_id="t1", price=3500.0, volume=filled))
    order = _run(order, CancelRequested(ts=_at(3)), CancelRejected(ts=_at(4), reason="too late"))
    assert order.status is expected


def test_rejections_record_the_reason_and_a_refused_insert_reported_as_cancel_is_harmless() -> None:
    order = apply(_order(), Rejected(ts=_at(1), reason="insufficient margin"))
    assert (order.status, order.reject_reason) == (S.REJECTED, "insufficient margin")
    assert apply(order, Cancelled(ts=_at(2))) == order


@pytest.mark.parametrize(
    ("events", "illegal"),
    [
        (
            (Accepted(ts=_at(1)), Filled(ts=_at(2), trade_id="t", price=1.0, volume=5)),
            CancelRequested(ts=_at(3)),
        ),
        ((Rejected(ts=_at(1), reason="no"),), Filled(ts=_at(2), trade_id="t", price=1.0, volume=1)),
        ((Filled(ts=_at(1), trade_id="t", price=1.0, volume=1),), Rejected(ts=_at(2), reason="x")),
        ((Rejected(ts=_at(1), reason="no"),), Accepted(ts=_at(2))),
        ((), CancelRejected(ts=_at(1), reason="nothing to cancel")),
    ],
)
def test_illegal_transitions_raise_naming_the_event_and_the_state(
    events: tuple[OrderLifecycleEvent, ...], illegal: OrderLifecycleEvent
) -> None:
    before = _run(_order(), *events)
    with pytest.raises(
        IllegalTransitionError, match=f"`{type(illegal).__name__}`.*{before.status}"
    ):
        apply(before, illegal)


def test_cancelled_then_accepted_is_a_late_acknowledgement_not_an_error() -> None:
    order = _run(_order(), Accepted(ts=_at(1)), Cancelled(ts=_at(2)))
    assert apply(order, Accepted(ts=_at(0.5))) == order


def test_a_fill_beyond_the_volume_is_an_overfill() -> None:
    order = apply(_order(volume=2), Filled(ts=_at(1), trade_id="t1", price=1.0, volume=2))
    with pytest.raises(OverfillError, match="2 \\+ 1 > volume 2"):
        apply(order, Filled(ts=_at(2), trade_id="t2", price=1.0, volume=1))
    assert apply(order, Filled(ts=_at(2), trade_id="t1", price=1.0, volume=2)) == order


# --- properties -------------------------------------------------------------------------------

_times = st.integers(min_value=0, max_value=600).map(lambda s: T0 + timedelta(seconds=s))
_events = st.one_of(
    st.builds(Accepted, ts=_times, venue_order_id=st.sampled_from([None, "v-1", "v-2"])),
    st.builds(
        Filled,
        ts=_times,
        trade_id=st.sampled_from([f"t{i}" for i in range(6)]),
        price=st.sampled_from([3499.0, 3500.0, 3501.5]),
        volume=st.integers(min_value=1, max_value=4),
    ),
    st.builds(CancelRequested, ts=_times),
    st.builds(CancelRejected, ts=_times, reason=st.just("refused")),
    st.builds(Cancelled, ts=_times),
    st.builds(Rejected, ts=_times, reason=st.just("refused")),
    st.builds(Expired, ts=_times),
)


@settings(max_examples=400, deadline=None)
@given(volume=st.integers(min_value=1, max_value=10), events=st.lists(_events, max_size=14))
def test_any_stream_of_events_keeps_the_invariants(
    volume: int, events: list[OrderLifecycleEvent]
) -> None:
    order = _order(volume)
    fills: dict[str, Filled] = {}
    for event in events:
        try:
            after = apply(order, event)
        except IllegalTransitionError:
            continue  # rejected events leave the order as it was (it is immutable)
        # Filled quantity never exceeds the order's, and matches the distinct fills applied.
        assert 0 <= after.filled_volume <= after.volume
        if isinstance(event, Filled) and event.trade_id not in fills:
            fills[event.trade_id] = event
        assert after.trade_ids == tuple(fills)
        assert after.filled_volume == sum(f.volume for f in fills.values())
        if fills:
            prices = [f.price for f in fills.values()]
            assert after.average_fill_price is not None
            assert min(prices) - 1e-9 <= after.average_fill_price <= max(prices) + 1e-9
        # Terminal states stay terminal, and the status agrees with the fills.
        if order.status.is_terminal:
            assert after.status is order.status
        if after.status in {S.PENDING_NEW, S.SUBMITTED}:
            assert after.filled_volume == 0
        if after.status is S.PARTIALLY_FILLED:
            assert 0 < after.filled_volume < after.volume
        if after.status is S.FILLED:
            assert after.filled_volume == after.volume
        assert after.updated_at >= order.updated_at
        # The same event again changes nothing.
        assert apply(after, event) == after
        order = after
