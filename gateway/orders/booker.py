"""Asking the `orders` function to book trades, and telling everyone what it booked.

A fill asks for a booking run of its account. Runs of one account never overlap: a request
while one is out marks the account to run once more afterwards, so a burst of fills costs a
few runs, not one each. A run that fails (a worker gone, Redis down) is retried with backoff;
the trades wait in the database meanwhile, unbooked, and nothing is lost. Every few seconds
accounts with open positions are re-marked at the last prices by the same function.

What a run booked goes out on the bus as it happened: the trades (with their commission),
then every position of the account, then the account.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from datetime import date

from functions.dispatch import Dispatcher
from functions.envelope import FunctionCallError
from functions.orders import BookRequest, BookResponse, book_trades
from gateway.tasks import cancel_and_wait
from shared.bus import EventBus
from shared.domain import AccountEvent, PositionEvent, Tick, TradeEvent

log = logging.getLogger(__name__)

_FIRST_RETRY_S = 0.5
_LAST_RETRY_S = 30.0


class Booker:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bus: EventBus,
        *,
        quote_of: Callable[[str], Tick | None],
        on_booked: Callable[[BookResponse], None],
        mark_interval_s: float,
    ) -> None:
        self._dispatcher = dispatcher
        self._bus = bus
        self._quote_of = quote_of
        self._on_booked = on_booked
        self._mark_interval_s = mark_interval_s
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        # The symbols each account holds, as of its last run: what a mark needs prices for.
        self._held: dict[str, frozenset[str]] = {}
        self._marker: asyncio.Task[None] | None = None
        # The market's trading day, once known: runs roll accounts still on an earlier one.
        self.trading_day: date | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self, accounts: Iterable[str]) -> None:
        """Book what earlier runs left (a crash, a restart) for ``accounts``."""
        for account_id in accounts:
            self.request(account_id)
        self._marker = asyncio.create_task(self._mark_periodically(), name="booking-marks")

    async def stop(self) -> None:
        if self._marker is not None:
            await cancel_and_wait(self._marker)
        for task in list(self._running.values()):
            await cancel_and_wait(task)

    def request(self, account_id: str) -> None:
        """Book the account's new trades soon (at once, or after the run that is out)."""
        if account_id in self._running:
            self._again.add(account_id)
            return
        self._idle.clear()
        task = asyncio.create_task(self._run(account_id), name=f"booking-{account_id}")
        self._running[account_id] = task

    async def settled(self) -> None:
        """Wait until no run is out or wanted (tests and shutdown use it)."""
        await self._idle.wait()

    async def _run(self, account_id: str) -> None:
        try:
            delay = _FIRST_RETRY_S
            while True:
                self._again.discard(account_id)
                try:
                    await self._book(account_id)
                except FunctionCallError as exc:
                    log.warning("booking %s failed, retrying in %.1fs: %s", account_id, delay, exc)
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311
                    delay = min(delay * 2, _LAST_RETRY_S)
                    self._again.add(account_id)
                if account_id not in self._again:
                    return
        finally:
            del self._running[account_id]
            if not self._running:
                self._idle.set()

    async def _book(self, account_id: str) -> None:
        response = await self._dispatcher.call(
            book_trades,
            BookRequest(
                account_id=account_id,
                prices=self._prices(account_id),
                trading_day=self.trading_day,
            ),
        )
        self._held[account_id] = frozenset(
            f"{p.exchange}.{p.symbol}" for p in response.positions if p.volume > 0
        )
        for refused in response.refused:
            log.error(
                "booking %s: trade %s set aside: %s", account_id, refused.trade_id, refused.reason
            )
        self._on_booked(response)
        await self._publish(response)

    def _prices(self, account_id: str) -> dict[str, float]:
        prices: dict[str, float] = {}
        for key in self._held.get(account_id, ()):
            quote = self._quote_of(key)
            if quote is not None and quote.last_price > 0:
                prices[key] = quote.last_price
        return prices

    async def _publish(self, response: BookResponse) -> None:
        for trade in response.booked:
            await self._bus.publish(TradeEvent(trade=trade))
        holding = any(position.volume > 0 for position in response.positions)
        if response.booked or holding:  # a mark of an empty account changes nothing
            for position in response.positions:
                await self._bus.publish(PositionEvent(position=position))
            await self._bus.publish(AccountEvent(account=response.account))

    async def _mark_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._mark_interval_s)
            for account_id, held in list(self._held.items()):
                if held:
                    self.request(account_id)
