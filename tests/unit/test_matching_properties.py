"""Properties of the matching engine over random streams of quotes, orders and cancels."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import (
    Exchange,
    Instrument,
    Offset,
    Order,
    OrderType,
    Side,
    Tick,
    TimeInForce,
    is_on_tick,
    price_to_ticks,
    round_to_tick,
)
from shared.matching import MatchingEngine, Report
from shared.orders import CancelRejected, Filled, apply

T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
RB = Instrument(
    symbol="rb2605", exchange=Exchange.SHFE, product="rb", multiplier=10, price_tick=1.0
)
IF = Instrument(
    symbol="IF2612", exchange=Exchange.CFFEX, product="IF", multiplier=300, price_tick=0.2
)
# Each instrument's middle price in ticks: 3500 for rb; 4000.0 for IF, where 0.2 multiples
# carry float noise (20003 * 0.2 == 4000.6000000000004).
BASE_TICKS = {RB.key: 3500, IF.key: 20000}
BAND = 12  # the price band, in ticks either side of the middle


@dataclass(frozen=True)
class TickStep:
    mid: int  # ticks from the middle
    spread: int
    bid_volume: int
    ask_volume: int
    traded: int
    last: int  # ticks from the bid
    session_open: bool


@dataclass(frozen=True)
class SubmitStep:
    side: Side
    type: OrderType
    tif: TimeInForce
    offset: int  # limit price, ticks from the middle
    volume: int
    session_open: bool


@dataclass(frozen=True)
class CancelStep:
    pick: int


@dataclass(frozen=True)
class ExpireStep:
    pass


Step = TickStep | SubmitStep | CancelStep | ExpireStep

OPEN = st.sampled_from([True, True, True, True, True, False])  # the session, now and then shut
ticks = st.builds(
    TickStep,
    mid=st.integers(-10, 10),
    spread=st.integers(1, 3),
    bid_volume=st.integers(0, 20),
    ask_volume=st.integers(0, 20),
    traded=st.integers(0, 30),
    last=st.integers(-2, 4),
    session_open=OPEN,
)
submits = st.builds(
    SubmitStep,
    side=st.sampled_from(Side),
    type=st.sampled_from([OrderType.LIMIT, OrderType.LIMIT, OrderType.MARKET]),
    tif=st.sampled_from([TimeInForce.DAY, TimeInForce.DAY, TimeInForce.FAK, TimeInForce.FOK]),
    offset=st.integers(-14, 14),
    volume=st.integers(1, 12),
    session_open=OPEN,
)
cancels = st.builds(CancelStep, pick=st.integers(0, 50))


def _step(roll: int) -> st.SearchStrategy[Step]:
    # Mostly quotes and orders; a cancel now and then, and rarely the end of the day.
    if roll < 50:
        return ticks
    if roll < 88:
        return submits
    return cancels if roll < 97 else st.just(ExpireStep())


# A stream starts with a quote, as a real one does.
steps = st.tuples(ticks, st.lists(st.integers(0, 99).flatmap(_step), min_size=10, max_size=80)).map(
    lambda first_and_rest: [first_and_rest[0], *first_and_rest[1]]
)


@dataclass
class Run:
    """Drives the engine through the steps and keeps the gateway's copy of each order."""

    instrument: Instrument
    engine: MatchingEngine
    closed: set[datetime]
    orders: dict[str, Order]
    reports: list[Report]
    volume: int = 0
    clock: int = 0

    def now(self) -> datetime:
        self.clock += 1
        return T0 + timedelta(seconds=self.clock)

    def price(self, ticks_from_middle: int) -> float:
        return (BASE_TICKS[self.instrument.key] + ticks_from_middle) * self.instrument.price_tick

    def play(self, step: Step) -> list[Report]:
        now = self.now()
        if isinstance(step, TickStep | SubmitStep) and not step.session_open:
            self.closed.add(now)
        match step:
            case TickStep():
                self.volume += step.traded
                bid = step.mid - step.spread // 2
                tick = Tick(
                    symbol=self.instrument.symbol,
                    exchange=self.instrument.exchange,
                    ts=now,
                    trading_day=date(2026, 11, 24),
                    last_price=self.price(bid + step.last),
                    volume=self.volume,
                    turnover=0.0,
                    open_interest=0.0,
                    bid_price=self.price(bid) if step.bid_volume else None,
                    bid_volume=step.bid_volume,
                    ask_price=self.price(bid + step.spread) if step.ask_volume else None,
                    ask_volume=step.ask_volume,
                    upper_limit=self.price(BAND),
                    lower_limit=self.price(-BAND),
                )
                return self.engine.on_tick(tick)
            case SubmitStep():
                order = Order(
                    id=f"o{len(self.orders) + 1}",
                    client_order_id=f"c{len(self.orders) + 1}",
                    account_id="acc-7",
                    symbol=self.instrument.symbol,
                    exchange=self.instrument.exchange,
                    side=step.side,
                    offset=Offset.OPEN,
                    type=step.type,
                    volume=step.volume,
                    price=self.price(step.offset) if step.type is OrderType.LIMIT else None,
                    time_in_force=step.tif,
                    created_at=now,
                    updated_at=now,
                )
                self.orders[order.id] = order
                return self.engine.submit(order, now)
            case CancelStep():
                order_id = f"o{step.pick % max(1, len(self.orders)) + 1}"
                return self.engine.cancel(order_id, now)
            case ExpireStep():
                return self.engine.expire_day(now)


@settings(max_examples=300, deadline=None)
@given(
    instrument=st.sampled_from([RB, IF]),
    slippage=st.integers(0, 3),
    stream=steps,
)
def test_random_streams_keep_every_order_consistent(
    instrument: Instrument, slippage: int, stream: list[Step]
) -> None:
    closed: set[datetime] = set()
    engine = MatchingEngine(
        {instrument.key: instrument},
        is_trading=lambda key, ts: ts not in closed,
        market_slippage_ticks=slippage,
    )
    run = Run(instrument=instrument, engine=engine, closed=closed, orders={}, reports=[])
    filled: Counter[str] = Counter()
    for step in stream:
        reports = run.play(step)
        for report in reports:
            order = run.orders.get(report.order_id)
            if order is None:  # a cancel for an id never submitted
                assert isinstance(report.event, CancelRejected)
                continue
            if order.status.is_terminal:
                # A finished order hears nothing more, except a refusal to cancel it.
                assert isinstance(report.event, CancelRejected)
            # (b) every event is a legal transition of the gateway's copy of the order
            run.orders[report.order_id] = apply(order, report.event)
            if isinstance(report.event, Filled):
                filled[report.order_id] += report.event.volume
                _check_fill_price(order, report.event, instrument.price_tick)
        run.reports.extend(reports)
        if isinstance(step, SubmitStep):
            submitted = run.orders[f"o{len(run.orders)}"]
            if submitted.type is OrderType.MARKET or submitted.time_in_force is not TimeInForce.DAY:
                assert submitted.status.is_terminal  # market, FAK and FOK orders never rest
            if submitted.time_in_force is TimeInForce.FOK:
                assert submitted.filled_volume in {0, submitted.volume}
    for order_id, order in run.orders.items():
        # (a) never filled beyond its volume, and the engine agrees with the gateway
        assert filled[order_id] == order.filled_volume <= order.volume
        working = engine.working_order(order_id)
        if working is not None:
            assert working == order  # the same events applied to the same order
    # (d) trade ids are unique
    trade_ids = [r.event.trade_id for r in run.reports if isinstance(r.event, Filled)]
    assert len(trade_ids) == len(set(trade_ids))


def _check_fill_price(order: Order, fill: Filled, price_tick: float) -> None:
    # (c) on the grid, with the float noise removed, and never worse than the limit
    assert is_on_tick(fill.price, price_tick)
    assert fill.price == round_to_tick(fill.price, price_tick)
    if order.price is not None:
        limit, price = (
            price_to_ticks(order.price, price_tick),
            price_to_ticks(fill.price, price_tick),
        )
        assert price <= limit if order.side is Side.BUY else price >= limit
