"""Asking the `orders` function to book trades, and telling everyone what it booked.

A fill marks its account for booking. The booker waits a moment for more fills to gather, then
sends every marked account in one call (up to a batch), with a few calls out at once: a burst
of fills across many accounts costs a few calls, not one per fill. An account is never in two
calls at once; marked again while in one, it goes in the next. A call that fails (a worker
gone, Redis down) is retried with backoff; the trades wait in the database meanwhile,
unbooked, and nothing is lost. Every few seconds accounts with open positions are re-marked at
the last prices by the same function.

What a run booked goes out on the bus as it happened: the trades (with their commission),
then every position of the account, then the account.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Iterable
from datetime import date
from typing import Any

from functions.dispatch import Dispatcher
from functions.envelope import FunctionCallError
from functions.orders import AccountBooked, AccountMarks, BookRequest, book_trades
from gateway.tasks import cancel_and_wait
from shared.bus import EventBus
from shared.domain import AccountEvent, PositionEvent, Tick, TradeEvent

log = logging.getLogger(__name__)

# Fills arriving within this long after the first one share its call.
_GATHER_S = 0.02
_BATCH = 100
_FIRST_RETRY_S = 0.5
_LAST_RETRY_S = 30.0


class Booker:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bus: EventBus,
        *,
        quote_of: Callable[[str], Tick | None],
        on_booked: Callable[[AccountBooked], None],
        mark_interval_s: float,
        calls_at_once: int = 4,
    ) -> None:
        self._dispatcher = dispatcher
        self._bus = bus
        self._quote_of = quote_of
        self._on_booked = on_booked
        self._mark_interval_s = mark_interval_s
        self._marked: dict[str, None] = {}  # insertion-ordered: first marked, first booked
        self._in_call: set[str] = set()
        self._calls = asyncio.Semaphore(calls_at_once)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._failures = 0
        # The symbols each account holds, as of its last run: what a mark needs prices for.
        self._held: dict[str, frozenset[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # The market's trading day, once known: runs roll accounts still on an earlier one.
        self.trading_day: date | None = None

    async def start(self, accounts: Iterable[str]) -> None:
        """Book what earlier runs left (a crash, a restart) for ``accounts``."""
        for account_id in accounts:
            self.request(account_id)
        self._spawn(self._dispatch_forever(), "booking")
        self._spawn(self._mark_periodically(), "booking-marks")

    async def stop(self) -> None:
        for task in list(self._tasks):
            await cancel_and_wait(task)

    def request(self, account_id: str) -> None:
        """Book the account's new trades soon."""
        self._marked[account_id] = None
        self._idle.clear()
        self._wake.set()

    async def settled(self) -> None:
        """Wait until no call is out or wanted (tests and shutdown use it)."""
        await self._idle.wait()

    def _spawn(self, call: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(call, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(_GATHER_S)
            while ready := [a for a in self._marked if a not in self._in_call][:_BATCH]:
                await self._calls.acquire()
                for account_id in ready:
                    del self._marked[account_id]
                self._in_call.update(ready)
                self._spawn(self._call(ready), "booking-call")
            self._check_idle()

    async def _call(self, accounts: list[str]) -> None:
        try:
            request = BookRequest(
                accounts=[
                    AccountMarks(account_id=account_id, prices=self._prices(account_id))
                    for account_id in accounts
                ],
                trading_day=self.trading_day,
            )
            try:
                response = await self._dispatcher.call(book_trades, request)
            except FunctionCallError as exc:
                self._failures += 1
                delay = min(_FIRST_RETRY_S * 2 ** (self._failures - 1), _LAST_RETRY_S)
                log.warning("booking %d account(s) failed, retrying in %.1fs: %s",
                            len(accounts), delay, exc)  # fmt: skip
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311
                for account_id in accounts:
                    self._marked.setdefault(account_id, None)
                return
            self._failures = 0
            for unknown in response.unknown:
                log.error("booking: account %s is not in the database", unknown)
            for result in response.results:
                await self._took(result)
        finally:
            self._in_call.difference_update(accounts)
            self._calls.release()
            if self._marked:
                self._wake.set()
            self._check_idle()

    def _check_idle(self) -> None:
        if not self._marked and not self._in_call:
            self._idle.set()

    async def _took(self, result: AccountBooked) -> None:
        account_id = result.account.account_id
        self._held[account_id] = frozenset(
            f"{p.exchange}.{p.symbol}" for p in result.positions if p.volume > 0
        )
        for refused in result.refused:
            log.error(
                "booking %s: trade %s set aside: %s", account_id, refused.trade_id, refused.reason
            )
        self._on_booked(result)
        for trade in result.booked:
            await self._bus.publish(TradeEvent(trade=trade))
        holding = any(position.volume > 0 for position in result.positions)
        if result.booked or holding:  # a mark of an empty account changes nothing
            for position in result.positions:
                await self._bus.publish(PositionEvent(position=position))
            await self._bus.publish(AccountEvent(account=result.account))

    def _prices(self, account_id: str) -> dict[str, float]:
        prices: dict[str, float] = {}
        for key in self._held.get(account_id, ()):
            quote = self._quote_of(key)
            if quote is not None and quote.last_price > 0:
                prices[key] = quote.last_price
        return prices

    async def _mark_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._mark_interval_s)
            for account_id, held in list(self._held.items()):
                if held:
                    self.request(account_id)
