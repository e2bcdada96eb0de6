"""CTP query flow control: one in flight, paced, most urgent first, never queued twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from gateway.tasks import cancel_and_wait
from gateway.venues.ctp.queries import QueryFailedError, QueryPriority, QueryQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Front:
    """Records what was sent, when, and answers with the codes it is given."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[str, int, float]] = []
        self.codes: dict[str, list[int]] = {}

    def sender(self, name: str) -> Callable[[int], int]:
        def send(request_id: int) -> int:
            self.sent.append((name, request_id, self.clock.now))
            codes = self.codes.get(name)
            return codes.pop(0) if codes else 0

        return send


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_most_urgent_first_one_in_flight_paced_and_never_queued_twice(
    clock: FakeClock,
) -> None:
    queue = QueryQueue(min_interval_s=1.0, clock=clock, sleep=clock.sleep)
    front = Front(clock)
    routine = queue.submit("instruments", front.sender("instruments"), QueryPriority.ROUTINE)
    positions = queue.submit(
        "positions", front.sender("positions"), QueryPriority.POSITIONS_AFTER_FILL
    )
    again = queue.submit("positions", front.sender("positions"), QueryPriority.POSITIONS_AFTER_FILL)
    assert again is positions  # a burst of fills: one refresh
    runner = asyncio.create_task(queue.run())
    try:
        await _settle()
        assert [name for name, _, _ in front.sent] == ["positions"]  # urgent first, alone
        (_, first_id, first_at) = front.sent[0]
        queue.on_record(first_id, {"lots": 3}, last=False)
        queue.on_record(first_id, {"lots": 1}, last=True)
        assert await asyncio.wait_for(positions, 2) == [{"lots": 3}, {"lots": 1}]
        await _settle()
        assert [name for name, _, _ in front.sent] == ["positions", "instruments"]
        assert front.sent[1][2] - first_at >= 1.0  # paced
        queue.on_record(front.sent[1][1], None, last=True)
        assert await asyncio.wait_for(routine, 2) == []  # an empty answer
    finally:
        await cancel_and_wait(runner)


async def test_flow_control_codes_are_retried_and_failures_reported(clock: FakeClock) -> None:
    queue = QueryQueue(min_interval_s=1.0, clock=clock, sleep=clock.sleep)
    front = Front(clock)
    front.codes = {"account": [-3, -2, 0], "orders": [-1]}
    account = queue.submit("account", front.sender("account"), QueryPriority.ACCOUNT)
    orders = queue.submit("orders", front.sender("orders"), QueryPriority.ORDERS_AND_TRADES)
    runner = asyncio.create_task(queue.run())
    try:
        await _settle()
        sent = [name for name, _, _ in front.sent]
        assert sent == ["account", "account", "account"]  # twice too soon, then taken
        queue.on_error(front.sent[-1][1], "CTP: insufficient rights")
        with pytest.raises(QueryFailedError, match="insufficient rights"):
            await account
        await _settle()
        with pytest.raises(QueryFailedError, match="send failed"):
            await orders
    finally:
        await cancel_and_wait(runner)


async def test_an_answer_that_never_ends_does_not_stall_the_queue() -> None:
    queue = QueryQueue(min_interval_s=0.0, answer_timeout_s=0.05)
    sent: list[str] = []
    stuck = queue.submit(
        "positions", lambda rid: sent.append("positions") or 0, QueryPriority.ACCOUNT
    )
    later = queue.submit("trades", lambda rid: sent.append("trades") or 0, QueryPriority.ROUTINE)
    runner = asyncio.create_task(queue.run())
    try:
        with pytest.raises(QueryFailedError, match="no answer"):
            await asyncio.wait_for(stuck, 2)
        await asyncio.sleep(0.01)
        assert sent == ["positions", "trades"]
        queue.fail_all("front disconnected")
        with pytest.raises(QueryFailedError, match="front disconnected"):
            await later
    finally:
        await cancel_and_wait(runner)


async def test_a_query_that_raises_fails_alone_and_the_queue_goes_on(clock: FakeClock) -> None:
    """A send that raises (the API gone under it) fails its query; later queries are sent,
    and the same query can be asked again."""
    queue = QueryQueue(min_interval_s=1.0, clock=clock, sleep=clock.sleep)
    front = Front(clock)

    def broken(_request_id: int) -> int:
        raise AttributeError("'NoneType' object has no attribute 'ReqQryInvestorPosition'")

    positions = queue.submit("positions", broken, QueryPriority.POSITIONS_AFTER_FILL)
    runner = asyncio.create_task(queue.run())
    try:
        with pytest.raises(QueryFailedError, match="has no attribute"):
            await asyncio.wait_for(positions, 5)
        again = queue.submit("positions", front.sender("positions"), QueryPriority.ROUTINE)
        await _settle()
        [(name, request_id, _)] = front.sent
        assert name == "positions"
        queue.on_record(request_id, {"Position": 1}, last=True)
        assert await asyncio.wait_for(again, 5) == [{"Position": 1}]
    finally:
        await cancel_and_wait(runner)
