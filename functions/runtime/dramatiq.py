"""Run functions as Dramatiq actors on Redis: one actor per registered function.

The worker (``dramatiq functions.runtime.worker``) and the gateway's dispatcher both call
``setup_broker`` so that they agree on the namespace, the encoder and the results backend.
An actor receives the request JSON as its only argument and returns the ``CallOutcome`` JSON;
function errors travel inside the outcome, so an actor only raises for a malformed message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

import dramatiq
import msgspec
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from functions.envelope import DRAMATIQ_INLINE_LIMIT, CallOutcome, error_outcome, execute
from functions.registry import all_functions

if TYPE_CHECKING:
    from collections.abc import Callable

    import redis

    from functions.deps import Deps
    from shared.config import Settings

log = logging.getLogger(__name__)

QUEUE = "functions"
ACTOR_PREFIX = "fn_"
# Nobody waits longer than the call timeout; the margin covers a slow queue.
RESULT_TTL_MS = 10 * 60 * 1000

MessageData = dict[str, Any]


def actor_name(function_name: str) -> str:
    return f"{ACTOR_PREFIX}{function_name}"


def namespace(settings: Settings) -> str:
    return f"{settings.redis_prefix}-dramatiq"


class MsgspecEncoder(dramatiq.Encoder):
    """JSON through msgspec, faster than the stdlib default.

    Dramatiq also stores results with it, and a result may be any JSON value (our actors
    return the outcome as a string), so ``decode`` does not insist on an object.
    """

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder()

    def encode(self, data: MessageData) -> bytes:
        return self._encoder.encode(data)

    def decode(self, data: bytes) -> Any:
        try:
            return self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            reason = f"unreadable data: {exc}"
            raise dramatiq.DecodeError(reason, data, exc) from None  # type: ignore[no-untyped-call]


ENCODER = MsgspecEncoder()


class _WireOptions(msgspec.Struct):
    redis_message_id: str  # the broker acks by this id; a message without one cannot be acked


class _WireMessage(msgspec.Struct, forbid_unknown_fields=True):
    """What ``dramatiq.Message.decode`` needs, checked before Dramatiq sees it."""

    queue_name: str
    actor_name: str
    args: list[Any]
    kwargs: dict[str, Any]
    options: _WireOptions
    message_id: str
    message_timestamp: int


_wire_decoder = msgspec.json.Decoder(_WireMessage)


def unreadable_reason(data: bytes | None) -> str | None:
    """Why Dramatiq could not process this queued message, or ``None`` if it can."""
    if data is None:
        return "the message id has no message data"
    try:
        _wire_decoder.decode(data)
    except msgspec.DecodeError as exc:
        return str(exc)
    return None


class FunctionsBroker(RedisBroker):
    """A Redis broker that dead-letters messages it cannot decode.

    Dramatiq's consumer raises on an undecodable message, restarts, and leaves the message
    unacknowledged, so it comes back whenever a worker dies: a poison pill. Filtering at fetch
    time moves such a message to the dead-letter set (``<queue>.XQ``) with a logged reason.
    """

    def do_fetch(self, queue_name: str, prefetch: int) -> list[bytes | None]:
        # The base class answers every do_<command> with its Lua script; this is "fetch".
        fetch = RedisBroker.__getattr__(self, "do_fetch")  # type: ignore[no-untyped-call]
        fetched: list[bytes | None] = fetch(queue_name, prefetch)
        readable = [data for data in fetched if unreadable_reason(data) is None]
        if len(readable) < len(fetched):
            self._dead_letter_unreadable(queue_name)
        return readable

    def _dead_letter_unreadable(self, queue_name: str) -> None:
        # Key layout of dramatiq/brokers/redis/dispatch.lua: fetched ids wait in this
        # worker's ack set, their data in the queue's message hash.
        acks = f"{self.namespace}:__acks__.{self.broker_id}.{queue_name}"
        messages = f"{self.namespace}:{queue_name}.msgs"
        ids = sorted(self.client.smembers(acks))
        if not ids:
            return
        for message_id, data in zip(ids, self.client.hmget(messages, ids), strict=True):
            reason = unreadable_reason(data)
            if reason is None:
                continue
            log.warning(
                "queue %s: dead-lettered unreadable message %s: %s",
                queue_name,
                message_id.decode(errors="replace"),
                reason,
            )
            if data is None:
                self.client.srem(acks, message_id)  # nothing left to keep
            else:
                self.do_nack(queue_name, message_id)


def setup_broker(settings: Settings, *, client: redis.Redis | None = None) -> RedisBroker:
    """The Redis broker with the msgspec encoder and a Redis results backend.

    ``dramatiq.Message`` encodes with a process-wide encoder, so this sets it; it does not set
    the global broker (``functions.runtime.worker`` does, for the ``dramatiq`` command).
    """
    dramatiq.set_encoder(ENCODER)
    broker = FunctionsBroker(  # type: ignore[no-untyped-call]
        url=settings.redis_url, namespace=namespace(settings), client=client
    )
    backend = RedisBackend(
        namespace=namespace(settings),
        encoder=ENCODER,
        # Readable keys under the prefix, so that clean-up by prefix finds them.
        use_namespace_prefix_keys=True,
        client=broker.client,
    )
    results = Results(backend=backend, result_ttl=RESULT_TTL_MS)  # type: ignore[no-untyped-call]
    broker.add_middleware(results)
    broker.add_middleware(CurrentMessage())
    return broker


def result_backend(broker: RedisBroker) -> RedisBackend:
    for middleware in broker.middleware:
        if isinstance(middleware, Results):
            backend: RedisBackend = middleware.backend
            return backend
    raise LookupError("the broker has no Results middleware; build it with setup_broker()")


def declare_actors(
    broker: RedisBroker, deps_factory: Callable[[], Deps], *, time_limit_s: float
) -> dict[str, dramatiq.Actor[Any, Any]]:
    """One actor per registered function, bound to ``broker`` (never to the global one)."""
    deps = _Once(deps_factory)
    actors: dict[str, dramatiq.Actor[Any, Any]] = {}
    for spec in all_functions():
        declare = dramatiq.actor(
            broker=broker,
            actor_name=actor_name(spec.name),
            queue_name=QUEUE,
            # Retrying is the function's decision: 0 unless it declared itself idempotent.
            max_retries=spec.max_retries,
            time_limit=int(time_limit_s * 1000),
            store_results=True,
        )
        actors[spec.name] = declare(_actor_body(spec.name, deps))
    return actors


_outcome_decoder = msgspec.json.Decoder(CallOutcome)


def _actor_body(name: str, deps: _Once) -> Callable[[object], str]:
    def run(payload: object) -> str:
        if isinstance(payload, str):
            outcome = _run_on_thread_loop(name, payload, deps())
        else:  # only a hand-made message carries anything else
            detail = f"the request must be JSON text, got {type(payload).__name__}"
            outcome = error_outcome("invalid_request", detail)
        message = CurrentMessage.get_current_message()
        error = _outcome_decoder.decode(outcome).error
        log.info(
            "%s message %s: %s",
            actor_name(name),
            message.message_id if message is not None else "?",
            "ok" if error is None else error.code,
        )
        return outcome.decode()

    run.__name__ = run.__qualname__ = actor_name(name)
    return run


_thread_state = threading.local()


def _run_on_thread_loop(name: str, payload: str, deps: Deps) -> bytes:
    # Each Dramatiq worker thread keeps one event loop for its lifetime, so async handlers
    # can reuse connections; a call interrupted by the time limit discards the loop.
    runner: asyncio.Runner | None = getattr(_thread_state, "runner", None)
    if runner is None:
        runner = _thread_state.runner = asyncio.Runner()
    try:
        return runner.run(execute(name, payload, deps, inline_limit=DRAMATIQ_INLINE_LIMIT))
    except BaseException:
        _thread_state.runner = None
        with contextlib.suppress(RuntimeError):
            runner.close()
        raise


class _Once:
    """Build the deps on first use, after the worker process forked, and only once."""

    def __init__(self, factory: Callable[[], Deps]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._deps: Deps | None = None

    def __call__(self) -> Deps:
        with self._lock:
            if self._deps is None:
                self._deps = self._factory()
            return self._deps
