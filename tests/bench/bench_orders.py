"""Order accepted-to-venue latency in the gateway, against the issue's 5 ms p99 target.

From the moment `OrderService.place` takes a request to the moment the venue's `submit` is
called: the risk check, the order row written (the embedded SQLite file, then PostgreSQL),
and the hand-over. The venue is the paper broker on the shipped IF2101 ticks; the orders rest
below the market, so the measurement is the order path, not the matching.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path

import psycopg

from gateway.orders import OrderRequest, OrderService
from gateway.venues._sources import load_ticks
from gateway.venues.paper import PaperBroker
from gateway.venues.simulated import DEFAULT_REPLAY_FILE
from shared.bus import MemoryBus
from shared.domain import Account, Exchange, Offset, Order, OrderType, Side
from shared.instruments import ProductCatalogue, shipped_products
from shared.risk import RiskEngine, RiskLimits
from shared.sessions import load_calendar, load_sessions
from shared.store import Role, UserRepository, create_engine, session_factory
from shared.store.migrate import upgrade
from shared.store.order_journal import OrderJournal
from shared.store.orders import OrderStore
from tests.bench._table import Row
from tests.support.services import POSTGRES_ADMIN_URL, sqlalchemy_url

ORDERS = 2_000
TARGET_MS = 5.0


class TimedVenue:
    """The paper broker, with the time each order reached it."""

    def __init__(self, broker: PaperBroker) -> None:
        self._broker = broker
        self.reached: dict[str, float] = {}

    def submit(self, order: Order, now: datetime) -> None:
        self.reached[order.id] = time.perf_counter()
        self._broker.submit(order, now)

    def cancel(self, order_id: str, now: datetime) -> None:
        self._broker.cancel(order_id, now)


async def _latencies(url: str) -> list[float]:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        await UserRepository(sessions).create("bench", "hash", Role.TRADER)
        ticks = load_ticks(DEFAULT_REPLAY_FILE)[:200]
        contract = ProductCatalogue(shipped_products()).contract("CFFEX.IF2101")
        broker = PaperBroker({contract.key: contract}, load_sessions(), load_calendar())
        venue = TimedVenue(broker)
        limits = RiskLimits(
            max_orders_per_second=None,
            max_active_orders=None,
            max_daily_orders=None,
            max_daily_orders_per_instrument=None,
            duplicate_window_s=None,
        )
        risk = RiskEngine("bench-1", {contract.key: contract}, limits)
        risk.on_account(
            Account(account_id="bench-1", trading_day=ticks[-1].trading_day,
                    updated_at=ticks[-1].ts, balance=1e12)
        )  # fmt: skip
        bus = MemoryBus()
        await bus.start()
        ids = count(1)
        clock = iter(ticks[-1].ts + timedelta(microseconds=i) for i in range(10 * ORDERS))
        service = OrderService(
            OrderStore(sessions),
            OrderJournal(engine),
            venue,
            bus,
            quote_of=lambda key: ticks[-1],
            risk_for=lambda account_id: risk,
            clock=lambda: next(clock),
            new_id=lambda: f"o-{next(ids)}",
            on_trade=lambda trade: None,
        )
        broker.bind(service)
        for tick in ticks:
            broker.accept(tick)
        await service.start()
        latencies: list[float] = []
        try:
            for index in range(ORDERS):
                request = OrderRequest(
                    account_id="bench-1",
                    client_order_id=f"c-{index}",
                    exchange=Exchange.CFFEX,
                    symbol="IF2101",
                    side=Side.BUY,
                    offset=Offset.OPEN,
                    type=OrderType.LIMIT,
                    volume=1,
                    price=5000.0 - 0.2 * (index % 500),  # resting, well below the market
                )
                started = time.perf_counter()
                order = await service.place(1, request)
                latencies.append((venue.reached[order.id] - started) * 1000)
        finally:
            await service.stop()
            await bus.close()
        return latencies
    finally:
        await engine.dispose()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rows(backend: str, latencies: list[float]) -> list[Row]:
    return [
        Row(f"order accepted-to-venue p50, {backend}", _percentile(latencies, 0.5), "target",
            TARGET_MS, "ms", higher_is_better=False),
        Row(f"order accepted-to-venue p99, {backend}", _percentile(latencies, 0.99), "target",
            TARGET_MS, "ms", higher_is_better=False),
    ]  # fmt: skip


def run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'quant.db'}"
        upgrade(url)
        rows += _rows("SQLite (embedded)", asyncio.run(_latencies(url)))
    name = f"quant_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        sys.stderr.write(f"bench_orders: PostgreSQL skipped, not reachable: {exc}\n")
        return rows
    try:
        url = sqlalchemy_url(POSTGRES_ADMIN_URL, name)
        upgrade(url)
        rows += _rows("PostgreSQL", asyncio.run(_latencies(url)))
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return rows
