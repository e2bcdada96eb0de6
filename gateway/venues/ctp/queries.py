"""CTP's query flow control, kept: one query in flight, about one a second, most urgent first.

A CTP front answers a query sent too soon, or while another is in flight, with a flow-control
code (-2 or -3) instead of data; gateways that ignore this are the ones whose positions lag
fills by many seconds. Queries wait here instead, ordered by priority (a position refresh after
a fill before a routine account query) and then by age; a query already waiting is not queued
twice (a burst of fills asks for one refresh, not one each). The answer to a query is the list
of records its response callbacks carried, delivered when the last one arrives.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any

log = logging.getLogger(__name__)

# ReqQry* return codes: 0 sent; -1 the network failed; -2 too many requests waiting for an
# answer; -3 more requests per second than allowed.
_FLOW_CONTROLLED = frozenset({-2, -3})


class QueryPriority(IntEnum):
    POSITIONS_AFTER_FILL = 0
    ACCOUNT = 1
    ORDERS_AND_TRADES = 2
    ROUTINE = 3


class QueryFailedError(Exception):
    """The front refused the query (a network failure) or answered with an error."""


class _Query:
    __slots__ = ("future", "name", "records", "send")

    def __init__(self, name: str, send: Callable[[int], int]) -> None:
        self.name = name
        self.send = send
        self.records: list[Any] = []
        self.future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()


class QueryQueue:
    def __init__(
        self,
        *,
        min_interval_s: float = 1.0,
        answer_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._min_interval_s = min_interval_s
        self._answer_timeout_s = answer_timeout_s
        self._clock = clock
        self._sleep = sleep
        self._waiting: list[tuple[int, int, _Query]] = []
        self._by_name: dict[str, _Query] = {}
        self._order = itertools.count()
        self._request_ids = itertools.count(1)
        self._in_flight: dict[int, _Query] = {}
        self._answer_due = float("inf")  # the clock time by which the one in flight must end
        self._wake = asyncio.Event()
        self._last_sent = float("-inf")

    def submit(
        self, name: str, send: Callable[[int], int], priority: QueryPriority
    ) -> asyncio.Future[list[Any]]:
        """Queue ``send(request_id)`` (a ReqQry* call returning its code); the future gets
        the records. The same ``name`` waiting already shares that query's future."""
        waiting = self._by_name.get(name)
        if waiting is not None:
            return waiting.future
        query = _Query(name, send)
        self._by_name[name] = query
        heapq.heappush(self._waiting, (priority, next(self._order), query))
        self._wake.set()
        return query.future

    def on_record(self, request_id: int, record: Any, *, last: bool) -> None:
        """A response callback's record (None when the answer is empty), on the loop."""
        query = self._in_flight.get(request_id)
        if query is None:
            return  # an answer to a query given up on
        if record is not None:
            query.records.append(record)
        if last:
            del self._in_flight[request_id]
            if not query.future.done():
                query.future.set_result(query.records)
            self._wake.set()

    def on_error(self, request_id: int, message: str) -> None:
        query = self._in_flight.pop(request_id, None)
        if query is not None and not query.future.done():
            query.future.set_exception(QueryFailedError(f"{query.name}: {message}"))
        self._wake.set()

    def fail_all(self, reason: str) -> None:
        """The session is gone: everything waiting or in flight fails (the caller re-asks
        after the next login)."""
        for query in [*self._in_flight.values(), *(q for _, _, q in self._waiting)]:
            if not query.future.done():
                query.future.set_exception(QueryFailedError(f"{query.name}: {reason}"))
        self._in_flight.clear()
        self._waiting.clear()
        self._by_name.clear()

    async def run(self) -> None:
        """Send the queries, one at a time, paced; runs until cancelled."""
        while True:
            if not self._waiting or self._in_flight:
                self._wake.clear()
                await self._wait_for_news()
                continue
            pause = self._last_sent + self._min_interval_s - self._clock()
            if pause > 0:
                await self._sleep(pause)
            priority, order, query = heapq.heappop(self._waiting)
            request_id = next(self._request_ids)
            self._last_sent = self._clock()
            try:
                code = query.send(request_id)
            except Exception as exc:
                log.exception("ctp: sending the %s query failed", query.name)
                del self._by_name[query.name]
                query.future.set_exception(QueryFailedError(f"{query.name}: {exc}"))
                continue
            if code in _FLOW_CONTROLLED:
                # Sent too soon after all (another client of the front, a clock skew): back
                # in its place, tried again after another interval.
                heapq.heappush(self._waiting, (priority, order, query))
                continue
            del self._by_name[query.name]
            if code != 0:
                query.future.set_exception(QueryFailedError(f"{query.name}: send failed ({code})"))
                continue
            self._in_flight[request_id] = query
            self._answer_due = self._clock() + self._answer_timeout_s

    async def _wait_for_news(self) -> None:
        if not self._in_flight:
            await self._wake.wait()
            return
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the wait ends, and the queue would never stop.
            async with asyncio.timeout(max(0.0, self._answer_due - self._clock())):
                await self._wake.wait()
        except TimeoutError:
            # A front that never completes an answer must not stall every later query.
            for request_id in list(self._in_flight):
                self.on_error(request_id, f"no answer in {self._answer_timeout_s:g}s")
