"""Messages the Dramatiq worker must survive: garbage, malformed calls, invalid requests.

None of them is ever retried; each is logged with its reason, and the worker keeps answering.
Keys follow Dramatiq's Redis layout (``dramatiq/brokers/redis/dispatch.lua``):
``<ns>:<queue>`` lists message ids, ``<ns>:<queue>.msgs`` holds their data, ``.XQ`` is the
dead-letter set and ``.DQ`` the delay queue retries would go through.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import dramatiq
import msgspec
import pytest
import redis.asyncio

from functions.envelope import FunctionCallError
from functions.indicators import INDICATORS, IndicatorSpec, IndicatorsRequest
from functions.runtime.dramatiq import (
    ENCODER,
    QUEUE,
    actor_name,
    result_backend,
    setup_broker,
)
from tests.support.market_data import first_bars

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from dramatiq.brokers.redis import RedisBroker

    from functions.dispatch import Dispatcher
    from shared.config import Settings
    from tests.support.workers import DramatiqWorker

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
async def client(redis_server: str) -> AsyncIterator[redis.asyncio.Redis]:
    connection = redis.asyncio.Redis.from_url(redis_server)
    yield connection
    await connection.aclose()


@pytest.fixture
def broker(settings: Settings) -> Iterator[RedisBroker]:
    """A producer-side broker, as the gateway would hold (no actors declared)."""
    producer = setup_broker(settings)
    yield producer
    producer.client.close()


@pytest.fixture
def small_request(bars_request: IndicatorsRequest) -> IndicatorsRequest:
    bars = bars_request.bars
    return IndicatorsRequest(
        bars=first_bars(bars, 40),
        indicators=[IndicatorSpec(name="ema", params={"timeperiod": 10})],
    )


async def dead_letters(client: redis.asyncio.Redis, namespace: str) -> set[str]:
    return {member.decode() for member in await client.zrange(f"{namespace}:{QUEUE}.XQ", 0, -1)}


async def assert_nothing_pending(client: redis.asyncio.Redis, namespace: str) -> None:
    """Nothing queued, nothing in flight, nothing waiting for a retry."""
    keys = (f"{namespace}:{QUEUE}", f"{namespace}:{QUEUE}.msgs", f"{namespace}:{QUEUE}.DQ.msgs")
    # The result is stored just before the message is acknowledged: allow the ack to land.
    for _ in range(40):
        sizes = [
            await client.llen(keys[0]),
            await client.hlen(keys[1]),
            await client.hlen(keys[2]),
        ]
        if sizes == [0, 0, 0]:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"still pending: {dict(zip(keys, sizes, strict=True))}")


GARBAGE = [
    pytest.param(b"\x00\xff not even text", id="bytes"),
    pytest.param(b'{"actor_name": "fn_indicators"', id="cut-json"),
    pytest.param(b"[1, 2, 3]", id="json-array"),
    pytest.param(b'{"actor_name": "fn_indicators", "args": ["{}"]}', id="missing-fields"),
    pytest.param(
        b'{"queue_name": "functions", "actor_name": "fn_indicators", "args": ["{}"],'
        b' "kwargs": {}, "options": {}, "message_id": "m", "message_timestamp": 1}',
        id="no-redis-id",
    ),
]


@pytest.mark.parametrize("garbage", GARBAGE)
async def test_garbage_in_the_queue_is_dead_lettered_and_the_worker_keeps_answering(
    garbage: bytes,
    client: redis.asyncio.Redis,
    dramatiq_worker: DramatiqWorker,
    dramatiq_dispatcher: Dispatcher,
    small_request: IndicatorsRequest,
) -> None:
    namespace = dramatiq_worker.namespace
    message_id = f"garbage-{uuid.uuid4()}"
    await client.hset(f"{namespace}:{QUEUE}.msgs", message_id, garbage)
    await client.rpush(f"{namespace}:{QUEUE}", message_id)

    await asyncio.to_thread(
        dramatiq_worker.wait_for_log, f"dead-lettered unreadable message {message_id}"
    )
    assert message_id in await dead_letters(client, namespace)
    assert await client.hget(f"{namespace}:{QUEUE}.XQ.msgs", message_id) == garbage
    # the worker still answers, and the garbage never comes back
    result = await dramatiq_dispatcher.call(INDICATORS, small_request)
    assert result.columns["ema_10"][9] is not None
    await assert_nothing_pending(client, namespace)
    assert dramatiq_worker.log_text().count(message_id) == 1
    assert "Consumer encountered" not in dramatiq_worker.log_text(), "no consumer restart"


async def test_an_id_without_data_is_dropped(
    client: redis.asyncio.Redis,
    dramatiq_worker: DramatiqWorker,
    dramatiq_dispatcher: Dispatcher,
    small_request: IndicatorsRequest,
) -> None:
    namespace = dramatiq_worker.namespace
    message_id = f"ghost-{uuid.uuid4()}"
    await client.rpush(f"{namespace}:{QUEUE}", message_id)
    await asyncio.to_thread(dramatiq_worker.wait_for_log, f"message {message_id}: the message id")
    await dramatiq_dispatcher.call(INDICATORS, small_request)
    await assert_nothing_pending(client, namespace)
    acks = [key async for key in client.scan_iter(match=f"{namespace}:__acks__.*")]
    for key in acks:
        assert not await client.sismember(key, message_id)


async def test_a_call_with_the_wrong_arguments_fails_once_and_is_not_retried(
    client: redis.asyncio.Redis, dramatiq_worker: DramatiqWorker, broker: RedisBroker
) -> None:
    namespace = dramatiq_worker.namespace
    crashes = dramatiq_worker.log_text().count("missing 1 required positional argument")
    message = dramatiq.Message(
        queue_name=QUEUE, actor_name=actor_name("indicators"), args=(), kwargs={}, options={}
    )
    sent = await asyncio.to_thread(broker.enqueue, message)

    key = result_backend(broker).build_message_key(message)
    popped = await client.blpop([key], timeout=10)
    assert popped is not None, "the failure is stored as the result"
    stored = ENCODER.decode(popped[1])
    assert stored["exn"]["type"] == "TypeError"

    gave_up = f"Retries exceeded for message {message.message_id!r}"
    await asyncio.to_thread(dramatiq_worker.wait_for_log, gave_up)
    assert sent.options["redis_message_id"] in await dead_letters(client, namespace)
    await asyncio.sleep(0.3)  # a retry would be back on the queue by now
    await assert_nothing_pending(client, namespace)
    log = dramatiq_worker.log_text()
    assert log.count("missing 1 required positional argument") == crashes + 1, "ran once"
    assert log.count(gave_up) == 1


async def test_a_message_for_an_unknown_actor_is_dead_lettered(
    client: redis.asyncio.Redis, dramatiq_worker: DramatiqWorker, broker: RedisBroker
) -> None:
    message = dramatiq.Message(
        queue_name=QUEUE, actor_name="fn_no_such_function", args=("{}",), kwargs={}, options={}
    )
    sent = await asyncio.to_thread(broker.enqueue, message)
    await asyncio.to_thread(dramatiq_worker.wait_for_log, "undefined actor 'fn_no_such_function'")
    for _ in range(50):
        if sent.options["redis_message_id"] in await dead_letters(
            client, dramatiq_worker.namespace
        ):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the message was not dead-lettered")


async def test_a_request_that_fails_validation_is_answered_once_and_not_retried(
    client: redis.asyncio.Redis,
    dramatiq_worker: DramatiqWorker,
    dramatiq_dispatcher: Dispatcher,
    small_request: IndicatorsRequest,
) -> None:
    refused = f"{actor_name('indicators')} message"
    before = dramatiq_worker.log_text().count(": invalid_request")
    bad = msgspec.structs.replace(
        small_request, indicators=[IndicatorSpec(name="sma", params={"timeperiod": 0})]
    )
    with pytest.raises(FunctionCallError) as caught:
        await dramatiq_dispatcher.call(INDICATORS, bad)
    assert caught.value.error.code == "invalid_request"
    assert caught.value.error.fields == ["indicators[0].params.timeperiod"]

    await asyncio.to_thread(dramatiq_worker.wait_for_log, ": invalid_request", count=before + 1)
    await asyncio.sleep(0.3)  # a retry would have run by now
    log = dramatiq_worker.log_text()
    assert log.count(": invalid_request") == before + 1, "the actor ran exactly once"
    assert refused in log
    await assert_nothing_pending(client, dramatiq_worker.namespace)


async def test_a_payload_that_is_not_text_is_an_invalid_request(
    client: redis.asyncio.Redis, dramatiq_worker: DramatiqWorker, broker: RedisBroker
) -> None:
    message = dramatiq.Message(
        queue_name=QUEUE, actor_name=actor_name("indicators"), args=(42,), kwargs={}, options={}
    )
    await asyncio.to_thread(broker.enqueue, message)
    popped = await client.blpop([result_backend(broker).build_message_key(message)], timeout=10)
    assert popped is not None
    outcome = msgspec.json.decode(ENCODER.decode(popped[1]))
    assert outcome["error"]["code"] == "invalid_request"
    assert "JSON text" in outcome["error"]["detail"]
