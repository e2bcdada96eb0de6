"""Order routing: the accounts a live venue trades go to its session, every other account to
the paper exchange; a restart hands each venue its own working orders back; a new trading day
expires the live orders of earlier days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec

from gateway.orders.routing import UNACKNOWLEDGED, OrderRouter
from gateway.venues import OrderRoute, OrderSink
from gateway.venues.paper import PaperBroker
from shared.domain import Exchange, Instrument, Offset, Order, OrderStatus, OrderType, Side
from shared.orders import Expired, OrderLifecycleEvent, Rejected
from shared.sessions import load_calendar, load_sessions

NOW = datetime(2024, 1, 8, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
RB = Instrument(
    symbol="rb2405", exchange=Exchange.SHFE, product="rb", multiplier=10, price_tick=1.0
)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, OrderLifecycleEvent]] = []

    def on_order_event(self, order_id: str, event: OrderLifecycleEvent) -> None:
        self.events.append((order_id, event))


class LiveSession:
    """The live side's order protocol, recorded; adopts orders that carry a venue id."""

    def __init__(self) -> None:
        self.sink: OrderSink | None = None
        self.sent: list[str] = []
        self.cancelled: list[str] = []
        self.adopted: list[str] = []

    def bind(self, sink: OrderSink) -> None:
        self.sink = sink

    def submit(self, order: Order, now: datetime) -> None:
        self.sent.append(order.id)

    def cancel(self, order_id: str, now: datetime) -> None:
        self.cancelled.append(order_id)

    def knows(self, order_id: str) -> bool:
        return order_id in self.sent or order_id in self.adopted

    def adopt(self, orders: list[Order]) -> list[Order]:
        self.adopted += [o.id for o in orders if o.venue_order_id]
        return [o for o in orders if not o.venue_order_id]


def _order(order_id: str, account_id: str, **changes: object) -> Order:
    order = Order(
        id=order_id,
        client_order_id=f"c-{order_id}",
        account_id=account_id,
        symbol="rb2405",
        exchange=Exchange.SHFE,
        side=Side.BUY,
        offset=Offset.OPEN,
        type=OrderType.LIMIT,
        price=3800.0,
        volume=1,
        created_at=NOW,
        updated_at=NOW,
    )
    return msgspec.structs.replace(order, **changes)


def _router() -> tuple[OrderRouter, LiveSession, Sink]:
    paper = PaperBroker({RB.key: RB}, load_sessions(), load_calendar())
    live = LiveSession()
    router = OrderRouter(paper, OrderRoute(account_ids=frozenset({"broker-1"}), orders=live))
    sink = Sink()
    router.bind(sink)
    return router, live, sink


def test_orders_go_where_their_account_trades() -> None:
    router, live, sink = _router()
    assert live.sink is sink
    router.submit(_order("live-1", "broker-1"), NOW)
    router.submit(_order("paper-1", "tom-paper"), NOW)
    assert live.sent == ["live-1"]
    # The paper exchange answered its order (without a market yet it refuses it).
    assert [oid for oid, _ in sink.events] == ["paper-1"]

    router.cancel("live-1", NOW)
    router.cancel("paper-1", NOW)
    assert live.cancelled == ["live-1"]
    assert sink.events[-1][0] == "paper-1"  # the paper exchange's cancel


def test_a_restart_hands_each_venue_its_working_orders() -> None:
    router, live, sink = _router()
    acknowledged = _order("live-1", "broker-1", status=OrderStatus.SUBMITTED,
                          venue_order_id="1_7_3")  # fmt: skip
    never_acknowledged = _order("live-2", "broker-1")
    resting = _order("paper-1", "tom-paper", status=OrderStatus.SUBMITTED)
    router.reconcile(
        [acknowledged, never_acknowledged, resting], NOW, day_of=lambda _: date(2024, 1, 8)
    )
    assert live.adopted == ["live-1"]
    [(order_id, event)] = sink.events
    assert order_id == "live-2"
    assert isinstance(event, Rejected)
    assert event.reason == UNACKNOWLEDGED
    router.cancel("paper-1", NOW)  # back in the paper exchange: its cancel is answered there
    assert sink.events[-1][0] == "paper-1"


def test_a_new_day_expires_live_orders_of_earlier_days() -> None:
    router, _, sink = _router()
    days = {"old": date(2024, 1, 5), "today": date(2024, 1, 8), "paper": date(2024, 1, 5)}
    working = [
        _order("old", "broker-1", status=OrderStatus.SUBMITTED),
        _order("today", "broker-1", status=OrderStatus.SUBMITTED),
        _order("paper", "tom-paper", status=OrderStatus.SUBMITTED),  # the paper exchange's
    ]
    router.expire_live(working, date(2024, 1, 8), NOW, day_of=lambda o: days[o.id])
    assert [(oid, type(e)) for oid, e in sink.events] == [("old", Expired)]
