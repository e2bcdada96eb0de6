"""The indicators function through each runtime, against calling TA-Lib directly."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
import redis
import talib

from functions.deps import build_deps
from functions.dispatch import Dispatcher, InlineDispatcher
from functions.dispatch.dramatiq import DramatiqDispatcher
from functions.indicators import INDICATORS, BarColumns, IndicatorSpec, IndicatorsRequest
from shared.config import Settings
from tests.bench._table import Row, best_of, median_of
from tests.support.services import REDIS_URL, RUN_ID
from tests.support.workers import DramatiqWorker

BARS = 200_000
SMALL_BARS = 500
INDICATOR_SET = [
    IndicatorSpec(name="sma", params={"timeperiod": 20}),
    IndicatorSpec(name="ema", params={"timeperiod": 20}),
    IndicatorSpec(name="rsi", params={"timeperiod": 14}),
    IndicatorSpec(name="macd"),
]


def _request(count: int) -> IndicatorsRequest:
    rng = np.random.default_rng(7)
    close = 4000 + np.cumsum(rng.normal(0, 2, count)).round(0)
    start = datetime(2019, 1, 2, 1, 0, tzinfo=UTC)
    bars = BarColumns(
        ts=[start + timedelta(minutes=i) for i in range(count)],
        open=close.tolist(),
        high=(close + 2).tolist(),
        low=(close - 2).tolist(),
        close=close.tolist(),
        volume=rng.integers(1, 500, count).astype(float).tolist(),
    )
    return IndicatorsRequest(bars=bars, indicators=INDICATOR_SET)


def _talib_direct(request: IndicatorsRequest) -> None:
    close = np.asarray(request.bars.close, dtype=np.float64)
    talib.SMA(close, 20)
    talib.EMA(close, 20)
    talib.RSI(close, 14)
    talib.MACD(close, 12, 26, 9)


def _large_request_rows(settings: Settings) -> list[Row]:
    request = _request(BARS)
    deps = build_deps(settings)
    peer = best_of(3, lambda: _talib_direct(request)) * 1000

    async def through_inline() -> float:
        dispatcher = InlineDispatcher(deps, workers=2, timeout_s=120)
        await dispatcher.start()
        try:
            times = []
            for _ in range(3):
                started = time.perf_counter()
                await dispatcher.call(INDICATORS, request)
                times.append(time.perf_counter() - started)
            return min(times) * 1000
        finally:
            await dispatcher.close()

    async def handler_only() -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            await INDICATORS.handler(request, deps)
            times.append(time.perf_counter() - started)
        return min(times) * 1000

    return [
        Row(
            f"indicators handler, {BARS:,} bars (validate + compute)",
            asyncio.run(handler_only()),
            "TA-Lib direct",
            peer,
            "ms",
            higher_is_better=False,
        ),
        Row(
            f"indicators via inline dispatcher, {BARS:,} bars (+ JSON both ways)",
            asyncio.run(through_inline()),
            "TA-Lib direct",
            peer,
            "ms",
            higher_is_better=False,
        ),
    ]


def _redis_reachable() -> bool:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


async def _median_latency_ms(
    dispatcher: Dispatcher, request: IndicatorsRequest, count: int = 200
) -> float:
    await dispatcher.start()
    try:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await dispatcher.call(INDICATORS, request)
            times.append(time.perf_counter() - started)
        return median_of(times[10:]) * 1000  # the first calls warm up threads and connections
    finally:
        await dispatcher.close()


def _latency_rows(settings: Settings) -> list[Row]:
    """Round-trip latency of a small call: inline against a real Dramatiq worker on Redis."""
    if not _redis_reachable():
        sys.stderr.write("bench_functions: Redis not reachable, Dramatiq latency skipped\n")
        return []
    request = _request(SMALL_BARS)
    deps = build_deps(settings)
    inline = asyncio.run(
        _median_latency_ms(InlineDispatcher(deps, workers=2, timeout_s=30), request)
    )
    prefix = f"qtest-{RUN_ID}-bench"
    remote_settings = msgspec.structs.replace(
        settings, dispatcher="dramatiq", redis_url=REDIS_URL, redis_prefix=prefix
    )
    objects = Path(settings.objects_dir)
    worker = DramatiqWorker(
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        objects_dir=objects,
        log_path=objects.parent / "worker.log",
    )
    try:
        worker.start()
        remote = asyncio.run(_median_latency_ms(DramatiqDispatcher(remote_settings, deps), request))
    finally:
        worker.stop()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    return [
        Row(
            f"call latency p50, {SMALL_BARS} bars, Dramatiq worker on Redis",
            remote,
            "inline dispatcher",
            inline,
            "ms",
            higher_is_better=False,
        ),
    ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(objects_dir=str(Path(tmp) / "objects"))
        return _large_request_rows(settings) + _latency_rows(settings)
