"""Pre-trade risk check latency on a busy account, against the issue's 50 us target.

The account holds positions in 20 contracts, has 200 working orders (the default active-order
limit) and a day's worth of flow counters; each measured check runs every rule (an opening
limit order that passes), timed one call at a time.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from shared.domain import (
    Account,
    Direction,
    Exchange,
    Instrument,
    Offset,
    Order,
    OrderType,
    Side,
    Tick,
)
from shared.risk import RiskEngine, RiskLimits
from tests.bench._table import Row

CHECKS = 200_000
TARGET_US = 50.0
T0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
DAY = date(2026, 11, 24)


def _instruments() -> dict[str, Instrument]:
    return {
        f"SHFE.rb26{month:02d}": Instrument(
            symbol=f"rb26{month:02d}",
            exchange=Exchange.SHFE,
            product="rb",
            multiplier=10,
            price_tick=1.0,
            long_margin_ratio=0.1,
            short_margin_ratio=0.1,
        )
        for month in range(1, 21)
    }


def _order(index: int, symbol: str, side: Side, price: float) -> Order:
    return Order(
        id=f"o{index}",
        client_order_id=f"c{index}",
        account_id="acc-7",
        symbol=symbol,
        exchange=Exchange.SHFE,
        side=side,
        offset=Offset.OPEN,
        type=OrderType.LIMIT,
        price=price,
        volume=1 + index % 3,
        created_at=T0,
        updated_at=T0,
    )


def _busy_engine(instruments: dict[str, Instrument]) -> RiskEngine:
    limits = RiskLimits(
        max_active_orders=1_000,
        max_daily_orders=1_000_000,
        max_daily_orders_per_instrument=1_000_000,
        max_orders_per_second=1_000_000,
        max_position_per_instrument=10_000,
        max_position_per_product=100_000,
        max_order_notional=10_000_000.0,
        max_daily_loss=1_000_000.0,
    )
    engine = RiskEngine("acc-7", instruments, limits)
    engine.on_account(Account(account_id="acc-7", trading_day=DAY, updated_at=T0, balance=1e9))
    engine.set_positions({(key, Direction.LONG): 50 for key in instruments})
    symbols = [instrument.symbol for instrument in instruments.values()]
    for index in range(200):
        side = Side.BUY if index % 2 else Side.SELL
        price = 3400.0 - index % 50 if side is Side.BUY else 3600.0 + index % 50
        order = _order(index, symbols[index % len(symbols)], side, price)
        engine.record_sent(order, T0 + timedelta(milliseconds=index))
    return engine


def run() -> list[Row]:
    instruments = _instruments()
    engine = _busy_engine(instruments)
    quote = Tick(
        symbol="rb2601",
        exchange=Exchange.SHFE,
        ts=T0,
        trading_day=DAY,
        last_price=3500.0,
        volume=1,
        turnover=0.0,
        open_interest=0.0,
        bid_price=3499.0,
        ask_price=3500.0,
        upper_limit=3780.0,
        lower_limit=3220.0,
    )
    orders = [_order(10_000 + i, "rb2601", Side.BUY, 3500.0 - i % 40) for i in range(CHECKS)]
    now = T0 + timedelta(seconds=5)
    durations: list[int] = []
    clock = time.perf_counter_ns
    for order in orders:
        started = clock()
        rejection = engine.check(order, now, quote)
        durations.append(clock() - started)
        if rejection is not None:
            raise RuntimeError(f"the benchmark's order was refused: {rejection}")
    durations.sort()
    p50 = durations[len(durations) // 2] / 1000
    p99 = durations[int(len(durations) * 0.99)] / 1000
    return [
        Row("pre-trade risk check p50 (200 working orders)", p50, "target", TARGET_US, "us", False),
        Row("pre-trade risk check p99 (200 working orders)", p99, "target", TARGET_US, "us", False),
    ]
